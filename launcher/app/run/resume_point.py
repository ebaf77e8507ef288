"""Where an interrupted task resumes: a finished agent round is never run (nor paid for) again.

When an agent round ends, its result is written atomically to
`.launcher/runs/<run>/<task>/rounds/<iteration>.json` before anything acts on it. A resumed task
whose current iteration has that file goes straight to collection (commit, measure, checks,
grading) with the recorded result: the agent, whose edits are already in the worktree, is not
spawned again. Collection and checks are idempotent, so redoing them yields what the
uninterrupted run would have.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.agents.base import AgentOutcome
from launcher.app.context import RunContext
from launcher.engine.agent_round import RoundResult
from launcher.engine.collect import Collected
from launcher.errors import ContractInvalid
from launcher.gates.relay import GradeResult
from launcher.models.contract import CompletionContract
from launcher.models.redact import mask, mask_contract, mask_data
from launcher.models.states import TaskState
from launcher.models.verdict import VerdictInvalid, audit_line, parse_grader_output
from launcher.process import Supervised
from launcher.regular_files import read_capped, read_json_or_none
from launcher.store.files import atomic_write_json
from launcher.store.journal import TaskRow

# The launcher's records in a task's artifacts lie in its agent's reach: read up to this size.
MAX_RECORD_BYTES = 64 * 1024 * 1024

ROUND_FILE_VERSION = 1


@dataclass
class FinishedRound:
    result: RoundResult
    started: float  # time.time() when the agent round began
    cost_before: float | None  # the task's journaled spend when the round ended


def round_file(ctx: RunContext, task_id: str, iteration: int) -> Path:
    return ctx.files.task_dir(task_id) / "rounds" / f"{iteration}.json"


def save_round(ctx: RunContext, task_id: str, iteration: int, result: RoundResult, started: float) -> None:
    """Record a finished round (after its corrective attempt, if any) before it is collected,
    with the task's spend before the round, so collection counts the round's cost once."""
    outcome, supervised, collected = result.outcome, result.supervised, result.collected
    row = ctx.journal.task(ctx.run_id, task_id)
    # What the run passed to its agents masked, as in the journal, in what is text for people (the
    # agent's message, its contract's prose, the contract error): never in what a resumed round
    # reads back as data (the contract's files and task id, the session id).
    secrets = ctx.journal.passed_values(ctx.run_id)
    record: dict[str, Any] = {
        "version": ROUND_FILE_VERSION,
        "iteration": iteration,
        "started": started,
        "cost_before": row.cost_usd,
        "outcome": {
            "ok": outcome.ok, "error_kind": outcome.error_kind, "message": mask(outcome.message, secrets),
            "tokens": outcome.tokens, "cost_usd": outcome.cost_usd,
            "session_id": outcome.session_id, "extra": mask_data(outcome.extra, secrets),
        },
        "supervised": None if supervised is None else {
            "returncode": supervised.returncode, "duration_s": supervised.duration_s,
            "pid": supervised.pid, "timed_out": supervised.timed_out,
            "stalled": supervised.stalled, "stdout_bytes": supervised.stdout_bytes,
            "stderr_bytes": supervised.stderr_bytes, "log_truncated": supervised.log_truncated,
        },
        "contract": mask_contract(collected.contract.model_dump(mode="json"), secrets) if collected.contract else None,
        "contract_origin": collected.origin,
        "contract_error": mask_data(collected.error.envelope(), secrets) if collected.error else None,
    }
    atomic_write_json(round_file(ctx, task_id, iteration), record)


def finished_round(ctx: RunContext, task_id: str, iteration: int) -> FinishedRound | None:
    """The recorded result of this iteration's agent round, if the agent had finished it."""
    path = round_file(ctx, task_id, iteration)
    try:
        record = read_json_or_none(path)  # in the agent's reach: a regular file only, bounded
        if not isinstance(record, dict):
            return None
        return FinishedRound(_round_result(record), float(record["started"]), record["cost_before"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no round finished (or an unreadable record): the agent runs this round


def resume_collection(ctx: RunContext, task_id: str, iteration: int, finished: FinishedRound) -> None:
    """Continue at collection with a finished round's recorded result.

    The task's journaled spend goes back to its value when the round ended: an interrupted
    collection may already have added the round's cost, and collection adds it (once) again."""
    ctx.journal.update_task(ctx.run_id, task_id, cost_usd=finished.cost_before)
    ctx.note(task_id, f"round {iteration}: its agent had finished before the interruption; "
                      "continuing at collection without running it again")


def _round_result(record: dict[str, Any]) -> RoundResult:
    if record.get("version") != ROUND_FILE_VERSION:
        raise ValueError("unknown round record version")
    data = record["outcome"]
    outcome = AgentOutcome(
        ok=bool(data["ok"]), error_kind=data["error_kind"], message=data["message"],
        tokens=data["tokens"], cost_usd=data["cost_usd"], session_id=data["session_id"],
        extra=data.get("extra") or {},
    )
    held = record["supervised"]
    supervised = None if held is None else Supervised(
        returncode=held["returncode"], duration_s=held["duration_s"], pid=held["pid"],
        timed_out=held["timed_out"], stalled=held["stalled"], stdout_bytes=held["stdout_bytes"],
        stderr_bytes=held["stderr_bytes"], log_truncated=held["log_truncated"],
    )
    contract = (CompletionContract.model_validate(record["contract"])
                if record["contract"] is not None else None)
    envelope = record["contract_error"]
    error = None if envelope is None else ContractInvalid(
        envelope["observations"], fix=envelope["usage"] or None, error_key=envelope["error_key"]
    )
    return RoundResult(outcome, supervised, Collected(contract, record["contract_origin"], error))


def recorded_grade(grading_dir: Path, iteration: int, head_sha: str, ids: list[str],
                   digest: str | None) -> GradeResult | None:
    """The verdict this grading round already gave on this head, if an interrupted launcher got
    it: a grader is never asked (nor paid) twice for the same round. Only the file the launcher
    itself wrote counts (`digest`, journaled with the round): the directory lies where the task's
    agent writes its contract, and a verdict file it wrote must never stand for a grader's."""
    if digest is None:
        return None
    try:
        packet = read_capped(grading_dir / f"{iteration}-packet.md", MAX_RECORD_BYTES).decode(
            "utf-8", "surrogateescape")  # a file name's bytes as the packet holds them
        data = read_capped(grading_dir / f"{iteration}-verdict.json", MAX_RECORD_BYTES)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):  # unreadable: this round is graded again, never a crash
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        return None  # not the file the launcher wrote
    if head_sha not in packet:
        return None  # graded another head: this one needs its own verdict
    try:
        verdict = parse_grader_output(text, expected_criteria=ids)
    except VerdictInvalid:
        return None
    return GradeResult(verdict, audit_line(verdict, ids), None, 0, None, ["verdict recorded before the interruption"],
                       verdict_sha256=digest)


def iteration_to_run(row: TaskRow) -> int:
    """The iteration to run: the next one after a revision verdict, else the current one."""
    if row.state is TaskState.NEEDS_REVISION:
        return row.iteration + 1
    return max(row.iteration, 1)
