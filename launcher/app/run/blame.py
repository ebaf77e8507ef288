"""Who made a change found after the fact: the tasks whose code ran when it was made (by its
ctime, against each task's spans of running code), and the one to blame when time can tell."""

from __future__ import annotations

from launcher.app.context import RunContext
from launcher.app.run import other_runs


def suspects(ctx: RunContext, times: list[float | None], window: tuple[float, float],
              among: set[str] | None = None) -> set[str]:
    """Tasks whose code ran when changes were made at `times` (ctimes; None: not known, some
    time in `window`); `among`: the only tasks of this run that can have made them. Other runs'
    code that ran then on the same repository is among them too (app/run/other_runs.py)."""
    suspects: set[str] = set()
    for when in times or [None]:
        suspects |= ctx.idle_trees.suspects(when, window)
    if among is not None:
        suspects &= among
    return suspects | other_runs.suspects(ctx, times, window)


def writer(task_id: str | None, suspects: set[str]) -> str:
    """Who made a change these tasks' code may have made: `task_id` if no other task's code ran
    then, else the one other task that ran, else "" (several ran, or another run's code did:
    time cannot tell them apart, and blaming the one that happened to be checked first would be
    a false report)."""
    if any(other_runs.is_other_run(suspect) for suspect in suspects):
        return ""
    if task_id is not None and suspects <= {task_id}:
        return task_id
    return next(iter(suspects)) if len(suspects) == 1 else ""
