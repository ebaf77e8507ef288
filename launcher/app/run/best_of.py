"""Best-of-N: pick the winning attempt, hand its branch to the task, clean up the others.

The task waits (`escalated`) while no attempt is approved and some wait for a decision at the
iteration cap: a choice on the task (`choose.decide_for_attempts`) or on one attempt settles them, and
the selection runs again, so exactly one attempt ever lands, as the task. The winner's grading
rounds go with it: work approved by a choice, not by its grader, says so when it lands."""

from __future__ import annotations

from pathlib import Path

from launcher.app.context import RunContext
from launcher.app.land.recovery import BY_CHOICE, approved_by_grader
from launcher.app.run import tech_debt
from launcher.app.run.round_record import last_failing
from launcher.git import worktrees
from launcher.models.plan import Task
from launcher.models.states import TaskState
from launcher.regular_files import read_json_or_none
from launcher.store.journal import BEST_OF_N, TaskRow

NOT_SELECTED = "not-selected"  # the ref name under which a losing attempt's commits are kept
NOT_LANDED = f"{BEST_OF_N} selected, then not landed"  # an attempt selected whose landing failed


def attempt_env(ctx: RunContext, task_id: str) -> dict[str, str]:
    """A best-of-N attempt's number and N, so an agent can tell the attempts apart
    (`LAUNCHER_ATTEMPT` counts the process attempts of one task: corrective rounds)."""
    for task in ctx.plan.tasks:
        if task_id in task.select_from:
            return {"LAUNCHER_BEST_OF_ATTEMPT": str(task.select_from.index(task_id) + 1),
                    "LAUNCHER_BEST_OF_N": str(len(task.select_from))}
    return {}


def _checks_passed(ctx: RunContext, task_id: str) -> int:
    facts = ctx.files.task_dir(task_id) / "facts.json"
    data = read_json_or_none(facts)  # in the agent's reach: nothing unless the launcher's own JSON
    if not isinstance(data, dict):
        return 0
    checks = data.get("checks")
    rubric = data.get("rubric_checks")
    results = [*(checks if isinstance(checks, list) else []), *(rubric.values() if isinstance(rubric, dict) else [])]
    return sum(1 for c in results if isinstance(c, dict) and c.get("ok"))


# A binary file has no lines: it counts as one per this many bytes of its larger side, so an
# attempt adding megabytes of binary does not win "smallest diff" over two changed lines of text.
_BINARY_BYTES_PER_LINE = 64


