"""The run's commands against a tree's code: a task's setup and checks, and the integration check.

Each gets `engine.command_env` (the allowlisted environment plus the plan's `check_env`, the
tree's import roots first on PYTHONPATH) and, where it verifies code, the import audit: a check
that still imported the main checkout's code fails (it verified the wrong code).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from launcher import process, wall_clock
from launcher.app.context import RunContext
from launcher.app.run import before_check, containment, git_watch, integration_output, ref_watch, round_copy
from launcher.app.run.best_of import attempt_env
from launcher.engine import site_installs
from launcher.engine.command_env import command_env
from launcher.engine.import_audit import ImportAudit, outside_import_message
from launcher.gates.checks import CheckResult, run_checks
from launcher.git import include, worktrees
from launcher.git.integration_check import CheckTrace, run_integration_check
from launcher.models.plan import Task
from launcher.store import queue_log
from launcher.store.files import atomic_write_text

IntegrationCheck = Callable[[str], Awaitable[tuple[bool, str]]]
SITE_RECORD = site_installs.RECORD  # the run's SiteGuard record


def check_env_names(ctx: RunContext, task: Task | None) -> list[str]:
    """The parent variables the plan lets this task's commands see (run-wide, then the task's)."""
    return [*ctx.plan.run.check_env, *(task.check_env if task else [])]


def _audit(ctx: RunContext, task_id: str | None, name: str) -> ImportAudit:
    where = ctx.files.task_dir(task_id) if task_id else ctx.files.run_dir
    return ImportAudit(ctx.repo, where / name)


def task_variables(ctx: RunContext, task: Task) -> dict[str, str]:
    """What the task's setup and checks know of it, as its agent does: role, base commit, its
    port block (claimed per machine), and a best-of attempt's number."""
    return {"LAUNCHER_ROLE": task.role, "LAUNCHER_BASE_SHA": ctx.base_sha,
            "LAUNCHER_PORT_BASE": str(ctx.port_base(task.id)), **attempt_env(ctx, task.id)}


async def run_setup(ctx: RunContext, task: Task, tree: Path, command: str, timeout: float) -> str | None:
    """Run the setup command in the task's new worktree: None when it succeeded, else why not.
    Setup may run the main checkout's tools (a code generator, say): its outside imports are
    reported as a note, not a failure. Its output is kept in `setup.log`. What it leaves that
    git does not ignore fails the task: it would otherwise be committed as the agent's work."""
    audit = _audit(ctx, task.id, "setup-imports.audit")
    audit.reset()
    env = command_env(tree, main_root=ctx.repo.root, run_id=ctx.run_id, task_id=task.id,
                      pass_names=check_env_names(ctx, task), audit_file=audit.file)
    env.update(task_variables(ctx, task))
    # What the run passes (its `check_env`) masked in the output kept, before a long output's
    # middle is elided (a value the elision cut through is masked whole: capped_log.HeadTail)
    secrets = ctx.journal.passed_values(ctx.run_id)
    async with guarding_installs(ctx, task.id, f"the setup command ({command!r})", env):
        done = await process.run_command(["/bin/sh", "-c", command], cwd=tree, env=env, timeout=timeout,
                                         secrets=secrets)
    log = ctx.files.task_dir(task.id) / "setup.log"
    # What the run passes (its `check_env`) masked in the output kept and reported (models/redact.py)
    text, err = ctx.journal.masked(ctx.run_id, done.text), ctx.journal.masked(ctx.run_id, done.err)
    atomic_write_text(log, f"$ {command}\n{text}{err}")
    outside = await audit.outside_imports()
    if outside:
        ctx.note(task.id, outside_import_message(outside, ctx.repo.root, "the setup command"))
    if not done.ok:
        how = f"timed out after {timeout:g}s" if done.timed_out else f"exit {done.returncode}"
        tail = "\n".join((text + err).strip().splitlines()[-10:])
        return f"setup command failed ({command!r}, {how}; full output in {log}): {tail[-800:]}"
    left = await ctx.repo.git("status", "--porcelain", "--untracked-files=all", cwd=tree, check=False)
    paths = [line[3:] for line in left.out.splitlines() if line.strip()]
    if paths:
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        return (f"setup command ({command!r}) left files git does not ignore: {shown}; they would be "
                "committed as the agent's work. Ignore them (.gitignore or .git/info/exclude), or "
                "have setup write only ignored files")
    return None


