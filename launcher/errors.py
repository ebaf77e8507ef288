"""One small error hierarchy. Every message says what was wrong, where, and how to fix it."""

from __future__ import annotations

import enum
import errno
from typing import Any


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # some task failed, was blocked or conflicted (or a gate failed)
    USAGE = 2  # usage, config or input error
    ENVIRONMENT = 3  # not a git repo, git too old, agent CLI missing
    PARKED = 4  # landed on the integration branch, not on the target: see the message
    INTERNAL = 70  # a launcher bug (sysexits' EX_SOFTWARE): the message names the saved traceback
    # The run has not ended yet (`status --exit-status` while a launcher drives it): no outcome
    # to report, ask again later (sysexits' EX_TEMPFAIL). Never 0: 0 says everything landed.
    NOT_FINISHED = 75
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


_DISK_ERRNOS = {
    errno.ENOSPC: ("disk_full", "no space left on device"),
    errno.EDQUOT: ("disk_full", "disk quota exceeded"),
    errno.EROFS: ("read_only_file_system", "read-only file system"),
    errno.EIO: ("disk_io_error", "input/output error"),
}


def _disk_oserror(exc: BaseException, seen: set[int]) -> OSError | None:
    if id(exc) in seen:
        return None
    seen.add(id(exc))
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return exc
    # Only what `exc` is made of (its members, an explicit `raise ... from` cause), never what it
    # was raised while handling (`__context__`): a launcher bug met while handling a PTY read's
    # normal EIO is still the launcher's bug ("internal error"), not a disk problem.
    inner: list[BaseException] = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else []
    inner += [exc.__cause__] if exc.__cause__ is not None else []
    return next((found for e in inner if (found := _disk_oserror(e, seen)) is not None), None)


def disk_problem(exc: BaseException, *, then: str | None = None) -> EnvironmentProblem | None:
    """The machine's disk, not the launcher, when `exc` (or an error inside it: a task group's
    ExceptionGroup, a cause) is an OSError saying no space is left (ENOSPC), a quota is reached
    (EDQUOT), the file system is read-only (EROFS) or the disk failed (EIO): exit 3 with what to
    do, never "internal error". A run it stopped is left `interrupted`: `launcher resume`
    continues it once the cause is gone (finished agent rounds are not run again). `then`: what
    to run once space is freed, for a command whose work `launcher resume` does not continue
    (a mutation sweep's `--resume ID`)."""
    found = _disk_oserror(exc, set())
    if found is None:
        return None
    key, what = _DISK_ERRNOS[found.errno or 0]
    where = found.filename if isinstance(found.filename, str) else None
    holding = f"the file system holding {where}" if where else (
        "the file systems the launcher writes to (the checkout's .launcher/, the worktrees under "
        "$XDG_CACHE_HOME/launcher)")
    first = {
        "disk_full": f"free space on {holding}",
        "read_only_file_system": f"make {holding} writable",
        "disk_io_error": f"check {holding} (`dmesg` shows disk errors) and free space there",
    }[key]
    return EnvironmentProblem(
        f"{what} while writing{'' if where else ' a file'}", where=where, error_key=key,
        fix=f"{first}, then {then}" if then else
            f"{first}, then run `launcher resume` (a run this stopped continues where it stopped; its "
            "finished agent rounds are not run again) or this command again",
    )
