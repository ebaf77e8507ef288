"""Warm worktrees and what someone left in them (session 19).

- A pool worktree is listed by `git worktree list`: someone may open it, edit there or commit on
  its detached HEAD. A run that takes it (and hands it to no task: it was touched) and
  `launcher clean --all` keep that work first, under `refs/launcher-pool/kept/...` (uncommitted
  changes as a stash commit over the worktree's HEAD, a commit no ref holds as itself), and say
  where; the task gets a fresh worktree. `clean --all --force` keeps nothing, as for a run's
  worktrees. Before, the commit became unreachable and the edits were deleted.
- `launcher pool warm` in a worktree the launcher made is refused, as other commands are (it
  made a pool no `clean --all` from the main checkout ever removed).
- A `.worktreeinclude` file with holes (a disk image, a preallocated store) is copied with its
  holes, as `cp --reflink=auto` copies it where blocks cannot be shared: it was written out in
  full (`copy_file_range` and the plain copy write holes as zeros), per worktree.
- A file `.worktreeinclude` names that the launcher's user cannot read (a `.env` of another
  user's, mode 600) is said at the run's start and not copied; the run went on. It crashed the
  run with an internal error at the first task's provisioning.
- A `.worktreeinclude` pattern with a `..` component (`../shared/.env`, meant for a file outside
  the repository) is said at the run's start: it matches nothing, and copied nothing silently.
- A `[run] warm_pool` refill whose checkout fails (a smudge filter: git-lfs on a network error)
  is a note, as the code meant: it came wrapped in a task group's ExceptionGroup and made the
  run end with an error (exit 1) after all its work had landed.
- Merged worktrees that cannot go back to the pool (a reset stopped at git's time limit) are a
  note and are removed, as the code meant; the error came wrapped the same way, and a run whose
  work had all landed ended failed with its worktrees and branches left.
- `pool warm N [--base REV]` says how many of the ready worktrees are at another commit than the
  base (warmed before the branch moved): they count, and are not re-made; it said only "N ready".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import pytest
from helpers import git, launcher_cli, run_shell, task
from test_warm_pool_speed import found_by, pool_trees, run_recorded, warm

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.states import RunStatus

USER = ("-c", "user.name=u", "-c", "user.email=u@u")


def kept_refs(repo: Path) -> dict[str, str]:
    listed = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/launcher-pool/kept/")
    return dict(line.split() for line in listed.splitlines())


def reachable(repo: Path, commit: str) -> bool:
    """A ref (not some worktree's HEAD) holds `commit`."""
    return git(repo, "rev-list", "-n1", commit, "--not", "--single-worktree", "--all").strip() == ""


def test_a_commit_made_by_hand_in_a_pool_worktree_is_kept_when_a_run_takes_that_worktree(
        repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "main").strip()
    [pooled] = warm(repo, 1)
    (pooled / "mine.txt").write_text("my work\n")
    git(pooled, "add", "mine.txt")
    git(pooled, *USER, "commit", "-qm", "made in the pool worktree")
    made = git(pooled, "rev-parse", "HEAD").strip()
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one"])
    assert report.status == RunStatus.SUCCEEDED, task(report, "one").message
    assert found_by(record, "one")["head"] == base  # the task starts at the base, in a fresh worktree
    assert reachable(repo, made)
    [(ref, kept)] = kept_refs(repo).items()
    assert kept == made
    assert any(ref in note.message for note in report.notes)  # and the run says where


def test_edits_made_by_hand_in_a_pool_worktree_are_kept_when_a_run_takes_that_worktree(
        repo: Path, tmp_path: Path) -> None:
    [pooled] = warm(repo, 1)
    (pooled / "app.py").write_text("def add(a, b):\n    return 'my edit'\n")
    (pooled / "notes.txt").write_text("my notes\n")
    report = run_recorded(repo, tmp_path / f"record-{uuid.uuid4().hex}", ["one"])
    assert report.status == RunStatus.SUCCEEDED, task(report, "one").message
    assert not pooled.exists()
    [ref] = kept_refs(repo)
    assert git(repo, "show", f"{ref}:app.py") == "def add(a, b):\n    return 'my edit'\n"
    assert git(repo, "show", f"{ref}:notes.txt") == "my notes\n"
    assert "my edit" not in (repo / "app.py").read_text()  # kept aside, never landed


def test_a_pristine_pool_worktree_at_an_older_base_is_still_taken_and_keeps_nothing(
        repo: Path, tmp_path: Path) -> None:
    [pooled] = warm(repo, 1)
    inode = pooled.stat().st_ino
    (repo / "later.txt").write_text("main moved on\n")
    git(repo, "add", "later.txt")
    git(repo, *USER, "commit", "-qm", "later")
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one"])
    assert report.status == RunStatus.SUCCEEDED, task(report, "one").message
    assert found_by(record, "one")["inode"] == inode  # the pool's worktree, checked out at the new base
    assert kept_refs(repo) == {}


def test_clean_all_keeps_the_edits_and_commits_made_in_pool_worktrees_and_says_where(repo: Path) -> None:
    edited, committed, untouched = warm(repo, 3)
    (edited / "app.py").write_text("def add(a, b):\n    return 'my edit'\n")
    (committed / "mine.txt").write_text("my work\n")
    git(committed, "add", "mine.txt")
    git(committed, *USER, "commit", "-qm", "made in the pool worktree")
    made = git(committed, "rev-parse", "HEAD").strip()
    cleaned = launcher_cli(repo, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert pool_trees(repo) == [] and not untouched.exists()
    kept = kept_refs(repo)
    assert len(kept) == 2 and made in kept.values() and reachable(repo, made)
    [stash] = [ref for ref, commit in kept.items() if commit != made]
    assert git(repo, "show", f"{stash}:app.py") == "def add(a, b):\n    return 'my edit'\n"
    assert all(ref in cleaned.stdout for ref in kept)


def test_a_pool_worktree_whose_edits_cannot_be_saved_is_set_aside_never_removed_nor_handed_out(
        repo: Path, tmp_path: Path) -> None:
    [pooled] = warm(repo, 1)
    (pooled / "app.py").write_text("def add(a, b):\n    return 'my edit'\n")
    admin = Path(git(pooled, "rev-parse", "--absolute-git-dir").strip())
    (admin / "index.lock").touch()  # a git of the user's that died: `git add` refuses
    record = tmp_path / f"record-{uuid.uuid4().hex}"
    report = run_recorded(repo, record, ["one"])
    assert report.status == RunStatus.SUCCEEDED, task(report, "one").message
    assert found_by(record, "one")["status"] == ""  # a fresh worktree
    [aside] = [tree for tree in (pooled.parent).iterdir() if tree.name.startswith("kept-")]
    assert "my edit" in (aside / "app.py").read_text()
    assert any(str(aside) in note.message for note in report.notes)
    cleaned = launcher_cli(repo, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "my edit" in (aside / "app.py").read_text() and f"kept warm worktree {aside}" in cleaned.stdout


def test_clean_all_force_removes_the_pool_keeping_nothing(repo: Path) -> None:
    [pooled] = warm(repo, 1)
    (pooled / "app.py").write_text("def add(a, b):\n    return 'my edit'\n")
    cleaned = launcher_cli(repo, "clean", "--all", "--force")
    assert cleaned.returncode == 0, cleaned.stderr
    assert pool_trees(repo) == [] and not pooled.exists()
    assert kept_refs(repo) == {}


def test_pool_warm_in_a_worktree_the_launcher_made_is_refused_and_names_the_main_checkout(repo: Path) -> None:
    [pooled] = warm(repo, 1)
    warmed = launcher_cli(pooled, "pool", "warm", "2")
    assert warmed.returncode == 2, warmed.stderr
    assert "a worktree the launcher made" in warmed.stderr and str(repo) in warmed.stderr
    assert pool_trees(repo) == [pooled]  # nothing was made, here or anywhere


def test_an_included_file_with_holes_keeps_its_holes_in_the_tasks_worktree(repo: Path, tmp_path: Path) -> None:
    (repo / "build").mkdir()
    size = 256 << 20
    with (repo / "build" / "disk.img").open("wb") as image:  # 256 MiB, of which one block is data
        image.truncate(size)
        image.seek(size // 2)
        image.write(b"superblock")
    (repo / ".worktreeinclude").write_text("build/disk.img\n")
    record = tmp_path / "blocks.txt"
    run_shell(repo, f"stat -c '%b %B %s' build/disk.img > {record}; cmp -s build/disk.img '{repo}/build/disk.img' "
                    f"&& echo same >> {record}", "look")
    blocks, unit, copied_size, *same = record.read_text().split()
    assert int(copied_size) == size and same == ["same"]
    assert int(blocks) * int(unit) < 1 << 20  # not 256 MiB written out


def test_pool_warm_says_how_many_of_its_worktrees_are_at_another_commit_than_the_base(repo: Path) -> None:
    warm(repo, 2)
    (repo / "later.txt").write_text("main moved on\n")
    git(repo, "add", "later.txt")
    git(repo, *USER, "commit", "-qm", "later")
    warmed = launcher_cli(repo, "pool", "warm", "3")
    assert warmed.returncode == 0, warmed.stderr
    assert warmed.stdout.startswith("warm pool: 3 worktree(s) ready (1 new; 2 of them at another commit than HEAD")
    again = launcher_cli(repo, "pool", "warm", "3", "--base", "main~1")
    assert again.stdout.startswith("warm pool: 3 worktree(s) ready (0 new; 1 of them at another commit than main~1")


WRITER = ("echo done > done.txt; printf '%s' '" + json.dumps(
    {"contract_version": "1", "task_id": "w", "status": "done", "summary": "wrote done.txt",
     "files_changed": ["done.txt"], "tests_added": [], "decisions": [], "blockers": [],
     "llm_observations": "sh"}) + "' > \"$LAUNCHER_CONTRACT\"")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to make a file it cannot read")
def test_an_included_file_the_user_cannot_read_is_said_and_not_copied_and_the_run_goes_on(
        repo: Path, tmp_path: Path) -> None:
    (repo / ".env").write_text("TOKEN=another user's\n")
    os.chown(repo / ".env", 65534, 65534)
    (repo / ".env").chmod(0o600)
    (repo / ".worktreeinclude").write_text(".env\n")
    plan = tmp_path / "plan.toml"
    plan.write_text(f"[agents.sh]\nadapter = 'command'\ncommand = ['sh', '-c', {json.dumps(WRITER)}]\n"
                    "[[task]]\nid = 'w'\nagent = 'sh'\nprompt = 'x'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # root without the capabilities that let it read any file: as a user who does not own `.env`
    ran = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-m",
                          "launcher", "run", str(plan), "--quiet"], cwd=repo, env=env, capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "internal error" not in ran.stderr
    assert ".env (matched by .worktreeinclude) cannot be read (Permission denied): not copied" in ran.stdout
    assert (repo / "done.txt").read_text() == "done\n"


def test_a_refill_whose_checkout_fails_is_a_note_and_the_run_that_landed_succeeds(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitattributes").write_text("*.bin filter=flaky\n")
    (repo / "data.bin").write_text("data\n")
    git(repo, "config", "filter.flaky.clean", "cat")
    # fails in the pool only, as git-lfs fails on a network error while the run's own checkouts went well
    git(repo, "config", "filter.flaky.smudge",
        "sh -c 'case \"$PWD\" in */_pool/*) echo network error >&2; exit 1;; esac; cat'")
    git(repo, "config", "filter.flaky.required", "true")
    git(repo, "add", "-A")
    git(repo, *USER, "commit", "-qm", "data")
    report = run_recorded(repo, tmp_path / f"record-{uuid.uuid4().hex}", ["one"], warm_pool=2)
    assert report.status == RunStatus.SUCCEEDED, (report.message, [n.message for n in report.notes])
    assert task(report, "one").merged
    assert any(note.message.startswith("warm pool not refilled:") and "network error" in note.message
               for note in report.notes)


def test_an_include_pattern_that_reaches_out_of_the_repository_is_said_at_the_runs_start(
        repo: Path, tmp_path: Path) -> None:
    (tmp_path / "shared.env").write_text("TOKEN=1\n")
    (repo / ".worktreeinclude").write_text("../shared.env\n")
    report = run_shell(repo, "true", "look")
    assert any(note.message.startswith("'../shared.env' in .worktreeinclude matches nothing") for note in report.notes)


BIN_WRITER = ("echo \"$LAUNCHER_TASK_ID\" > \"$LAUNCHER_TASK_ID.bin\"; printf '{\"contract_version\": \"1\", "
              "\"task_id\": \"%s\", \"status\": \"done\", \"summary\": \"s\", \"files_changed\": [\"%s.bin\"], "
              "\"tests_added\": [], \"decisions\": [], \"blockers\": [], \"llm_observations\": \"sh\"}' "
              "\"$LAUNCHER_TASK_ID\" \"$LAUNCHER_TASK_ID\" > \"$LAUNCHER_CONTRACT\"")


def test_merged_worktrees_that_cannot_be_reset_for_the_pool_are_a_note_and_the_run_succeeds(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / ".gitattributes").write_text("*.bin filter=slow\n")
    git(repo, "config", "filter.slow.clean", "cat")
    # slow in the runs' worktrees only: the reset of a merged one to the new tip (the other
    # task's file) passes git's time limit; the main checkout's update does not
    git(repo, "config", "filter.slow.smudge", "sh -c 'case \"$PWD\" in */r-2*) sleep 4;; esac; cat'")
    git(repo, "add", "-A")
    git(repo, *USER, "commit", "-qm", "attributes")
    monkeypatch.setenv("LAUNCHER_GIT_TIMEOUT", "2")
    agents = {"sh": {"adapter": "command", "command": ["sh", "-c", BIN_WRITER]}}
    plan = validate_plan({"run": {"warm_pool": 2}, "agents": agents,
                          "task": [{"id": tid, "agent": "sh", "prompt": "x"} for tid in ("t1", "t2")]}, "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    assert report.status == RunStatus.SUCCEEDED, (report.message, [n.message for n in report.notes])
    assert all(task(report, tid).merged for tid in ("t1", "t2"))
    assert any(note.message.startswith("merged worktrees not returned to the warm pool:") for note in report.notes)
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""  # removed as without a pool
