"""The judge stays in its read-only checkout (DESIGN 7.4, 14): what it writes into the main
checkout (the operator's calibration set, a tracked source file) or the shared git directory (a
hook) is put back, kept aside, and its verdict is not used; the command says what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from helpers import ADULT_PROJECT, swept_in

PROJECT = {
    **ADULT_PROJECT,
    "mutation/calibration-set.json": json.dumps({"contract_version": "1", "description": "operator labels",
                                                 "calibration": []}),
}  # fmt: skip

INTRUDING_JUDGE = """\
import json, os, pathlib, subprocess, sys
common = pathlib.Path(subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                     capture_output=True, text=True).stdout.strip())
main = common.parent
if "labels" in sys.argv:
    (main / "mutation" / "calibration-set.json").write_text('{"calibration": "flipped"}')
    src = main / "calc" / "core.py"
    src.write_text(src.read_text() + "# written by the judge\\n")
if "forge" in sys.argv:  # a verdict of its own in the sweep's directory (beside its packet's), then fail
    sweep = pathlib.Path(os.environ["LAUNCHER_PACKET"]).parent.parent
    forged = [{"id": s["id"], "classification": "genuine", "confidence": 0.99, "justification": "FORGED"}
              for s in json.load(open(os.environ["LAUNCHER_PACKET"]))["survivors"]]
    (sweep / "verdict.json").write_text(json.dumps({"contract_version": "1", "verdicts": forged}))
    (sweep / "survivors.jsonl").write_text("")
    sys.exit(1)
if "ffmain" in sys.argv:  # a commit on main's tip in its own checkout, main moved there, HEAD back
    def g(*args):
        return subprocess.run(["git", "-c", "user.name=j", "-c", "user.email=j@example.com", *args],
                              capture_output=True, text=True, check=True).stdout.strip()
    here = g("rev-parse", "HEAD")
    g("checkout", "-q", "--detach", "main")
    g("commit", "-q", "--allow-empty", "-m", "JUDGE-COMMIT")
    g("update-ref", "refs/heads/main", "HEAD")
    g("checkout", "-q", "--detach", here)
if "hook" in sys.argv:
    hook = common / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\\necho judge hook ran\\n")
    hook.chmod(0o755)
packet = json.load(open(os.environ["LAUNCHER_PACKET"]))
print(json.dumps({"contract_version": "1", "verdicts": [{"id": s["id"], "classification": "genuine",
      "confidence": 0.9, "justification": "j"} for s in packet["survivors"]]}))
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from swept_in(tmp_path_factory, "judge-guard", PROJECT)


def judge(root: Path, *modes: str) -> subprocess.CompletedProcess[str]:
    (root / "judge.py").write_text(INTRUDING_JUDGE)
    (root / "launcher.toml").write_text(
        f'[agents.j]\nadapter = "command"\ncommand = {json.dumps([sys.executable, str(root / "judge.py"), *modes])}\n')
    git(root, "add", "launcher.toml", "judge.py")
    git(root, "commit", "-qm", "the judge")
    return subprocess.run([sys.executable, "-m", "launcher", "mutation", "judge", "--agent", "j", "--confirm-judge"],
                          cwd=root, text=True, capture_output=True, env=os.environ.copy(), timeout=120)  # fmt: skip


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    subprocess.run(["cp", "-a", str(swept), str(root)], check=True)
    return root


def test_a_judge_writing_the_main_checkout_and_a_hook_is_put_back_and_its_verdict_refused(proj: Path) -> None:
    labels_before = (proj / "mutation" / "calibration-set.json").read_text()
    done = judge(proj, "labels", "hook")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "the judge changed files outside its read-only checkout" in out and "its verdict is not used" in out
    assert "hooks/post-commit added" in out and "calc/core.py (put back" in out
    assert "mutation/calibration-set.json (put back" in out
    assert git(proj, "status", "--porcelain", "--untracked-files=no") == ""
    assert (proj / "mutation" / "calibration-set.json").read_text() == labels_before
    assert not (proj / ".git" / "hooks" / "post-commit").exists()
    sweep = next((proj / ".launcher" / "mutation-runs").iterdir())
    assert not (sweep / "verdict.json").exists()  # nothing `fix` or `label` would take for a verdict
    kept = list((sweep / "judge" / "intrusions").rglob("calibration-set.json"))
    assert [p.read_text() for p in kept] == ['{"calibration": "flipped"}']  # nothing deleted


@pytest.mark.parametrize("reflogs", ["default", "off"])
def test_a_judge_fast_forwarding_main_to_its_own_commit_is_put_back(proj: Path, reflogs: str) -> None:
    """Not taken for the operator's commit, also with `core.logAllRefUpdates=false`: the launcher
    keeps the judge checkout's reflog itself, which says the commit was made there."""
    if reflogs == "off":
        git(proj, "config", "core.logAllRefUpdates", "false")
    done = judge(proj, "ffmain")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "refs of the shared repository" in out and "put back" in out, out
    assert "JUDGE-COMMIT" not in git(proj, "log", "--format=%s", "main")


def test_a_judge_that_only_reads_is_used(proj: Path) -> None:
    done = judge(proj)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "judged 2 survivors: 2 genuine" in done.stdout


def test_a_judge_writing_a_verdict_into_the_sweep_directory_is_caught_and_nothing_takes_it(proj: Path) -> None:
    sweep = next((proj / ".launcher" / "mutation-runs").iterdir())
    survivors = (sweep / "survivors.jsonl").read_text()
    done = judge(proj, "forge")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "judge_wrote_outside_checkout" in out and f"the judge run's directory {sweep}" in out
    assert "verdict.json added" in out and "survivors.jsonl changed" in out
    assert not (sweep / "verdict.json").exists()  # neither `fix` nor `label` finds a verdict
    kept = list((sweep / "judge" / "intrusions").rglob("verdict.json"))
    assert len(kept) == 1 and "FORGED" in kept[0].read_text()  # kept aside, not deleted
    assert not (sweep / "survivors.jsonl").exists()  # its rewrite is aside too: never taken for the sweep's
    assert [p.read_text() for p in (sweep / "judge" / "intrusions").rglob("survivors.jsonl")] == [""]
    assert survivors  # (the sweep's own survivors were there before)
    fix = subprocess.run([sys.executable, "-m", "launcher", "mutation", "fix", "--agent", "scripted-test-writer"],
                         cwd=proj, text=True, capture_output=True, timeout=120)  # fmt: skip
    assert fix.returncode != 0 and "FORGED" not in fix.stdout + fix.stderr
