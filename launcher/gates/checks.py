"""Deterministic checks: the task's commands, run in its worktree; exit 0 is a pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from launcher import process
from launcher.agents.passed_env import round_secrets
from launcher.engine.import_audit import ImportAudit, outside_import_message
from launcher.gates.check_summary import failure_line
from launcher.launcher_child import shown_command
from launcher.models.redact import mask


@dataclass
class CheckResult:
    command: str
    ok: bool
    exit_code: int
    duration_s: float
    output_tail: str
    timed_out: bool = False
    # Main-checkout files the command imported (relative paths): it did not test its tree.
    outside_imports: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def how_it_ended(self) -> str:
        """`exit 1`, or `timed out after 30 s and was killed` (the exit code of a kill says nothing)."""
        return f"timed out after {self.duration_s:.0f} s and was killed" if self.timed_out else f"exit {self.exit_code}"

    @property
    def failure(self) -> str:
        """A failed check in one line, its reason first (README: a failed task's message is its
        check's first error line), then which command and how it ended:
        `AssertionError: assert 1 == 2 (pytest -q, exit 1)`; `test -f x (exit 1)` without output."""
        why, command = failure_line(self.output_tail), shown_command(self.command)
        return f"{why} ({command}, {self.how_it_ended})" if why else f"{command} ({self.how_it_ended})"


_TAIL_CHARS = 4000


def output_tail(done: process.Completed, chars: int = _TAIL_CHARS, secrets: Mapping[str, str] | None = None) -> str:
    """The last `chars` characters of a command's stdout then stderr, decoded from their last
    bytes only (at most 4 per character): never the whole output turned into text. `secrets`
    (value -> name) are masked before the tail is cut, so a value at its edge is never half shown."""
    size = chars * 4
    out, err = done.stdout[-size:].decode("utf-8", "replace"), done.stderr[-size:].decode("utf-8", "replace")
    if secrets:
        out, err = mask(out, secrets), mask(err, secrets)
    return (out + err)[-chars:]


async def run_checks(
    commands: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float,
    audit: ImportAudit | None = None,
) -> list[CheckResult]:
    """Run every check (even after a failure, so the report shows them all). With `audit` (its
    file named in `env`, see `engine.command_env`), a check that imported code from the main
    checkout fails, whatever its exit code: it verified the wrong code. What `env` took from the
    launcher's environment (`check_env`) is masked in the output kept (`models.redact`)."""
    results, secrets = [], round_secrets(env)
    for command in commands:
        if audit is not None:
            audit.reset()
        # Checks are the repository owner's own commands (like CI steps), so a shell is fine
        # here; agent prompts never reach a shell.
        done = await process.run_command(["/bin/sh", "-c", command], cwd=cwd, env=env, timeout=timeout_s,
                                         secrets=secrets)  # masked across an elided middle too
        output = output_tail(done, secrets=secrets)
        outside = await audit.outside_imports() if audit is not None else []
        if outside and audit is not None:
            output += "\n[launcher] " + outside_import_message(outside, audit.repo.root)
        results.append(CheckResult(
            command, done.ok and not outside, done.returncode, round(done.duration_s, 3), output,
            done.timed_out, outside,
        ))
    return results
