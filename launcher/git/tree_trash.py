"""Removing many worktrees fast: moved aside under the lock, their files deleted outside it.

Deleting a worktree's files is the cost of removing it (thousands of files each; on a disk with
`discard`, each deletion waits on the device), not git's bookkeeping. So `remove_worktrees`
renames each tree into `<its folder>/_removing/` (one rename, on the same file system), drops
its registration (`git worktree remove` of a path that is gone: git's own bookkeeping only),
and deletes the moved files after releasing the repository lock, many trees at once, before it
returns: nothing is reported removed before its files are gone. A launcher killed meanwhile
leaves `_removing/` under the run's directory (a leading `_`, which no task id has), which
`launcher clean` removes with the run's other leftovers. `remove_dir` deletes one tree of the
launcher's and says what it could not delete.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

from launcher import process
from launcher.concurrency import each

TRASH = "_removing"
DELETE_PARALLEL = 16  # trees whose files are deleted at once (I/O latency, not CPU, is the cost)


def move_aside(tree: Path) -> Path | None:
    """Rename `tree` into `<its folder>/_removing/` under a free name; None when it cannot be
    moved (another file system, a busy mount point, no permission): then git removes it."""
    trash_dir = tree.parent / TRASH
    try:
        trash_dir.mkdir(exist_ok=True)
        for n in range(1000):
            target = trash_dir / (tree.name if n == 0 else f"{tree.name}-{n}")
            if not os.path.lexists(target):
                os.rename(tree, target)
                return target
    except OSError:
        pass
    with contextlib.suppress(OSError):
        trash_dir.rmdir()  # made for nothing
    return None


async def delete_all(moved: list[Path], remove_dir: Callable[[Path], str | None]) -> list[str]:
    """Delete the moved trees (`rm -rf`, DELETE_PARALLEL at once), then what is left of one by
    `remove_dir`, whose line says what could not be deleted and how to remove it (an immutable
    file an agent made). Returns those lines; empty `_removing/` folders are removed."""
    left: list[str] = []

    async def delete(trash: Path) -> None:
        with contextlib.suppress(OSError):  # no `rm` to start: remove_dir below deletes it all
            await process.run(["rm", "-rf", "--", str(trash)], timeout=None,
                              env={"PATH": os.environ.get("PATH") or "/usr/bin:/bin", "LC_ALL": "C"})
        if os.path.lexists(trash) and (problem := remove_dir(trash)) is not None:
            left.append(problem)

    await each(moved, delete, DELETE_PARALLEL)
    for trash_dir in {trash.parent for trash in moved}:
        with contextlib.suppress(OSError):
            trash_dir.rmdir()
    return left


def remove_dir(path: Path) -> str | None:
    """Delete a directory tree of the launcher's (a worktree's files, a run's directory). None
    once it is gone; else the line saying what is left, where, and how to remove it: a file an
    agent made immutable (`chattr +i`) or a directory it made read-only cannot be deleted, and
    that is never reported as removed."""
    failed: list[tuple[str, str]] = []

    def note(_func: object, where: str, exc_info: tuple[type[BaseException], BaseException, object]) -> None:
        exc = exc_info[1]
        failed.append((where, exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)))

    shutil.rmtree(path, onerror=note)
    if not os.path.lexists(path):
        return None
    return left_line(path, failed)


def left_line(path: Path, failed: list[tuple[str, str]]) -> str:
    """`kept PATH: could not remove it (...)`, with the commands that remove it."""
    where, why = failed[0] if failed else (str(path), "still there")
    more = f", and {len(failed) - 1} more" if len(failed) > 1 else ""
    quoted = shlex.quote(str(path))
    return (f"kept {path}: could not remove it ({where}: {why}{more}); remove what blocks it (an immutable "
            f"file: `chattr -R -i {quoted}`; a read-only directory: `chmod -R u+w {quoted}`), then "
            f"`rm -rf {quoted}` (or `launcher clean` again)")
