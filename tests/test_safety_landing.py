"""Safety of landing (issue 10, parts 2-4): a crash never leaves the target half-applied,
approved work is never deleted, and a secret copied by `.worktreeinclude` never lands."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from helpers import git, launcher_cli, resume, run_plan, task

from launcher.models.states import RunStatus


def _write_plan(path: Path, tasks: list[dict[str, object]], **run: object) -> Path:
    path.write_text(json.dumps({"run": run, "task": tasks}))
    return path


def _git_killing_launcher_at(tmp_path: Path, subcommand: str) -> dict[str, str]:
    """PATH whose `git` SIGKILLs its parent (the launcher) when asked to run `subcommand`."""
    real = shutil.which("git")
    assert real
    bin_dir = tmp_path / "killer-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'for arg in "$@"; do [ "$arg" = {subcommand} ] && {{ kill -9 $PPID; exit 1; }}; done\n'
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _run_id(repo: Path) -> str:
    import sqlite3

    (run_id,) = sqlite3.connect(repo / ".launcher" / "launcher.db").execute(
        "SELECT id FROM runs").fetchone()
    return str(run_id)


# Part 2: a crash never leaves the target half-applied ---------------------------------------

def test_kill_between_moving_the_target_and_updating_the_main_tree_is_finished_on_resume(
    repo: Path, tmp_path: Path
) -> None:
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
        {"id": "b", "script": [{"replace": "app.py", "old": "a + b", "new": "b + a"}]},
    ])
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "read-tree"))
    assert killed.returncode == -9, killed.stderr
    landed_tip = git(repo, "rev-parse", "main").strip()
    # The crash left the ref moved and the index and files at the old tip.
    assert git(repo, "status", "--porcelain", "--untracked-files=no").strip()

    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "succeeded"
    assert [t["state"] for t in report["tasks"]] == ["merged", "merged"]
    assert git(repo, "status", "--porcelain").strip() == ""
    assert git(repo, "rev-parse", "HEAD").strip() == landed_tip
    assert (repo / "a.txt").read_text() == "a\n"
    assert "b + a" in (repo / "app.py").read_text()


def test_interrupted_tree_update_with_later_local_edits_is_rolled_back_and_parked(
    repo: Path, tmp_path: Path
) -> None:
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
    ])
    before = git(repo, "rev-parse", "main").strip()
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "read-tree"))
    assert killed.returncode == -9
    landed = git(repo, "rev-parse", "main").strip()
    (repo / "README.md").write_text("# edited by the user after the crash\n")

    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    report = json.loads(resumed.stdout)
    # Never `succeeded`/0 with the main tree behind its target: the ref goes back to match the
    # tree, the user's edit stays, and the landed work waits on the integration branch.
    assert resumed.returncode == 4, resumed.stdout + resumed.stderr
    assert report["status"] == "parked"
    branch = report["integration_branch"]
    assert branch == f"launcher/{report['run_id']}/_integration"
    assert git(repo, "rev-parse", "main").strip() == before
    assert git(repo, "rev-parse", branch).strip() == landed
    assert git(repo, "status", "--porcelain").strip() == "M README.md"
    assert f"git merge --ff-only {branch}" in report["message"]
