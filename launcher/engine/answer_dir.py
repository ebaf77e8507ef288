"""Where one reviewer process (a grader attempt, a judge call) or agent attempt writes its answer.

The launcher reads back a file a reviewer wrote (`$LAUNCHER_CONTRACT`) and takes it for that
reviewer's answer. A path in the run's state (`.launcher/runs/<run>/<task>/grading/`) would be
known to every process of the run: another task's agent, the task's own code run by a rubric
`check:`, a process an earlier attempt left running. Each attempt gets instead a directory of its
own, made for it with a random name outside the repository (mode 0700, in the launcher's
temporary directory), named only in that attempt's environment, and removed once its answer is
read: nothing another process was told about is ever read as an answer.

It does not stand against code running as the same user that looks for the attempt's path
(`/proc/<pid>/environ`): the launcher also kills what escaped the attempt before reading
(`engine.reaper`), and a reviewer's own children share its answer, as they share its turn.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from launcher.regular_files import remove_any

PREFIX = "launcher-answer-"


@contextlib.contextmanager
def private_answer_path(name: str) -> Iterator[Path]:
    """A path `name` in a fresh private directory, removed (with whatever is in it) on exit."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))  # mode 0700, a name no other process knows
    try:
        yield folder / name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# An agent's completion contract: the same kind of directory, journaled while its attempt runs
# (a launcher killed meanwhile leaves it; the command that takes the run over removes it).
CONTRACT_PREFIX = "launcher-contract-"


def new_private_dir(prefix: str) -> Path:
    """A fresh directory of the launcher's own, mode 0700, at a random name outside the repository."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_private_dir(path: str | Path | None, prefix: str) -> bool:
    """Remove a directory `new_private_dir(prefix)` made, with what is in it; True if one went.
    A path recorded elsewhere (the journal) is removed only when it still is such a directory:
    a real directory (never a symbolic link) named with `prefix`."""
    if not path:
        return False
    folder = Path(path)
    if not folder.name.startswith(prefix) or folder.is_symlink() or not folder.is_dir():
        return False
    remove_any(folder)
    return not os.path.lexists(folder)
