"""One small error hierarchy. Every message says what was wrong, where, and how to fix it."""

from __future__ import annotations

import enum
from typing import Any


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # some task failed, was blocked or conflicted (or a gate failed)
    USAGE = 2  # usage, config or input error
    ENVIRONMENT = 3  # not a git repo, git too old, agent CLI missing
    PARKED = 4  # landed on the integration branch, not on the target: see the message
    INTERNAL = 70  # a launcher bug (sysexits' EX_SOFTWARE): the message names the saved traceback
    INTERRUPTED = 130


class LauncherError(Exception):
    """Base error: `what` went wrong, `where` (file, key, line), and `fix` (what to do)."""

    exit_code: ExitCode = ExitCode.FAILED
    default_key = "error"

    def __init__(
        self,
        what: str,
        *,
        where: str | None = None,
        fix: str | None = None,
        error_key: str | None = None,
    ) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        self.error_key = error_key or self.default_key
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return "\n".join(parts)

    def envelope(self) -> dict[str, Any]:
        """The structured error envelope of DESIGN 7.1."""
        observations = f"{self.where}: {self.what}" if self.where else self.what
        return {
            "ok": False,
            "error_key": self.error_key,
            "observations": observations,
            "usage": self.fix or "",
        }


class UsageProblem(LauncherError):
    """Bad command line, plan, config or input file (exit 2)."""

    exit_code = ExitCode.USAGE
    default_key = "usage"


class PlanError(UsageProblem):
    default_key = "plan_invalid"


class ConfigError(UsageProblem):
    default_key = "config_invalid"


class ContractInvalid(UsageProblem):
    default_key = "contract_invalid"


class EnvironmentProblem(LauncherError):
    """The machine cannot run this: not a git repo, git too old, agent CLI missing (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT
    default_key = "environment"


class GitFailed(LauncherError):
    """A git command failed in a way the launcher did not expect."""

    default_key = "git_failed"


class GitOutputTooLarge(GitFailed):
    """A git command printed more than the launcher reads: acting on a cut output (a file list,
    a log to screen for secrets) would be acting on a lie."""

    default_key = "git_output_too_large"


class RunNotFound(UsageProblem):
    default_key = "run_not_found"


class SpawnFailed(EnvironmentProblem, OSError):
    """A child process could not be started: exec failed (E2BIG, ENOENT, EACCES, ENOEXEC...) or
    its argv/environment held a NUL byte. Raised by `process` in place of the bare OSError; it is
    still an OSError with the original errno, strerror and filename, so a caller that handled
    OSError still does, and one that does not gets the project's message, never a traceback."""

    default_key = "spawn_failed"

    def __init__(self, what: str, *, errno: int | None, strerror: str | None, filename: str | None,
                 fix: str | None = None, where: str | None = None) -> None:  # fmt: skip
        super().__init__(what, where=where, fix=fix)
        self.errno = errno
        self.strerror = strerror
        self.filename = filename


class SpawnNotFound(SpawnFailed, FileNotFoundError):
    """ENOENT: the program (or its interpreter, or its working directory) is not there."""


class SpawnNotPermitted(SpawnFailed, PermissionError):
    """EACCES/EPERM: not executable, or not allowed."""
