"""`launcher runs` and `runs --json` say of each run what `launcher status` says of it (README,
Grading: a branch changed or deleted after approval shows `approval withdrawn: ...` and the run
as `failed`; "--json report": the report is built in one place), never `succeeded` for work that
will not land."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli


def _approved(repo: Path, tmp_path: Path, task_id: str) -> str:
    """A `--no-merge` run of one task, approved; returns the run's id."""
    plan = tmp_path / f"{task_id}.json"
    plan.write_text(json.dumps({"task": [{"id": task_id, "script": [{"write": f"{task_id}.txt", "content": "x\n"}]}]}))
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return str(json.loads(done.stdout)["run_id"])


def _listed(repo: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(`runs --json` by run id, `runs`' status column by run id)."""
    listed = launcher_cli(repo, "runs", "--json")
    plain = launcher_cli(repo, "runs")
    assert listed.returncode == 0 and plain.returncode == 0, listed.stderr + plain.stderr
    lines = {line.split()[0]: line.split()[1] for line in plain.stdout.splitlines()}
    return {r["run_id"]: r for r in json.loads(listed.stdout)}, lines


def test_runs_say_failed_like_status_once_an_approved_branch_changed_or_was_deleted(
    repo: Path, tmp_path: Path
) -> None:
    changed, deleted, kept = (_approved(repo, tmp_path, t) for t in ("a", "b", "c"))
    worktree = Path(launcher_cli(repo, "path", changed, "a").stdout.strip())
    (worktree / "e.txt").write_text("unreviewed\n")
    git(worktree, "add", "e.txt")
    git(worktree, "-c", "user.name=u", "-c", "user.email=u@u", "commit", "-q", "-m", "unreviewed change")
    tree = Path(launcher_cli(repo, "path", deleted, "b").stdout.strip())
    if tree.is_dir():
        git(repo, "worktree", "remove", "--force", str(tree))
    git(repo, "branch", "-D", f"launcher/{deleted}/b")  # deleted by hand after approval

    reports, lines = _listed(repo)

    for run_id in (changed, deleted):
        status = json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)
        assert status["status"] == "failed", status
        assert reports[run_id]["status"] == "failed" and lines[run_id] == "failed", (reports[run_id], lines)
        assert reports[run_id]["tasks"][0]["approval_withdrawn"] == status["tasks"][0]["approval_withdrawn"]
        assert reports[run_id]["tasks"][0]["approval_withdrawn"].startswith("approval withdrawn: ")
        assert reports[run_id]["message"] == status["message"]
    assert reports[kept]["status"] == "succeeded" and lines[kept] == "succeeded"
    assert reports[kept]["tasks"][0]["approval_withdrawn"] is None
