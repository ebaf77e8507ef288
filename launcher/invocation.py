"""How to run the launcher again in a shell, as this process was run: what the hints that name a
next command (`cd REPO && launcher status`) print, so they work when copied. `launcher` when
that is what PATH finds (this installation's); else the path this launcher was run by (a venv's
`.venv/bin/launcher` not activated), or `python -m launcher`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path


def _same_file(a: str | Path | None, b: str | Path) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


def launcher_program() -> str:
    """The launcher as a shell word (or words) that runs this installation from any folder."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    by_module = not argv0 or Path(argv0).name in ("__main__.py", "-m", "-c") or argv0.endswith(".py")
    mine = Path(sys.executable).parent / "launcher" if by_module else Path(argv0)
    if _same_file(shutil.which("launcher"), mine):
        return "launcher"
    if not by_module:
        return shlex.quote(os.path.abspath(argv0))  # absolute: the hints `cd` elsewhere first
    python = "python" if _same_file(shutil.which("python"), sys.executable) else shlex.quote(sys.executable)
    return f"{python} -m launcher"


# The launcher's commands (a test keeps this in step with the CLI): `launcher <one of these>` in
# what the tool prints is a command to copy, named as this process was run (`as_invoked`).
COMMANDS = frozenset({"agents", "choose", "clean", "demo", "diff", "gate", "grade", "init", "land", "lessons",
                      "logs", "mcp", "mutation", "path", "pool", "resume", "run", "runs", "status", "workflow"})
_NAMED = re.compile(r"(?<![\w./-])launcher(?= (?:" + "|".join(sorted(COMMANDS)) + r")\b)")
# `the launcher run`, `a launcher resume`: the launcher named in prose, not a command to copy
_PROSE = ("the ", "a ", "an ", "this ", "that ", "another ", "each ", "one ", "every ", "its ", "your ")


def as_invoked(text: str) -> str:
    """`text` with each command it names (`launcher status`, after a backtick, a quote, a line's
    start or a space) naming the launcher as `launcher_program` does; as it is when that is
    `launcher` itself."""
    program = launcher_program()
    if program == "launcher" or "launcher " not in text:
        return text

    # Already named as invoked (a hint built with `launcher_program()`: `python -m launcher status`):
    # never named twice.
    prefix = program[: -len("launcher")] if program.endswith("launcher") else None

    def named(found: re.Match[str]) -> str:
        before = text[max(0, found.start() - 9):found.start()].lower()
        if before.endswith(_PROSE) or before.endswith("-m ") or (prefix and text[:found.start()].endswith(prefix)):
            return found.group(0)
        return program

    return _NAMED.sub(named, text)
