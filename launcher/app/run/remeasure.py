"""Re-measure a task at its branch's current head before it is re-graded by hand.

An approval covers what was measured: files changed, the diff, claimed vs real files, scope and
the task's checks. A re-grade after the branch moved must judge the new head on new facts, or a
commit added after approval (`src/evil.py`, a change that breaks a check) is laundered through
the old ones. The checks run in the task's worktree when it sits cleanly at that head, else in
a scratch detached worktree of it (with the include files copied, as the task's worktree had).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from launcher.app.context import DEFAULT_TIMEOUT_S, RunContext
from launcher.app.run import claims, tree_commands
from launcher.gates.checks import CheckResult
from launcher.gates.relay import add_scratch, remove_scratch
from launcher.git import commits, include, patches, submodules
from launcher.models.plan import Task
from launcher.regular_files import read_json_or_none
from launcher.store.files import atomic_write_json


async def remeasure(ctx: RunContext, task: Task, head: str, iteration: int) -> tuple[dict[str, Any], str | None]:
    """Fresh facts for `head` (also saved as facts.json and diff.patch, and in the journal),
    and why the task cannot be approved at that head (a scope breach, a failing check), if so."""
    row = ctx.journal.task(ctx.run_id, task.id)
    start = row.start_sha or ctx.base_sha
    artifacts = ctx.files.task_dir(task.id)
    facts_file = artifacts / "facts.json"
    earlier = read_json_or_none(facts_file)  # in the agent's reach: {} unless the launcher's own JSON
    earlier = earlier if isinstance(earlier, dict) else {}
    changed = await ctx.repo.changed_entries(start, head)
    real_files = sorted(c.path for c in changed)
    moved_submodules = sorted(c.path for c in changed if c.gitlink)
    claimed = list((row.contract or {}).get("files_changed") or [])
    facts: dict[str, Any] = {
        **earlier,
        "remeasured_at_iteration": iteration,
        "previous_head_sha": earlier.get("head_sha", row.head_sha),
        "head_sha": head,
        "start_sha": start,
        "files_changed": real_files,
        "submodule_changes": moved_submodules,
        "claimed_files": claimed,
        "claimed_not_changed": claims.disagreements(claimed, real_files)[0],
        "changed_not_claimed": claims.disagreements(claimed, real_files)[1],
    }
    await patches.patch_to_file(ctx.repo, artifacts / "diff.patch", start, head)
    ctx.journal.update_task(ctx.run_id, task.id, head_sha=head, files=real_files)
    problem = (await claims.empty_claim(ctx.repo, claimed, real_files, start) or _outside_scope(task, real_files)
               or submodules.pointer_problem(moved_submodules))
    if head != start and not await ctx.repo.is_ancestor(start, head):
        problem = commits.rewound_past_start(start, head)
    checks: list[CheckResult] = []
    if problem is None and task.checks:
        checks = await _run_checks_at(ctx, task, head, iteration)
        failed = next((c for c in checks if not c.ok), None)
        if failed is not None:
            problem = f"check failed at {head[:12]}: {failed.failure}"
    facts["checks"] = [c.as_dict() for c in checks]
    atomic_write_json(facts_file, facts)
    return facts, problem


def _outside_scope(task: Task, files: list[str]) -> str | None:
    if not task.scope:
        return None
    import pathspec  # ~25 ms to import: only where a spec is used

    spec = pathspec.GitIgnoreSpec.from_lines(task.scope)
    outside = [f for f in files if not spec.match_file(f)]
    return f"changed files outside its scope: {', '.join(outside)}" if outside else None


async def _worktree_at(ctx: RunContext, worktree: str | None, head: str) -> Path | None:
    """The task's worktree, if it exists, sits at `head` and holds nothing uncommitted."""
    if not worktree or not Path(worktree).is_dir():
        return None
    path = Path(worktree)
    at = await ctx.repo.git("rev-parse", "HEAD", cwd=path, check=False)
    dirty = await ctx.repo.git("status", "--porcelain", "--ignore-submodules=none", cwd=path, check=False)
    if not at.ok or at.out.strip() != head or not dirty.ok or dirty.out.strip():
        return None
    return path


async def _run_checks_at(ctx: RunContext, task: Task, head: str, iteration: int) -> list[CheckResult]:
    row = ctx.journal.task(ctx.run_id, task.id)
    # The same environment, import roots and import audit as the pipeline's own checks.
    timeout = task.timeout_s or ctx.plan.run.timeout_s or DEFAULT_TIMEOUT_S
    worktree = await _worktree_at(ctx, row.worktree, head)
    if worktree is not None:
        return await tree_commands.run_task_checks(ctx, task, worktree, timeout)
    scratch = ctx.worktree_root / ctx.run_id / "_regrade" / f"{task.id}-{iteration}"
    await add_scratch(ctx.repo, scratch, head)
    try:
        paths = await include.resolve_includes(ctx.repo, ctx.config.include_file)
        await anyio.to_thread.run_sync(include.copy_includes, ctx.repo.root, scratch, paths)
        return await tree_commands.run_task_checks(ctx, task, scratch, timeout)
    finally:
        with anyio.CancelScope(shield=True):
            await remove_scratch(ctx.repo, scratch)
