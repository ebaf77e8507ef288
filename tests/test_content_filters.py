"""git content filters in the launcher's own git: the ones configured when the run started (git-lfs)
apply; one an agent configures while the run goes on (in the shared config, `info/attributes`, or
the global config and attributes its HOME points at) never turns another task's work, or the
main work tree, into content nobody wrote. Real repositories, real runs, real git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest
from helpers import git, task
from test_safety_contain import command_task, run_commands

from launcher.git import commits, filters
from launcher.git.repo import GitRepo

# Agent A: an evil filter in the global config and the global attributes file (both reachable
# through the HOME the launcher passes on; neither is snapshotted), then it stays alive until
# the launcher has committed task B's work, so that commit runs while the filter is there.
PLANT_AND_WAIT = """
import time
mark = {mark!r}
filter = "sh -c 'echo ran >> " + mark + "; sed s/^/INJECTED-BY-A:/'"
subprocess.run(["git", "config", "--global", "filter.evil.clean", filter], check=True)
subprocess.run(["git", "config", "--global", "filter.evil.smudge", filter], check=True)
attributes = pathlib.Path(os.environ["XDG_CONFIG_HOME"]) / "git" / "attributes"
attributes.parent.mkdir(parents=True, exist_ok=True)
attributes.write_text("* filter=evil\\n")
pathlib.Path({planted!r}).write_text("planted\\n")
for _ in range(600):  # until B's work is committed by the launcher (at most 60 s)
    found = subprocess.run(["git", "log", "--all", "--format=%s", "--grep", "launcher task tb"],
                           capture_output=True, text=True).stdout
    if found.strip():
        break
    time.sleep(0.1)
pathlib.Path("ta.txt").write_text("a\\n")
"""

# Agent B: its work, written once A's filter is in place; it runs no git itself.
WRITE_AFTER_PLANT = """
import time
while not pathlib.Path({planted!r}).exists():
    time.sleep(0.05)
pathlib.Path("b.txt").write_text("hello from b\\n")
"""


def test_a_filter_an_agent_configures_while_another_task_is_committed_never_changes_that_work(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "home").mkdir()
    mark, planted = tmp_path / "filter-ran.txt", tmp_path / "planted"
    report = run_commands(
        repo,
        [
            command_task("ta", PLANT_AND_WAIT.format(mark=str(mark), planted=str(planted))),
            command_task("tb", WRITE_AFTER_PLANT.format(planted=str(planted))),
        ],
        max_parallel=2,
    )
    tb = task(report, "tb")
    assert tb.state == "merged", tb.message
    # B's commit holds what B wrote, and only that; main and its work tree too.
    assert git(repo, "show", "main:b.txt") == "hello from b\n"
    assert "INJECTED" not in git(repo, "log", "-p", "main")
    assert (repo / "b.txt").read_text() == "hello from b\n"
    for tracked in ("app.py", "README.md"):
        assert "INJECTED" not in (repo / tracked).read_text()
    # (`mark` records each run of the filter: the guard of idle worktrees may still run it in a
    # `git status`, which changes no content; not asserted here.)


def test_a_commit_a_filter_slipped_into_is_discarded_and_the_work_kept(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pin of the drivers is read just before git runs: a driver set again in between (an agent
    # re-setting it in a loop) still runs. Here it always wins that race: the check of the commit
    # against the files on disk must catch it.
    async def lost_race(repo: GitRepo) -> dict[str, str]:
        return dict(repo.env)

    async def scenario() -> None:
        git(repo, "worktree", "add", "-q", "-b", "work", str(repo.parent / "wt"))
        worktree = repo.parent / "wt"
        handle = await GitRepo.discover(repo)
        await filters.pin(handle)  # the run starts: no filter
        git(repo, "config", "filter.evil.clean", "sed s/^/INJECTED:/")
        (repo / ".git" / "info" / "attributes").write_text("*.txt filter=evil\n")
        (worktree / "b.txt").write_text("hello from b\n")
        start = git(worktree, "rev-parse", "HEAD").strip()
        monkeypatch.setattr(filters, "pinned_env", lost_race)
        with pytest.raises(commits.FilterTampered) as raised:
            await commits.commit_pending(handle, worktree, "b's work", {"Launcher-Task": "tb"})
        said = raised.value.message
        assert "b.txt" in said and "filter=evil" in said and "sed s/^/INJECTED:/" in said, said
        assert "discarded" in said and "Nothing was landed" in said
        assert git(worktree, "rev-parse", "HEAD").strip() == start  # the branch put back
        assert (worktree / "b.txt").read_text() == "hello from b\n"  # the work still on disk
        assert git(worktree, "ls-files", "b.txt") == ""  # and not left staged

    anyio.run(scenario)


def test_a_filter_configured_before_the_run_still_applies_to_commits_and_the_landing(
    repo: Path, tmp_path: Path
) -> None:
    # As git-lfs in the repository's config: stored upper-cased ("clean"), checked out
    # lower-cased ("smudge"). An agent redefining that driver changes nothing of it.
    git(repo, "config", "filter.up.clean", "tr a-z A-Z")
    git(repo, "config", "filter.up.smudge", "tr A-Z a-z")
    (repo / ".gitattributes").write_text("*.dat filter=up\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    redefine = (
        'subprocess.run(["git", "config", "--global", "filter.up.clean", "sed s/^/INJECTED:/"], check=True)\n'
        'pathlib.Path("two.dat").write_text("data two\\n")\n'
    )
    env_home = tmp_path / "home"
    env_home.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(env_home))
    mp.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    try:
        report = run_commands(repo, [command_task("a", redefine)])
    finally:
        mp.undo()
    a = task(report, "a")
    assert a.state == "merged", a.message
    assert git(repo, "show", "main:two.dat") == "DATA TWO\n"  # through the run start's clean
    assert (repo / "two.dat").read_text() == "data two\n"  # and its smudge at the landing
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout == ""
