"""The main work tree following its target branch: the one landing step that is not atomic.

Moving the target ref is one compare-and-swap; bringing the checked-out files along is a
separate `git read-tree -m -u OLD NEW`. A crash between the two leaves the ref at NEW while the
index and files stay at OLD, so `git status` shows staged changes that revert the landed work.
The landing therefore journals each step before taking it (`StepSink`), and on resume
`finish_tree_update` brings such a tree forward when that is safe, or puts the ref back and keeps
the result on the integration branch, or says exactly what to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from launcher import process, tree_paths
from launcher.git import checkout_follow, filters, ref_guard, time_limit, tree_undo
from launcher.git.registered import registered_worktree
from launcher.git.repo import GitRepo
from launcher.git.tree_undo import blobs, for_paths, split_z, tree_entries

# Landing steps, journaled before each effect (see launcher.store.journal.landing_step).
MOVING_REF = "moving_ref"  # the target ref is about to move (compare-and-swap)
UPDATING_TREE = "updating_tree"  # the ref moved; the main work tree is about to follow
TREE_UPDATED = "tree_updated"
ROLLING_BACK = "rolling_back"  # the tree refused the update; the ref is about to go back
PARKING = "parking"  # the result is about to be written to the integration branch

# (step, whether the main work tree must follow the target)
StepSink = Callable[[str, bool], None]


@dataclass
class AdvanceResult:
    moved: bool
    where: str
    message: str
    # Parked only because the target moved under the landing (another run landed, the user
    # committed): the same work folded onto the new tip may well land.
    raced: bool = False
    # The target holds the landed work but the main work tree could not follow, nor the target
    # be put back: the landing stays unfinished (its journal still says the tree must catch up)
    # and its tasks are not `merged` until `launcher resume`/`land` brings the tree to it.
    tree_behind: bool = False


def _no_step(_step: str, _main_tree: bool) -> None:
    return None


async def _succeeds(repo: GitRepo, *args: str) -> bool:
    return (await repo.git(*args, check=False)).ok


async def _tip(repo: GitRepo, ref: str) -> str:
    found = await repo.git("rev-parse", "--verify", "--quiet", ref, check=False)
    return found.out.strip() if found.ok else ""


async def free_integration_branch(repo: GitRepo, wanted: str, new: str) -> str:
    """`wanted`, unless it already holds other work (an earlier parked landing of the run, with
    commits `new` lacks): then `wanted-2`, `-3`, ... so parking never overwrites a result nobody
    has merged yet."""
    name, n = wanted, 1
    while True:
        held = await _tip(repo, f"refs/heads/{name}")
        if not held or await repo.is_ancestor(held, new):
            return name
        # A landing that parks again folds every approved task anew: the old result's commits
        # differ, but if `new` already holds all of its changes, nothing of it is lost.
        if await adds_nothing(repo, held, new):
            return name
        n += 1
        name = f"{wanted}-{n}"


async def adds_nothing(repo: GitRepo, commit: str, onto: str) -> bool:
    """Whether merging `commit` into `onto` changes nothing: all of its changes are there already,
    under whatever commits (a landing folded again makes new merge or squash commits)."""
    if await repo.is_ancestor(commit, onto):
        return True
    merged = await repo.git("merge-tree", "--write-tree", onto, commit, check=False)
    tree = await repo.git("rev-parse", f"{onto}^{{tree}}", check=False)
    return merged.returncode == 0 and tree.ok and merged.out.split()[:1] == [tree.out.strip()]


async def park(
    repo: GitRepo, *, target_branch: str, integration_branch: str, new: str, reason: str, how: str,
    on_step: StepSink = _no_step,
) -> AdvanceResult:
    """Keep `new` on the integration branch (caller holds the repository lock). `how` says what
    the user should do; it names the branch actually used as `{branch}`."""
    branch = await free_integration_branch(repo, integration_branch, new)
    # Parking says the main work tree need not follow the target: true only while the target
    # does not hold `new` with the tree behind it (else resume must still bring the tree there).
    on_step(PARKING, await tree_behind_target(repo, f"refs/heads/{target_branch}", new))
    await repo.git("update-ref", "-m", "launcher: integration result", f"refs/heads/{branch}", new)
    return AdvanceResult(False, branch, (
        f"{reason}; {target_branch} was not moved and the result is on {branch} ({new[:12]}). "
        + how.replace("{branch}", branch)))


async def tree_behind_target(repo: GitRepo, ref: str, new: str) -> bool:
    """Whether `ref` holds `new` while the main work tree, which has it checked out, is not at
    it: what a landing must not forget (the journal's `main_tree`) until the tree has caught up."""
    tip = await _tip(repo, ref)
    if not tip or not (tip == new or await repo.is_ancestor(new, tip)):
        return False
    if not await main_tree_holds(repo, ref):
        return False
    return not await _succeeds(repo, "diff-index", "--cached", "--quiet", tip, "--")


def git_words(err: str) -> str:
    """The first line of git's message, without its `fatal:`/`error:`."""
    first = (err.strip().splitlines() or ["update-ref failed"])[0]
    return first.removeprefix("fatal: ").removeprefix("error: ")


def left_behind(repo: GitRepo, *, target_branch: str, old: str, new: str, why: str,
                update_err: str, on_step: StepSink) -> AdvanceResult:
    """The target holds `new` (the landing moved it) but the main work tree could not follow
    and the target could not be put back (`why`: both failures, in git's words): nothing is
    parked, the landing stays unfinished (journaled as the tree still to update), and the
    message says what to fix and what to run."""
    on_step(UPDATING_TREE, True)
    if "No space left" in update_err or "unable to write" in update_err or "Out of diskspace" in update_err:
        first = f"Free space on the file system holding {repo.root} and its .git"
    elif "File exists" in update_err or ".lock" in update_err:
        first = ("If no git process is running in this repository, remove the stale lock file git "
                 "names")
    elif time_limit.VARIABLE in update_err:  # git was stopped at the time limit (and said nothing)
        first = f"Raise the launcher's git time limit ({time_limit.VARIABLE}=SECONDS in the environment; 0: none)"
    else:
        first = "Fix what git says"
    return AdvanceResult(False, target_branch, (
        f"{why}. {target_branch} is at {new[:12]} but the main work tree {repo.root} is still at "
        f"{old[:12]}, so `git status` there shows staged changes that revert the landed work: do "
        f"not commit them. {first}, then run `launcher resume` (or `launcher land`): it brings the "
        f"main work tree to {target_branch} and records the landing"), tree_behind=True)


def merge_hint(first: str, target_branch: str) -> str:
    return f"{first} `git merge --ff-only {{branch}}` on {target_branch}."


async def main_tree_holds(repo: GitRepo, ref: str) -> bool:
    head = await repo.git("symbolic-ref", "--quiet", "HEAD", check=False)
    return head.ok and head.out.strip() == ref


def _shown(paths: list[str]) -> str:
    return ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")


def ignored_reason(paths: list[str]) -> str:
    return (f"the landing would overwrite or delete files of yours that git ignores in the main "
            f"work tree ({_shown(paths)})")


async def ignored_in_the_way(repo: GitRepo, old: str, new: str) -> list[str]:
    """Ignored files of the main work tree that moving it from `old` to `new` would overwrite or
    delete: git takes ignored files for expendable (`read-tree -m -u` replaces `local.cfg` with a
    committed one, and removes a directory full of them for a file of that name), but they are
    the user's and exist nowhere else."""
    return await _others_in_the_way(repo, old, new, ignored=True)


async def untracked_in_the_way(repo: GitRepo, old: str, new: str, ignored: list[str] | None = None) -> list[str]:
    """Untracked files (not ignored) of the main work tree where moving it from `old` to `new`
    adds a file (or needs a directory), or inside a directory it replaces by a file or a symlink:
    git refuses such an update, and so a `git merge`. `ignored`: `ignored_in_the_way`, if known."""
    return await _others_in_the_way(repo, old, new, ignored=False, known_ignored=ignored)


async def replaced_directories(repo: GitRepo, new: str, paths: list[str]) -> dict[str, str]:
    """The directories holding any of `paths` that `new` has as a file or a symlink instead:
    directory -> "a file" | "a symlink" (the user's files in them are why the landing stops)."""
    parents = sorted({parent.as_posix() for path in paths for parent in Path(path).parents if parent != Path(".")})
    if not parents:
        return {}
    entries = await tree_entries(repo, new, parents)
    return {path: "a symlink" if mode == "120000" else "a file" for path, (mode, _oid) in entries.items()
            if path in parents and mode != "160000"}


async def _others_in_the_way(repo: GitRepo, old: str, new: str, *, ignored: bool,
                             known_ignored: list[str] | None = None) -> list[str]:
    listed = await repo.git("diff", "--name-status", "-z", "--no-renames", old, new)
    fields = split_z(listed.out)
    added = [path for status, path in zip(fields[::2], fields[1::2], strict=False) if status == "A"]
    if not added:
        return []
    which = ("--others", "--ignored", "--exclude-standard") if ignored else ("--others", "--exclude-standard")
    blocking = set(split_z(await for_paths(repo, ("ls-files", "-z", *which), added)))
    seen: set[Path] = set()
    for path in added:  # a file of theirs where the landing needs a directory (`x` for `x/y`)
        parent = Path(path).parent
        while parent != Path(".") and parent not in seen:
            seen.add(parent)
            at = repo.root / parent
            if at.is_symlink() or (at.exists() and not at.is_dir()):
                blocking.add(parent.as_posix())
                break
            parent = parent.parent
    if blocking:  # a tracked file where a directory goes: the landing deletes it, as git would
        blocking -= set(split_z(await for_paths(
            repo, ("ls-tree", "-r", "-z", "--name-only", "--full-tree", old), sorted(blocking))))
    if not ignored:  # git refuses an untracked file whatever it holds
        if known_ignored is None:
            known_ignored = await ignored_in_the_way(repo, old, new)
        return sorted(blocking - set(known_ignored))
    added_set = set(added)
    same = [p for p in sorted(blocking)
            if p in added_set and tree_paths.is_regular(repo.root, p)]
    if same:  # already holding exactly what lands: nothing is lost
        hashed = (await for_paths(repo, ("hash-object",), same)).split()
        landing = await blobs(repo, new, same)
        blocking -= {p for p, oid in zip(same, hashed, strict=False) if landing.get(p) == oid}
    return sorted(blocking)


def _replaced_said(replaced: dict[str, str]) -> str:
    """"the landing replaces the directory d by a file ...", naming each (the first 8)."""
    each = [f"{directory} by {what}" for directory, what in replaced.items()]
    if len(each) == 1:
        return f"the landing replaces the directory {each[0]} (your files in it would be lost)"
    more = len(each) - 8
    listed = (", ".join(each[:-1]) + f" and {each[-1]}") if more <= 0 else (", ".join(each[:8]) + f" and {more} more")
    return f"the landing replaces the directories {listed} (your files in them would be lost)"


async def files_in_the_way(repo: GitRepo, old: str, new: str, changed: list[str],
                           target_branch: str, lead: str = "") -> tuple[str, str] | None:
    """(reason, how) of a result parked because of the user's files in the main work tree: every
    file that keeps `git merge --ff-only` of it from working (`changed`: tracked files with local
    changes; untracked and ignored files where it adds files), and what to do with them so that
    it works. A commit would not do (the target would no longer fast-forward): a stash does.
    None when no file is in the way."""
    ignored = await ignored_in_the_way(repo, old, new)
    untracked = await untracked_in_the_way(repo, old, new, ignored)
    if not (changed or ignored or untracked):
        return None
    said = [lead] if lead else []
    steps = []
    if changed:
        said.append(f"the main work tree has local changes ({_shown(changed)})")
        steps.append("stash those changes (`git stash`, and `git stash pop --index` after the merge: "
                     "`--index` keeps what you had staged)")
    if untracked:
        said.append(f"untracked files of yours are where the landing adds files ({_shown(untracked)})")
    if ignored:
        said.append(ignored_reason(ignored))
    if replaced := await replaced_directories(repo, new, untracked + ignored):
        said.append(_replaced_said(replaced))
    if untracked or ignored:
        steps.append(f"move {_shown(sorted(untracked + ignored))} out of the work tree")
    first = " and ".join(steps)
    return "; ".join(said), merge_hint(first[:1].upper() + first[1:] + ", then run", target_branch)


def update_words(repo: GitRepo, updated: process.Completed) -> str:
    """Why the main work tree's `read-tree -u` failed: git's words, or that it was stopped at the
    launcher's git time limit (then git said nothing)."""
    if updated.timed_out:
        return time_limit.stopped_words(updated.argv[1:], repo.timeout)
    return updated.err.strip() or f"exit {updated.returncode}"


async def _half_updated(repo: GitRepo, old: str, new: str) -> bool:
    """Whether the main work tree (index at `old`) is what a killed `read-tree -m -u old new`
    leaves: only files the landing changes differ, each at its old or its new content."""
    changed = set(split_z((await repo.git("diff", "--name-only", "-z", "--no-renames", old, new)).out))
    dirty = set(split_z((await repo.git("diff-files", "--name-only", "-z")).out))
    if not changed or not dirty <= changed:
        return False
    written = await for_paths(repo, ("ls-files", "-z", "--others"), sorted(changed))
    candidates = sorted(dirty | (set(split_z(written)) & changed))
    if not candidates:
        return False
    before, after = await blobs(repo, old, candidates), await blobs(repo, new, candidates)
    present = [p for p in candidates if tree_paths.is_regular(repo.root, p)]
    hashed = (await for_paths(repo, ("hash-object",), present)).split() if present else []
    now = dict(zip(present, hashed, strict=False))
    return all(now.get(p) in (before.get(p), after.get(p)) for p in candidates)


async def finish_tree_update(
    repo: GitRepo, *, target_branch: str, old: str, new: str, integration_branch: str,
    on_step: StepSink = _no_step,
) -> AdvanceResult:
    """The target ref already moved from `old` to `new` (or past it); make the main work tree
    follow. `moved` is False when the landed work is not on the target in the end (parked) or
    the tree could not be brought forward (the message says what to run)."""
    ref = f"refs/heads/{target_branch}"
    async with repo.lock.hold():
        if not await main_tree_holds(repo, ref):
            return AdvanceResult(True, target_branch, f"{target_branch} is at {new[:12]}")
        if await _succeeds(repo, "diff-index", "--cached", "--quiet", new, "--"):
            return AdvanceResult(True, target_branch,
                                 f"{target_branch} advanced to {new[:12]}; the main work tree was updated")
        # Only a tip nobody built on: a commit made on top since (with the index still at the
        # old tip) may revert the landed work, which the user has to look at.
        if await _tip(repo, ref) == new and await _succeeds(
            repo, "diff-index", "--cached", "--quiet", old, "--"
        ):
            # Index at the old tip: the update never ran, or was killed before writing the index.
            half = await _half_updated(repo, old, new)
            ignored = await ignored_in_the_way(repo, old, new)
            # (a half-done update wrote some of the added files itself: --reset finishes it)
            untracked = [] if half else await untracked_in_the_way(repo, old, new, ignored)
            update_err, refused, undone = "", "", tree_undo.Undone()  # when the update itself failed
            if not ignored and not untracked and (half or await _succeeds(repo, "diff-files", "--quiet")):
                on_step(UPDATING_TREE, True)
                # A half-written update only has files at their old or new content: --reset
                # finishes it (the two-tree form refuses files that differ from the index).
                how_far = ["--reset", "-u", new] if half else ["-m", "-u", old, new]
                before = await tree_undo.before_update(repo, old, new, landed_is_ours=half)
                pinned = await filters.pinned_env(repo)  # the run start's content filters only
                # (a full disk or the time limit too: undone, parked); only while the checkout is
                # still on the target: the user's `git switch` does not take the launcher's lock
                followed = await checkout_follow.read_tree_on(repo, ref, old, new, how_far, before, pinned)
                updated = followed.updated
                if followed.elsewhere is not None and (updated is None or updated.ok):
                    on_step(TREE_UPDATED, False)
                    return AdvanceResult(True, target_branch, checkout_follow.not_followed(
                        target_branch, new, str(repo.root), followed.elsewhere, followed.undone))
                assert updated is not None
                if updated.ok:
                    on_step(TREE_UPDATED, True)
                    return AdvanceResult(True, target_branch, (
                        f"{target_branch} advanced to {new[:12]}; finished updating the main work "
                        "tree after the interruption" + await filters.rewrite_unfiltered(repo, old, new, pinned)))
                update_err = update_words(repo, updated)
                undone = await tree_undo.undo_update(repo, old, new, before)
                refused = f"the main work tree could not be updated ({update_err})"
                reason = tree_undo.said(refused, undone)
                how = merge_hint(tree_undo.update_failed_hint(update_err, undone), target_branch)
            else:
                changed = [] if half else split_z((await repo.git("diff-files", "--name-only", "-z")).out)
                lead = "files in the main work tree changed after the landing was interrupted"
                reason, how = await files_in_the_way(repo, old, new, changed, target_branch, lead) or (
                    lead, merge_hint("Move them aside, then run", target_branch))
            # Put the ref back, so HEAD matches index and files again, and keep the result.
            on_step(ROLLING_BACK, True)
            rolled = await repo.git("update-ref", "-m", "launcher: roll back", ref, old, new, check=False)
            if rolled.ok:
                ref_guard.launcher_moved(repo.common_dir, ref, new, old)
                return await park(repo, target_branch=target_branch,
                                  integration_branch=integration_branch, new=new,
                                  reason=reason, how=how, on_step=on_step)
            if update_err and await tree_behind_target(repo, ref, new):  # a full disk, say
                why = f"{refused}, and {target_branch} could not be put back to {old[:12]} ({git_words(rolled.err)})"
                return left_behind(repo, target_branch=target_branch, old=old, new=new, update_err=update_err,
                                   why=tree_undo.said(why, undone), on_step=on_step)
    root = repo.root
    return AdvanceResult(False, target_branch, tree_behind=True, message=(
        f"{target_branch} was moved to {new[:12]} but the main work tree {root} was not updated "
        f"(the landing was interrupted) and it has changed since, so the launcher leaves it alone. "
        f"`git status` there may show staged changes that revert the landed work: do not commit "
        f"them. Once it has no changes of yours, run `git -C {root} read-tree -m -u {old[:12]} "
        f"{new[:12]}`, or `git -C {root} reset --hard {new[:12]}` to discard every local change; "
        f"then `launcher resume` records the landing as finished."))


def busy_with(repo: GitRepo, ref: str) -> str | None:
    """Where `ref` is being rebased or bisected (a worktree shows a detached HEAD meanwhile, and
    git counts the branch as checked out there): "the main work tree", a worktree's path, or None.
    Moving it under a rebase would make its `--continue` fail and its `--abort` drop what landed."""
    admin_dirs = [(repo.common_dir, "the main work tree")]
    linked = repo.common_dir / "worktrees"
    for admin in sorted(linked.iterdir()) if linked.is_dir() else []:
        where = str(registered_worktree(admin) or admin)
        admin_dirs.append((admin, f"the worktree {where}"))
    short = ref.removeprefix("refs/heads/")
    for admin, where in admin_dirs:
        for marker, names in (("rebase-merge/head-name", (ref,)), ("rebase-apply/head-name", (ref,)),
                              ("BISECT_START", (short, ref))):
            try:
                found = (admin / marker).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                continue
            if found in names:
                what = "bisected" if marker == "BISECT_START" else "rebased"
                return f"{short} is being {what} in {where}"
    return None
