"""The folder a command runs in, once it was removed under it: a linked worktree `git worktree
remove` took away while a shell (or an MCP client that started `launcher mcp`) was in it, a task's
worktree `launcher clean` or `launcher workflow cancel` removed. `Path.cwd()` then raises
FileNotFoundError wherever it is asked; that is the machine's state, not a launcher bug, and it
is said as such (exit 3, the folder named, how to go on), never as a traceback."""

from __future__ import annotations

import os
import shlex

from launcher.errors import EnvironmentProblem

_DELETED = " (deleted)"  # what Linux appends to /proc/self/cwd once the folder is gone


def removed() -> bool:
    """Whether the folder this process runs in no longer exists."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _name(hint: str | None) -> str | None:
    """The removed folder's path, as the kernel still knows it (Linux), else `hint` (the folder
    the command started in), else the shell's `PWD` when that is gone too."""
    try:
        link = os.readlink("/proc/self/cwd")
    except OSError:
        link = ""
    if link.endswith(_DELETED):
        return link.removesuffix(_DELETED)
    if hint:
        return hint
    pwd = os.environ.get("PWD", "")
    return pwd if os.path.isabs(pwd) and not os.path.isdir(pwd) else None


def removed_problem(*, server: bool = False, hint: str | None = None,
                    nothing_done: bool = True) -> EnvironmentProblem | None:
    """The error to say when this process's folder has been removed (None: it exists). `server`:
    said by `launcher mcp`, which must be restarted elsewhere; `hint`: the folder it started in;
    `nothing_done`: found before the command (the MCP call) did anything."""
    if not removed():
        return None
    name = _name(hint)
    folder = f"folder {name}" if name else "folder"
    how = ("e.g. by `git worktree remove` of a linked worktree, or `launcher clean` / `launcher workflow cancel` of "
           "a task's worktree")
    if server:
        what = (f"the MCP server's {folder} no longer exists: it was removed ({how}), so the server cannot reach its "
                "repository")
        fix = ("restart `launcher mcp` in the repository's main checkout (the working directory the MCP client "
               "starts it in: its configuration, or the folder the client was opened in)")
    else:
        what = f"the current {folder} no longer exists: it was removed ({how})"
        fix = "cd into the repository's main checkout (an existing folder) and run the command again"
        if name:
            fix += f": `cd {shlex.quote(os.path.dirname(name) or '/')}` leaves the removed folder"
    if nothing_done:
        fix += "; nothing was done"
    return EnvironmentProblem(what, fix=fix, error_key="cwd_removed")
