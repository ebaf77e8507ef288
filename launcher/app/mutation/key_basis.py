"""What a sweep's verdicts were keyed on, one record per attempt (start, resume): so a resumed
sweep can say truly why an earlier verdict is not reused.

A verdict is reused only while its result key is the current one (`mutation/result_key.py`).
A key differs when the code, tests or configuration changed, but also when another launcher
version keys verdicts differently (its `SCHEMA`, or what a key covers): after an upgrade every
earlier verdict is settled again although nothing in the repository changed. Each attempt
records its basis in the sweep's `planned.json` (kept while the sweep is unfinished): when it
began, the key schema, the launcher's version and the digest of the state it keyed (every
file and the test command). A stale verdict is matched to the attempt that stored it by time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from launcher.app.mutation.history import PLANNED_FILE, planned_data
from launcher.store.files import atomic_write_json

_KEY = "key_bases"


@dataclass(frozen=True)
class KeyBasis:
    since: float  # when the attempt began (time.time()): the verdicts it stored are later
    result_key: str  # result_key.SCHEMA
    launcher: str  # launcher.__version__
    state: str  # result_key.state_digest of the state it keyed

    def same_launcher(self, other: KeyBasis) -> bool:
        return (self.result_key, self.launcher) == (other.result_key, other.launcher)


def _entries(data: dict[str, Any]) -> list[Any]:
    found = data.get(_KEY)
    return found if isinstance(found, list) else []


def read_bases(out_dir: Path) -> list[KeyBasis]:
    """The attempts' bases, oldest first ([] for a sweep begun by a launcher that records none)."""
    found = []
    for entry in _entries(planned_data(out_dir)):
        try:
            found.append(KeyBasis(float(entry["since"]), str(entry["result_key"]), str(entry["launcher"]),
                                  str(entry["state"])))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            continue  # an entry this version cannot read: its verdicts count as an unknown launcher's
    return sorted(found, key=lambda b: b.since)


def record_basis(out_dir: Path, basis: KeyBasis) -> None:
    """Add this attempt's basis (before it stores a keyed verdict)."""
    data = planned_data(out_dir)
    earlier = [e for e in _entries(data) if isinstance(e, dict)]
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / PLANNED_FILE, {**data, _KEY: [*earlier, asdict(basis)]})


def _basis_of(at: float, bases: list[KeyBasis]) -> KeyBasis | None:
    """The attempt that stored a verdict at `at` (None: before any attempt recorded one)."""
    return next((b for b in reversed(bases) if b.since <= at), None)


def stale_notes(sweep_id: str, stale_at: Iterable[float], bases: list[KeyBasis], now: KeyBasis) -> list[str]:
    """Why the earlier verdicts stored at `stale_at`, whose keys are not the current ones, are
    settled again: said for each cause that applies, never a cause that does not."""
    why: Counter[str] = Counter()
    for at in stale_at:
        basis = _basis_of(at, bases)
        if basis is None:
            why["unrecorded"] += 1
        elif not basis.same_launcher(now):
            why["launcher" if basis.state == now.state else "both"] += 1
        elif basis.state != now.state:
            why["state"] += 1
        else:
            why["selection"] += 1
    lead = f"resumed sweep {sweep_id}: "
    said = {
        "unrecorded": "{n} verdict(s) from before the interruption were recorded by an earlier launcher version "
                      "(one that kept no record of what it keyed them on) and their result keys are not this "
                      "version's",
        "launcher": "{n} verdict(s) from before the interruption were recorded by another launcher version, which "
                    "keys verdicts differently",
        "both": "{n} verdict(s) from before the interruption were recorded by another launcher version, for code, "
                "tests or configuration that changed since",
        "state": "{n} verdict(s) from before the interruption were for code, tests or configuration that changed "
                 "since",
        "selection": "{n} verdict(s) from before the interruption were for another selection of tests or "
                     "another executor (the coverage of the unchanged code selects or routes them otherwise now)",
    }  # fmt: skip
    return [lead + said[k].format(n=n) + ": settled again, not reused" for k, n in why.items()]
