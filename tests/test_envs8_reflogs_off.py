"""An agent's commit fast-forwarded onto the user's branch is told from the user's own commit
whatever the user's git config says about reflogs (`core.logAllRefUpdates=false`), and an agent
that deletes the reflogs which would show its commits does not get its move taken for the user's.

The launcher knows an agent's commits from the reflogs of its task's branch and worktree HEAD:
it keeps those itself before each round (git appends to an existing reflog whatever the config
says); a reflog deleted or cut short while the task's code ran proves nothing, so a move of the
user's branch then is put back, kept and fails the task instead of being taken for the user's."""

from __future__ import annotations

from pathlib import Path

from helpers import git, task
from test_containment_refs import assert_main_clean, hostile, run_id_of, subjects
from test_safety_contain import run_commands

from launcher.models.report import RunReport

# The agent commits on a side branch of its worktree, fast-forwards the user's `main` to that
# commit (and the main checkout's files with it), then goes back to its task branch.
SIDE_COMMIT_ONTO_MAIN = """
branch = G("branch", "--show-current")
G("switch", "-q", "-c", "side")
sha = commit_here("sneak.txt")
G("update-ref", "refs/heads/main", sha)
G("reset", "-q", "--hard", cwd=MAIN)
G("switch", "-q", branch)
pathlib.Path("own.txt").write_text("own work\\n")
"""

# The same, after deleting its worktree's HEAD reflog and its side branch's (default config).
ERASE_REFLOGS = """
import shutil
admin = pathlib.Path(G("rev-parse", "--absolute-git-dir"))
shutil.rmtree(admin / "logs", ignore_errors=True)
shutil.rmtree(common_dir() / "logs" / "refs" / "heads" / "side", ignore_errors=True)
"""

USER_COMMIT = """
G("-c", "user.name=u", "-c", "user.email=u@b", "commit", "-q", "--allow-empty", "-m", "the user's release",
  cwd=MAIN)
pathlib.Path("own.txt").write_text("own work\\n")
"""


def reflogs_off(repo: Path) -> None:
    git(repo, "config", "core.logAllRefUpdates", "false")


def assert_put_back(repo: Path, report: RunReport) -> None:
    sneak = task(report, "sneak")
    assert sneak.state == "failed", sneak.message
    assert "main moved from" in sneak.message and "put them back" in sneak.message, sneak.message
    assert "agent commit sneak.txt" not in subjects(repo)
    assert not (repo / "sneak.txt").exists()
    assert_main_clean(repo)
    kept = git(repo, "log", "-1", "--format=%s", f"refs/launcher/{run_id_of(repo)}/sneak/moved/heads/main")
    assert kept.strip() == "agent commit sneak.txt"  # the agent's commit is kept, not lost


def test_with_reflogs_off_an_agent_fast_forwarding_main_to_its_commit_is_put_back_and_fails(repo: Path) -> None:
    reflogs_off(repo)
    report = run_commands(repo, [hostile("sneak", SIDE_COMMIT_ONTO_MAIN)])
    assert_put_back(repo, report)
    assert not any("not made by an agent" in note.message for note in report.notes), report.notes


def test_with_reflogs_off_the_users_own_commit_on_main_during_a_round_is_left(repo: Path) -> None:
    reflogs_off(repo)
    report = run_commands(repo, [hostile("busy", USER_COMMIT)])
    busy = task(report, "busy")
    assert busy.state == "merged", busy.message
    assert "the user's release" in subjects(repo)
    assert git(repo, "for-each-ref", "refs/launcher/") == ""  # nothing was taken aside
    assert_main_clean(repo)


def test_an_agent_that_deletes_its_reflogs_before_moving_main_is_still_put_back(repo: Path) -> None:
    report = run_commands(repo, [hostile("sneak", SIDE_COMMIT_ONTO_MAIN + ERASE_REFLOGS)])
    assert_put_back(repo, report)
    assert any("deleted or cut short" in note.message and note.task == "sneak" for note in report.notes), report.notes
