"""A task's worktree, ready for its agent: from the warm pool or new, at the base or at its
dependencies' work, on resume the surviving one; include files copied, setup run."""

from __future__ import annotations

import time
from pathlib import Path

from launcher import tree_paths
from launcher.app.context import DEFAULT_TIMEOUT_S, RunContext
from launcher.app.run import ignored_work, pool, resolution, resume_point, tree_commands
from launcher.engine.orphans import kill_orphans
from launcher.errors import LauncherError
from launcher.git import commits, include, signing, submodules, warm_pool, worktrees
from launcher.git.ref_updates import unused_ref
from launcher.models.plan import Task
from launcher.models.states import TaskState
from launcher.store.journal import TaskRow


async def start_point(ctx: RunContext, task: Task) -> str:
    """The base commit, or the work of the task's dependencies so it builds on them."""
    heads = []
    for dep in task.depends_on:
        dep_row = ctx.journal.task(ctx.run_id, dep)
        if dep_row.head_sha and dep_row.head_sha not in heads:
            heads.append(dep_row.head_sha)
    if not heads:
        return ctx.base_sha
    start = heads[0]
    for head in heads[1:]:
        merged = await ctx.repo.git("merge-tree", "--write-tree", start, head, check=False)
        if merged.returncode != 0:
            raise LauncherError(
                f"the work of its dependencies conflicts ({', '.join(task.depends_on)})",
                fix="make the dependencies touch different lines, or chain them",
            )
        tree = merged.out.split()[0]
        # The task's branch starts here and lands with it: signed as the user's commits are.
        start = await signing.commit_tree(ctx.repo, tree, [start, head], f"launcher: dependencies of {task.id}")
    return start


async def provision(ctx: RunContext, task: Task, row: TaskRow) -> Path | None:
    path = ctx.worktree_path(task.id)
    branch = worktrees.branch_name(ctx.run_id, task.id)
    if row.worktree and Path(row.worktree).is_dir() and row.start_sha:
        # Resume: the task's worktree survived; kill what the dead launcher left running there.
        # It is where the journal says (`land --from` in the clone that ran the shard records
        # the shard's worktree, under the shard's run id, not this run's).
        path = Path(row.worktree)
        if row.agent_pgid:
            killed = kill_orphans(ctx.run_id, {row.agent_pgid})
            if killed:
                ctx.note(task.id, f"killed {len(killed)} orphaned agent process(es)")
        if resume_point.finished_round(ctx, task.id, resume_point.iteration_to_run(row)):
            return path  # its agent had finished: the worktree holds that round's work as it left it
        if resolution.pending(ctx, task.id):
            return path  # killed while merging for a resolution round: no agent's work to save
        ref = await unused_ref(ctx.repo, f"refs/launcher/{ctx.run_id}/{task.id}/interrupted-{int(time.time())}")
        saved = await commits.rescue_uncommitted(ctx.repo, path, ref)
        if saved:
            ctx.note(task.id, f"saved the interrupted agent's uncommitted work as {ref}")
        if row.state is TaskState.PROVISIONING:  # killed during setup: it never finished
            await _check_out_submodules(ctx, task.id, path)
            return path if await _setup(ctx, task, path) else None
        return path
    if row.state is TaskState.NEEDS_REVISION and row.branch and row.head_sha and row.start_sha:
        # Sent back with no worktree here (`land --from` in a clone that did not run its shard):
        # the round continues the task's branch, never a fresh one from the base.
        return await _provision_on_branch(ctx, task, row, path)
    if row.branch and row.start_sha and await ctx.repo.branch_exists(row.branch):
        # Its worktree is gone (`launcher clean` after Ctrl-C or a crash) and its branch, which
        # holds what its agent committed, stays: the task continues there, never from scratch.
        return await _reprovision_on_branch(ctx, task, row, path)
    ctx.transition(task.id, TaskState.PROVISIONING, "creating worktree")
    start = await start_point(ctx, task)
    notes: list[str] = []  # work found in a pool worktree that was used by hand: where it is kept
    taken = await warm_pool.take(ctx.repo, ctx.worktree_root, path=path, branch=branch, start=start,
                                 special_files=pool.special_files, notes=notes)
    for note in notes:
        ctx.note(task.id, note)
    if not taken:
        await worktrees.create_worktree(ctx.repo, path=path, branch=branch, start=start)
    await _check_out_submodules(ctx, task.id, path)
    copied, copied_blobs = await _copy_includes(ctx, task.id, path)
    ctx.journal.update_task(
        ctx.run_id, task.id, branch=branch, worktree=str(path), start_sha=start,
        head_sha=start, included=copied, included_blobs=copied_blobs,
    )
    return path if await _setup(ctx, task, path) else None


