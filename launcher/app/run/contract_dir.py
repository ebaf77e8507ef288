"""Where an agent attempt writes its completion contract (`$LAUNCHER_CONTRACT`).

A path in the run's state (`.launcher/runs/<run>/<task>/contract.agent.json`) could be guessed
by every process of the run: another task's agent, a process an earlier attempt left running.
Each attempt gets instead a directory of its own, made with a random name outside the
repository (mode 0700, engine/answer_dir.py), named only in that attempt's environment. Its path
is journaled before the agent starts: a launcher killed meanwhile leaves it, and the command
that takes the run over (`resume`, `clean`, ...) removes it. Once the contract is collected, the
agent's file is copied into the task's artifacts for the record (`contract.agent.json`, never
read back) and the directory removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from launcher.engine.answer_dir import CONTRACT_PREFIX, new_private_dir, remove_private_dir
from launcher.models.contract import MAX_CONTRACT_BYTES
from launcher.regular_files import read_capped, remove_any, replace_file
from launcher.store.journal import Journal

CONTRACT_NAME = "contract.agent.json"


@contextlib.contextmanager
def attempt_contract(journal: Journal, run_id: str, task_id: str, artifacts: Path) -> Iterator[Path]:
    """The contract path of one agent attempt, in a private directory journaled for the task
    while the attempt runs. On exit the agent's file is kept in `artifacts` for the record and
    the directory removed (also when the attempt was cancelled)."""
    forget_leftover(journal, run_id, task_id)  # an attempt a killed launcher never finished
    folder = new_private_dir(CONTRACT_PREFIX)
    try:
        journal.update_task(run_id, task_id, contract_dir=str(folder))
        yield folder / CONTRACT_NAME
        _keep_for_the_record(folder / CONTRACT_NAME, artifacts / CONTRACT_NAME,
                             lambda text: journal.masked(run_id, text))
    finally:
        remove_private_dir(folder, CONTRACT_PREFIX)
        journal.update_task(run_id, task_id, contract_dir=None)


def forget_leftover(journal: Journal, run_id: str, task_id: str) -> bool:
    """Remove the journaled private contract directory of the task's last attempt, if a launcher
    killed during that attempt left it; True if one was removed."""
    left = journal.task(run_id, task_id).contract_dir
    if left is None:
        return False
    removed = remove_private_dir(left, CONTRACT_PREFIX)
    journal.update_task(run_id, task_id, contract_dir=None)
    return removed


def remove_leftovers(journal: Journal, run_id: str) -> list[str]:
    """`forget_leftover` for every task of the run (its launcher is gone): what was removed."""
    return [
        f"removed the private contract directory of task {row.task_id}'s interrupted agent attempt"
        for row in journal.tasks(run_id)
        if row.contract_dir is not None and forget_leftover(journal, run_id, row.task_id)
    ]


def _keep_for_the_record(contract: Path, record: Path, masked: Callable[[str], str]) -> None:
    """A copy of what the agent wrote (a regular file only, bounded), else no record: what an
    earlier attempt's record said never stands for this one's. The values the run passed to its
    agent are masked in it (`masked`), as in the journal."""
    try:
        data: bytes | None = read_capped(contract, MAX_CONTRACT_BYTES)
    except OSError:
        data = None
    with contextlib.suppress(OSError):
        if data is None:
            remove_any(record)
        else:
            replace_file(record, masked(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape"))
