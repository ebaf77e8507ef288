"""What git itself writes into the shared git dir for an agent's fetch is never put back alone:
putting back `shallow` without the fetched tip's line, or the config without a promisor remote's
keys, would leave a ref pointing into a history with missing objects (`git fsck` fails). Only the
part of a change that hides history the repository has is undone, and its task fails for it.
Real repositories and a real upstream; the agents are scripted, the launcher runs in-process."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import git
from helpers import run_plan, task


def _commit(root: Path, name: str) -> None:
    (root / name).write_text(f"{name}\n")
    git(root, "add", name)
    git(root, "commit", "-qm", name)


def _upstream(tmp_path: Path) -> tuple[Path, Path]:
    """A working repository with two commits on main and a bare upstream it pushes to."""
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    _commit(src, "a.txt")
    _commit(src, "b.txt")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(src), str(origin))
    git(origin, "config", "uploadpack.allowfilter", "true")
    return src, origin


def _push_two_more(src: Path, origin: Path, branch: str = "main") -> None:
    git(src, "checkout", "-q", "-B", branch)
    _commit(src, f"{branch}-c.txt")
    _commit(src, f"{branch}-d.txt")
    git(src, "push", "-q", str(origin), branch)


def _whole(repo: Path, ref: str) -> None:
    fsck = subprocess.run(["git", "fsck"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0 and "broken" not in fsck.stdout + fsck.stderr, fsck.stdout + fsck.stderr
    log = subprocess.run(["git", "log", "-p", "--format=%s", ref], cwd=repo, capture_output=True, text=True)
    assert log.returncode == 0, log.stderr


def _fetch_task(task_id: str, *argv: str, then: list[dict[str, object]] | None = None) -> dict[str, object]:
    script = [{"run": ["git", "fetch", "-q", *argv]}, *(then or []), {"write": f"{task_id}.txt", "content": "x\n"}]
    return {"id": task_id, "agent": "scripted", "prompt": "x", "script": script}


def test_an_agents_depth_1_fetch_in_a_shallow_clone_keeps_the_fetched_tip_listed_and_lands(tmp_path: Path) -> None:
    src, origin = _upstream(tmp_path)
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(repo))
    _push_two_more(src, origin)
    new_tip = git(src, "rev-parse", "main").strip()

    report = run_plan(repo, [_fetch_task("s1", "--depth", "1", "origin", "main")])

    assert task(report, "s1").state == "merged", task(report, "s1").message
    assert new_tip in (repo / ".git" / "shallow").read_text().split()
    _whole(repo, "origin/main")


def test_an_agents_depth_1_fetch_in_a_full_clone_keeps_the_shallow_file_git_created(tmp_path: Path) -> None:
    src, origin = _upstream(tmp_path)
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "-q", f"file://{origin}", str(repo))
    git(src, "checkout", "-q", "-b", "other", "HEAD~1")
    _push_two_more(src, origin, "other")

    report = run_plan(repo, [_fetch_task("s1", "--depth", "1", "origin", "other")])

    assert task(report, "s1").state == "merged", task(report, "s1").message
    assert (repo / ".git" / "shallow").read_text().split() == [git(src, "rev-parse", "other").strip()]
    _whole(repo, "origin/other")


def test_a_line_hiding_history_is_removed_and_fails_the_task_while_the_fetched_tips_line_stays(
    tmp_path: Path,
) -> None:
    src, origin = _upstream(tmp_path)
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "-q", f"file://{origin}", str(repo))
    _push_two_more(src, origin)
    hidden = git(repo, "rev-parse", "main").strip()  # its parent is here: listing it hides history
    hide = ["sh", "-c", f'echo {hidden} >> "$(git rev-parse --git-common-dir)/shallow"']

    report = run_plan(repo, [_fetch_task("s1", "--depth", "1", "origin", "main", then=[{"run": hide}])])

    s1 = task(report, "s1")
    assert s1.state == "failed", s1.message
    assert "changed the repository's shared git directory (shallow changed" in s1.message, s1.message
    assert (repo / ".git" / "shallow").read_text().split() == [git(src, "rev-parse", "main").strip()]
    assert git(repo, "rev-list", "--count", "main").strip() == "2"  # main's history is whole again
    _whole(repo, "origin/main")
    _whole(repo, "main")


def test_an_agents_filtered_fetch_keeps_the_promisor_keys_the_missing_blobs_need(tmp_path: Path) -> None:
    src, origin = _upstream(tmp_path)
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "-q", f"file://{origin}", str(repo))
    _push_two_more(src, origin)

    report = run_plan(repo, [_fetch_task("s1", "--filter=blob:none", "origin")])

    s1 = task(report, "s1")
    # git also raised the repository format version: that key is put back, and said.
    assert s1.state == "failed" and "config changed" in s1.message, s1.message
    assert git(repo, "config", "remote.origin.promisor").strip() == "true"
    assert git(repo, "config", "remote.origin.partialclonefilter").strip() == "blob:none"
    _whole(repo, "origin/main")


def test_an_agents_unshallow_fetch_is_kept_but_a_deleted_shallow_file_is_put_back(tmp_path: Path) -> None:
    _src, origin = _upstream(tmp_path)
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(repo))
    listed = (repo / ".git" / "shallow").read_text()
    delete = ["sh", "-c", 'rm "$(git rev-parse --git-common-dir)/shallow"']

    report = run_plan(repo, [{"id": "rm", "agent": "scripted", "prompt": "x", "script": [{"run": delete}]}])

    assert task(report, "rm").state == "failed", task(report, "rm").message
    assert "shallow deleted" in task(report, "rm").message
    assert (repo / ".git" / "shallow").read_text() == listed  # main's parent is not here: listed again
    _whole(repo, "main")

    report = run_plan(repo, [_fetch_task("deep", "--unshallow", "origin")])

    assert task(report, "deep").state == "merged", task(report, "deep").message
    assert not (repo / ".git" / "shallow").exists()
    _whole(repo, "main")
