"""`launcher pool warm N` and `[run] warm_pool = N`: worktrees kept ready for the next run."""

from __future__ import annotations

from pathlib import Path

from launcher.app.context import RunContext
from launcher.app.own_worktree import launcher_worktree_problem
from launcher.app.run.inputs import _base_commit, prepare_worktree_root
from launcher.engine import odd_entries
from launcher.errors import LauncherError
from launcher.git import warm_pool, worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import load_repo_config


def special_files(tree: Path) -> list[str]:
    """The FIFOs, sockets and device nodes in a worktree (`.git` entries aside), found by the
    walk that looks for them in the main checkout: git never lists them, and `git clean -ffdx`
    leaves them, so a pool worktree is checked for them apart (`git/pool_check.py`). Only
    listed and stat'ed, never opened; a tree of more than `odd_entries.MAX_DIRS` directories is
    looked into that far."""
    return odd_entries.special_files(tree)


async def warm(cwd: Path, count: int, base: str = "HEAD") -> tuple[list[Path], int, int, int]:
    """Top the pool up to `count`; return the new worktrees, how many are ready now, how many
    another launcher is still checking out (a `pool warm` at the same time: counted, not added)
    and how many of the ready ones are at another commit than `base` (warmed earlier). A
    `base` that is not a commit is a usage error, a repository with no commit an environment
    one, as for `launcher run --base`. Refused in a worktree the launcher made, as every command
    that keeps state is."""
    repo = await GitRepo.discover(cwd)
    # In a worktree the launcher made (a task's, a pool one) the pool would be that worktree's,
    # under a root named after it, which the main checkout's `clean --all` never removes.
    if (problem := launcher_worktree_problem(repo)) is not None:
        raise problem
    sha = await _base_commit(repo, base, "--base")
    configured = load_repo_config(repo.root).worktree_root
    await prepare_worktree_root(repo, configured)  # as `launcher run` checks it
    root = worktrees.default_worktree_root(repo, configured)
    created = await warm_pool.warm(repo, root, count, sha)
    return (created, len(await warm_pool.ready(repo, root)), len(warm_pool.being_filled(repo, root)),
            warm_pool.elsewhere(repo, root, sha))


async def refill(ctx: RunContext) -> None:
    """After a run: the pool back to `[run] warm_pool`, at the target's tip (the next base).
    A failure here costs the next run its head start, never this run its result."""
    tip = ctx.target if await ctx.repo.branch_exists(ctx.target) else ctx.base_sha
    try:
        created = await warm_pool.warm(ctx.repo, ctx.worktree_root, ctx.plan.run.warm_pool, tip)
    except (LauncherError, OSError, ExceptionGroup) as exc:
        # The checkouts run in a task group: a failed one (a smudge filter, git-lfs on a network
        # error; a full disk) comes wrapped, and was taken for the run's failure once all had landed.
        cause = _failure(exc)
        if cause is None:  # a bug among them: said as one
            raise
        ctx.note(None, f"warm pool not refilled: {_first_line(cause)}")
        return
    if created:
        ctx.note(None, f"warmed {len(created)} worktree(s) for the next run")


def _failure(exc: BaseException) -> BaseException | None:
    """The launcher's or the machine's error `exc` is, or the first of those a task group
    wrapped; None when the group holds anything else."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    matched, rest = exc.split((LauncherError, OSError))
    found: BaseException | None = matched
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found if rest is None else None


def _first_line(exc: BaseException) -> str:
    """The error's first line: git's advice and the fix line belong to a command's failure."""
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)


async def recycle(ctx: RunContext, doomed: list[tuple[Path, str | None]]) -> None:
    """Before merged worktrees are removed: with `[run] warm_pool = N`, up to N of them go back
    to the pool at the target's tip instead (their branches are still deleted by the caller).
    Removing a worktree whose files are already on disk is the slow part of a clean-up; the
    refill after the run would only create them again. A failure here leaves them for removal."""
    room = (ctx.plan.run.warm_pool - len(await warm_pool.ready(ctx.repo, ctx.worktree_root))
            - len(warm_pool.being_filled(ctx.repo, ctx.worktree_root)))  # (another launcher's warm)
    if room <= 0 or not doomed or not await ctx.repo.branch_exists(ctx.target):
        return
    try:
        tip = await ctx.repo.rev_parse(ctx.target)
        returned = await warm_pool.recycle(ctx.repo, ctx.worktree_root, [path for path, _ in doomed], tip, room,
                                           special_files)
    except (LauncherError, OSError, ExceptionGroup) as exc:  # the resets run in a task group, as the refill's
        cause = _failure(exc)
        if cause is None:
            raise
        ctx.note(None, f"merged worktrees not returned to the warm pool: {_first_line(cause)}")
        return
    if returned:
        ctx.note(None, f"returned {len(returned)} merged worktree(s) to the warm pool")