async def _diff_lines(ctx: RunContext, row: TaskRow) -> int:
    start, head = row.start_sha or ctx.base_sha, row.head_sha or "HEAD"
    stat = await ctx.repo.git("diff", "--numstat", "-z", "--no-renames", start, head)
    total, binary = 0, []
    for entry in stat.out.split("\0"):
        if not entry:
            continue
        added, deleted, path = entry.split("\t", 2)
        if added.isdigit() and deleted.isdigit():
            total += int(added) + int(deleted)
        else:
            binary.append(path)
    sizes: dict[str, int] = {}
    for commit in (start, head) if binary else ():
        for start_at in range(0, len(binary), 500):  # a bounded argv per call
            listed = await ctx.repo.git("--literal-pathspecs", "ls-tree", "-l", "-z", commit, "--",
                                        *binary[start_at:start_at + 500], check=False)
            for item in listed.out.split("\0"):
                meta, _, path = item.partition("\t")
                size = meta.split()[-1] if meta else ""
                if size.isdigit():
                    sizes[path] = max(sizes.get(path, 0), int(size))
    return total + sum(1 + sizes.get(path, 0) // _BINARY_BYTES_PER_LINE for path in binary)


def best_of_task(ctx: RunContext, task_id: str) -> Task | None:
    """The best-of-N task `task_id` is an attempt of, if any."""
    return next((task for task in ctx.plan.tasks if task_id in task.select_from), None)


def selected_attempt(ctx: RunContext, task_id: str) -> Task | None:
    """The attempt of the best-of-N task `task_id` that lands as it (its branch is the task's)."""
    task = ctx.plan.task(task_id)
    branch = ctx.journal.task(ctx.run_id, task_id).branch if task.select_from else None
    attempt = next((a for a in task.select_from if branch and ctx.journal.task(ctx.run_id, a).branch == branch), None)
    return ctx.plan.task(attempt) if attempt else None


async def select_best(ctx: RunContext, task: Task) -> bool:
    """The winner is an approved attempt, one its grader approved before one a choice did, with
    the most passing checks; ties: the smallest diff. With none approved and some escalated,
    the task is escalated too: it waits for a decision (`launcher choose`)."""
    rows = [ctx.journal.task(ctx.run_id, attempt) for attempt in task.select_from]
    scored = []
    for position, row in enumerate(rows):
        if row.state is TaskState.APPROVED:
            scored.append((approved_by_grader(ctx, row.task_id), _checks_passed(ctx, row.task_id),
                           -(await _diff_lines(ctx, row)), -position, row))
    if not scored:
        return _nothing_approved(ctx, task, rows)
    by_grader, checks, minus_lines, _, winner = max(scored, key=lambda item: item[:4])
    for graded in ctx.journal.rounds(ctx.run_id, winner.task_id):  # its rounds are the task's now
        ctx.journal.record_round(ctx.run_id, task.id, graded["iteration"], verdict=graded["verdict"],
                                 audit=graded["audit"], error_key=graded["error_key"])
    ctx.transition(
        task.id, TaskState.APPROVED,
        f"best of {len(rows)}: {winner.task_id} ({checks} check(s) passed, {-minus_lines} diff lines)"
        + ("" if by_grader else f"; {BY_CHOICE}"),
        branch=winner.branch, worktree=winner.worktree, start_sha=winner.start_sha,
        head_sha=winner.head_sha, included=winner.included, files=winner.files,
        included_blobs=winner.included_blobs, iteration=winner.iteration,
        contract=winner.contract, approval_hash=winner.approval_hash,
        cost_usd=sum(r.cost_usd or 0.0 for r in rows) or None,
    )
    for row in rows:
        if row is winner:
            ctx.transition(row.task_id, TaskState.SKIPPED, f"{BEST_OF_N} selected; lands as {task.id}")
            continue
        if row.message.startswith(NOT_LANDED):  # selected before, did not land: said so already
            continue
        ctx.idle_trees.forget(row.task_id)
        if not row.start_sha and not row.branch:  # never started (the run budget was reached)
            ctx.transition(row.task_id, TaskState.SKIPPED, f"{BEST_OF_N} not selected; {row.message}")
            continue
        kept = await _keep_commits(ctx, row)  # None: they could not be kept, so its branch stays
        if row.worktree and Path(row.worktree).exists():
            await worktrees.remove_worktree(ctx.repo, Path(row.worktree), branch=row.branch,
                                            delete_branch=kept is not None)
        elif row.branch:
            await worktrees.remove_worktree(ctx.repo, ctx.worktree_path(row.task_id),
                                            branch=row.branch, delete_branch=kept is not None)
        what = ("worktree and branch removed" if kept == "" else
                f"worktree and branch removed, its commits kept as {kept}" if kept else
                f"worktree removed, branch {row.branch} kept (its commits could not be kept elsewhere)")
        ctx.transition(row.task_id, TaskState.SKIPPED, f"{BEST_OF_N} not selected ({row.state.value}); {what}")
    return True


async def _keep_commits(ctx: RunContext, row: TaskRow) -> str | None:
    """A losing attempt's commits are an agent's work: kept under
    `refs/launcher/<run>/<attempt>/not-selected` (`launcher clean` keeps that ref until
    `--force`) before its branch goes. Returns that ref, "" when the attempt committed nothing,
    or None when they could not be kept there (its branch must then stay)."""
    tip = await ctx.repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{row.branch}^{{commit}}",
                             check=False) if row.branch else None
    head = tip.out.strip() if tip is not None and tip.ok else row.head_sha
    if not head or head == row.start_sha:
        return ""
    ref = f"refs/launcher/{ctx.run_id}/{row.task_id}/{NOT_SELECTED}"
    async with ctx.repo.lock.hold():  # the empty old value: never replaces what a ref holds already
        await ctx.repo.git("update-ref", ref, head, "", check=False)
        held = await ctx.repo.git("rev-parse", "--verify", "--quiet", ref, check=False)
    return ref if held.out.strip() == head else None