async def guard_site_installs(ctx: RunContext) -> None:
    """Before the command's first command in a worktree: the shared Python environments'
    editable installs are kept in the run's directory (engine/site_installs.py). One an earlier
    launcher of the run kept is used instead (what it ran since may have re-pointed them), and
    what they were is put back now: that launcher may have been stopped before it could."""
    loaded = ctx.site_guard.bind(ctx.worktree_root / ctx.run_id, ctx.files.run_dir / SITE_RECORD)
    if loaded and (restored := await ctx.site_guard.settle(remove_new=False)):
        ctx.note(None, site_installs.note(restored, "a command the stopped launcher ran in a worktree",
                                          who="A command run in a worktree"))
    await ctx.site_guard.snapshot(run_env(ctx, None))


def run_env(ctx: RunContext, task: Task | None) -> dict[str, str]:
    """What a command of the run (of `task`) in a worktree gets, as far as its PATH goes."""
    return command_env(ctx.repo.root, main_root=ctx.repo.root, run_id=ctx.run_id,
                       task_id=task.id if task else None, pass_names=check_env_names(ctx, task))


@asynccontextmanager
async def guarding_installs(ctx: RunContext, task_id: str | None, what: str,
                            env: Mapping[str, str]) -> AsyncIterator[None]:
    """Around a command run in a worktree that may `pip install -e .` (a setup, a check, the
    integration check, a grading): what it re-pointed into the worktree is put back after it."""
    await guard_site_installs(ctx)
    await ctx.site_guard.snapshot(env)  # its PATH may reach another environment
    await ctx.site_guard.take_in_users()  # the user's install made since the record: what is put back
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            if restored := await ctx.site_guard.settle(remove_new=False):
                who = "A setup command" if what.startswith("the setup") else "A command run in a worktree"
                ctx.note(task_id, site_installs.note(restored, what, who=who))


async def settle_site_installs(ctx: RunContext) -> None:
    """At the run's end (or stop): no shared Python environment keeps an install from one of the
    run's worktrees, not even one that was not there before the run (engine/site_installs.py)."""
    if restored := await ctx.site_guard.settle(remove_new=True):
        ctx.note(None, site_installs.note(restored, "a command run in a launcher worktree",
                                          who="A command run in a worktree"))


async def run_task_checks(ctx: RunContext, task: Task, tree: Path, timeout: float) -> list[CheckResult]:
    """The task's checks in its worktree, each audited for imports from the main checkout."""
    audit = _audit(ctx, task.id, "check-imports.audit")
    env = command_env(tree, main_root=ctx.repo.root, run_id=ctx.run_id, task_id=task.id,
                      pass_names=check_env_names(ctx, task), audit_file=audit.file)
    env.update(task_variables(ctx, task))
    async with guarding_installs(ctx, task.id, f"a check of task {task.id}", env):
        return await run_checks(task.checks, cwd=tree, env=env, timeout_s=timeout, audit=audit)


def _count_run_again(ctx: RunContext, commit: str, ok: bool) -> None:
    """The check's run again on the same tree is a run of the user's command: journaled, so the
    queue's `check_runs` counts it (its verdict is the one journaled by the queue's own step)."""
    log = queue_log.QueueLog(ctx.journal.path)
    try:
        log.record(ctx.run_id, queue_log.CHECK_AGAIN, [], ok=ok, detail=f"run again on {commit[:12]}")
    finally:
        log.close()


