"""Deterministic checks: the task's commands, run in its worktree; exit 0 is a pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from launcher import process


@dataclass
class CheckResult:
    command: str
    ok: bool
    exit_code: int
    duration_s: float
    output_tail: str
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def run_checks(
    commands: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float
) -> list[CheckResult]:
    """Run every check (even after a failure, so the report shows them all)."""
    results = []
    for command in commands:
        # Checks are the repository owner's own commands (like CI steps), so a shell is fine
        # here; agent prompts never reach a shell.
        done = await process.run(["/bin/sh", "-c", command], cwd=cwd, env=env, timeout=timeout_s)
        output = (done.out + done.err)[-4000:]
        results.append(
            CheckResult(command, done.ok, done.returncode, round(done.duration_s, 3), output, done.timed_out)
        )
    return results