def _nothing_approved(ctx: RunContext, task: Task, rows: list[TaskRow]) -> bool:
    waiting = [r.task_id for r in rows if r.state is TaskState.ESCALATED]
    outcomes = "; ".join(f"{r.task_id} {r.state.value}: {r.message[:80]}" for r in rows)
    closed = {r.state for r in rows}
    if not waiting and closed <= {TaskState.TECH_DEBT, TaskState.DEFERRED}:
        # every attempt closed by a choice at the cap (`--on-cap tech-debt|defer`): so is the task,
        # as `launcher choose TASK tech-debt|defer` closes it, not failed
        state = TaskState.TECH_DEBT if TaskState.TECH_DEBT in closed else TaskState.DEFERRED
        # One row per decision: an attempt a person closed with `choose ATTEMPT tech-debt` has its
        # own row; the attempts `--on-cap tech-debt` closed are recorded once, as their task.
        by_policy = [r.task_id for r in rows
                     if r.state is TaskState.TECH_DEBT and not tech_debt.has_row(ctx, r.task_id)]
        if by_policy and ctx.journal.task(ctx.run_id, task.id).state is not state:
            failing = sorted({c for attempt in by_policy for c in last_failing(ctx, attempt)})
            which = f"all {len(rows)} attempts" if len(by_policy) == len(rows) else ", ".join(by_policy)
            tech_debt.record_tech_debt(ctx, task.id, failing, f"--on-cap tech-debt ({which})")
        ctx.transition(task.id, state, f"not landed by choice: every attempt is {state.value} ({outcomes})")
        return False
    if all(r.state is TaskState.SKIPPED and not r.succeeded and not r.start_sha for r in rows):
        # none of its attempts started (the run budget was reached, a dependency did not succeed
        # or waits at escalation): nor did the task, for the same reason; a dependency a choice
        # lands later reopens it with its attempts (retry.reopen_waiting)
        ctx.transition(task.id, TaskState.SKIPPED, rows[0].message)
        return False
    if not waiting:
        # An attempt selected before was approved: it did not land (the journal's grading says
        # it was approved), which is not the same as no attempt ever being approved.
        tried = [r.task_id for r in rows if r.message.startswith((NOT_LANDED, f"{BEST_OF_N} selected"))]
        said = (f"no approved attempt is left to land: {', '.join(tried)} was approved but did not land"
                if tried else "no attempt was approved")
        ctx.transition(task.id, TaskState.FAILED, f"{said} ({outcomes})")
        return False
    message = (f"no attempt approved yet; {', '.join(waiting)} wait(s) for a decision: `launcher choose "
               f"{ctx.run_id} {task.id} approve|continue|tech-debt|defer` decides for them all (approve: "
               f"the best of them lands), or choose for one attempt ({outcomes})")
    current = ctx.journal.task(ctx.run_id, task.id)
    if current.state is not TaskState.ESCALATED or current.message != message:  # resume: said once
        ctx.transition(task.id, TaskState.ESCALATED, message)
    return False


async def runner_up(ctx: RunContext, task_id: str, why: str) -> str | None:
    """The best-of-N task `task_id` has no rounds of its own: when its selected attempt cannot
    land (`why`: it breaks the integration check, or conflicts with the target), the next best
    approved attempt (by the selection's order) lands as the task instead, its branch brought
    back from the ref its commits were kept under; the attempt that did not land is kept so in
    turn. Returns what was done, or None when no approved attempt is left (the caller fails or
    keeps the task, as before)."""
    task = ctx.plan.task(task_id)
    if not task.select_from:
        return None
    current = ctx.journal.task(ctx.run_id, task_id)
    rows = [ctx.journal.task(ctx.run_id, attempt) for attempt in task.select_from]
    spare = f"{BEST_OF_N} not selected ({TaskState.APPROVED.value})"
    scored = [((approved_by_grader(ctx, row.task_id), _checks_passed(ctx, row.task_id),
                -(await _diff_lines(ctx, row)), -position), row)
              for position, row in enumerate(rows)
              if row.state is TaskState.SKIPPED and row.message.startswith(spare)
              and row.branch and row.head_sha and row.head_sha != current.head_sha]
    loser = next((r for r in rows if r.branch == current.branch), None)
    if loser is None and current.branch:  # imported by `land --from` without its branch: the task's
        loser = next((r for r in rows if r.message.startswith(f"{BEST_OF_N} selected; lands as")), None)
        if loser is not None:
            ctx.transition(loser.task_id, loser.state, loser.message, branch=current.branch,
                           head_sha=current.head_sha, start_sha=current.start_sha)
            loser = ctx.journal.task(ctx.run_id, loser.task_id)
    for _, winner in sorted(scored, key=lambda item: item[0], reverse=True):
        if await _branch_back(ctx, winner):
            break
    else:
        if await _escalated_back(ctx, task, rows, loser, why):
            return f"{task_id} waits for a decision on its attempts at the iteration cap"
        if loser is not None:  # the task fails with it (the caller says why): its branch stays
            ctx.transition(loser.task_id, TaskState.SKIPPED, f"{NOT_LANDED}: {why}; branch {loser.branch} kept")
        return None
    if loser is not None:
        await _set_aside(ctx, loser.task_id, why)
    for graded in ctx.journal.rounds(ctx.run_id, winner.task_id):  # its rounds are the task's now
        ctx.journal.record_round(ctx.run_id, task.id, graded["iteration"], verdict=graded["verdict"],
                                 audit=graded["audit"], error_key=graded["error_key"])
    said = (f"best of {len(rows)}: {loser.task_id if loser else 'the selected attempt'} {why}; the next "
            f"approved attempt, {winner.task_id}, lands instead")
    ctx.transition(task.id, TaskState.APPROVED, said + ("" if approved_by_grader(ctx, winner.task_id)
                                                        else f"; {BY_CHOICE}"),
                   branch=winner.branch, worktree=None, start_sha=winner.start_sha,
                   head_sha=winner.head_sha, included=winner.included, files=winner.files,
                   included_blobs=winner.included_blobs, iteration=winner.iteration,
                   contract=winner.contract, approval_hash=winner.approval_hash)
    first = loser.task_id if loser else "the selected attempt"
    ctx.transition(winner.task_id, TaskState.SKIPPED,
                   f"{BEST_OF_N} selected once {first} did not land ({why}); lands as {task.id}")
    return said


