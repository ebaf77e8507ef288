"""How to run the launcher again in a shell, as this process was run: what the hints that name a
next command (`cd REPO && launcher status`) print, so they work when copied. `launcher` when
that is what PATH finds (this installation's); else the path this launcher was run by (a venv's
`.venv/bin/launcher` not activated), or `python -m launcher`."""

from __future__ import annotations

import os
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
