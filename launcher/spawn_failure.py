"""Why a child could not be started, in the project's words (`errors.SpawnFailed`).

Starting a child fails before it runs when exec refuses it: the command line is too long
(E2BIG: Linux takes at most MAX_ARG_STRLEN bytes in one argument, and ARG_MAX for all of them
with the environment), the program or its working directory does not exist (ENOENT), it is not
executable (EACCES) or not a program (ENOEXEC: a script without a `#!` line); or before exec, when
an argument, the environment or the working directory holds a NUL character or a character the
locale's encoding cannot encode (exec takes bytes: `os.fsencode`). Each becomes one
error naming the program and what to do, so a caller fails that one task instead of the run.

A child that cannot be started because the machine ran out of something (open files: EMFILE,
ENFILE; processes: EAGAIN; memory: ENOMEM) is neither: not the command's fault, so no task fails
for it and nothing says "install it". That is a `LimitReached`, which stops the command (exit 3,
naming the limit) and leaves a run it drove to `launcher resume`.
"""

from __future__ import annotations

import errno as errnos
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from launcher.errors import LimitReached, SpawnFailed, SpawnNotFound, SpawnNotPermitted

# The machine's limits, not the command's fault (`LimitReached`).
_LIMIT_ERRNOS = (errnos.EMFILE, errnos.ENFILE, errnos.EAGAIN, errnos.ENOMEM)
MAX_ARG_STRLEN = 128 * 1024  # Linux: one argument, its final NUL included (32 pages of 4 KiB)


def _sizes(argv: Sequence[str], env: Mapping[str, str] | None) -> tuple[int, int]:
    """(bytes of argv and environment as exec sees them, bytes of the longest argument)."""
    args = [len(os.fsencode(a)) + 1 for a in argv]
    environ = os.environ if env is None else env
    total = sum(args) + sum(len(os.fsencode(k)) + len(os.fsencode(v)) + 2 for k, v in environ.items())
    return total, max(args, default=0)


def _unencodable(exc: UnicodeEncodeError, argv: Sequence[str], cwd: Path | str | None,
                 env: Mapping[str, str] | None) -> tuple[str, str]:  # fmt: skip
    """(detail, fix) for a text exec cannot be given: a character the locale's encoding lacks."""
    encoding = sys.getfilesystemencoding()
    bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
    shown = ", ".join(f"{char!r} (U+{ord(char):04X})" for char in dict.fromkeys(bad)) or "a character"
    where = "an argument"
    for name, values in (("its working directory", [str(cwd)] if cwd is not None else []),
                         ("an environment value", [f"{k}={v}" for k, v in (env or {}).items()]),
                         ("an argument", [str(a) for a in argv])):  # fmt: skip
        if any(bad and bad in value for value in values):
            where = name
            break
    detail = (
        f"{where} holds {shown}, which the locale's encoding ({encoding}) cannot encode, and exec "
        "takes bytes in that encoding"
    )
    fix = (
        "run the launcher under a locale that can encode it: a UTF-8 one (`LC_ALL=C.UTF-8`, or "
        "`PYTHONUTF8=1`), which encodes every character; or take the character out of what the command "
        "is given (a task's prompt, a setting, a file or directory name)"
    )
    return detail, fix


def spawn_failed(exc: OSError | ValueError, argv: Sequence[str], *, cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None) -> SpawnFailed | LimitReached:  # fmt: skip
    """The error for a child that exec (or Popen's own checks) refused; a LimitReached when the
    machine had no file descriptor, process or memory left to start it."""
    program = str(argv[0]) if argv else "?"
    code = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, OSError) and exc.errno in _LIMIT_ERRNOS:
        return LimitReached(exc.errno, f"cannot start {program!r}: {exc.strerror or exc}")
    strerror = exc.strerror if isinstance(exc, OSError) else str(exc)
    filename = exc.filename if isinstance(exc, OSError) else None
    fix = "install it, or correct the command (an absolute path, or a program on PATH)"
    if isinstance(exc, UnicodeEncodeError):
        detail, fix = _unencodable(exc, argv, cwd, env)
    elif isinstance(exc, ValueError) and "null" in str(exc).lower():
        detail = f"{exc} (an argument or environment value holds a NUL character, which exec cannot pass)"
        fix = "remove the NUL character (\\u0000) from what the command is given (a task's prompt, a setting)"
    elif isinstance(exc, ValueError):
        detail = str(exc)
        fix = "this is a launcher bug if the command is the launcher's own; please report it"
    elif code == errnos.E2BIG:
        total, longest = _sizes(argv, env)
        detail = (f"its command line is too long for the system (E2BIG): {len(argv)} arguments and the "
                  f"environment take {total:,} bytes, the longest argument {longest:,} (Linux takes at most "
                  f"{MAX_ARG_STRLEN:,} bytes in one argument)")  # fmt: skip
        fix = ("shorten what goes on its command line: a task's prompt can name a file committed to the "
               "repository that holds the long text")  # fmt: skip
    elif code == errnos.ENOENT and cwd is not None and (filename == str(cwd) or not Path(cwd).is_dir()):
        detail = f"its working directory {cwd} does not exist"
        fix = "make sure nothing removes it while the launcher uses it (a task's worktree, a scratch tree)"
    elif code == errnos.ENOENT:
        detail = f"{strerror} (the program, or the interpreter its #! line names, is not there)"
    elif code == errnos.EACCES:
        detail = f"{strerror} (is it executable? chmod +x it)"
        fix = "make it executable (chmod +x), or run it through its interpreter (python3 FILE)"
    elif code == errnos.ENOEXEC:
        detail = f"{strerror} (not a program: a script needs a #! line)"
        fix = "add a #! line naming its interpreter, or run it through the interpreter (sh FILE, python3 FILE)"
    else:
        detail = strerror or str(exc)
    # Still the OSError subclass exec raised, so `except FileNotFoundError` goes on working.
    kind = {errnos.ENOENT: SpawnNotFound, errnos.EACCES: SpawnNotPermitted, errnos.EPERM: SpawnNotPermitted}
    error_class = kind.get(code, SpawnFailed) if code is not None else SpawnFailed
    return error_class(f"cannot start {program!r}: {detail}", errno=code, strerror=strerror, filename=filename,
                       fix=fix)  # fmt: skip
