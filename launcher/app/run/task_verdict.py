"""A task round's verdict: from the agent's completion contract and the facts collected from git
(its branch, the main checkout, submodules, its claims, its scope) to the task's next state
(failed, blocked, timed out or approved), with the task's checks run on the round's commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.app.context import RunContext
from launcher.app.run import claims, ignored_work, provision, tree_commands
from launcher.gates.checks import CheckResult
from launcher.git import commits, submodules
from launcher.models.contract import CompletionContract
from launcher.models.plan import Task
from launcher.models.states import TaskState

_AGENT_FAILURE_STATES = {"timeout": TaskState.TIMED_OUT, "stalled": TaskState.TIMED_OUT}


def _derived_failure(contract: CompletionContract, facts: dict[str, Any]) -> str:
    """Why a task whose agent gave no contract failed, in facts the launcher saw (never "the
    agent reports": it reported nothing)."""
    code = facts.get("exit_code")
    what = (f"exited with code {code}" if code not in (0, None)
            else "changed no file" if not facts.get("files_changed") else "ended without a result")
    why = "; ".join(contract.blockers) or "no contract"
    return (f"the agent {what} and gave no completion contract ({why}); the launcher derived the "
            "outcome from git and the exit code")


async def decide(
    ctx: RunContext, task: Task, worktree: Path, contract: CompletionContract,
    facts: dict[str, Any], error_kind: str | None,
) -> tuple[TaskState, str, list[CheckResult]]:
    """The task's state after a round, why, and the results of its checks (when they ran)."""
    if facts["left_branch"]:
        return TaskState.FAILED, facts["left_branch"], []
    if facts["main_tree_intrusions"]:
        files = ", ".join(facts["main_tree_intrusions"])
        return TaskState.FAILED, f"the agent wrote into the main checkout: {files}", []
    if error_kind:
        state = _AGENT_FAILURE_STATES.get(error_kind, TaskState.FAILED)
        return state, f"agent {error_kind}: {facts['outcome']['message']}", []
    if contract.status in ("blocked", "needs_input"):
        return TaskState.BLOCKED, f"agent reports {contract.status}: {'; '.join(contract.blockers)}", []
    if contract.status == "failed" and contract.source == "agent":
        return TaskState.FAILED, f"agent reports failure: {contract.summary}", []
    # Before the claims (and before a failure the launcher derived from "no file changed"): work
    # inside a submodule is in the worktree, where the branch cannot carry it, and saying so
    # beats "the branch changed nothing".
    moved_submodules = (submodules.pointer_problem(facts["submodule_changes"], facts["nested_repositories"],
                                                   facts.get("submodule_moves"))
                        or submodules.uncommitted_problem(facts["submodule_uncommitted"])
                        or submodules.uninitialised_problem(facts.get("submodule_uninitialised_writes", [])))
    if moved_submodules:
        return TaskState.FAILED, moved_submodules, []
    if contract.status == "failed":  # derived: the agent said nothing itself
        return TaskState.FAILED, _derived_failure(contract, facts), []
    start = facts["start_sha"]
    empty_claim = await claims.empty_claim(ctx.repo, contract.files_changed, facts["files_changed"], start)
    if empty_claim:
        return TaskState.FAILED, empty_claim, []
    if task.scope:
        import pathspec  # ~25 ms to import: only where a spec is used

        spec = pathspec.GitIgnoreSpec.from_lines(task.scope)
        outside = [f for f in facts["files_changed"] if not spec.match_file(f)]
        if outside:
            return TaskState.FAILED, f"changed files outside its scope: {', '.join(outside)}", []
    if task.checks:
        ctx.transition(task.id, TaskState.CHECKING, f"{len(task.checks)} check(s)")
        left = await ignored_work.made_by_agent(ctx, task.id, worktree)  # before the checks add theirs
        results = await tree_commands.run_task_checks(ctx, task, worktree, provision.task_timeout(ctx, task))
        # The checks ran on the round's commit: what they wrote (bytecode, reports) is not the
        # agent's work, and the next round's commit would take it in (`git add -A`).
        await commits.reset_to(ctx.repo, worktree, facts["head_sha"])
        failed = [r for r in results if not r.ok]
        if failed:
            return TaskState.FAILED, f"check failed: {failed[0].failure}", results
        if left:
            facts["ignored_files_left"] = left
            return await _checks_without_ignored(ctx, task, contract, facts["head_sha"], left, results)
        return TaskState.APPROVED, f"{_done(contract)}, all checks pass", results
    return TaskState.APPROVED, _done(contract), []


async def _checks_without_ignored(
    ctx: RunContext, task: Task, contract: CompletionContract, head: str, left: list[str],
    results: list[CheckResult],
) -> tuple[TaskState, str, list[CheckResult]]:
    """The checks passed in a worktree holding ignored files the agent made, which never land:
    approved only if they pass in a clean checkout of its commit too."""
    iteration = ctx.journal.task(ctx.run_id, task.id).iteration
    setup_failed, clean = await ignored_work.checks_in_clean_checkout(
        ctx, task, head, iteration, provision.setup_command(ctx, task), provision.task_timeout(ctx, task))
    made = (f"its worktree holds files git ignores that the agent made ({ignored_work.shown(left)}), "
            "which do not land")
    failed = [r for r in clean if not r.ok]
    if setup_failed or failed:
        why = setup_failed or f"a check failed: {failed[0].failure}"
        return TaskState.FAILED, f"the checks pass only with what git ignores: {made}; in a clean " \
                                 f"checkout of its commit {why}", [*results, *failed]
    ctx.note(task.id, f"{made}; the checks pass without them too (a clean checkout of its commit)")
    return TaskState.APPROVED, f"{_done(contract)}, all checks pass (also in a clean checkout)", results


def _done(contract: CompletionContract) -> str:
    if contract.source == "derived":  # never hide that the agent's own account is missing
        return "no valid contract from the agent: derived from git (exit 0, files changed)"
    return "contract done"
