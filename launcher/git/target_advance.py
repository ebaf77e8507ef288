"""Landing's last step (DESIGN 8): move the target branch to the landed commit with a
compare-and-swap under the repository lock, and the main work tree with it when it has the target
checked out; anything that makes that unsafe (another checkout holds the target, local changes in
the way, a rebase in progress) parks the landing on the integration branch instead, saying how
to bring it in (`git/target_tree.py`)."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable

from launcher.git import checkout_follow, filters, ref_guard, target_tree, tree_undo, worktrees
from launcher.git.repo import GitRepo
from launcher.git.target_tree import AdvanceResult, StepSink


async def _worktree_holding(repo: GitRepo, ref: str) -> str | None:
    """'main' if the main work tree has `ref` checked out, another checkout that has (as said to
    the user: `WorktreeInfo.said`), or None."""
    head = await repo.git("symbolic-ref", "--quiet", "HEAD", check=False)
    if head.ok and head.out.strip() == ref:
        return "main"
    for info in await worktrees.list_worktrees(repo):
        if f"refs/heads/{info.branch}" == ref and not worktrees.same_path(info.path, repo.root):
            return info.said()
    return None


async def advance_target(
    repo: GitRepo, *, target_branch: str, new: str, expected_old: str, integration_branch: str,
    on_step: StepSink = lambda _step, _main_tree: None, tolerated: frozenset[str] = frozenset(),
    intrusions: dict[str, str] | None = None,
    settle: Callable[[], Awaitable[None]] | None = None,
    unseen_staged: Callable[[], frozenset[str]] = frozenset,
) -> AdvanceResult:
    """Move `target_branch` from `expected_old` to `new` only if safe; else park it on the
    integration branch and say how to bring it in. `on_step` journals each step before it runs.
    `settle` runs first, under the repository lock: it puts back what the launcher's own git
    must not meet (an agent's hook, filter or attribute, its fake rebase in progress, a ref it
    moved) before anything here reads or writes the repository.
    `tolerated`: paths whose local changes do not block the update (the launcher's own ledger
    rows); read-tree still refuses to overwrite them if the landing changes them.
    `intrusions`: main-checkout paths an agent changed that could not be put back (path -> task):
    a park they cause names the task, and never tells the user to commit them.
    `unseen_staged`: main-index paths staged during the run with content in neither HEAD nor the
    work tree that might be the user's (git/index_entries.py `unsure`), asked for after `settle`:
    a park they cause names them and says to look at them before committing them."""
    ref = f"refs/heads/{target_branch}"
    async with repo.lock.hold():
        if settle is not None:
            await settle()
        if new == expected_old:
            return AdvanceResult(False, target_branch, "nothing to land")

        async def park(reason: str, how: str) -> AdvanceResult:
            return await target_tree.park(
                repo, target_branch=target_branch, integration_branch=integration_branch, new=new,
                reason=reason, how=how, on_step=on_step)

        def merge_hint(first: str) -> str:
            return target_tree.merge_hint(first, target_branch)

        refused = ""  # git's own words when the last compare-and-swap failed

        async def cas(old: str, to: str) -> bool:
            nonlocal refused
            res = await repo.git("update-ref", "-m", "launcher: land", ref, to, old, check=False)
            if res.ok:  # the launcher's own move: never taken for an agent's (git/ref_guard.py)
                ref_guard.launcher_moved(repo.common_dir, ref, old, to)
            first = (res.err.strip().splitlines() or ["update-ref failed"])[0]
            refused = "" if res.ok else first.removeprefix("fatal: ").removeprefix("error: ")
            return res.ok

        async def park_unmoved() -> AdvanceResult:
            now = (await repo.git("rev-parse", "--verify", "--quiet", ref, check=False)).out.strip()
            if now != expected_old:
                parked = await park(f"{target_branch} moved since the run read it (expected "
                                    f"{expected_old[:12]}, now {now[:12] or 'missing'})",
                                    "Review it, then merge it yourself.")
                parked.raced = bool(now)
                return parked
            # Not moved: git could not take the ref (a stale lock file left by a killed process).
            return await park(f"git could not move {target_branch}: {refused}",
                              "If no git process is running, remove the stale lock file git names, "
                              "then merge it yourself.")

        if busy := target_tree.busy_with(repo, ref):
            return await park(busy, "Finish it there first (`git rebase --continue` or `--abort`; "
                                    "`git bisect reset`), then run `git merge {branch}` on "
                                    f"{target_branch}.")
        holder = await _worktree_holding(repo, ref)
        if holder is None:
            on_step(target_tree.MOVING_REF, False)
            if await cas(expected_old, new):
                return AdvanceResult(True, target_branch, f"{target_branch} advanced to {new[:12]}")
            return await park_unmoved()
        if holder != "main":
            return await park(f"{target_branch} is checked out in {holder}",
                              "In that work tree, run `git merge --ff-only {branch}`.")
        # Edits inside a submodule are the submodule's (read-tree leaves its files alone, and
        # `git stash` here could not put them aside); a moved submodule commit still counts.
        pinned = await filters.pinned_env(repo)  # the run start's content filters only (git/filters.py)
        dirty = await repo.git("status", "--porcelain", "-z", "--untracked-files=no", "--ignore-submodules=dirty",
                               "--no-renames", env=pinned)
        local = [entry[3:] for entry in dirty.out.split("\0") if entry and entry[3:] not in tolerated]
        by_agents = {path: task for path, task in (intrusions or {}).items() if path in local}
        if by_agents:
            tasks = ", ".join(sorted(set(by_agents.values())))
            return await park(
                f"the main work tree has changes made by agent task {tasks} that the launcher "
                f"could not put back ({', '.join(sorted(by_agents))})",
                merge_hint("Look at them and restore what you had (`git checkout -- <file>` "
                           "brings back the committed content), then run"))
        if unseen := sorted(set(unseen_staged()) & set(local)):
            return await park(
                f"the main checkout's git index holds content staged during the run for {', '.join(unseen)} "
                "that is in neither its HEAD commit nor its work tree (your own partial `git add -p`, "
                "or an agent's staging)",
                merge_hint(f"Look at it (`git diff --cached -- {shlex.join(unseen)}`) before you commit it; "
                           f"`git restore --staged -- {shlex.join(unseen)}` drops it. Stash your local changes "
                           "(`git stash`, and `git stash pop --index` after the merge), then run"))
        # Local changes, ignored files it would overwrite, untracked files in the way (where it
        # adds a file, or in a directory it replaces by a file or a symlink, which git's read-tree
        # would refuse without naming them): parked, naming every file that keeps the advised
        # merge from working.
        blocked = await target_tree.files_in_the_way(repo, expected_old, new, local, target_branch)
        if blocked is not None:
            return await park(*blocked)
        on_step(target_tree.MOVING_REF, True)
        if not await cas(expected_old, new):
            return await park_unmoved()
        # Two-tree read-tree updates index and files like a fast-forward and refuses to
        # overwrite untracked files (ignored ones were checked above); on refusal the ref goes
        # back (CAS again) and we park.
        before = await tree_undo.before_update(repo, expected_old, new)
        on_step(target_tree.UPDATING_TREE, True)
        # A full disk or git's time limit too: what it wrote is undone, the target put back, parked below.
        # Only while the main checkout still has the target checked out (the user's own `git switch`
        # does not take the launcher's lock): else it is left alone, or what reached it taken back.
        followed = await checkout_follow.read_tree_on(repo, ref, expected_old, new, ["-m", "-u", expected_old, new],
                                                      before, pinned)
        updated = followed.updated
        if followed.elsewhere is not None and (updated is None or updated.ok):
            on_step(target_tree.TREE_UPDATED, False)  # the target moved; no checkout of it to follow
            return AdvanceResult(True, target_branch, checkout_follow.not_followed(
                target_branch, new, str(repo.root), followed.elsewhere, followed.undone))
        assert updated is not None
        if not updated.ok:
            on_step(target_tree.ROLLING_BACK, True)
            # what the failed update wrote (a truncated file when the disk filled) is removed first
            undone = await tree_undo.undo_update(repo, expected_old, new, before)
            rolled_back = await cas(new, expected_old)
            update_err = target_tree.update_words(repo, updated)  # git's words, or the time limit it hit
            reason = f"the main work tree could not be updated ({update_err})"
            if not rolled_back:
                reason += f", and {target_branch} could not be put back to {expected_old[:12]} ({refused})"
            reason = tree_undo.said(reason, undone)
            if not rolled_back and await target_tree.tree_behind_target(repo, ref, new):
                # The target holds the landed work (the put-back failed too: a full disk has no room
                # for its lock file): nothing to park, and the journal keeps saying the tree must
                # catch up, so `resume`/`land` brings it there once the cause is gone.
                return target_tree.left_behind(repo, target_branch=target_branch, old=expected_old, new=new,
                                               why=reason, update_err=update_err, on_step=on_step)
            # Put back (or someone moved it in between: theirs is left, and said): kept aside.
            return await park(reason, merge_hint(tree_undo.update_failed_hint(update_err, undone)))
        on_step(target_tree.TREE_UPDATED, True)
        done = f"{target_branch} advanced to {new[:12]}; the main work tree was updated"
        done += await filters.rewrite_unfiltered(repo, expected_old, new, pinned)
        return AdvanceResult(True, target_branch, done)
