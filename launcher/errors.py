"""One small error hierarchy. Every message says what was wrong, where, and how to fix it."""

from __future__ import annotations

import enum
import errno
import os
import resource
import tempfile
from collections.abc import Callable
from pathlib import Path
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


class FoldLost(GitFailed):
    """The commits of a landing pass's fold vanished while its checks ran (their pin ref was
    deleted and they were pruned): nothing of that fold can land; the pass folds again."""

    default_key = "fold_lost"


class GitOutputTooLarge(GitFailed):
    """A git command printed more than the launcher reads: acting on a cut output (a file list,
    a log to screen for secrets) would be acting on a lie."""

    default_key = "git_output_too_large"


class GitTimedOut(GitFailed):
    """A git command ran past its time limit and was stopped (git/time_limit.py): no answer, never
    read as one (a "no" from `merge-base --is-ancestor`, say), and said as such."""

    default_key = "git_timed_out"


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


class OutOfSpace(OSError):
    """A program the launcher ran (git) stopped because the disk was full, a quota was reached or
    the file system is read-only: the machine, as when the launcher's own write gets ENOSPC, and
    handled the same way (`disk_problem`: exit 3, free space, `launcher resume`). An OSError with
    that errno, naming the full file system (`filename`) when it is known; deliberately NOT a
    LauncherError: no `except LauncherError` fails a task or refuses one step for it (a finished
    agent's work that could not be committed is committed by `resume` once there is room). It
    stops the command, and a run it drove is left `interrupted`."""

    def __init__(self, code: int, said: str, filename: str | None) -> None:
        super().__init__(code, os.strerror(code), filename)
        self.said = said  # what ran out of space, in the program's own words


class LimitReached(OSError):
    """A limit of the machine, not a bug and not a missing program: too many open files (EMFILE:
    this process's `ulimit -n`; ENFILE: the system's), no more processes or threads for this user
    (EAGAIN from fork: `ulimit -u`), no memory for a new process (ENOMEM). Raised where a child is
    started, in place of a SpawnFailed ("install it"); an OSError with that errno, deliberately
    NOT a LauncherError, so that no task fails for it: it stops the command (`limit_problem`:
    exit 3, which limit and how to raise it) and a run it drove is left `interrupted`."""

    def __init__(self, code: int, said: str) -> None:
        super().__init__(code, os.strerror(code))
        self.said = said


_DISK_ERRNOS = {
    errno.ENOSPC: ("disk_full", "no space left on device"),
    errno.EDQUOT: ("disk_full", "disk quota exceeded"),
    errno.EROFS: ("read_only_file_system", "read-only file system"),
    errno.EIO: ("disk_io_error", "input/output error"),
}
_LIMIT_ERRNOS = {errno.EMFILE, errno.ENFILE}  # an OSError with these is a limit wherever it comes from
# CPython's words when a thread cannot be started (pthread_create: EAGAIN under `ulimit -u`).
_NO_THREAD = "can't start new thread"
# Less free space than this on a file system, and a write that failed for want of space (or
# that does not say why) is taken to have failed there.
NEARLY_FULL_BYTES = 1 << 20
RESUME_HINT = ("`launcher resume` (a run this stopped continues where it stopped; its finished agent "
               "rounds are not run again) or this command again")


def _found(exc: BaseException, seen: set[int], wanted: Callable[[BaseException], bool]) -> BaseException | None:
    if id(exc) in seen:
        return None
    seen.add(id(exc))
    if wanted(exc):
        return exc
    # Only what `exc` is made of (its members, an explicit `raise ... from` cause), never what it
    # was raised while handling (`__context__`): a launcher bug met while handling a PTY read's
    # normal EIO is still the launcher's bug ("internal error"), not a disk problem.
    inner: list[BaseException] = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else []
    inner += [exc.__cause__] if exc.__cause__ is not None else []
    return next((found for e in inner if (found := _found(e, seen, wanted)) is not None), None)


def free_bytes(path: Path) -> int | None:
    """The bytes an unprivileged write can still take on the file system holding `path` (its
    nearest existing folder), or None when that cannot be read."""
    for folder in (path, *path.parents):
        try:
            found = os.statvfs(folder)
        except OSError:
            continue
        return found.f_bavail * found.f_frsize
    return None


