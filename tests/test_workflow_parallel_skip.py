"""Phases run side by side (`parallel_with`) share one run. When one of them fails and the other's
work lands, the workflow pauses on the phase that failed (the other is recorded as succeeded,
its artifacts written), and the offered `next --skip` skips the failed phases of that group and
moves on to the next phase, instead of running the same failing group again for ever."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.workflow import engine
from tests.conftest import git, write_files
from tests.helpers import launcher_cli
from tests.test_workflows import _gate

PAR = """name = "par"
description = "two phases side by side, then a third"
keywords = ["par"]
[[phase]]
id = "p1"
parallel_with = ["p2"]
artifacts = ["p1/log.md"]
[[phase.primary]]
role = "one"
prompt = "one"
[[phase]]
id = "p2"
[[phase.primary]]
role = "two"
prompt = "two"
[[phase]]
id = "p3"
[[phase.primary]]
role = "three"
prompt = "three"
"""


@pytest.fixture
def par_repo(repo: Path) -> Path:
    write_files(repo, {"workflows/par.toml": PAR, "launcher.toml": '[roles]\ndefault = "scripted"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "parallel phases")
    return repo


def _status(repo: Path, wid: str) -> dict[str, Any]:
    shown = launcher_cli(repo, "workflow", "status", wid, "--json")
    assert shown.returncode == 0, shown.stderr
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def test_a_failed_parallel_phase_is_blamed_and_skipping_it_moves_on(par_repo: Path, tmp_path: Path) -> None:
    scripts = {
        "p1-one": [{"write": "one.txt", "content": "one\n"}],
        "p2-two": _gate(tmp_path / "never"),  # fails
        "p3-three": [{"write": "three.txt", "content": "three\n"}],
    }
    wid = anyio.run(engine.create, par_repo, "par", {}, {"scripts": scripts}).id
    ran = launcher_cli(par_repo, "workflow", "next", wid, timeout=90)
    assert ran.returncode == 1, ran.stdout + ran.stderr

    paused = _status(par_repo, wid)
    phases = {p["id"]: p for p in paused["phases"]}
    assert paused["status"] == "paused" and paused["paused_on"] == "p2"
    assert "phase p2 failed" in paused["message"] and "phase p1" not in paused["message"]
    assert phases["p1"]["status"] == "succeeded" and phases["p1"]["error"] is None
    assert [t["merged"] for t in phases["p1"]["tasks"]] == [True]
    assert phases["p1"]["artifacts"] == ["p1/log.md"]
    assert phases["p2"]["status"] == "failed"
    assert f"launcher workflow next {wid} --skip" in paused["offers"]

    skipped = launcher_cli(par_repo, "workflow", "next", wid, "--skip", timeout=90)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    done = _status(par_repo, wid)
    assert done["status"] == "completed"
    assert [p["status"] for p in done["phases"]] == ["succeeded", "skipped", "succeeded"]
    assert git(par_repo, "show", "main:three.txt").strip() == "three"
    assert git(par_repo, "show", "main:one.txt").strip() == "one"


def test_skipping_parallel_phases_that_both_failed_skips_the_group_and_moves_on(par_repo: Path, tmp_path: Path) -> None:
    scripts = {
        "p1-one": _gate(tmp_path / "never"),
        "p2-two": _gate(tmp_path / "never"),
        "p3-three": [{"write": "three.txt", "content": "three\n"}],
    }
    wid = anyio.run(engine.create, par_repo, "par", {}, {"scripts": scripts}).id
    assert launcher_cli(par_repo, "workflow", "next", wid, timeout=90).returncode == 1
    paused = _status(par_repo, wid)
    assert paused["status"] == "paused" and [p["status"] for p in paused["phases"]] == ["failed", "failed", "pending"]

    skipped = launcher_cli(par_repo, "workflow", "next", wid, "--skip", timeout=90)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    done = _status(par_repo, wid)
    assert done["status"] == "completed"
    assert [p["status"] for p in done["phases"]] == ["skipped", "skipped", "succeeded"]
    assert git(par_repo, "show", "main:three.txt").strip() == "three"
