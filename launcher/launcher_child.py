"""The argv of a child process that runs one of launcher's own modules with this Python.

A child started in a repository or a task's worktree must import the launcher that started it,
never a top-level `launcher/` package of the project there (an ImportError, or the project's code
run as launcher's). Plain `python -m` puts the working directory first on sys.path; `-P` (Python
3.11+) leaves it out. Unlike `-I`, `-P` keeps PYTHONPATH and the user's site-packages, so a
launcher found through them is found by its children too; and it is a flag, not PYTHONSAFEPATH in
the environment, so the Python children of an agent or a check (the project's tests) keep Python's
usual sys.path.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import launcher

# The directory this launcher package is imported from (site-packages, or a source checkout).
HOME = str(Path(launcher.__file__).resolve().parent.parent)

# A check's PYTHONPATH starts with the tree's import roots (engine.command_env), where `-P` does
# not help: the module is run with launcher's own directory first on sys.path, unless the project
# under check is that checkout itself (launcher working on itself), whose tree is then the right
# launcher and the import audit would fail the check for importing the main checkout's code.
_PINNED = (
    'import os, runpy, sys; home, main = {home}, os.environ.get("LAUNCHER_MAIN_ROOT"); '
    'own = main and (home + os.sep).startswith(os.path.join(os.path.realpath(main), "")); '
    "sys.path[:0] = [] if own else [home]; del sys.argv[0]; "
    'runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)'
)


def _own(module: str) -> str:
    if module != "launcher" and not module.startswith("launcher."):
        raise ValueError(f"{module!r} is not one of launcher's modules")
    return module


def launcher_module_argv(module: str, *args: str) -> list[str]:
    """`python -P -m MODULE ARGS...` with this interpreter: for a child whose environment is the
    launcher's own or an agent's (its working directory never shadows launcher)."""
    return [sys.executable, "-P", "-m", _own(module), *args]


def launcher_check_argv(module: str, *args: str) -> list[str]:
    """A launcher module run as a check's command (the tree's import roots first on PYTHONPATH):
    this launcher's own package, whatever the tree holds."""
    return [sys.executable, "-P", "-c", _PINNED.format(home=json.dumps(HOME)), _own(module), *args]


SHOWN_CHARS = 80  # a command in a one-line message: the reason after it must stay in view


def shown_command(command: str) -> str:
    """A check's command as a message shows it: a launcher module run by `launcher_check_argv`
    as `launcher.gates.mutant_kill CLAIMS.json` (its paths by their names), not the bootstrap
    argv; any command cut to SHOWN_CHARS characters."""
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = []
    if len(argv) >= 5 and argv[1:3] == ["-P", "-c"] and argv[3].startswith("import os, runpy, sys; home, main"):
        command = " ".join([argv[4], *(os.path.basename(a) if os.sep in a else a for a in argv[5:])])
    return command if len(command) <= SHOWN_CHARS else command[:SHOWN_CHARS - 1] + "…"
