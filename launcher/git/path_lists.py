"""Any number of paths to one git command, without a command line the system refuses (E2BIG).

Linux takes at most 2 MiB of arguments and environment together: a `node_modules` of 40,000
files at 50 bytes a path is already that. A git command that reads paths from its standard
input (`hash-object --stdin-paths`, `check-ignore --stdin -z`, `update-index -z --index-info`)
gets them from a file here, in one process; a command that cannot gets them `PATHS_PER_CALL`
at a time (`batches`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from launcher import process
from launcher.git.repo import GitRepo

PATHS_PER_CALL = 200  # paths on one git command line (a long path is 4 KiB: 800 KiB at most)

_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def batches(paths: Sequence[str], size: int = PATHS_PER_CALL) -> Iterator[list[str]]:
    """`paths` in slices of at most `size`, for commands that take paths only as arguments."""
    for start in range(0, len(paths), size):
        yield list(paths[start:start + size])


def _line(path: str) -> str:
    """`path` as one line git reads back as it (`unquote_c_style`: a line starting with `"`)."""
    if path.startswith('"') or any(ch in path for ch in "\n\r\\\t"):
        return '"' + "".join(_C_ESCAPES.get(ch, ch) for ch in path) + '"'
    return path


async def git_reading(repo: GitRepo, *args: str, lines: Sequence[str], nul: bool = False,
                      cwd: Path | None = None, check: bool = True,
                      env: dict[str, str] | None = None) -> process.Completed:
    """`git *args` reading `lines` from its standard input (a file written first), each ended by
    NUL when `nul` (for `-z` readers), else by a newline; `lines` must then hold no newline."""
    fd, name = tempfile.mkstemp(prefix="launcher-paths-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as out:
            end = b"\0" if nul else b"\n"
            out.write(b"".join(os.fsencode(line) + end for line in lines))
        return await repo.git(*args, cwd=cwd, check=check, env=env, stdin_from=Path(name))
    finally:
        Path(name).unlink(missing_ok=True)


async def hash_paths(repo: GitRepo, paths: Sequence[str], *options: str, cwd: Path | None = None,
                     env: dict[str, str] | None = None, check: bool = True) -> process.Completed:
    """`git hash-object [options] --stdin-paths` of `paths` (relative to `cwd`), one process:
    one object id a line, in the order of `paths`."""
    return await git_reading(repo, "hash-object", *options, "--stdin-paths", lines=[_line(p) for p in paths],
                             cwd=cwd, env=env, check=check)
