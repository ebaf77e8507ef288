"""The interpreter a sweep runs the tests with, named as the user named it (issue 11, cause 5).

A sweep runs its tests in worker trees, not where it was started: a relative `--python`
(`.venv/bin/python`) must be made absolute against the directory the user ran the sweep in
first, and a name without a slash is looked up on PATH, as a shell would.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from launcher.errors import UsageProblem


def resolve_python(value: str | None, cwd: Path) -> str | None:
    """`value` as an absolute path (symlinks kept: a venv's python is one); None stays None."""
    if value is None:
        return None
    if os.sep not in value and not value.startswith("."):
        found = shutil.which(value)
        if found is None:
            raise UsageProblem(f"--python {value}: no such command on PATH", where="--python",
                               fix="pass the interpreter's path, e.g. --python .venv/bin/python")  # fmt: skip
        return os.path.abspath(found)
    path = Path(value).expanduser()
    path = path if path.is_absolute() else cwd.absolute() / path
    if not path.is_file():
        raise UsageProblem(f"--python {value}: no such file ({path}, from {cwd})", where="--python",
                           fix="pass an existing interpreter, relative to where you run the sweep")  # fmt: skip
    return str(path)