def fullest(paths: list[Path]) -> tuple[Path, int] | None:
    """Of these places, the one on the file system with the least room, when it has less than
    NEARLY_FULL_BYTES left: where a write that found no space most likely failed."""
    measured = [(path, free) for path in dict.fromkeys(paths) if (free := free_bytes(path)) is not None]
    full = sorted((item for item in measured if item[1] < NEARLY_FULL_BYTES), key=lambda item: item[1])
    return full[0] if full else None


def temp_dir() -> Path:
    """The temporary directory Python's `tempfile` uses ($TMPDIR, else /tmp...)."""
    return Path(tempfile.gettempdir())


def _launcher_places() -> list[tuple[str, Path]]:
    """The file systems the launcher writes to, by what it keeps there: the checkout's state,
    the worktrees (their default place), the temporary directory."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    try:
        here = Path.cwd()
    except OSError:
        here = None
    state = next((d / ".launcher" for d in (here, *here.parents) if (d / ".launcher").is_dir()), here) \
        if here is not None else None
    places = [("the checkout's .launcher/", state)] if state is not None else []
    places += [("the worktrees under $XDG_CACHE_HOME/launcher", base / "launcher"),
               ("the temporary directory, $TMPDIR", temp_dir())]
    return places


def _where_full(found: OSError, key: str) -> tuple[str, str]:
    """(where, the file system to act on) for a write the disk refused: the file it names; else,
    for want of space, the one of the launcher's places that is (nearly) full; else all of them."""
    if isinstance(found.filename, str):
        return found.filename, f"the file system holding {found.filename}"
    try:
        places = _launcher_places()
    except (OSError, RuntimeError, KeyError):  # no home directory to name
        places = []
    at = fullest([path for _label, path in places]) if key == "disk_full" else None
    if at is not None:
        label = next(label for label, path in places if path == at[0])
        return str(at[0]), f"the file system holding {at[0]} ({label}; {at[1] // 1024} KiB free)"
    named = [f"{label}: {path}" for label, path in places]
    return "", "the file systems the launcher writes to" + (f" ({'; '.join(named)})" if named else "")


def disk_problem(exc: BaseException, *, then: str | None = None) -> EnvironmentProblem | None:
    """The machine's disk, not the launcher, when `exc` (or an error inside it: a task group's
    ExceptionGroup, a cause) is an OSError saying no space is left (ENOSPC), a quota is reached
    (EDQUOT), the file system is read-only (EROFS) or the disk failed (EIO), or git saying so
    (OutOfSpace): exit 3 with what to do, never "internal error". A run it stopped is left
    `interrupted`: `launcher resume` continues it once the cause is gone (finished agent rounds
    are not run again). `then`: what to run once space is freed, for a command whose work
    `launcher resume` does not continue (a mutation sweep's `--resume ID`)."""
    found = _found(exc, set(), lambda e: isinstance(e, OSError) and e.errno in _DISK_ERRNOS)
    if not isinstance(found, OSError):
        return None
    key, what = _DISK_ERRNOS[found.errno or 0]
    where, holding = _where_full(found, key)
    first = {
        "disk_full": f"free space on {holding}",
        "read_only_file_system": f"make {holding} writable",
        "disk_io_error": f"check {holding} (`dmesg` shows disk errors) and free space there",
    }[key]
    if isinstance(found, OutOfSpace):
        said = found.said
    elif isinstance(found.filename, str):
        said = f"{what} while writing"
    else:  # the file has no name (a temporary file): the place that is full, else the places
        said = f"{what} while writing there" if where else f"{what} while writing a file"
    return EnvironmentProblem(said, where=where or None, error_key=key,
                              fix=f"{first}, then {then}" if then else f"{first}, then run {RESUME_HINT}")


def _limit(exc: BaseException) -> bool:
    if isinstance(exc, LimitReached):
        return True
    if isinstance(exc, OSError) and exc.errno in _LIMIT_ERRNOS:
        return True
    return isinstance(exc, RuntimeError) and str(exc).startswith(_NO_THREAD)


def _soft_limit(which: int) -> tuple[str, str]:
    """(the limit now, a command that raises it) for `ulimit -n` (RLIMIT_NOFILE) or `-u`."""
    flag = "-n" if which == resource.RLIMIT_NOFILE else "-u"
    try:
        soft = resource.getrlimit(which)[0]
    except (OSError, ValueError):
        return "not known", f"`ulimit {flag} 4096`"
    if soft == resource.RLIM_INFINITY:
        return "unlimited", f"`ulimit {flag}`"
    return str(soft), f"`ulimit {flag} {max(4096, 4 * soft)}`"


