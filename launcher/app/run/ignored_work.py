"""Files git ignores that an agent left in its worktree: they never land, so a check that passes
only because of them (a committed module importing an ignored `helper.py` the agent wrote) would
approve code that fails on the target.

The ignored entries of a new worktree are recorded once it is ready (include files copied, setup
run; nothing to list when neither ran: a fresh checkout holds no ignored file). Before a task's
checks, what is ignored now and was not then, caches aside, is the agent's. When there is any,
the checks that passed in the worktree run again in a clean checkout of the task's commit
(include files copied, setup run, as a new worktree gets them): only if they pass there too is
the task approved. `git ls-files --directory` names an ignored directory once, so a file added
inside an ignored directory that was already there (`node_modules/`) is not seen.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from launcher.app.context import RunContext
from launcher.app.run import tree_commands
from launcher.gates import relay
from launcher.gates.checks import CheckResult
from launcher.git import include
from launcher.git.repo import GitRepo
from launcher.models.plan import Task
from launcher.regular_files import read_json_or_none
from launcher.store.files import atomic_write_json

BASELINE_FILE = "ignored-at-start.json"
# Written by tools as they run, never imported or read as code: an agent's test run leaves them.
CACHES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"})


async def _listed(repo: GitRepo, tree: Path) -> list[str]:
    done = await repo.git("ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory",
                          cwd=tree, check=False)
    return sorted(p for p in done.out.split("\0") if p) if done.ok else []


async def record_baseline(ctx: RunContext, task_id: str, tree: Path, *, filled: bool) -> None:
    """What is ignored in a task's new worktree; `filled`: include files or setup may have put
    something there (else a fresh checkout holds nothing ignored, and git is not asked)."""
    entries = await _listed(ctx.repo, tree) if filled else []
    atomic_write_json(ctx.files.task_dir(task_id) / BASELINE_FILE, entries)


def _is_cache(path: str) -> bool:
    """A tool's cache, or an agent CLI's own record (Aider's `.aider*`, which the launcher
    itself adds to git's excludes): never the task's code."""
    parts = path.rstrip("/").split("/")
    return any(part in CACHES for part in parts) or parts[-1].startswith(".aider")


async def made_by_agent(ctx: RunContext, task_id: str, tree: Path) -> list[str]:
    """Ignored files and directories the agent created (none known without a baseline)."""
    listed = read_json_or_none(ctx.files.task_dir(task_id) / BASELINE_FILE)  # in the agent's reach
    if not isinstance(listed, list):
        return []
    baseline = {p for p in listed if isinstance(p, str)}
    return [p for p in await _listed(ctx.repo, tree) if p not in baseline and not _is_cache(p)]


async def checks_in_clean_checkout(ctx: RunContext, task: Task, head: str, iteration: int,
                                   setup: str | None, timeout: float) -> tuple[str | None, list[CheckResult]]:
    """The task's checks in a clean checkout of `head` (include files, setup); (why setup
    failed, or None; the check results)."""
    scratch = ctx.worktree_root / ctx.run_id / "_clean" / f"{task.id}-{iteration}"
    await relay.add_scratch(ctx.repo, scratch, head)
    try:
        await anyio.to_thread.run_sync(include.copy_includes, ctx.repo.root, scratch, ctx.include_paths)
        if setup and (failure := await tree_commands.run_setup(ctx, task, scratch, setup, timeout)):
            return failure, []
        return None, await tree_commands.run_task_checks(ctx, task, scratch, timeout)
    finally:
        with anyio.CancelScope(shield=True):
            await relay.remove_scratch(ctx.repo, scratch)


def shown(paths: list[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
