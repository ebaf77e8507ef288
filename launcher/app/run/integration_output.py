"""The integration check's output, kept where `launcher logs RUN TASK --checks` shows it.

Each run of the check is saved under the run's directory (`integration/<commit>.json`: command,
exit code, duration, the output's tail). A task the queue names culprit (the check fails on its
change and passes without it) gets that run as one more check of its last measurement
(`facts.json`'s `checks`, which `logs --checks` prints), so the user sees the whole failing
output, not the one line of its message; its next measurement (a revision round) replaces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.app.context import RunContext
from launcher.git.integration_check import CheckTrace
from launcher.regular_files import read_json_or_none
from launcher.store.files import atomic_write_json

_DIR = "integration"
LABEL = "integration check on"  # the command shown: "<command>  [integration check on <commit>]"


def _path(ctx: RunContext, commit: str) -> Path:
    return ctx.files.run_dir / _DIR / f"{commit}.json"


def save_run(ctx: RunContext, commit: str, command: str, ok: bool, output: str, trace: CheckTrace) -> None:
    """Keep one run of the check on `commit` (its verdict and output as the queue saw them)."""
    path = _path(ctx, commit)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"command": command, "ok": ok, "exit_code": trace.exit_code,
                             "duration_s": trace.duration_s, "timed_out": trace.timed_out, "output_tail": output})


def _entry(ctx: RunContext, tip: str, details: str) -> dict[str, Any]:
    command = ctx.settings.integration_check or "integration check"
    saved = read_json_or_none(_path(ctx, tip))
    _, _, output = details.partition("\n")  # "integration check failed on <sha> (...):\n<output>"
    entry: dict[str, Any] = {"exit_code": None, "duration_s": 0.0, "timed_out": False, "output_tail": output}
    if isinstance(saved, dict):  # the run on that very commit (else a verdict read back by tree)
        entry.update({key: saved[key] for key in ("exit_code", "duration_s", "timed_out", "output_tail")
                      if key in saved})
    return {**entry, "command": f"{command}  [{LABEL} {tip[:12]}]", "ok": False}


def record_culprit(ctx: RunContext, task_id: str, tip: str, details: str) -> None:
    """Add the failing run of the check on `tip` (the task's change merged) to the task's checks."""
    facts_file = ctx.files.task_dir(task_id) / "facts.json"
    read = read_json_or_none(facts_file)  # in the agent's reach: the launcher's JSON only
    facts = read if isinstance(read, dict) else {}
    checks = facts.get("checks")
    kept = [c for c in checks if isinstance(c, dict) and LABEL not in str(c.get("command", ""))] \
        if isinstance(checks, list) else []
    facts_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(facts_file, {**facts, "checks": [*kept, _entry(ctx, tip, details)]})


def withdraw_culprit(ctx: RunContext, task_id: str, tip: str) -> None:
    """Take back what `record_culprit` added for the check on `tip`: the verdict was withdrawn
    (the target moved while the pass checked), so the task's facts must not blame it."""
    facts_file = ctx.files.task_dir(task_id) / "facts.json"
    read = read_json_or_none(facts_file)
    checks = read.get("checks") if isinstance(read, dict) else None
    if not isinstance(read, dict) or not isinstance(checks, list):
        return
    label = f"[{LABEL} {tip[:12]}]"
    kept = [c for c in checks if not (isinstance(c, dict) and label in str(c.get("command", "")))]
    if len(kept) != len(checks):
        atomic_write_json(facts_file, {**read, "checks": kept})
