"""An agent cannot change what the user's git reads from the shared repository: replace refs,
notes and grafts are put back like branches and tags, and the launcher's own git never acts on a
replaced object (it used to "put back" an agent's injected file INTO the main checkout and index,
so the user's next commit recorded it). Hostile command agents against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, task
from test_containment_refs import good, hostile
from test_safety_contain import run_commands

# A copy of the base commit (main's tip) carrying one more file, swapped in for it with
# `git replace`: every later git command in the repository sees injected.txt in main's tip.
REPLACE_BASE = """
base = os.environ["LAUNCHER_BASE_SHA"]
pathlib.Path("work.txt").write_text("x\\n")
blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], input="INJECTED\\n", text=True,
                      capture_output=True, check=True).stdout.strip()
env = dict(os.environ, GIT_INDEX_FILE=os.path.join(os.path.dirname(os.environ["LAUNCHER_CONTRACT"]), "x.index"))
subprocess.run(["git", "read-tree", base], env=env, check=True)
subprocess.run(["git", "update-index", "--add", "--cacheinfo", "100644," + blob + ",injected.txt"], env=env, check=True)
tree = subprocess.run(["git", "write-tree"], env=env, capture_output=True, text=True, check=True).stdout.strip()
new = G("-c", "user.name=a", "-c", "user.email=a@b", "commit-tree", tree, "-m", "same message")
G("replace", base, new)
"""

ADD_NOTE = """
pathlib.Path("work.txt").write_text("x\\n")
G("-c", "user.name=a", "-c", "user.email=a@b", "notes", "add", "-m", "reviewed and approved by security",
  os.environ["LAUNCHER_BASE_SHA"])
"""

GRAFT = """
pathlib.Path("work.txt").write_text("x\\n")
(common_dir() / "info").mkdir(exist_ok=True)
(common_dir() / "info" / "grafts").write_text(os.environ["LAUNCHER_BASE_SHA"] + "\\n")
"""


def test_an_agents_replace_ref_is_removed_and_never_materialised_in_the_main_checkout(repo: Path) -> None:
    report = run_commands(repo, [hostile("swapper", REPLACE_BASE), good("fine")], max_parallel=1)
    swapper = task(report, "swapper")
    assert swapper.state == "failed", swapper.message
    assert "replace/" in swapper.message and "put them back" in swapper.message, swapper.message
    assert "wrote into the main checkout" not in swapper.message, swapper.message
    assert git(repo, "for-each-ref", "refs/replace") == ""
    assert not (repo / "injected.txt").exists()
    assert git(repo, "--no-replace-objects", "diff", "--cached", "--name-status", "HEAD") == ""
    assert task(report, "fine").state == "merged"
    assert "injected.txt" not in git(repo, "--no-replace-objects", "ls-tree", "-r", "--name-only", "main")


def test_an_agents_note_is_removed_and_kept_aside(repo: Path) -> None:
    report = run_commands(repo, [hostile("noter", ADD_NOTE)])
    noter = task(report, "noter")
    assert noter.state == "failed" and "notes/commits created" in noter.message, noter.message
    assert git(repo, "for-each-ref", "refs/notes") == ""
    assert "refs/launcher/" in git(repo, "for-each-ref", "--format=%(refname)", "refs/launcher")


def test_an_agents_graft_is_removed(repo: Path) -> None:
    report = run_commands(repo, [hostile("grafter", GRAFT)])
    grafter = task(report, "grafter")
    assert grafter.state == "failed" and "info/grafts added" in grafter.message, grafter.message
    assert not (repo / ".git" / "info" / "grafts").exists()


def test_the_launchers_git_lands_the_real_objects_whatever_a_replace_ref_swaps_in(repo: Path) -> None:
    """A replace ref already there when the run starts (not an agent's: it is no change) still
    never reaches the worktrees nor the target: the launcher's git does not honour it."""
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "injected.txt").write_text("INJECTED\n")
    git(repo, "add", "injected.txt")
    tree = git(repo, "write-tree").strip()
    git(repo, "rm", "-q", "--cached", "injected.txt")
    (repo / "injected.txt").unlink()
    swapped = git(repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit-tree", tree, "-m", "x").strip()
    git(repo, "replace", base, swapped)
    report = run_commands(repo, [good("fine")])
    assert task(report, "fine").state == "merged", task(report, "fine").message
    landed = git(repo, "--no-replace-objects", "ls-tree", "-r", "--name-only", "main").split()
    assert "fine.txt" in landed and "injected.txt" not in landed


# --- the shared HEAD file --------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["(common_dir() / 'HEAD').write_text('garbage\\\\n')",
                                    "(common_dir() / 'HEAD').unlink()"], ids=["garbage", "deleted"])
def test_an_unreadable_shared_head_is_put_back_and_fails_its_agent_by_name(repo: Path, damage: str) -> None:
    code = f"pathlib.Path('work.txt').write_text('x\\\\n')\n{damage}\n"
    report = run_commands(repo, [hostile("breaker", code), good("fine")], max_parallel=1)
    breaker = task(report, "breaker")
    assert breaker.state == "failed", breaker.message
    assert "the agent of task breaker changed the repository's shared git directory (HEAD " in breaker.message
    assert "put the files back" in breaker.message and "launcher clean" not in breaker.message
    assert (repo / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert task(report, "fine").state == "merged"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_a_branch_switched_in_the_main_checkout_is_left_to_the_ref_checks(repo: Path) -> None:
    """A HEAD git can read is no damage of the git dir: the ref checks judge a switch."""
    git(repo, "branch", "other")
    code = "pathlib.Path('work.txt').write_text('x\\n')\nG('switch', '-q', 'other', cwd=MAIN)\n"
    report = run_commands(repo, [hostile("switcher", code)])
    switcher = task(report, "switcher")
    assert switcher.state == "failed" and "HEAD of the main checkout changed" in switcher.message, switcher.message
    assert "shared git directory" not in switcher.message
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


# --- the main checkout's index -----------------------------------------------------------------

@pytest.mark.parametrize("damage", ["(common_dir() / 'index').unlink()",
                                    "(common_dir() / 'index').write_bytes(b'DIRC garbage')"],
                         ids=["deleted", "garbage"])
def test_a_damaged_main_index_is_put_back_and_fails_its_agent_never_asking_to_commit(
        repo: Path, damage: str) -> None:
    code = f"pathlib.Path('work.txt').write_text('x\\\\n')\n{damage}\n"
    report = run_commands(repo, [hostile("wrecker", code), good("fine")], max_parallel=1)
    wrecker = task(report, "wrecker")
    assert wrecker.state == "failed", wrecker.message
    assert "the agent of task wrecker " in wrecker.message and "the main checkout's git index" in wrecker.message
    assert "put the index back" in wrecker.message and "commit them" not in wrecker.message.lower()
    assert task(report, "fine").state == "merged", task(report, "fine").message
    assert report.status == "failed" and "local changes" not in (report.message or "")
    assert git(repo, "diff", "--cached", "--name-status") == ""  # nothing staged the user did not stage
    assert "fine.txt" in git(repo, "ls-files")
