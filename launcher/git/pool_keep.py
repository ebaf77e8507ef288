"""What someone left in a warm-pool worktree, kept before the launcher reuses or removes it.

Pool worktrees are listed by `git worktree list`; an editor or a user may open one and edit,
or commit there (on its detached HEAD: a commit no branch holds). A take hands such a worktree
to no task and removes it (`warm_pool.take`), `launcher clean --all` removes the pool
(`warm_pool.drain`), and a take of a pristine one at another commit checks the start commit
out: each would make that work unreachable. So it is kept first, under
`refs/launcher-pool/kept/<entry>`, as `launcher clean` keeps an edit made by hand in a run's
worktree: uncommitted changes and untracked files as a stash commit (its first parent the
worktree's HEAD, so a commit made there is kept with them), else a HEAD on no ref as itself.
Ignored files are not kept (a build's output; the pool is cleaned of them, `git clean -ffdx`).
The namespace is not `refs/launcher/<run>/`, which `clean` prunes by run, and no ref the run's
ref watch looks at (`git/ref_guard.py`).
"""

from __future__ import annotations

from pathlib import Path

from launcher.errors import GitFailed
from launcher.git import commits
from launcher.git.ref_updates import unused_ref
from launcher.git.repo import GitRepo

KEPT_PREFIX = "refs/launcher-pool/kept/"


async def on_no_ref(repo: GitRepo, commit: str) -> bool:
    """Whether no branch, tag, remote-tracking or other ref (nor the main checkout's HEAD)
    reaches `commit`: the HEADs of the other worktrees, the pool's among them, do not count."""
    listed = await repo.git("rev-list", "-n1", commit, "--not", "--single-worktree", "--all",
                            cwd=repo.root, check=False)
    if not listed.ok:
        raise GitFailed(f"cannot tell whether a ref holds {commit[:12]}: {listed.err.strip()}", where=str(repo.root))
    return bool(listed.out.strip())


async def keep(repo: GitRepo, tree: Path, name: str | None = None, *,
               lock_held: bool = False) -> tuple[str, str] | None:
    """Keep what `tree` holds that no ref does; return (the ref, how to get it back), or None
    when there is nothing to keep. GitFailed when it cannot be kept: the tree must then stay.
    `name`: of the ref under `KEPT_PREFIX`, the tree's name by default. `lock_held`: the caller
    holds the repository lock (which is not re-entrant)."""
    status = await repo.git("status", "--porcelain", "-z", "--untracked-files=all", cwd=tree, check=False)
    head = await repo.git("rev-parse", "--verify", "-q", "HEAD", cwd=tree, check=False)
    if not status.ok or not head.ok:
        raise GitFailed(f"cannot read the state of {tree}: {(status.err or head.err).strip()}", where=str(tree))
    kept = how = ""
    if status.out:
        kept = await commits.stash_commit(repo, tree, "left in a warm worktree")
        how = "`git stash apply {ref}` brings the changes back"
    if not kept and await on_no_ref(repo, head.out.strip()):
        kept, how = head.out.strip(), "`git branch NAME {ref}` keeps the commit on a branch"
    if not kept:
        return None
    ref = await unused_ref(repo, KEPT_PREFIX + (name or tree.name))
    if lock_held:
        await repo.git("update-ref", ref, kept)
    else:
        async with repo.lock.hold():
            await repo.git("update-ref", ref, kept)
    return ref, how.format(ref=ref)
