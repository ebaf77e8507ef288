"""Merging back: in-memory merges, the landing queue, integration checks and the target CAS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest
from conftest import git

from launcher.errors import GitFailed
from launcher.git.integration_check import run_integration_check
from launcher.git.merge import (
    Candidate,
    advance_target,
    land_queue,
    merge_commit,
    preflight,
)
from launcher.git.repo import GitRepo

ORIGINAL = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
INTEGRATION = "launcher/r1/integration"


def handle(root: Path) -> GitRepo:
    return anyio.run(GitRepo.discover, root)


def rev(root: Path, what: str) -> str:
    return git(root, "rev-parse", what).strip()


def branch(
    root: Path, name: str, files: dict[str, str], message: str = "", base: str = "main"
) -> str:
    """Commit `files` on a new branch off `base` without touching the main work tree."""
    wt = root.parent / f"wt-{name.replace('/', '-')}"
    git(root, "worktree", "add", "-q", "-b", name, str(wt), base)
    for path, text in files.items():
        (wt / path).parent.mkdir(parents=True, exist_ok=True)
        (wt / path).write_text(text)
        git(wt, "add", "-f", path)
    git(wt, "commit", "-q", "-m", message or f"work on {name}")
    git(root, "worktree", "remove", str(wt))
    return rev(root, name)


def commit_on(root: Path, name: str, files: dict[str, str], message: str) -> str:
    """One more commit on an existing branch, again without touching the main work tree."""
    wt = root.parent / f"wt2-{name.replace('/', '-')}"
    git(root, "worktree", "add", "-q", str(wt), name)
    for path, text in files.items():
        (wt / path).write_text(text)
        git(wt, "add", path)
    git(wt, "commit", "-q", "-m", message)
    git(root, "worktree", "remove", str(wt))
    return rev(root, name)


def cand(task: str, name: str, root: Path, **kw: object) -> Candidate:
    return Candidate(
        task_id=task,
        branch=name,
        head=rev(root, name),
        message=f"Land {task}",
        trailers={"Launcher-Run": "r1", "Launcher-Task": task, "Launcher-Agent": "fake",
                  "Launcher-Verdict": "approved"},
        **kw,  # type: ignore[arg-type]
    )


def refs_snapshot(root: Path) -> tuple[str, str, str]:
    return (git(root, "for-each-ref"), git(root, "symbolic-ref", "HEAD"),
            git(root, "status", "--porcelain"))


def show(root: Path, commit: str, path: str) -> str:
    return git(root, "show", f"{commit}:{path}")


EDIT_ADD = ORIGINAL.replace("return a + b", "return a + b  # add")
EDIT_SUB = ORIGINAL.replace("return a - b", "return a - b  # sub")
EDIT_ADD_OTHER = ORIGINAL.replace("return a + b", "return b + a")


def test_disjoint_hunks_both_land_and_main_tree_follows(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD})
    branch(repo, "t/b", {"app.py": EDIT_SUB})
    r = handle(repo)
    old = rev(repo, "main")
    tip, landings = anyio.run(lambda: land_queue(
        r, tip=old, candidates=[cand("a", "t/a", repo), cand("b", "t/b", repo)], strategy="merge"))
    assert [x.outcome for x in landings] == ["landed", "landed"]
    assert tip == landings[1].commit
    both = show(repo, tip, "app.py")
    assert "return a + b  # add" in both and "return a - b  # sub" in both
    # --no-ff merges: each landing has the previous tip and the task head as parents.
    assert git(repo, "rev-list", "--parents", "-n1", tip).split()[1:] == [
        landings[0].commit, rev(repo, "t/b")]
    assert rev(repo, "main") == old  # land_queue itself writes no ref

    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=tip, expected_old=old, integration_branch=INTEGRATION))
    assert res.moved and res.where == "main"
    assert rev(repo, "main") == tip
    assert (repo / "app.py").read_text() == both
    assert git(repo, "status", "--porcelain") == ""


def test_overlapping_hunks_second_is_conflicted_and_never_half_merged(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD}, "a: annotate add")
    branch(repo, "t/b", {"app.py": EDIT_ADD_OTHER}, "b: swap operands")
    r = handle(repo)
    old = rev(repo, "main")
    tip, landings = anyio.run(lambda: land_queue(
        r, tip=old, candidates=[cand("a", "t/a", repo), cand("b", "t/b", repo)], strategy="merge"))
    first, second = landings
    assert first.outcome == "landed" and second.outcome == "conflicted"
    assert second.commit is None
    assert second.conflict_files == ["app.py"]
    assert "app.py" in second.details and "CONFLICT" in second.details
    assert "a: annotate add" in second.details and "b: swap operands" in second.details
    assert tip == first.commit

    anyio.run(lambda: advance_target(
        r, target_branch="main", new=tip, expected_old=old, integration_branch=INTEGRATION))
    assert rev(repo, "main") == first.commit
    assert show(repo, "main", "app.py") == EDIT_ADD


def test_preflight_and_merge_commit_touch_no_ref_or_work_tree(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD})
    branch(repo, "t/b", {"app.py": EDIT_ADD_OTHER})
    r = handle(repo)
    before = refs_snapshot(repo)
    tree, files, _ = anyio.run(preflight, r, "main", "t/a")
    assert tree is not None and files == []
    assert git(repo, "cat-file", "-t", tree).strip() == "tree"
    tree, files, info = anyio.run(preflight, r, "main", "t/b")
    assert tree is not None  # t/b alone is clean against main
    a_tip = rev(repo, "t/a")
    tree, files, info = anyio.run(preflight, r, a_tip, "t/b")
    assert tree is None and files == ["app.py"] and "Merge conflict in app.py" in info
    for strategy in ("merge", "squash", "rebase"):
        landing = anyio.run(lambda s=strategy: merge_commit(
            r, tip="main", candidate=cand("a", "t/a", repo), strategy=s))
        assert landing.outcome == "landed" and landing.commit
        assert git(repo, "cat-file", "-t", landing.commit).strip() == "commit"
    assert refs_snapshot(repo) == before
    assert (repo / "app.py").read_text() == ORIGINAL


def test_preflight_bad_revision_raises(repo: Path) -> None:
    r = handle(repo)
    with pytest.raises(GitFailed):
        anyio.run(preflight, r, "main", "no-such-branch")


def test_trailers_are_on_the_landed_commit(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD})
    r = handle(repo)
    landing = anyio.run(lambda: merge_commit(
        r, tip="main", candidate=cand("a", "t/a", repo), strategy="merge"))
    assert landing.commit
    trailers = git(repo, "log", "-1", "--format=%(trailers)", landing.commit)
    for line in ("Launcher-Run: r1", "Launcher-Task: a", "Launcher-Agent: fake",
                 "Launcher-Verdict: approved"):
        assert line in trailers
    assert git(repo, "log", "-1", "--format=%s", landing.commit).strip() == "Land a"


def test_squash_is_a_single_parent_commit(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD})
    commit_on(repo, "t/a", {"README.md": "# sample\nmore\n"}, "second")
    r = handle(repo)
    old = rev(repo, "main")
    landing = anyio.run(lambda: merge_commit(
        r, tip=old, candidate=cand("a", "t/a", repo), strategy="squash"))
    assert landing.commit
    assert git(repo, "rev-list", "--parents", "-n1", landing.commit).split()[1:] == [old]
    assert show(repo, landing.commit, "app.py") == EDIT_ADD
    assert show(repo, landing.commit, "README.md") == "# sample\nmore\n"
    assert "Launcher-Task: a" in git(repo, "log", "-1", "--format=%(trailers)", landing.commit)


def test_rebase_replays_linearly_keeping_authors(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD}, "first change")
    commit_on(repo, "t/a", {"app.py": EDIT_ADD.replace("# add", "# add!")}, "second change")
    # The target moves on meanwhile, so the replay is a real cherry-pick, not a fast-forward.
    git(repo, "commit", "-q", "--allow-empty", "-m", "unrelated")
    (repo / "README.md").write_text("# sample\ntarget moved\n")
    git(repo, "commit", "-q", "-am", "target work")
    git(repo, "config", "user.name", "Committer")  # the user running the launcher commits
    git(repo, "config", "user.email", "committer@example.com")
    r = handle(repo)
    old = rev(repo, "main")
    landing = anyio.run(lambda: merge_commit(
        r, tip=old, candidate=cand("a", "t/a", repo), strategy="rebase"))
    new = landing.commit
    assert landing.outcome == "landed" and new
    assert git(repo, "rev-list", "--merges", f"{old}..{new}") == ""
    assert git(repo, "rev-list", "--count", f"{old}..{new}").strip() == "2"
    assert rev(repo, f"{new}~2") == old
    assert git(repo, "log", "--format=%s", f"{old}..{new}").split("\n")[:2] == [
        "second change", "first change"]
    assert set(git(repo, "log", "--format=%an", f"{old}..{new}").split()) == {"t"}
    assert set(git(repo, "log", "--format=%cn", f"{old}..{new}").splitlines()) == {"Committer"}
    assert "Launcher-Task: a" in git(repo, "log", "-1", "--format=%(trailers)", new)
    assert git(repo, "log", "-1", "--format=%(trailers)", f"{new}~1").strip() == ""
    assert show(repo, new, "app.py") == EDIT_ADD.replace("# add", "# add!")
    assert show(repo, new, "README.md") == "# sample\ntarget moved\n"


def test_rebase_conflict_writes_nothing(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD})
    (repo / "app.py").write_text(EDIT_ADD_OTHER)
    git(repo, "commit", "-q", "-am", "target edits the same line")
    r = handle(repo)
    before = refs_snapshot(repo)
    landing = anyio.run(lambda: merge_commit(
        r, tip="main", candidate=cand("a", "t/a", repo), strategy="rebase"))
    assert landing.outcome == "conflicted" and landing.commit is None
    assert landing.conflict_files == ["app.py"]
    assert refs_snapshot(repo) == before


def test_forbidden_path_is_refused(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD, ".env": "SECRET=1\n"})
    branch(repo, "t/b", {"app.py": EDIT_SUB})
    r = handle(repo)
    old = rev(repo, "main")
    tip, landings = anyio.run(lambda: land_queue(
        r, tip=old,
        candidates=[cand("a", "t/a", repo, forbidden_paths=[".env"]),
                    cand("b", "t/b", repo, forbidden_paths=[".env"])],
        strategy="merge"))
    assert landings[0].outcome == "refused" and landings[0].commit is None
    assert ".env" in landings[0].details
    assert landings[1].outcome == "landed"
    assert git(repo, "ls-tree", "--name-only", tip, ".env") == ""
    assert show(repo, tip, "app.py") == EDIT_SUB


def test_integration_check_failure_skips_candidate(repo: Path) -> None:
    branch(repo, "t/a", {"app.py": EDIT_ADD})
    branch(repo, "t/bad", {"README.md": "# sample\nBROKEN\n"})
    branch(repo, "t/c", {"app.py": EDIT_SUB})
    r = handle(repo)
    scratch = repo.parent / "scratch" / "check"
    seen: list[str] = []

    async def check(commit: str) -> tuple[bool, str]:
        seen.append(commit)
        return await run_integration_check(r, commit, "! grep -q BROKEN README.md && echo fine",
                                           scratch, 60)

    tip, landings = anyio.run(lambda: land_queue(
        r, tip="main", strategy="merge", integration_check=check,
        candidates=[cand("a", "t/a", repo), cand("bad", "t/bad", repo), cand("c", "t/c", repo)]))
    assert [x.outcome for x in landings] == ["landed", "check_failed", "landed"]
    assert landings[1].commit is None and "integration check failed" in landings[1].details
    assert len(seen) == 3
    assert show(repo, tip, "README.md") == "# sample\n"
    assert "# add" in show(repo, tip, "app.py") and "# sub" in show(repo, tip, "app.py")
    # c was folded onto a, not onto the rejected result.
    assert git(repo, "rev-list", "--parents", "-n1", tip).split()[1] == landings[0].commit
    assert not scratch.exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_run_integration_check_reports_output_and_cleans_up(repo: Path) -> None:
    r = handle(repo)
    scratch = repo.parent / "scratch" / "one"
    ok, out = anyio.run(run_integration_check, r, rev(repo, "main"),
                        "cat README.md; echo oops >&2; exit 3", scratch, 60)
    assert not ok and "# sample" in out and "oops" in out
    ok, out = anyio.run(run_integration_check, r, "main", "sleep 5", scratch, 0.3)
    assert not ok and "timed out" in out
    assert not scratch.exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def _land_one(repo: Path, r: GitRepo, files: dict[str, str]) -> tuple[str, str]:
    branch(repo, "t/a", files)
    old = rev(repo, "main")
    landing = anyio.run(lambda: merge_commit(
        r, tip=old, candidate=cand("a", "t/a", repo), strategy="merge"))
    assert landing.commit
    return old, landing.commit


def test_cas_does_not_clobber_a_moved_target(repo: Path) -> None:
    r = handle(repo)
    old, new = _land_one(repo, r, {"app.py": EDIT_ADD})
    git(repo, "checkout", "-q", "--detach")  # target checked out nowhere
    git(repo, "commit", "-q", "--allow-empty", "-m", "user work")
    user = rev(repo, "HEAD")
    git(repo, "update-ref", "refs/heads/main", user)  # the user moved main meanwhile
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert not res.moved and res.where == INTEGRATION
    assert rev(repo, "main") == user
    assert rev(repo, INTEGRATION) == new
    assert "moved" in res.message and INTEGRATION in res.message


def test_not_checked_out_target_moves_by_cas(repo: Path) -> None:
    r = handle(repo)
    old, new = _land_one(repo, r, {"app.py": EDIT_ADD})
    git(repo, "checkout", "-q", "--detach")
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert res.moved and rev(repo, "main") == new
    assert (repo / "app.py").read_text() == ORIGINAL  # detached work tree left alone
    assert subprocess.run(["git", "rev-parse", "--verify", "--quiet", INTEGRATION],
                          cwd=repo, capture_output=True).returncode != 0
    again = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=new, integration_branch=INTEGRATION))
    assert not again.moved and again.message == "nothing to land"


def test_cas_checked_out_target_moved_meanwhile(repo: Path) -> None:
    r = handle(repo)
    old, new = _land_one(repo, r, {"app.py": EDIT_ADD})
    git(repo, "commit", "-q", "--allow-empty", "-m", "user work on main")
    user = rev(repo, "main")
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert not res.moved and rev(repo, "main") == user and rev(repo, INTEGRATION) == new
    assert (repo / "app.py").read_text() == ORIGINAL


def test_dirty_main_work_tree_keeps_target_and_user_changes(repo: Path) -> None:
    r = handle(repo)
    old, new = _land_one(repo, r, {"app.py": EDIT_SUB})
    dirty = ORIGINAL + "\n# my uncommitted work\n"
    (repo / "app.py").write_text(dirty)
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert not res.moved and res.where == INTEGRATION
    assert rev(repo, "main") == old
    assert rev(repo, INTEGRATION) == new
    assert (repo / "app.py").read_text() == dirty
    assert "local changes" in res.message
    assert f"git merge --ff-only {INTEGRATION}" in res.message


def test_clean_main_work_tree_is_updated_on_disk(repo: Path) -> None:
    r = handle(repo)
    old, new = _land_one(repo, r, {"app.py": EDIT_ADD, "pkg/new.py": "X = 1\n"})
    (repo / "notes.txt").write_text("untracked, unrelated\n")
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert res.moved and res.where == "main"
    assert rev(repo, "HEAD") == new
    assert (repo / "app.py").read_text() == EDIT_ADD
    assert (repo / "pkg" / "new.py").read_text() == "X = 1\n"
    assert (repo / "notes.txt").read_text() == "untracked, unrelated\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_untracked_file_in_the_way_rolls_back(repo: Path) -> None:
    r = handle(repo)
    old, new = _land_one(repo, r, {"new.py": "from branch\n"})
    (repo / "new.py").write_text("user's untracked file\n")
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert not res.moved and res.where == INTEGRATION
    assert rev(repo, "main") == old and rev(repo, INTEGRATION) == new
    assert (repo / "new.py").read_text() == "user's untracked file\n"
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert "new.py" in res.message


def _ignore(repo: Path, pattern: str) -> None:
    (repo / ".git" / "info" / "exclude").write_text(f"{pattern}\n")


@pytest.mark.parametrize("lands, mine, blocking", [
    ({"local.cfg": "agent's\n"}, {"local.cfg": "USER SECRET\n"}, "local.cfg"),  # overwritten
    ({"cfg": "now a file\n"}, {"cfg/local.secret": "USER SECRET\n"}, "cfg/local.secret"),  # dir removed
    ({"out/x.txt": "x\n"}, {"out": "USER SECRET\n"}, "out"),  # a file where a directory goes
])
def test_an_ignored_file_of_the_user_in_the_way_parks_and_is_kept(
    repo: Path, lands: dict[str, str], mine: dict[str, str], blocking: str
) -> None:
    # git takes ignored files for expendable; the landing must not: they exist nowhere else.
    r = handle(repo)
    old, new = _land_one(repo, r, lands)
    _ignore(repo, "*.secret\nlocal.cfg\nout")
    for path, text in mine.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert not res.moved and res.where == INTEGRATION
    assert rev(repo, "main") == old and rev(repo, INTEGRATION) == new
    assert all((repo / path).read_text() == text for path, text in mine.items())
    assert blocking in res.message and "ignores" in res.message


def test_a_landing_adding_thousands_of_files_checks_them_all_for_ignored_ones(repo: Path) -> None:
    # More paths than one command line should carry: checked a batch at a time, the last too.
    r = handle(repo)
    many = {f"gen/f{i:04}.txt": f"{i}\n" for i in range(2500)}
    old, new = _land_one(repo, r, many)
    _ignore(repo, "gen/f2499.txt")
    (repo / "gen").mkdir()
    (repo / "gen" / "f2499.txt").write_text("USER SECRET\n")
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert not res.moved and "gen/f2499.txt" in res.message
    assert (repo / "gen" / "f2499.txt").read_text() == "USER SECRET\n"


def test_an_ignored_file_already_holding_what_lands_does_not_block(repo: Path) -> None:
    r = handle(repo)
    old, new = _land_one(repo, r, {"local.cfg": "same\n"})
    _ignore(repo, "local.cfg")
    (repo / "local.cfg").write_text("same\n")
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert res.moved and rev(repo, "main") == new
    assert git(repo, "status", "--porcelain") == ""


def test_target_checked_out_in_linked_worktree_is_left_alone(repo: Path) -> None:
    r = handle(repo)
    old, new = _land_one(repo, r, {"app.py": EDIT_ADD})
    git(repo, "checkout", "-q", "-b", "elsewhere")
    linked = repo.parent / "linked"
    git(repo, "worktree", "add", "-q", str(linked), "main")
    res = anyio.run(lambda: advance_target(
        r, target_branch="main", new=new, expected_old=old, integration_branch=INTEGRATION))
    assert not res.moved and res.where == INTEGRATION
    assert rev(repo, "main") == old and rev(repo, INTEGRATION) == new
    assert (linked / "app.py").read_text() == ORIGINAL
    assert str(linked) in res.message


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_a_head_the_target_already_contains_lands_as_the_target_itself(repo: Path, strategy: str) -> None:
    # Ancestry is asked only of a merge that would change nothing: the answer must not change.
    old_head = branch(repo, "t/a", {"app.py": EDIT_ADD})
    r = handle(repo)
    first = anyio.run(lambda: merge_commit(r, tip="main", candidate=cand("a", "t/a", repo), strategy="merge"))
    assert first.commit
    again = anyio.run(lambda: merge_commit(r, tip=first.commit or "",
                                           candidate=cand("a", "t/a", repo), strategy=strategy))  # type: ignore[arg-type]
    assert again.outcome == "landed" and again.commit == first.commit
    assert again.details == "already contained in the target"
    assert rev(repo, "t/a") == old_head


def test_a_head_whose_changes_the_target_has_but_not_its_commits_still_merges(repo: Path) -> None:
    # The same change made twice (a cherry-pick, say): not an ancestor, so a merge commit that
    # changes nothing records it, and a squash says there is nothing left.
    branch(repo, "t/a", {"app.py": EDIT_ADD})
    branch(repo, "t/b", {"app.py": EDIT_ADD}, message="the same change again")
    r = handle(repo)
    first = anyio.run(lambda: merge_commit(r, tip="main", candidate=cand("a", "t/a", repo), strategy="merge"))
    assert first.commit
    merged = anyio.run(lambda: merge_commit(r, tip=first.commit or "", candidate=cand("b", "t/b", repo),
                                            strategy="merge"))
    assert merged.outcome == "landed" and merged.commit not in (None, first.commit)
    parents = git(repo, "rev-list", "--parents", "-n1", merged.commit or "").split()[1:]
    assert parents == [first.commit, rev(repo, "t/b")]
    squashed = anyio.run(lambda: merge_commit(r, tip=first.commit or "", candidate=cand("b", "t/b", repo),
                                              strategy="squash"))
    assert squashed.outcome == "landed" and squashed.commit == first.commit
    assert squashed.details == "no changes left to land"
