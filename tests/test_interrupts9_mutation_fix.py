"""Ctrl-C during `launcher mutation fix` after its run landed the new tests (while the sweep's
mutants are run against them), then what the 130 line says: `launcher mutation fix SWEEP` again.
That second fix records the kills of the tests already on the target (the sweep's reports, its
score, `fix.json`), as the uninterrupted fix would have, and writes no test again for mutants
they kill: the sweep never keeps reporting as Survived a mutant the landed tests kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import launcher_cli, swept_project

PROJECT = {
    "calc/__init__.py": "",
    # Tests only for "A" and "F": the `>= 80` branch survives, its `return "B"` has no coverage.
    "calc/core.py": 'def grade(score):\n    if score >= 90:\n        return "A"\n    elif score >= 80:\n'
    '        return "B"\n    return "F"\n',
    "tests/test_core.py": 'from calc.core import grade\n\n\ndef test_grade():\n    assert grade(95) == "A"\n'
    '    assert grade(10) == "F"\n',
}


def _statuses(sweep: Path) -> dict[str, str]:
    data = json.loads((sweep / "mutants.json").read_text())
    return {e["mutant"]["id"]: e["result"]["status"] for e in data["mutants"]}


def swept_calc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, dict[str, str]]:
    """PROJECT swept once (cache in tmp_path/cache): its root, the sweep's folder, each mutant's status."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = swept_project(tmp_path / "proj", PROJECT, ["calc/core.py"], identity=("t", "t@t"))
    (sweep,) = list((root / ".launcher" / "mutation-runs").iterdir())
    return root, sweep, _statuses(sweep)


def fix_stopped_once_its_tests_landed(root: Path, sweep: Path, tmp_path: Path) -> None:
    """`launcher mutation fix SWEEP --all`, stopped with Ctrl-C once its run landed the tests (while
    they are checked against the sweep)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    fix = subprocess.Popen([sys.executable, "-m", "launcher", "mutation", "fix", sweep.name, "--all",
                            "--python", sys.executable], cwd=root, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while not list((tmp_path / "cache").glob("launcher/worktrees/*/fix-resettle/*")) and fix.poll() is None:
        assert time.monotonic() < deadline, "the fix never ran the sweep's mutants against the landed tests"
        time.sleep(0.02)
    os.killpg(fix.pid, signal.SIGINT)
    _, err = fix.communicate(timeout=60)
    assert fix.returncode == 130, err


def test_fix_again_after_a_ctrl_c_once_tests_landed_records_their_kills_and_writes_no_test_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, sweep, before = swept_calc(tmp_path, monkeypatch)
    survived = {m for m, s in before.items() if s == "Survived"}
    assert survived and "NoCoverage" in before.values()

    fix_stopped_once_its_tests_landed(root, sweep, tmp_path)
    assert list((root / "tests").glob("test_kill_*.py")), "the new tests are on main"
    assert _statuses(sweep) == before  # nothing recorded yet

    again = launcher_cli(
        root, "mutation", "fix", sweep.name, "--all", "--python", sys.executable, "--json", timeout=300
    )
    summary = json.loads(again.stdout)
    assert again.returncode == 0, again.stderr
    ((first_run, recorded),) = summary["recorded_earlier"].items()
    after = _statuses(sweep)
    assert survived <= set(recorded) and all(after[m] == "Killed" for m in recorded)
    assert "NoCoverage" not in after.values()  # the landed tests run `return "B"`: checked against them too
    assert summary["tasks"] == 0 and summary["run_id"] is None  # no test written a second time
    assert summary["score_after"] > summary["score_before"]
    history = json.loads((sweep / "fix.json").read_text())
    assert [r["run_id"] for r in history] == [first_run]
    report = json.loads((sweep / "report.json").read_text())
    assert report["score"] == summary["score_after"]
    stryker = json.loads((sweep / "mutation-report.json").read_text())
    assert {m["status"] for f in stryker["files"].values() for m in f["mutants"]} == {"Killed"}
