"""An idle task's worktree or branch removed, moved or deleted by a sibling task: the sibling is
failed for it, the idle task's work is put back (branch at its recorded commit, worktree at its
path), and the run ends with its report, never `approved` or `merged` for commits that are gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli

CONTRACT = """contract() {
  python3 - "$@" <<'PY'
import json, os, sys
json.dump({"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
  "summary": "did it", "files_changed": sys.argv[1:], "tests_added": [], "decisions": [],
  "blockers": [], "llm_observations": "a test agent"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
PY
}
"""

# Task ta commits its work and goes idle (approved); tb runs after it, alone.
TA = ". agents/contract.sh\necho a > ta.txt; git add ta.txt; git commit -qm \"ta's own commit\"\ncontract ta.txt\n"
FIND_TA = ("wt=$(git worktree list --porcelain | awk '/^worktree /{print $2}' | grep '/ta$')\n"
           "git worktree unlock \"$wt\" 2>/dev/null\n")
REMOVE_TA = FIND_TA + """git worktree remove --force "$wt"
git branch -D "launcher/$LAUNCHER_RUN_ID/ta"
git reflog expire --expire=now --all
git gc -q --prune=now
"""


def _project(repo: Path, tb_script: str) -> None:
    (repo / "agents").mkdir()
    (repo / "agents" / "contract.sh").write_text(CONTRACT)
    (repo / "agents" / "ta.sh").write_text(TA)
    (repo / "agents" / "tb.sh").write_text(". agents/contract.sh\n" + tb_script + "echo b > tb.txt\ncontract tb.txt\n")
    (repo / "launcher.toml").write_text(
        'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = ["bash", "agents/{task_id}.sh"]\n')
    (repo / "plan.toml").write_text(
        '[run]\nmax_parallel = 1\n[[task]]\nid = "ta"\nprompt = "x"\n[[task]]\nid = "tb"\nprompt = "y"\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "agents")


def _run(repo: Path, *options: str) -> tuple[int, dict[str, Any]]:
    done = launcher_cli(repo, "run", "plan.toml", "--quiet", "--json", *options)
    assert done.stdout.strip(), done.stderr
    report = json.loads(done.stdout)
    assert "run_id" in report, done.stdout  # the run's report, not an error envelope
    return done.returncode, {t["id"]: t for t in report["tasks"]}


def test_a_sibling_that_deletes_an_idle_worktree_and_branch_fails_and_the_work_is_put_back(repo: Path) -> None:
    _project(repo, REMOVE_TA)
    rc, tasks = _run(repo, "--no-merge")
    ta, tb = tasks["ta"], tasks["tb"]
    assert rc == 1
    assert tb["state"] == "failed", tb
    assert "worktree of task ta" in tb["message"] and "deleted" in tb["message"], tb["message"]
    # ta's approved commit survived the sibling's `branch -D` and `gc --prune=now`: its branch
    # and worktree are back at it, as --no-merge promises.
    assert ta["state"] == "approved", ta
    assert git(repo, "rev-parse", ta["branch"]).strip() == ta["head_sha"]
    assert Path(ta["worktree"]).is_dir()
    assert git(Path(ta["worktree"]), "rev-parse", "HEAD").strip() == ta["head_sha"]
    assert (Path(ta["worktree"]) / "ta.txt").read_text() == "a\n"
    landed = launcher_cli(repo, "land")  # exit 1: tb failed
    assert "bad object" not in landed.stdout + landed.stderr
    assert git(repo, "show", "main:ta.txt") == "a\n"


def test_an_idle_task_whose_commit_is_gone_is_reported_lost_not_approved(repo: Path) -> None:
    # The sibling also deletes the launcher's own keep ref before its gc: the commit is gone.
    _project(repo, REMOVE_TA.replace(
        "git reflog expire",
        "git for-each-ref --format='%(refname)' refs/launcher/ | xargs -r -n1 git update-ref -d\ngit reflog expire"))
    rc, tasks = _run(repo)
    ta, tb = tasks["ta"], tasks["tb"]
    assert rc == 1
    assert ta["state"] == "failed" and "work is lost" in ta["message"], ta
    assert tb["state"] == "failed" and "worktree of task ta" in tb["message"], tb
    assert "ta.txt" not in git(repo, "ls-tree", "--name-only", "main")


def test_a_sibling_that_moves_an_idle_worktree_fails_and_the_run_ends_with_its_report(
    repo: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "moved-ta"
    _project(repo, FIND_TA + f'git worktree move "$wt" {moved}\n')
    rc, tasks = _run(repo)
    assert rc == 1
    assert tasks["tb"]["state"] == "failed" and "worktree moved to" in tasks["tb"]["message"], tasks["tb"]
    assert tasks["ta"]["state"] == "merged", tasks["ta"]
    assert git(repo, "show", "main:ta.txt") == "a\n"
    assert not moved.exists()  # moved back, then removed with the merged task's worktree
    assert "/ta]" not in git(repo, "worktree", "list")  # ta's worktree and branch went, as merged
    assert "/ta" not in git(repo, "branch", "--list", "launcher/*")


def test_cleanup_of_merged_work_leaves_a_branch_checked_out_at_another_path(repo: Path, tmp_path: Path) -> None:
    import anyio

    from launcher.git import worktrees
    from launcher.git.repo import GitRepo

    planned, moved = tmp_path / "wt" / "t", tmp_path / "elsewhere"
    git(repo, "worktree", "add", "-q", "-b", "launcher/r/t", str(planned))
    git(repo, "worktree", "move", str(planned), str(moved))

    async def cleanup() -> dict[str, str]:
        return await worktrees.remove_worktrees(await GitRepo.discover(repo), [(planned, "launcher/r/t")])

    left = anyio.run(cleanup)  # no `git branch -D` error: "checked out at ..."
    assert left == {"launcher/r/t": f"the worktree {moved}"}  # named as a user finds it
    assert moved.is_dir() and "launcher/r/t" in git(repo, "branch", "--list", "launcher/*")
