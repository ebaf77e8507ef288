"""What a demo stopped by Ctrl-C says: where its sample repo is, how to finish the demo's run
there or remove what it left (worktrees and branches under the cache, the repo itself). Running
the demo again would build a new sample repo and leave the stopped one as it was."""

from __future__ import annotations

import shlex
from pathlib import Path

from launcher.cli.calls import command_line
from launcher.invocation import launcher_program


def stopped_line(root: Path, *, temp: bool, run_id: str | None = None, started: bool = True, shows: str = "") -> str:
    """`root`: the sample repo; `temp`: made in a temp directory of its own (no --where), which is
    what to delete; `run_id`: the demo's run, when it was recorded (it can be resumed); `started`:
    whether the demo may have made worktrees yet; `shows`: the launcher command that shows where
    it stopped (`workflow status`)."""
    repo = shlex.quote(str(root))
    folder = shlex.quote(str(root.parent if temp else root))
    again = f"`{command_line()}` starts a new demo"
    if not started:
        return f"interrupted: stopped before the demo's run started; delete {folder} (its sample repo); {again}"
    me = launcher_program()
    remove = f"to remove it: `cd {repo} && {me} clean --all --force`, then delete {folder}"
    if run_id is not None:
        return (
            f"interrupted: the demo's run {run_id} is saved in its sample repo {root}: "
            f"`cd {repo} && {me} resume {run_id}` finishes it; {remove}"
        )
    where = f" (`cd {repo} && {me} {shows}` shows where)" if shows else ""
    return f"interrupted: the demo stopped in its sample repo {root}{where}; {remove}; {again}"