async def _provision_on_branch(ctx: RunContext, task: Task, row: TaskRow, path: Path) -> Path | None:
    """A worktree on the task's existing branch at its head (its work so far); the task stays
    sent back, its start commit unchanged, so the round's change is measured as before."""
    assert row.branch and row.head_sha
    if await ctx.repo.rev_parse(f"refs/heads/{row.branch}") != row.head_sha:
        raise LauncherError(f"its branch {row.branch} is no longer at {row.head_sha[:12]}, the work it "
                            "was sent back with", fix=f"put {row.branch} back at {row.head_sha[:12]}")
    await worktrees.create_worktree(ctx.repo, path=path, branch=row.branch, start=row.head_sha)
    return await _fill_again(ctx, task, row, path)


async def _reprovision_on_branch(ctx: RunContext, task: Task, row: TaskRow, path: Path) -> Path | None:
    """A new worktree on the task's surviving branch at its tip, for a task whose worktree was
    removed after its launcher stopped: its state, rounds and start commit stay as journaled, so
    a finished round is collected (or graded) again, never re-run. A branch that no longer holds
    the commit the run recorded is refused, its commits left as they are."""
    assert row.branch and row.start_sha
    if row.agent_pgid and (killed := kill_orphans(ctx.run_id, {row.agent_pgid})):
        ctx.note(task.id, f"killed {len(killed)} orphaned agent process(es)")
    tip = await ctx.repo.rev_parse(f"refs/heads/{row.branch}")
    recorded = row.head_sha or row.start_sha
    if not await ctx.repo.is_ancestor(recorded, tip):
        raise LauncherError(
            f"its worktree is gone and its branch {row.branch} ({tip[:12]}) no longer contains the "
            f"commit the run recorded for it ({recorded[:12]}); the launcher does not guess which is the "
            "task's work, and leaves the branch as it is",
            where=str(ctx.repo.root),
            fix=f"keep what the branch holds (`git branch keep-{task.id} {row.branch}`), put the branch back "
                f"(`git branch -f {row.branch} {recorded}`), then `launcher resume {ctx.run_id}`")
    await worktrees.create_worktree(ctx.repo, path=path, branch=row.branch, start=tip)
    ctx.note(task.id, f"its worktree was removed; re-created at {path} on its branch {row.branch} ({tip[:12]}), "
                      "which holds its work")
    return await _fill_again(ctx, task, row, path)


async def _fill_again(ctx: RunContext, task: Task, row: TaskRow, path: Path) -> Path | None:
    """A worktree made again for a journaled task: its submodules, the include files (added to
    what it had), its setup."""
    await _check_out_submodules(ctx, task.id, path)
    copied, copied_blobs = await _copy_includes(ctx, task.id, path)
    ctx.journal.update_task(
        ctx.run_id, task.id, worktree=str(path), included=sorted({*row.included, *copied}),
        included_blobs={**row.included_blobs, **copied_blobs},
    )
    return path if await _setup(ctx, task, path) else None


async def _copy_includes(ctx: RunContext, task_id: str, path: Path) -> tuple[list[str], dict[str, str]]:
    """The include files copied into the worktree; those whose path there is too long for the
    system to take are named in a note (never left out silently)."""
    copied, blobs = await include.copy_and_fingerprint(ctx.repo, path, ctx.include_paths)
    done = set(copied)
    left = [rel for rel in ctx.include_paths if rel not in done and tree_paths.too_long(path, rel)]
    if left:
        ctx.note(task_id, tree_paths.too_long_note(path, left, "of .worktreeinclude were not copied"))
    return copied, blobs


async def _check_out_submodules(ctx: RunContext, task_id: str, path: Path) -> None:
    for problem in await submodules.check_out(ctx.repo, path):
        ctx.note(task_id, problem)


def setup_command(ctx: RunContext, task: Task) -> str | None:
    return task.setup or ctx.settings.setup


async def _setup(ctx: RunContext, task: Task, path: Path) -> bool:
    """Run the setup command, if any, in the new worktree; False (task failed) if it fails.
    Then record what the ready worktree holds that git ignores (`ignored_work`)."""
    setup = setup_command(ctx, task)
    if setup:
        failure = await tree_commands.run_setup(ctx, task, path, setup, task_timeout(ctx, task))
        if failure:
            ctx.transition(task.id, TaskState.FAILED, failure)
            return False
    await ignored_work.record_baseline(ctx, task.id, path, filled=bool(setup or ctx.include_paths))
    return True


def task_timeout(ctx: RunContext, task: Task) -> float:
    agent = ctx.agent_config(task)
    return task.timeout_s or agent.timeout_s or ctx.plan.run.timeout_s or DEFAULT_TIMEOUT_S