async def _set_aside(ctx: RunContext, attempt: str, why: str) -> None:
    """The selected attempt that did not land: its commits kept under its not-selected ref."""
    loser = ctx.journal.task(ctx.run_id, attempt)
    kept = await _keep_commits(ctx, loser)
    await worktrees.remove_worktree(ctx.repo, Path(loser.worktree or ctx.worktree_path(loser.task_id)),
                                    branch=loser.branch, delete_branch=kept is not None)
    ctx.idle_trees.forget(loser.task_id)
    where = f"its commits kept as {kept}" if kept else f"branch {loser.branch} kept"
    ctx.transition(loser.task_id, TaskState.SKIPPED, f"{NOT_LANDED}: {why}; {where}", worktree=None)


async def _escalated_back(ctx: RunContext, task: Task, rows: list[TaskRow], loser: TaskRow | None,
                          why: str) -> bool:
    """No approved attempt is left, but attempts the selection set aside were waiting for the
    operator's decision at the iteration cap: they wait again (their branches back from their
    not-selected refs), and so does the task, so `launcher choose RUN TASK approve` still decides
    them. False when there is none."""
    spare = f"{BEST_OF_N} not selected ({TaskState.ESCALATED.value})"
    waiting = [row for row in rows if row.state is TaskState.SKIPPED and row.message.startswith(spare)
               and row.branch and row.head_sha and (loser is None or row.task_id != loser.task_id)]
    back = [row for row in waiting if await _branch_back(ctx, row)]
    if not back:
        return False
    if loser is not None:
        await _set_aside(ctx, loser.task_id, why)
    first = loser.task_id if loser else "the selected attempt"
    for row in back:
        ctx.transition(row.task_id, TaskState.ESCALATED, (
            f"waits for a decision at the iteration cap: {first} was selected, then did not land ({why}); "
            f"`launcher choose {ctx.run_id} {task.id} approve|continue|tech-debt|defer` decides"), worktree=None)
    _nothing_approved(ctx, task, [ctx.journal.task(ctx.run_id, a) for a in task.select_from])
    return True


async def _branch_back(ctx: RunContext, row: TaskRow) -> bool:
    """`row`'s branch at its approved head again, from the ref its commits were kept under."""
    assert row.branch and row.head_sha
    ref = f"refs/launcher/{ctx.run_id}/{row.task_id}/{NOT_SELECTED}"
    async with ctx.repo.lock.hold():
        kept = await ctx.repo.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        branch = await ctx.repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{row.branch}", check=False)
        if branch.ok:  # kept because its commits could not be kept elsewhere
            return branch.out.strip() == row.head_sha
        if kept.out.strip() != row.head_sha:
            return False
        made = await ctx.repo.git("update-ref", f"refs/heads/{row.branch}", row.head_sha, "", check=False)
        if made.ok:
            await ctx.repo.git("update-ref", "-d", ref, row.head_sha, check=False)
        return made.ok
