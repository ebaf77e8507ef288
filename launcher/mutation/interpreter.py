"""The Python that runs a sweep's tests: the project's, not the launcher's.

A launcher installed with pipx (or in its own venv) has none of the project's test dependencies:
its interpreter would fail the first sweep with `No module named ...`. The default is the one the
user would type `python -m pytest` with: the active virtualenv's, else `python` on PATH (else
`python3`). Every error that comes from the interpreter names it and says how to pick another.

A relative `--python` (`.venv/bin/python`) is made absolute against the directory the sweep
was started in: its tests run in worker trees, not there.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from launcher.errors import UsageProblem

PICK_ANOTHER = "activate the project's virtualenv before sweeping, or pass --python PATH (e.g. .venv/bin/python)"
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")


def project_python(environ: Mapping[str, str] | None = None) -> str:
    """The active virtualenv's python, else `python` (or `python3`) on PATH, else this one."""
    env = os.environ if environ is None else environ
    venv = env.get("VIRTUAL_ENV")
    if venv:
        for name in ("python", "python3"):
            candidate = Path(venv) / "bin" / name
            if candidate.is_file():
                return str(candidate)
    for name in ("python", "python3"):
        found = shutil.which(name, path=env.get("PATH"))
        if found:
            return found
    return sys.executable


def describe(python: str, environ: Mapping[str, str] | None = None) -> str:
    """`/p/.venv/bin/python (the active virtualenv)`: which interpreter, and why that one."""
    env = os.environ if environ is None else environ
    venv = env.get("VIRTUAL_ENV")
    if venv and Path(python).parent == Path(venv) / "bin":
        return f"{python} (the active virtualenv)"
    if Path(python) == Path(sys.executable):
        return f"{python} (the launcher's own)"
    return python


def check_exists(python: str) -> str:
    """The interpreter as a path to run; a usage error naming it when there is none."""
    found = python if os.sep in python else shutil.which(python)
    if found is None or not Path(found).is_file() or not os.access(found, os.X_OK):
        raise UsageProblem(f"no Python interpreter at {python!r}", where="--python", fix=PICK_ANOTHER)
    return found


def missing_module(output: str) -> str | None:
    """The module a test run could not import (`No module named 'hypothesis'`), if any."""
    found = _MISSING_MODULE.search(output)
    return found.group(1) if found else None


def resolve_python(value: str | None, cwd: Path, where: str = "--python",
                   relative_to: str = "pass an existing interpreter, relative to where you run the sweep"
                   ) -> str | None:  # fmt: skip
    """`value` as an absolute path (symlinks kept: a venv's python is one); None stays None. A
    relative path is taken from `cwd`: the sweep's directory for `--python`, the repository's root
    for `[mutation] python` (as a config file's paths are read, whatever directory the sweep runs in)."""
    if value is None:
        return None
    if os.sep not in value and not value.startswith("."):
        found = shutil.which(value)
        if found is None:
            raise UsageProblem(f"no Python interpreter at {value!r}: no such command on PATH", where=where,
                               fix=PICK_ANOTHER)  # fmt: skip
        return os.path.abspath(found)
    path = Path(value).expanduser()
    path = path if path.is_absolute() else cwd.absolute() / path
    if not path.is_file():
        raise UsageProblem(f"no Python interpreter at {value!r} (looked for {path}, from {cwd})",
                           where=where,
                           fix=f"{relative_to}; or "
                               + PICK_ANOTHER)  # fmt: skip
    return str(path)
