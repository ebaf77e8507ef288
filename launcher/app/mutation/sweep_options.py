"""Which sweep `launcher mutation sweep` runs: its options (`SweepOptions`: those that shape its
results make its key), the sweep row it writes into (the one `--resume ID` names, continued with
its own options; else an unfinished one of the same base and key; else a new one), and what it
gives back (`SweepOutcome`, with the exit code). The sweep itself: app/mutation/sweep.py."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from launcher.app.mutation.sweep_resume import refuse_other_options
from launcher.errors import UsageProblem
from launcher.git.repo import GitRepo
from launcher.mutation.results import MutantRecord
from launcher.mutation.unclassified import EXIT_UNCLASSIFIED, UNCLASSIFIED
from launcher.store import mutants as store_mod
from launcher.store.mutants import MutantStore

_SHAPING = ("paths", "test_cmd", "pytest_args", "since", "shard", "max_mutants", "operators", "timeout_factor",
            "timeout_min_s")


@dataclass
class SweepOptions:
    paths: list[str] = field(default_factory=list)  # [] = the repo's packages
    test_cmd: str | None = None  # None = pytest (with per-test selection)
    workers: int = 0  # 0 = one per CPU
    since: str | None = None
    shard: str | None = None  # "I/N"
    max_mutants: int | None = None
    operators: list[str] | None = None
    timeout_factor: float = 3.0
    fail_under: float | None = None
    resume: str | None = None  # a sweep id
    timeout_min_s: float = 5.0  # added to every limit: process start-up is not in the baseline
    use_cache: bool = True
    use_fork: bool = True
    python: str | None = None  # the interpreter running pytest (default: the project's, `interpreter`)
    pytest_args: list[str] = field(default_factory=list)  # extra pytest arguments (selection kept)

    def shaping(self) -> dict[str, Any]:
        """The options that shape a sweep's results (not workers, the gate, the cache...)."""
        shaping = {k: v for k, v in asdict(self).items() if k in _SHAPING}
        shaping["paths"], shaping["operators"] = sorted(self.paths), sorted(self.operators or [])
        return shaping

    def key(self) -> str:
        """The same key (and base commit) means the same sweep: an unfinished one is resumed."""
        return hashlib.sha256(json.dumps(self.shaping(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class SweepOutcome:
    sweep_id: str
    out_dir: Path
    counts: dict[str, int]
    score: float | None
    passed_fail_under: bool
    results: list[MutantRecord]
    base_sha: str = ""
    resumed: bool = False
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    headline: str = ""  # the totals of summary.txt

    @property
    def exit_code(self) -> int:
        if not self.passed_fail_under:
            return 1
        # Mutants the runner could not classify are out of the score: it cannot be trusted.
        return EXIT_UNCLASSIFIED if any(r.status in UNCLASSIFIED for r in self.results) else 0


def resume_options(store: MutantStore, options: SweepOptions) -> SweepOptions:
    """`--resume ID` continues that sweep with its own options (workers and the gate may change)."""
    assert options.resume is not None
    row = store.sweep(options.resume)
    if row.status == store_mod.DONE:
        fix = "run without --resume for a new sweep (unchanged mutants come from the cache)"
        raise UsageProblem(f"sweep {row.id} already finished", where="--resume", fix=fix)
    known = {k: v for k, v in row.options.items() if k in SweepOptions.__dataclass_fields__}
    refuse_other_options(row.id, asdict(options), asdict(SweepOptions()), known)  # never dropped silently
    # The interpreter may change too (a first try with the wrong one is the likeliest failure).
    python = options.python or known.get("python")
    return SweepOptions(**{**known, "resume": row.id, "workers": options.workers or known.get("workers", 0),
                           "fail_under": options.fail_under, "python": python})  # fmt: skip


def open_sweep(store: MutantStore, repo: GitRepo, base_sha: str, options: SweepOptions) -> tuple[str, bool]:
    """The sweep to write into: the one asked for, an unfinished one of the same key, or new. A
    sweep continued is claimed (refused while another live launcher runs it: SweepBusy)."""
    if options.resume:
        store.claim_sweep(options.resume)
        return options.resume, True
    found = store.find_resumable(repo=str(repo.root), base_sha=base_sha, options_key=options.key())
    if found is not None:
        store.claim_sweep(found)  # two plain sweeps after a crash: the second is refused
        return found, True
    sweep_id = store.create_sweep(store_mod.new_sweep_id, repo=str(repo.root), base_sha=base_sha,
                                  options_key=options.key(), options=asdict(options))
    return sweep_id, False
