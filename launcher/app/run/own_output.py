"""Files the launcher's own process (or its shell pipeline) writes into the main checkout: its
output redirected there is never an agent's intrusion (app/run/containment.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from launcher.store.own_files import files_open_for_writing, group_peers


def open_for_writing(root: Path) -> list[str]:
    """Files in `root` that this process, or another of its process group, has open for writing:
    `launcher run > out.json 2> err.txt`, or `launcher run 2>&1 | tee run.log`, run in the
    checkout write there themselves (Linux: /proc; elsewhere none). Agents and checks run in
    sessions of their own, so this never excuses what they write."""
    found: list[str] = []
    for target in files_open_for_writing(["self", *group_peers()]):
        with contextlib.suppress(ValueError):
            found.append(str(target.relative_to(root)))
    return sorted(set(found))
