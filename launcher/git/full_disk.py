"""git running out of room: a full disk, a quota or a read-only file system, told from git's
own words. That is the machine, as when the launcher's own write gets ENOSPC (`errors.OutOfSpace`:
exit 3, free space, `launcher resume`), never a task's failure nor a negative answer."""

from __future__ import annotations

import errno
import re
from pathlib import Path

from launcher import process
from launcher.errors import OutOfSpace, free_bytes, fullest, temp_dir

# git's words for a write that found no room, as git itself phrases them, never a string that
# merely occurs in its message: the strerror it appends after ": " at the end of a line
# (`die_errno`, `error_errno`, a lock file's "Unable to create '<path>.lock': <strerror>"), or
# its hashfile's own "write error. Out of diskspace" (index, packs, bundles).
_NO_ROOM = {"No space left on device": errno.ENOSPC, "Out of diskspace": errno.ENOSPC,
            "Disk quota exceeded": errno.EDQUOT, "Read-only file system": errno.EROFS}
_GIT_SAYS = re.compile(r"(?::\s|write error\.\s)(No space left on device|Out of diskspace|Disk quota exceeded|"
                       r"Read-only file system)\.?\s*$")  # fmt: skip
# A write git says failed without saying why ("couldn't write '.../main.lock'", "unable to write
# new index file"): for want of space when a file system it writes to is (nearly) full.
_WRITE_FAILED = re.compile(r"unable to write|couldn't write|could not write|failed to write|write error|short write")
# What git quotes in its messages is the user's or an agent's (a path, a pathspec, a revision,
# a directory name): kept apart, so that its words never count as git's, and put back only as
# the places a matching line names.
_QUOTED = re.compile(r"'([^']*)'")
_TOKEN = re.compile(r"'\x00(\d+)'")


def _git_lines(err: str) -> tuple[list[str], list[str]]:
    """git's message with every quoted string replaced by a token, line by line, and the quoted
    strings the tokens stand for."""
    quoted: list[str] = []

    def token(found: re.Match[str]) -> str:
        quoted.append(found.group(1))
        return f"'\x00{len(quoted) - 1}'"

    return _QUOTED.sub(token, err).splitlines(), quoted


def out_of_space(done: process.Completed, args: tuple[str, ...] | list[str], cwd: Path,
                 git_dirs: tuple[Path, ...] = ()) -> OutOfSpace | None:
    """The disk-full error for a git command that failed because it could not write for want of
    space (or quota, or on a read-only file system), in git's own words (never in a path or
    other string of the user's that git quotes); None for any other outcome. It names the file
    system that is full: of the paths git names on those lines, its working directory, its git
    directories (`git_dirs`) and the temporary directory, the one with the least room left (else
    the first path git names, else its working directory)."""
    if done.ok:
        return None
    err = done.err.strip()
    lines, quoted = _git_lines(err)
    said = [(line, found.group(1)) for line in lines if (found := _GIT_SAYS.search(line))]
    code = _NO_ROOM[said[0][1]] if said else None
    saying = [line for line, _words in said] or [line for line in lines if _WRITE_FAILED.search(line)]
    if not saying:
        return None
    named = [path if path.is_absolute() else cwd / path
             for path in (Path(quoted[int(i)]) for line in saying for i in _TOKEN.findall(line)) if str(path)]
    # git keeps its own temporary files in its git dir: $TMPDIR only when it says it is full
    full = fullest([*named, cwd, *git_dirs, *([temp_dir()] if code is not None else [])])
    if code is None:
        if full is None:  # a write failed, not for want of space as far as can be told
            return None
        code = errno.ENOSPC
    at = full[0] if full is not None else (named[0] if named else cwd)
    where = next((folder for folder in (at, *at.parents) if _is_dir(folder)), at)
    free = free_bytes(where)
    left = f" ({free // 1024} KiB free there)" if free is not None and code == errno.ENOSPC else ""
    lines_said = "; ".join(line.strip() for line in err.splitlines()[:3] if line.strip())
    command = next((arg for arg in args if not arg.startswith("-")), "")  # its subcommand: a message is long
    return OutOfSpace(code, f"`git {command}` could not write{left}: {lines_said}", str(where))


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a folder on the way that cannot be searched
        return False
