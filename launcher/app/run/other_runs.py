"""Other runs at work on the same repository: who else may have made a change this run found.

Several `launcher run` may go at once on one repository: in this checkout (they share its
journal, `.launcher/launcher.db`) or in other checkouts of it (linked worktrees, each with its
own `.launcher/`, found from the shared git dir's `worktrees/*/gitdir`, as `clean --all` does).
They share the main checkout, the git dir and the refs, so a change made while another run's code
ran may be that run's agent's: it is blamed on no task of this run (app/run/containment.py puts
it back and notes it, as when several of its own tasks ran). Read only when a change was found.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from launcher.app.context import STATE_DIR, RunContext
from launcher.engine.idle_trees import CTIME_SLACK_S
from launcher.git.registered import registered_worktree
from launcher.store.live_code import other_runs_code

_JOURNALS_TTL_S = 30.0  # the other checkouts' journals are looked for again after this long
_journals: dict[Path, tuple[float, list[Path]]] = {}  # common git dir -> (found at, journals)
_MARK = " run "  # in every label of another run's code ("task T of run R"), never in a task id


def is_other_run(suspect: str) -> bool:
    return suspect.startswith("run ") or _MARK in suspect


def _checkouts(common_dir: Path) -> list[Path]:
    """Every checkout of the repository: the main one and the linked worktrees."""
    found = [common_dir.parent] if common_dir.name == ".git" else []
    with contextlib.suppress(OSError):
        for admin in (common_dir / "worktrees").iterdir():
            if (registered := registered_worktree(admin)) is not None:
                found.append(registered)
    return found


def _journals_of(ctx: RunContext) -> list[Path]:
    """This checkout's journal and those of the repository's other checkouts that have one."""
    key = ctx.repo.common_dir.resolve()
    cached = _journals.get(key)
    if cached is None or time.monotonic() - cached[0] > _JOURNALS_TTL_S:
        own = ctx.repo.root.resolve()
        others = [root / STATE_DIR / "launcher.db" for root in _checkouts(key)
                  if root.resolve() != own and (root / STATE_DIR / "launcher.db").is_file()]
        cached = _journals[key] = (time.monotonic(), others)
    return [ctx.journal.path, *cached[1]]


def suspects(ctx: RunContext, times: list[float | None], window: tuple[float, float]) -> set[str]:
    """Other runs' code (`other_runs_code` labels) that ran when changes were made at `times`
    (ctimes, which may read up to CTIME_SLACK_S early; None: at some time in `window`)."""
    found: set[str] = set()
    for when in times or [None]:
        low, high = (when, when) if when is not None else window
        for journal in _journals_of(ctx):
            found |= other_runs_code(journal, ctx.run_id, low, high + CTIME_SLACK_S)
    return found
