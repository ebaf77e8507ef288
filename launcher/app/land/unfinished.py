"""What `status` says of a landing its launcher left half-done (killed between the journaled
intent and the end): where it stopped, and which command finishes it (`recovery.recover_landing`
does, run by `launcher resume RUN` or `launcher land RUN`, or another run's
`finish_earlier_landings`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from launcher.git import target_tree
from launcher.models.states import TaskState


def _where_it_stopped(record: dict[str, Any], target: str) -> str:
    new, old = record["new_tip"][:12], record["expected_old"][:12]
    tree = record["main_tree"]
    stale = ("; until then the main work tree is behind it and `git status` shows staged changes "
             "that undo the landed work: do not commit them") if tree else ""
    return {
        target_tree.MOVING_REF: f"it was moving {target} from {old} to {new}" + (
            f"; if {target} moved, the main work tree did not follow" + stale if tree else ""),
        target_tree.UPDATING_TREE: f"{target} moved to {new} but the main work tree was not updated" + stale,
        target_tree.TREE_UPDATED: f"{target} moved to {new} and the main work tree followed, but its "
                                  "tasks are not recorded as landed yet",
        target_tree.ROLLING_BACK: f"it was putting {target} back from {new} to {old}" + stale,
        target_tree.PARKING: f"it was parking the result ({new}) on an integration branch",
    }.get(record["progress"], f"it was about to land {new} on {target} (nothing had moved yet)")


def unfinished_landing(record: dict[str, Any] | None, run_id: str, target: str) -> str | None:
    """The sentence for a journaled landing not marked finished (None when there is none)."""
    if record is None or record["done"]:
        return None
    return (f"its landing into {target} was left unfinished ({_where_it_stopped(record, target)}); "
            f"`launcher resume {run_id}` (or `launcher land {run_id}`) finishes it, or says what to "
            "do if it cannot")


def on_target_unrecorded(record: dict[str, Any], task_id: str, run_id: str, target: str) -> str:
    """What `status` says of a task whose merge commit the target already holds (its landing's
    ref moved) while that landing is not finished: on the target, not recorded as landed, and,
    unless the main work tree followed, not in it either (so not `merged`)."""
    commit = str(record["tasks"].get(task_id, record["new_tip"]))[:12]
    if not record["main_tree"]:
        tree = ""
    elif record["progress"] == target_tree.TREE_UPDATED:
        tree = "; the main work tree followed"
    else:
        tree = ("; the main work tree was not brought to it (`git status` shows staged changes that "
                "undo it: do not commit them)")
    return (f"on {target} (merge {commit}) but not recorded as landed: its landing was left "
            f"unfinished{tree}; `launcher resume {run_id}` (or `launcher land {run_id}`) finishes it")


def land_continues(states: Iterable[tuple[str, TaskState]], run_id: str) -> str:
    """The command that continues a `land` (of a run, or `--from` exports) that was stopped:
    `launcher land RUN` lands approved work only, so when a task's agent round was cut short (a
    conflict or a culprit of the integration check sent back, left `running`) only `launcher
    resume RUN` (which drives it, then lands: a land records the run as landing) finishes it."""
    cut = [task_id for task_id, state in states if not state.is_final and state is not TaskState.APPROVED]
    return f"launcher resume {run_id}" if cut else f"launcher land {run_id}"
