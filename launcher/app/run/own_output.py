"""Files the launcher's own process (or its shell pipeline) writes into the main checkout: its
output redirected there is never an agent's intrusion (app/run/containment.py)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def open_for_writing(root: Path) -> list[str]:
    """Files in `root` that this process, or another of its process group, has open for writing:
    `launcher run > out.json 2> err.txt`, or `launcher run 2>&1 | tee run.log`, run in the
    checkout write there themselves (Linux: /proc; elsewhere none). Agents and checks run in
    sessions of their own, so this never excuses what they write."""
    found: list[str] = []
    for pid in ["self", *_group_peers()]:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError, ValueError, StopIteration):
                    flags = next(line.split()[1] for line in
                                 Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines()
                                 if line.startswith("flags:"))
                    if int(flags, 8) & 0o3 == 0:  # O_RDONLY
                        continue
                    target = Path(os.readlink(fd))
                    if target.is_absolute() and target.is_file():
                        found.append(str(target.relative_to(root)))
    return sorted(set(found))


def _group_peers() -> list[str]:
    """Other processes of this process's group (the shell pipeline it was started in)."""
    group, me, peers = os.getpgrp(), os.getpid(), []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != me:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
                    if int(fields[2]) == group:
                        peers.append(entry.name)
    return peers
