"""What one `codex exec` process spent, from the thread totals Codex reports.

`turn.completed.usage` is the THREAD's running total, not the turn's
(codex-rs/exec/src/event_processor_with_jsonl_output.rs, `usage_from_last_total`), and `codex exec
resume THREAD` seeds that total from the recorded rollout (codex-rs/core/src/codex.rs,
`InitialHistory::Resumed`): a resumed process reports what every earlier process of the thread
spent plus its own. The launcher books each process's own spend (a corrective or revision round
adds its figure to the earlier rounds'), so the adapter reports the difference from the total the
thread had when the process started.

That total is the one this adapter last read for the thread: kept in the task's artifacts
(`codex.thread-usage.json`, by thread id), so it outlives the launcher process and holds across
a crash and `launcher resume`. A process whose output was read but whose round was never
recorded (the launcher died in between) is not booked, as with every adapter; what it spent is
never counted twice. A resumed thread whose earlier total is not known (the file was removed) is
reported at its full total, with a note saying it may count earlier rounds again.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from launcher.agents.base import AgentRequest, clean_session_id
from launcher.regular_files import read_capped, replace_file

TOTALS_FILE = "codex.thread-usage.json"
TOTALS_CAP = 256 * 1024  # bytes read of that file (it lies in the agent's reach)
THREADS_KEPT = 32  # threads whose last total is kept (a task resumes one at a time)


@dataclass
class Spend:
    tokens: dict[str, int]  # this process's own spend
    note: str | None = None  # why the figure may not be only this process's


def totals_path(request: AgentRequest) -> Path:
    return request.artifacts / TOTALS_FILE


def _known_totals(request: AgentRequest) -> dict[str, dict[str, int]]:
    try:  # a regular file only, bounded, never blocking: the agent can put anything there
        data = json.loads(read_capped(totals_path(request), TOTALS_CAP).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    known: dict[str, dict[str, int]] = {}
    for thread, total in data.items() if isinstance(data, dict) else []:
        if clean_session_id(thread) and isinstance(total, dict):
            known[thread] = {
                k: v for k, v in total.items() if isinstance(k, str) and isinstance(v, int)
                and not isinstance(v, bool) and v >= 0
            }  # fmt: skip
    return known


def process_spend(request: AgentRequest, thread: str | None, resumed: str | None, total: dict[str, int]) -> Spend:
    """This process's own spend, from the thread's running `total` it reported; the total is
    kept as the thread's starting point for its next process."""
    if not total:
        return Spend({})
    known = _known_totals(request)
    spend = Spend(dict(total))
    if resumed is not None and thread == resumed:
        before = known.get(thread)
        if before is None:
            spend.note = (
                f"codex resumed thread {thread}, whose token total before this round is not known "
                f"(its record {TOTALS_FILE} in the task's artifacts is missing): the round's tokens "
                "are the thread's running total and may count earlier rounds again"
            )
        elif any(k in total and total[k] < v for k, v in before.items()):
            spend.note = (
                f"codex reported a token total for thread {thread} below the one recorded before "
                f"this round ({TOTALS_FILE} does not match the thread): the round's tokens are the "
                "thread's running total and may count earlier rounds again"
            )
        else:
            spend.tokens = {k: v - before.get(k, 0) for k, v in total.items()}
    if thread is not None:
        known.pop(thread, None)
        known[thread] = dict(total)  # the newest last: the oldest threads are dropped first
        kept = dict(list(known.items())[-THREADS_KEPT:])
        with contextlib.suppress(OSError):  # not kept: the next resume says so in a note
            replace_file(totals_path(request), (json.dumps(kept, indent=1) + "\n").encode("utf-8"))
    return spend