def limit_problem(exc: BaseException) -> EnvironmentProblem | None:
    """A limit of the machine, not a bug, when `exc` (or an error inside it) is one: too many open
    files (EMFILE, ENFILE), a process or thread that could not be started (EAGAIN: the limit on
    processes, which counts threads; ENOMEM): exit 3 naming the limit and how to raise it, never
    "internal error", never a failed task."""
    found = _found(exc, set(), _limit)
    if found is None:
        return None
    code = found.errno if isinstance(found, OSError) else errno.EAGAIN
    said = found.said if isinstance(found, LimitReached) else str(found)
    fewer = "or run fewer tasks at once (`--max-parallel N`, or max_parallel under [run] in the plan)"
    if code == errno.EMFILE:
        now, raise_it = _soft_limit(resource.RLIMIT_NOFILE)
        return EnvironmentProblem(
            f"too many open files: the launcher reached its limit on open files (`ulimit -n` is {now}): {said}",
            error_key="open_files_limit",
            fix=f"raise it in the shell that starts the launcher ({raise_it}) {fewer}, then run {RESUME_HINT}")
    if code == errno.ENFILE:
        return EnvironmentProblem(
            f"too many open files in the system (its open-file table is full): {said}", error_key="open_files_limit",
            fix=f"end programs holding many files, or raise the system's limit (`sysctl fs.file-max`), {fewer}, "
                f"then run {RESUME_HINT}")
    if code == errno.ENOMEM:
        return EnvironmentProblem(
            f"not enough memory to start a process: {said}", error_key="out_of_memory",
            fix=f"free memory (end other programs), {fewer}, then run {RESUME_HINT}")
    now, raise_it = _soft_limit(resource.RLIMIT_NPROC)
    return EnvironmentProblem(
        f"the launcher could not start a new process or thread: the limit on processes for this user was "
        f"reached (`ulimit -u` is {now}; threads count too): {said}",
        error_key="process_limit",
        fix=f"raise it in the shell that starts the launcher ({raise_it}), end other processes of this user, "
            f"{fewer}, then run {RESUME_HINT}")


def launcher_error_in(exc: BaseException) -> LauncherError | None:
    """The launcher's own error a task group wrapped (an ExceptionGroup whose every leaf is one,
    say a damaged journal found by one of several concurrent reads): said as itself, not as
    "internal error". None when anything else is in the group."""
    if not isinstance(exc, BaseExceptionGroup):
        return None
    matched, rest = exc.split(LauncherError)
    found: BaseException | None = matched
    while isinstance(found, BaseExceptionGroup) and rest is None:
        found = found.exceptions[0]
    return found if isinstance(found, LauncherError) and rest is None else None


def stop_cause(exc: BaseException) -> tuple[int, str] | None:
    """The exit code a command ends with when `exc` stops it, and what it says (as cli/calls.call
    says it): the launcher's own error's code, 3 for the machine's (a full disk), 70 for a bug.
    None for Ctrl-C, a signal or a cancellation: interrupted (130). A run stopped so records it,
    and `status --exit-status` exits as the command did."""
    ours = exc if isinstance(exc, LauncherError) else launcher_error_in(exc)
    if ours is not None:
        return int(ours.exit_code), f"{ours.where}: {ours.what}" if ours.where else ours.what
    if not isinstance(exc, Exception):  # KeyboardInterrupt (the stop signals), a cancellation
        return None
    machine = environment_problem(exc)
    if machine is not None:
        return int(machine.exit_code), machine.what
    return int(ExitCode.INTERNAL), f"internal error: {type(exc).__name__}: {exc}"


def stopped_by_error(exc: BaseException, then: str) -> tuple[int | None, str | None]:
    """A run's exit code and message when `exc` stopped it: (None, None) for Ctrl-C or a signal
    (the caller's own words), else the error's code and "stopped by an error (exit N): what;
    fix that, then `then`"."""
    cause = stop_cause(exc)
    if cause is None:
        return None, None
    code, what = cause
    return code, f"stopped by an error (exit {code}): {what}; fix that, then {then}"


def environment_problem(exc: BaseException, *, then: str | None = None) -> EnvironmentProblem | None:
    """The machine, not the launcher: a disk problem (`disk_problem`; `then` as there) or a limit
    reached (`limit_problem`), said as exit 3 with what to do; None for anything else."""
    return disk_problem(exc, then=then) or limit_problem(exc)
