"""Atomic artifact files: a crash never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


class RunFiles:
    """`.launcher/runs/<run>/<task>/{prompt.md, agent.log, contract.json, facts.json, diff.patch}`."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.run_dir = state_dir / "runs" / run_id

    def task_dir(self, task_id: str) -> Path:
        path = self.run_dir / task_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log_path(self, task_id: str) -> Path:
        return self.task_dir(task_id) / "agent.log"
