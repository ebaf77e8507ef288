"""Start-up and git-process economy: what every `launcher` process pays before its work."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import pytest

from launcher.engine.idle_trees import tree_state
from launcher.git.repo import GitRepo
from tests.conftest import git, write_files
from tests.helpers import git_on_path, launcher_cli, run_plan, task

HEAVY = ("launcher.mutation", "launcher.app.workflow", "launcher.app.mutation.sweep", "libcst", "mcp")
# Loaded only where used: help screens (typer's rich help pulls in rich's markdown and pygments),
# scope and include specs.
HELP_AND_SPECS = ("typer.rich_utils", "rich.markdown", "pygments", "pathspec")


def test_the_cli_loads_without_the_mutation_engine_the_workflow_engine_or_mcp() -> None:
    probe = ("import sys, launcher.cli.main\n"
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {{'libcst', 'mcp'}} "
             f"or any(m == h or m.startswith(h + '.') for h in {HEAVY!r})))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "[]"


def test_a_command_that_prints_no_help_loads_no_help_renderer_and_no_path_spec_matcher() -> None:
    probe = ("import sys, launcher.cli.main\n"
             f"print(sorted(m for m in sys.modules\n"
             f"             if any(m == h or m.startswith(h + '.') for h in {HELP_AND_SPECS!r})))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "[]"


def test_the_lazy_groups_are_listed_and_run_when_invoked(repo: Path) -> None:
    listing = launcher_cli(repo, "--help")
    assert "mutation" in listing.stdout and "Mutation sweeps for CI" in listing.stdout
    assert "workflow" in listing.stdout and "Multi-phase workflows" in listing.stdout
    sub = launcher_cli(repo, "mutation", "--help")
    assert sub.returncode == 0 and "sweep" in sub.stdout and "--install-completion" not in sub.stdout
    listed = launcher_cli(repo, "workflow", "workflows", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.lstrip().startswith("[")


def _packs(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / ".git" / "objects" / "pack").glob("*.pack"))


def test_the_launchers_git_leaves_housekeeping_to_the_users_git(repo: Path) -> None:
    # Two packs and a limit of one: the next commit's automatic maintenance would repack them
    # (synchronously, so the test sees it) if the launcher's git ran it.
    git(repo, "config", "gc.autoPackLimit", "1")
    git(repo, "config", "gc.autoDetach", "false")
    git(repo, "config", "maintenance.autoDetach", "false")
    for name in ("one", "two"):
        write_files(repo, {f"{name}.txt": name})
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", name)
        git(repo, "repack", "-q")
    before = _packs(repo)
    assert len(before) == 2

    async def commit() -> None:
        launcher_repo = await GitRepo.discover(repo)
        await launcher_repo.git("commit", "-q", "--allow-empty", "-m", "the launcher's commit")

    anyio.run(commit)
    assert _packs(repo) == before
    assert git(repo, "log", "-1", "--format=%s").strip() == "the launcher's commit"


def _counting_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `git` first on PATH that logs each call, then runs the real one."""
    log = tmp_path / f"git-calls-{uuid.uuid4().hex}.log"
    monkeypatch.setenv("PATH", git_on_path(tmp_path, f'echo "$*" >> "{log}"', "counting-bin")["PATH"])
    return log


def test_an_idle_trees_state_is_one_git_process_with_the_same_entries_as_porcelain_v1(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(repo, {"tracked.txt": "a\n", "gone.txt": "b\n", "staged.txt": "c\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "three files")
    write_files(repo, {"tracked.txt": "edited\n", "staged.txt": "staged\n", "new dir/with space.txt": "u\n"})
    (repo / "gone.txt").unlink()
    git(repo, "add", "staged.txt")
    expected_entries = frozenset(e for e in git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all")
                                 .split("\0") if e)
    expected_head = git(repo, "rev-parse", "HEAD").strip()
    expected_branch = git(repo, "symbolic-ref", "--short", "HEAD").strip()
    log = _counting_git(tmp_path, monkeypatch)

    async def state() -> tuple[str, str | None, frozenset[str]]:
        return await tree_state(GitRepo(repo, repo / ".git"), repo)

    head, branch, entries = anyio.run(state)
    assert branch == expected_branch
    assert (head, entries) == (expected_head, expected_entries)
    assert len(expected_entries) == 4
    assert len(log.read_text().splitlines()) == 1


def test_landing_rechecks_an_approval_without_diffing_the_same_commits_again(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _counting_git(tmp_path, monkeypatch)
    report = run_plan(repo, [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    assert task(report, "a").state == "merged"
    calls = [line.split() for line in log.read_text().splitlines()]
    change_set_diffs = [call for call in calls  # not the staging check (`diff --cached`, index vs HEAD)
                        if call[:1] == ["diff"] and "--raw" in call and "--cached" not in call]
    assert len(change_set_diffs) == 1  # at approval; landing's re-check reuses it


def test_landing_finds_added_conflict_markers_without_a_separate_merge_base(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _counting_git(tmp_path, monkeypatch)
    report = run_plan(repo, [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
                             {"id": "m", "script": [{"write": "m.txt", "content": "<<<<<<< ours\n"}]}])
    assert task(report, "a").state == "merged"
    assert task(report, "m").state != "merged" and "conflict markers at m.txt:1" in task(report, "m").message
    calls = [line.split() for line in log.read_text().splitlines()]
    # The fork comes from `diff tip...head`; ancestry is asked once before the run (does the target
    # share history with the base?) and, for a branch whose diff adds marker lines, once to tell a
    # copy of a file the fork held from an added one: never for every landing.
    merge_bases = [call[1:] for call in calls if call[:1] == ["merge-base"]]
    assert len(merge_bases) == 2 and merge_bases[0][1:] == ["main"], merge_bases