def integration_check(ctx: RunContext) -> IntegrationCheck | None:
    """The integration check of the landing (None without one): the run's command on a scratch
    tree of each merge result, with the `.worktreeinclude` files a task's worktree gets (copied
    in, removed with the tree: never committed), audited like a task's checks."""
    command = ctx.settings.integration_check
    if not command:
        return None
    scratch_root = ctx.worktree_root / ctx.run_id / worktrees.INTEGRATION

    async def check(commit: str) -> tuple[bool, str]:
        before = await before_check.take(ctx)  # what a put-back restores: never an older copy
        ok, output, wrote = await run(commit, None, before)
        if not wrote:
            return ok, output
        # Something changed in the main checkout while the check ran in its scratch tree: the
        # check's doing, or the user's (an editor saving)? Run it again on the same tree: what
        # it writes again is its own (put back, and that run fails); what it leaves alone was
        # not its doing, and stays where it is.
        seen = {rel: round_copy.stamp(ctx.repo.root / rel) for rel in wrote}
        ctx.reported_intrusions.difference_update(wrote)
        again = before_check.for_run_again(before, await before_check.take(ctx), set(seen))
        ok, output, _ = await run(commit, seen, again)
        _count_run_again(ctx, commit, ok)
        left = sorted(rel for rel in wrote if round_copy.stamp(ctx.repo.root / rel) == seen[rel])
        # A deletion cannot be made twice (nor told apart from the user's by a run again): the file
        # is put back, no task blamed; one changed is the user's save, its earlier version kept.
        if gone := [rel for rel in left if seen[rel] is None]:
            how = (await containment.put_back_check_writes(ctx, gone, before)).partition(": ")[2]
            ctx.note(None, f"{', '.join(gone)} deleted from the main checkout while the integration check ran on "
                           f"{commit[:12]}; running it again cannot tell whether it or you deleted it (a file "
                           f"cannot be deleted twice): {how}, no task is blamed for it (delete it again if that "
                           "was you)")
        if left := [rel for rel in left if seen[rel] is not None]:
            # Left, not hidden: a later write there (a later run of the check) is found again
            round_copy.take_as_users(ctx, left)
            kept = await _keep_earlier(ctx, left, ctx.files.run_dir / containment.INTRUSIONS_DIR / "before-check",
                                       before)
            ctx.note(None, f"{', '.join(left)} changed in the main checkout while the integration check "
                           f"ran on {commit[:12]}, and not when it ran again on the same tree: taken for "
                           "your edit and left in place, no task is blamed for it (do not edit the main "
                           f"checkout while a landing checks){kept}")
        return ok, output

    async def run(commit: str, seen: dict[str, tuple[int, int] | None] | None,
                  before: before_check.BeforeCheck) -> tuple[bool, str, list[str]]:
        """One run of the check; with `seen` (a run again), what it wrote into the main checkout
        again (changed since `seen`), or newly, is put back (as it was right before this run:
        `before`) and fails it; without, what it wrote is returned, left in place."""
        audit = _audit(ctx, None, "integration-imports.audit")
        audit.reset()

        def env(tree: Path) -> dict[str, str]:  # once checked out: its layout says its import roots
            return command_env(tree, main_root=ctx.repo.root, run_id=ctx.run_id, task_id=None,
                               pass_names=check_env_names(ctx, None), audit_file=audit.file)

        async def with_includes(tree: Path) -> None:  # as a task's worktree and its checks get them
            await anyio.to_thread.run_sync(include.copy_includes, ctx.repo.root, tree, ctx.include_paths)

        started = wall_clock.stamp()
        own = await ref_watch.unlanded_commits(ctx, commit)  # before: its scratch tree reaches them
        trace = CheckTrace()
        what = f"the integration check (checking {commit[:12]})"
        async with guarding_installs(ctx, None, what, env(ctx.repo.root)):
            ok, output = await run_integration_check(
                ctx.repo, commit, command, scratch_root / commit[:12],
                timeout=ctx.settings.integration_check_timeout_s, env=env, trace=trace, prepare=with_includes,
                secrets=ctx.journal.passed_values(ctx.run_id),  # masked before its tail is cut
            )
        if worktrees_said := trace.worktrees_said():
            ctx.note(None, f"{worktrees_said}; checking {commit[:12]}")
        if moved := await ref_watch.put_back_check_moves(ctx, own | trace.made):
            # Put back before the main checkout and the other refs are judged (a moved target
            # makes the main checkout look changed, and its batch look empty).
            ok, output = await _check_moved_refs(ctx, commit, moved, ok, output)
        wrote = await containment.integration_check_writes(ctx, started, before)
        if seen is not None:
            ctx.reported_intrusions.update(rel for rel in wrote if rel in seen)
            wrote = [rel for rel in wrote if rel not in seen or round_copy.stamp(ctx.repo.root / rel) != seen[rel]]
            if wrote:
                # Contained as a task's checks are: put back, and this run of the check fails.
                said = await containment.put_back_check_writes(ctx, wrote, before)
                ctx.note(None, f"{said}; checking {commit[:12]} (written again when run again), which fails for it")
                ok, output = False, f"{output}\n[launcher] {said}; the check may only write in its own scratch tree"
                wrote = []
        if tampered := await git_watch.after_integration_check(ctx, started, commit):
            ctx.note(None, f"{tampered}; checking {commit[:12]}, which fails for it")
            ok, output = False, f"{output}\n[launcher] {tampered}; the check may only write in its own scratch tree"
        outside = await audit.outside_imports()
        if outside:
            what = "the integration check"
            ok, output = False, f"{output}\n[launcher] {outside_import_message(outside, ctx.repo.root, what)}"
        output = ctx.journal.masked(ctx.run_id, output)  # what the run passes (check_env) masked
        integration_output.save_run(ctx, commit, command, ok, output, trace)  # for `logs --checks`
        return ok, output, wrote

    return check


