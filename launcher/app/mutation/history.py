"""`launcher mutation list`: the repository's sweeps, newest first, with how to continue one."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher.app.context import STATE_DIR
from launcher.app.mutation.progress import resume_command
from launcher.git.repo import GitRepo
from launcher.mutation.model import MutantStatus, mutation_score
from launcher.store import mutants as store_mod
from launcher.store.files import atomic_write_json
from launcher.store.mutants import MutantStore


@dataclass
class SweepListing:
    sweep_id: str
    status: str  # done | running | interrupted | failed
    created: str  # UTC, minutes
    base_sha: str
    settled: int
    score: float | None
    counts: dict[str, int]
    out_dir: str | None
    next_step: str  # what to do with it (continue, read the report)
    total: int | None = None  # the sweep's mutants (None: not known yet)

    @property
    def progress(self) -> str:
        """Settled mutants, out of all of them while the sweep is unfinished ("14/120")."""
        if self.status == store_mod.DONE or self.total is None:
            return str(self.settled)
        return f"{self.settled}/{self.total}"

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _status(row: store_mod.SweepRow) -> str:
    # A sweep killed without a chance to say so is still marked running: its process is gone.
    if row.status == store_mod.RUNNING and not (row.pid == os.getpid() or row.running_elsewhere()):
        return store_mod.INTERRUPTED
    return row.status


PLANNED_FILE = "planned.json"


def planned(out_dir: Path, total: int) -> None:
    """Record how many mutants a sweep has, once generated (an interrupted sweep's listing); what
    else the file keeps (the key bases of its attempts, `key_basis`) stays."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / PLANNED_FILE, {**planned_data(out_dir), "total": total})


def planned_data(out_dir: Path) -> dict[str, Any]:
    """An unfinished sweep's planned.json ({} when there is none, or it cannot be read)."""
    try:
        data = json.loads((out_dir / PLANNED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _total(out_dir: str | None) -> int | None:
    if not out_dir:
        return None
    try:
        return int(json.loads((Path(out_dir) / PLANNED_FILE).read_text(encoding="utf-8"))["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


FIX_FILE = "fix.json"  # app.mutation.fix writes it: the sweep after `launcher mutation fix`


def _after_fix(out_dir: str | None, counts: dict[str, int], score: float | None) -> tuple[dict[str, int], float | None]:
    """The sweep as `launcher mutation fix` left it (mutants killed by new tests), not as the
    store recorded the sweep: the reports say the current score, so does the list."""
    if not out_dir or not (Path(out_dir) / FIX_FILE).is_file():
        return counts, score
    try:
        history = json.loads((Path(out_dir) / FIX_FILE).read_text(encoding="utf-8"))
        last = history[-1]
        if isinstance(last.get("counts_after"), dict):
            return {str(k): int(v) for k, v in last["counts_after"].items() if v}, last.get("score_after")
        data = json.loads((Path(out_dir) / "mutants.json").read_text(encoding="utf-8"))  # an older fix.json
        return {str(k): int(v) for k, v in data["counts"].items() if v}, data.get("score")
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return counts, score


async def list_sweeps(cwd: Path, limit: int = 20) -> list[SweepListing]:
    repo = await GitRepo.discover(cwd)
    db = repo.root / STATE_DIR / "launcher.db"
    if not db.is_file():
        return []
    store = MutantStore(db)
    try:
        found = []
        for row in store.sweeps(limit):
            counts = store.status_counts(row.id)
            status = _status(row)
            score = mutation_score(MutantStatus(s) for s, n in counts.items() for _ in range(n))
            if status == store_mod.DONE:  # its dir in this repository (the store may name a moved copy's)
                here = repo.root / STATE_DIR / "mutation-runs" / row.id
                counts, score = _after_fix(str(here) if here.is_dir() else row.out_dir, counts, score)
            if status == store_mod.DONE:
                step = f"launcher mutation report {row.id}"
            elif status == store_mod.RUNNING:
                step = "running"
            elif status == store_mod.FAILED:
                step = "fix the error it stopped on, then sweep again"
            else:
                step = resume_command(row.id)
            created = datetime.fromtimestamp(row.created_at, UTC).strftime("%Y-%m-%d %H:%M")
            found.append(SweepListing(row.id, status, created, row.base_sha[:12], sum(counts.values()), score,
                                      counts, row.out_dir, step, _total(row.out_dir)))  # fmt: skip
        return found
    finally:
        store.close()
