"""One round of one agent: spawn it under supervision, then collect its contract."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio

from launcher import capped_log, process
from launcher.agents.acp import DrivenAdapter
from launcher.agents.base import (
    AgentAdapter,
    AgentOutcome,
    AgentRequest,
    GivingUpAdapter,
    Invocation,
    StderrStreamingAdapter,
    StreamingAdapter,
    sane_outcome,
    stderr_is_activity,
    unreadable_outcome,
)
from launcher.agents.cli_common import remember_session
from launcher.agents.passed_env import round_secrets
from launcher.engine import reaper
from launcher.engine.collect import Collected, collect_contract
from launcher.engine.file_activity import FileActivity
from launcher.errors import SpawnFailed
from launcher.models.redact import mask, mask_bytes
from launcher.process import Supervised
from launcher.regular_files import clear_path


@dataclass
class RoundResult:
    outcome: AgentOutcome
    supervised: Supervised | None
    collected: Collected


@dataclass
class Limits:
    timeout_s: float
    inactivity_s: float | None
    grace_s: float = 5.0
    log_cap: int = process.DEFAULT_LOG_CAP


async def run_agent_round(
    adapter: AgentAdapter,
    request: AgentRequest,
    *,
    limits: Limits,
    on_spawn: Callable[[int], None] | None = None,
) -> RoundResult:
    """Spawn the agent (or let a driven adapter converse with it) and collect its contract.

    Whatever ends the round (its end, Ctrl-C, an error), its processes that escaped their group
    (a `setsid` daemon) never outlive the launcher: the launcher is their subreaper, and a round
    that does not return is followed by a sweep of them here (a round that returns is swept by
    its caller, which says so: after each agent round, each grader or judge attempt)."""
    reaper.become_subreaper()  # every command that runs a round: orphans come back to us
    try:
        return await _run_round(adapter, request, limits, on_spawn)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(reaper.reap_escaped, request.run_id, request.task.id)
        raise


async def _run_round(
    adapter: AgentAdapter, request: AgentRequest, limits: Limits, on_spawn: Callable[[int], None] | None,
) -> RoundResult:
    # A contract left from an earlier attempt must never be mistaken for this one's. What an
    # agent put there (a directory too) is removed; if it cannot be, this round fails, never the run.
    try:
        clear_path(request.contract_path)
        invocation = adapter.invocation(request)
        log_path = request.artifacts / "agent.log"
        with capped_log.open_log(log_path) as fh:  # never blocks on a FIFO an agent left there
            stamp = time.strftime("%H:%M:%S")
            fh.write(
                f"\n=== launcher {stamp}: round {request.iteration}, attempt {request.attempt}: "
                f"{invocation.argv[0]} ===\n".encode()
            )
    except OSError as exc:
        where = exc.filename or request.contract_path
        message = (f"cannot use {where} for the round ({exc.strerror or exc}); "
                   "remove it, then run the task again (`launcher resume --retry-failed`)")  # fmt: skip
        return _round(request, AgentOutcome(False, "unusable_path", message), None, "")
    try:
        if isinstance(adapter, DrivenAdapter):
            # ACP: the adapter converses with its process; its stdout is the JSON-RPC transcript.
            outcome, driven = await _drive(adapter, request, limits, on_spawn)
            if driven is None:
                return _round(request, _masked(outcome, invocation.env), None, "")
            supervised = driven
            final_text = outcome.final_text
        else:
            activity = FileActivity(request.worktree) if limits.inactivity_s else None
            try:
                supervised = await _supervise(adapter, request, invocation, limits, on_spawn, activity)
            finally:
                if activity is not None:
                    activity.close()
            _mask_output(supervised, invocation.env)  # before any tail of it is cut for a message
            outcome = read_outcome(adapter, request, supervised)
            final_text = outcome.final_text or supervised.stdout
    except SpawnFailed as exc:
        # Not started: that round (its task, its grading) fails with the reason; never the run.
        missing = exc.errno in (errno.ENOENT, errno.EACCES) and exc.filename != str(request.worktree)
        hint = (getattr(adapter, "install_hint", "") if missing else "") or exc.fix or ""
        outcome = AgentOutcome(False, "cli_missing" if missing else "spawn_failed", f"{exc.what}; {hint}")
        return _round(request, outcome, None, "")
    return _round(request, _masked(outcome, invocation.env), supervised, final_text)


def _mask_output(supervised: Supervised, env: Mapping[str, str]) -> None:
    """What the agent printed, with what it got from the launcher's environment masked before the
    adapter reads it: a failure message is the last few hundred characters of it, and a value cut
    at that edge would no longer be found whole (its other characters reported as they are)."""
    secrets = round_secrets(env)
    if secrets:
        supervised.stdout_tail = mask_bytes(supervised.stdout_tail, secrets)
        supervised.stderr_tail = mask_bytes(supervised.stderr_tail, secrets)


def _masked(outcome: AgentOutcome, env: Mapping[str, str]) -> AgentOutcome:
    """The outcome with the values the agent got from the launcher's environment (its `env`
    names, its CLI's keys) masked in its message (a failing agent's stderr tail, reported in the
    journal, the summary, `--json` and the export manifest)."""
    outcome.message = mask(outcome.message, round_secrets(env))
    return outcome


async def _supervise(
    adapter: AgentAdapter, request: AgentRequest, invocation: Invocation, limits: Limits,
    on_spawn: Callable[[int], None] | None, activity: FileActivity | None,
) -> Supervised:
    return await process.supervise(
        invocation.argv,
        cwd=request.worktree,
        env=invocation.env,
        log_path=request.artifacts / "agent.log",
        timeout_s=limits.timeout_s,
        inactivity_s=limits.inactivity_s,
        grace_s=limits.grace_s,
        log_cap=limits.log_cap,
        on_spawn=on_spawn,
        activity_probe=activity.probe if activity is not None else None,
        stdout_lines=adapter.stdout_line if isinstance(adapter, StreamingAdapter) else None,
        stderr_lines=adapter.stderr_line if isinstance(adapter, StderrStreamingAdapter) else None,
        give_up=adapter.give_up if isinstance(adapter, GivingUpAdapter) else None,
        stderr_is_activity=stderr_is_activity(adapter),
    )


def _round(request: AgentRequest, outcome: AgentOutcome, supervised: Supervised | None, final_text: str) -> RoundResult:
    collected = collect_contract(
        request.task.id,
        structured=outcome.structured_output,
        contract_path=request.contract_path,
        final_text=final_text,
    )
    return RoundResult(outcome, supervised, collected)


def read_outcome(adapter: AgentAdapter, request: AgentRequest, supervised: Supervised) -> AgentOutcome:
    """The adapter's reading of its process, guarded: whatever the CLI printed, an exception in
    the adapter (a field of a type it did not expect, bytes it could not decode) fails this task
    alone with `unreadable_output`, never the run. What it measured is checked (`sane_outcome`)."""
    try:
        outcome = adapter.outcome(request, supervised)
    except Exception as exc:
        outcome = unreadable_outcome(adapter.name, exc)
        remember_session(request, adapter.name, outcome)  # no session of this round to resume
        return outcome
    if supervised.reader_error is not None:
        # The line reader stopped part-way: what it counted is partial, so the round fails.
        failed = unreadable_outcome(adapter.name, supervised.reader_error)
        failed.message += " (its cost and tokens may be undercounted)"
        failed.tokens, failed.cost_usd = outcome.tokens, outcome.cost_usd
        remember_session(request, adapter.name, failed)
        outcome = failed
    return sane_outcome(outcome)


async def _drive(
    adapter: DrivenAdapter, request: AgentRequest, limits: Limits, on_spawn: Callable[[int], None] | None,
) -> tuple[AgentOutcome, Supervised | None]:
    """A driven adapter's round, guarded like `read_outcome`: an exception while it converses
    (its process is ended by then) fails this task alone. Failing to start it still raises."""
    try:
        outcome, supervised = await adapter.drive(request, limits, on_spawn=on_spawn)
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as exc:
        while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        failed = unreadable_outcome(adapter.name, exc, what="conversation")
        remember_session(request, adapter.name, failed)
        return failed, None
    return sane_outcome(outcome), supervised
