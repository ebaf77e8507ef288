"""Atomic artifact files: a crash never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from launcher.private_files import make_private_dirs
from launcher.store import own_files

STATE_DIR_NAME = ".launcher"  # the launcher's own state directory at a checkout's root


def clear_leftovers(path: Path) -> None:
    """Make room for the launcher's own file at `path` when it lies in a `.launcher/` state
    directory: an agent can write there (its contract is in its task's artifacts), and a
    directory it made at `facts.json` or a file at `rounds/` crashed the whole run. Whatever is
    there that is not a regular file is removed (a link itself, never what it points to), and
    so is a non-directory in the way of a parent. Paths outside a state directory (a user's
    own `--output` file, say) are never touched."""
    parts = path.parts
    if STATE_DIR_NAME not in parts[:-1]:
        return
    depth = parts.index(STATE_DIR_NAME) + 1
    for end in range(depth + 1, len(parts)):  # each directory between the state dir and the file
        folder = Path(*parts[:end])
        try:
            if stat.S_ISDIR(os.lstat(folder).st_mode):
                continue
        except FileNotFoundError:
            return  # created by the caller's mkdir
        os.unlink(folder)  # a file, FIFO or link (a link is never followed into)
        return
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` at `path` whole; a file written into a checkout (outside its state dir) is
    recorded first as a launcher's write (store/own_files.py), never taken for an agent's.
    `mode`: the file's permissions (None: the temporary file's 0600)."""
    clear_leftovers(path)
    own_files.record_write(path, data)
    if mode is None:  # a private file (0600): the folders made for it are private too
        make_private_dirs(path.parent, narrow_existing=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a write's ENOSPC names no file: this one
            exc.filename = str(path)
        raise


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    """`text` as UTF-8; a file name's bytes that `os.fsdecode` kept as surrogates (not valid in
    the locale's encoding) are written as those bytes, never an error."""
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"), mode)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def strict_json(data: Any) -> str:
    """JSON text for a file people and other tools read (a calibration set): `NaN`/`Infinity`
    are not JSON, so a float that is not finite raises `ValueError` rather than being written."""
    return json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"


class RunFiles:
    """`.launcher/runs/<run>/<task>/{prompt.md, agent.log, contract.json, facts.json, diff.patch}`."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.run_dir = state_dir / "runs" / run_id

    def task_dir(self, task_id: str) -> Path:
        path = self.run_dir / task_id
        make_private_dirs(path)  # agent output and task data: private (private_files.py)
        return path

    def log_path(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "agent.log"


def unused_path(parent: Path, name: str) -> Path:
    """`parent / name`, or `name-2`, `name-3`, ... : the first that does not exist. For a folder
    named by the second (a set-aside copy): two saves in one second, on the same time of another
    day or after the clock stepped back never share one, the later overwriting the earlier. The
    caller creates it before another save could look (under the lock that serialises them)."""
    for n in itertools.count(1):
        candidate = parent / (name if n == 1 else f"{name}-{n}")
        if not os.path.lexists(candidate):
            return candidate
    raise AssertionError("unreachable")


def utc_stamp() -> str:
    """The time now as UTC `YYYYMMDD-HHMMSS`, for a name (with `unused_path`, never shared)."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())