async def _keep_earlier(ctx: RunContext, paths: list[str], aside: Path, before: before_check.BeforeCheck) -> str:
    """Copy into `aside` the version the launcher kept of each of `paths` (as it was right before
    the check when it changed since the run's start, else as the run's start: uncommitted,
    untracked or ignored) that differs from the file now: what is said about it."""
    snapshot, kept = ctx.main_contents, []
    if snapshot is None:
        return ""
    for rel in paths:
        when, data = "right before the check", before.contents.get(rel)
        if rel in before.contents or rel in before.unsure:
            pass  # changed since the run's start: its run-start copy is not what it held then
        elif (blob := snapshot.blobs.get(rel)) is not None:
            when = "at the run's start"
            done = await ctx.repo.git("cat-file", "blob", blob, check=False)
            data = done.stdout if done.ok else None
        else:
            when, data = "at the run's start", snapshot.ignored.get(rel)
        try:
            if data is None or (ctx.repo.root / rel).read_bytes() == data:
                continue
            (aside / rel).parent.mkdir(parents=True, exist_ok=True)
            (aside / rel).write_bytes(data)
        except OSError:
            continue
        kept.append(f"{rel} as it was {when} in {aside / rel}")
    return f"; kept: {', '.join(kept)}" if kept else ""


async def _check_moved_refs(ctx: RunContext, commit: str, moved: str, ok: bool, output: str) -> tuple[bool, str]:
    """The check moved refs to the launcher's own commits (put back already): as for any change
    of the shared repository an integration check makes, that run fails when its batch is one
    task (nothing else ran in it); otherwise it is noted, failing none."""
    batch = await git_watch.batch_of(ctx, commit)  # the target is back where it was: its batch
    what = f"the integration check {moved}"
    if len(batch) != 1:
        ctx.note(None, f"{what}; it ran the code of {', '.join(sorted(batch)) or 'no task'} "
                       f"(checking {commit[:12]}): cannot tell whose, none is failed for it")
        return ok, output
    ctx.note(None, f"{what} (task {next(iter(batch))}'s code alone ran in it); checking {commit[:12]}, "
                   "which fails for it")
    return False, f"{output}\n[launcher] {what}; the check may only write in its own scratch tree"
