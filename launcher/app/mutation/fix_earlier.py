"""The kills of an earlier `launcher mutation fix` that were never recorded in its sweep.

A fix records its kills only once its run has landed the new tests and the sweep's other
mutants have been run against them: stopped in between (Ctrl-C, SIGTERM, -9), the tests are on
the target while the sweep still says Survived. Each fix remembers its run (`fix/<stamp>/run.json`,
written as soon as the run is journaled), so the next `mutation fix` of the sweep finds the
tasks that run landed with accepted kill evidence whose mutants the sweep does not yet count
Killed, and records them first (app/mutation/fix.py): never a test written twice, never a
survivor reported that the tests on the target kill.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.app.context import EventSink
from launcher.app.inspect import run_report
from launcher.errors import LauncherError
from launcher.models.decoding import json_loads, read_text
from launcher.models.events import Event
from launcher.models.states import TaskState
from launcher.mutation.model import MutantStatus
from launcher.mutation.report_stryker import entries
from launcher.store.files import atomic_write_json

RUN_FILE = "run.json"


@dataclass
class Unrecorded:
    """What an earlier fix run landed that its sweep does not count yet."""

    run_id: str
    killed: dict[str, list[str]] = field(default_factory=dict)  # mutant id -> the landed tests that kill it
    tests: set[str] = field(default_factory=set)  # the landed test files


def read_evidence(path: Path) -> dict[str, Any]:
    """A task's kill evidence, read strictly: one that is missing, not JSON (a key named twice,
    NaN) or not of the gate's shape counts as no kill, with the reason, never as a partial one."""
    if not path.is_file():
        return {}
    try:
        evidence = json_loads(read_text(path))
    except (OSError, json.JSONDecodeError) as exc:
        return {"accepted": False, "reason": f"its kill evidence {path} cannot be read: {exc}"}
    killed = evidence.get("killed_by") if isinstance(evidence, dict) else None
    if not isinstance(killed, dict) or not all(isinstance(v, list) for v in killed.values()):
        reason = evidence.get("reason") if isinstance(evidence, dict) else None
        return {"accepted": False, "reason": str(reason or f"its kill evidence {path} has no killed_by map")}
    return evidence


def remembering_run(out_dir: Path, emit: EventSink) -> EventSink:
    """`emit`, which also writes `out_dir/run.json` once the fix's run is journaled."""
    said: list[str] = []

    def handle(event: Event) -> None:
        if event.run_id and not said:
            said.append(event.run_id)
            atomic_write_json(out_dir / RUN_FILE, {"run_id": event.run_id})
        emit(event)

    return handle


def _run_of(fix_dir: Path) -> str | None:
    try:
        data = json_loads(read_text(fix_dir / RUN_FILE))
    except (OSError, ValueError):
        return None
    run_id = data.get("run_id") if isinstance(data, dict) else None
    return run_id if isinstance(run_id, str) else None


async def unrecorded_kills(cwd: Path, fix_root: Path, data: dict[str, Any],
                           landed_tests: Callable[[dict[str, Any]], list[str]]) -> list[Unrecorded]:
    """Per earlier fix run of the sweep (oldest first): the claimed mutants its landed tasks kill
    that the sweep does not count Killed yet. `landed_tests`: a task's evidence -> its test files."""
    status = {m.id: str(r.get("status")) for m, r in entries(data)}
    found: list[Unrecorded] = []
    for fix_dir in sorted(p for p in fix_root.iterdir() if p.is_dir()) if fix_root.is_dir() else []:
        run_id = _run_of(fix_dir)
        if run_id is None:
            continue
        try:
            report = await run_report(cwd, run_id)
        except (LauncherError, OSError):
            continue  # a run this checkout's journal does not know (cleaned): nothing to go by
        earlier = Unrecorded(run_id)
        for task in report.tasks:
            evidence = read_evidence(fix_dir / f"{task.id}.evidence.json")
            if task.state != TaskState.MERGED or not evidence.get("accepted"):
                continue
            new = {str(m): [str(t) for t in tests] for m, tests in evidence["killed_by"].items()
                   if status.get(str(m), MutantStatus.KILLED.value) != MutantStatus.KILLED.value}
            if new:
                earlier.killed.update(new)
                earlier.tests.update(landed_tests(evidence))
        if earlier.killed:
            found.append(earlier)
    return found
