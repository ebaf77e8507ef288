"""`launcher mutation fix`: genuine survivors become tests, and only tests that kill them land."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git
from helpers import swept_project

from launcher.app.mutation.fix import FixOptions, FixSummary, fix_survivors
from launcher.errors import UsageProblem

PROJECT = {
    "calc/__init__.py": "",
    "calc/core.py": "def is_adult(age):\n    return age >= 18\n\n\ndef label(n):\n"
                    "    if n < 0:\n        return 'negative'\n    return 'non-negative'\n",
    "tests/test_core.py": "from calc.core import is_adult, label\n\n\ndef test_is_adult():\n"
                          "    assert is_adult(30)\n    assert not is_adult(3)\n\n\ndef test_label():\n"
                          "    assert label(-1) == 'negative'\n    assert label(5) == 'non-negative'\n",
    # Cheating test writers, as command agents of this repository.
    "launcher.toml": "".join(
        f'[agents.{mode}]\nadapter = "command"\ncommand = ["{sys.executable}", "-m", '
        f'"launcher.agents.scripted_test_writer", "{{prompt}}"]\nset_env = {{ LAUNCHER_TEST_WRITER_MODE = "{mode}" }}\n'
        for mode in ("weak", "wrong")
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real sweep of a small project: four survivors, two in is_adult, two in label."""
    base = tmp_path_factory.mktemp("fix")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        yield swept_project(base / "proj", PROJECT, ["calc/core.py"], workers=2)


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(swept, root, symlinks=True)
    return root


def sweep_dir(root: Path) -> Path:
    return next((root / ".launcher" / "mutation-runs").iterdir())


def results(root: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((sweep_dir(root) / "mutants.json").read_text())
    return {e["mutant"]["function"] + ":" + e["mutant"]["mut"]: e["result"] for e in data["mutants"]}


def survivors(root: Path) -> dict[str, dict[str, Any]]:
    return {json.loads(line)["mut"]: json.loads(line) for line in (sweep_dir(root) / "survivors.jsonl").read_text()
            .splitlines()}  # fmt: skip


def write_verdict(root: Path, genuine: set[str]) -> None:
    """A judge's verdict: the survivors whose mutated line is in `genuine` are genuine, the rest equivalent."""
    calls = [{"id": s["id"], "classification": "genuine" if mut in genuine else "equivalent", "confidence": 0.9,
              "justification": "an input at the boundary tells them apart"} for mut, s in survivors(root).items()]
    (sweep_dir(root) / "verdict.json").write_text(json.dumps({"contract_version": "1", "verdicts": calls}))


def fix(root: Path, **options: Any) -> FixSummary:
    options.setdefault("python", sys.executable)
    return anyio.run(fix_survivors, root, FixOptions(**options), lambda _event: None)


def test_genuine_survivors_become_landed_tests_that_kill_them_and_the_score_rises(proj: Path) -> None:
    write_verdict(proj, genuine={"return age > 18", "return age >= 19"})
    before = json.loads((sweep_dir(proj) / "report.json").read_text())["score"]

    summary = fix(proj)

    assert summary.exit_code == 0 and summary.tasks == 1 and not summary.refused  # label's are "equivalent"
    new_tests = git(proj, "ls-files", "tests").split()
    assert len([t for t in new_tests if t.startswith("tests/test_kill_")]) == 2 and "tests/test_core.py" in new_tests
    outcome = results(proj)
    for mut in ("is_adult:return age > 18", "is_adult:return age >= 19"):
        assert outcome[mut]["status"] == "Killed"
        assert outcome[mut]["killed_by"] and all(t.startswith("tests/test_kill_") for t in outcome[mut]["killed_by"])
    assert outcome["label:if n <= 0:"]["status"] == "Survived"  # judged equivalent: no task
    report = json.loads((sweep_dir(proj) / "report.json").read_text())
    assert report["score"] > before and report["fix"][-1]["score_before"] == before
    assert "return age > 18" not in survivors(proj)
    assert f"score {before:.1f}% -> {report['score']:.1f}%" in (sweep_dir(proj) / "summary.txt").read_text()
    stryker = json.loads((sweep_dir(proj) / "mutation-report.json").read_text())
    statuses = [m["status"] for f in stryker["files"].values() for m in f["mutants"]]
    assert statuses.count("Killed") == 7 and statuses.count("Survived") == 2  # was 5 and 4


@pytest.mark.parametrize(("mode", "why"), [
    ("weak", "the new tests pass with mutant"),
    ("wrong", "the new tests fail on the original code"),
])  # fmt: skip
def test_a_test_writer_that_cheats_is_refused_and_nothing_lands(proj: Path, mode: str, why: str) -> None:
    head = git(proj, "rev-parse", "HEAD")
    summary = fix(proj, agent=mode, ids=[str(survivors(proj)["return age > 18"]["id"])])

    assert summary.exit_code == 1 and not summary.killed
    (_task_id, reason), = summary.refused.items()
    assert why in reason
    assert git(proj, "rev-parse", "HEAD") == head  # nothing landed
    assert results(proj)["is_adult:return age > 18"]["status"] == "Survived"


def test_unjudged_survivors_are_taken_only_with_all(proj: Path) -> None:
    with pytest.raises(UsageProblem, match="not judged yet") as refused:
        fix(proj)
    assert "--all" in (refused.value.fix or "")
    argv = [sys.executable, "-m", "launcher", "mutation", "fix", "--all", "--max", "1", "--python", sys.executable]
    done = subprocess.run(argv, cwd=proj, text=True, capture_output=True, stdin=subprocess.DEVNULL,
                          env=os.environ.copy(), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 survivor(s) killed by new tests in 1 task(s)" in done.stdout
    assert results(proj)["label:if n <= 0:"]["status"] == "Survived"  # --max 1: only is_adult's task


def test_the_demo_shows_the_loop_a_survivor_a_test_the_kill_and_the_score_up(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "launcher", "demo", "--mutation", "--json", "--where", str(tmp_path / "demo")]
    done = subprocess.run(argv, cwd=tmp_path, text=True, capture_output=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    shown = json.loads(done.stdout)
    assert shown["survivors"] == ["calc/core.py:5 'return age >= 18' -> 'return age > 18'"]
    (written, text), = shown["tests_written"].items()
    assert "assert is_adult(18) is True" in text
    assert list(shown["killed"].values()) == [[f"{written}::{text.split('def ')[1].split('(')[0]}"]]
    assert shown["score_before"] == 0.0 and shown["score_after"] == 100.0
    assert Path(shown["repo"]).parent == tmp_path / "demo"  # made in --where, never in it
    assert written in git(Path(shown["repo"]), "ls-files")  # landed on main


def test_an_unknown_agent_is_refused_before_any_run_starts(proj: Path) -> None:
    argv = [sys.executable, "-m", "launcher", "mutation", "fix", "--all", "--agent", "nosuch"]
    done = subprocess.run(argv, cwd=proj, text=True, capture_output=True, stdin=subprocess.DEVNULL,
                          env=os.environ.copy(), timeout=60)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unknown test-writing agent 'nosuch'" in done.stderr and "[agents.nosuch]" in done.stderr
    assert len(git(proj, "worktree", "list").splitlines()) == 1 and git(proj, "branch").split() == ["*", "main"]
