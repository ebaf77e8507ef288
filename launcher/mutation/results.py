"""A sweep's results and its files in `.launcher/mutation-runs/<sweep>/` (DESIGN 9, 11).

- `report.json`: the seed-style report: `summary` counts (`total`, one per status in the seed's
  spelling lower-cased, `sources`: {"run", "cached", "resumed", "not_run"}, `prefilter`), `score`,
  one entry per mutant (`id` is the numeric index, statuses in the seed's spelling: KILLED,
  SURVIVED, NO_COVERAGE, ...).
- `summary.txt`: the same for people.
- `survivors.jsonl`: one `Mutant.to_survivor()` object per Survived mutant (DESIGN 7.4, exact keys).
- `mutants.json`: everything a report generator needs (Stryker JSON and HTML are built from it):

    {"schema": "launcher-mutants/1", "sweep_id": "m-...", "base_sha": "...", "root": "/abs/repo",
     "test_cmd": null | "CMD", "created_at": "ISO-8601", "shard": "I/N" | null,
     "options": {"paths", "test_cmd", "since", "shard", "max_mutants", "operators", "timeout_factor",
                 "timeout_min_s"}, "score": 87.5 | null,
     "counts": {"Killed": 7, "Survived": 1, ...every MutantStatus value...},
     "wall_s": 12.3 (the sweep's duration), "notes": ["..."] (summary.txt's notes),
     "files": {"pkg/mod.py": {"language": "python", "source": "<the original text>"}},
     "tests": {"tests/test_mod.py::test_a": {"file": "tests/test_mod.py", "duration_s": 0.01}},
     "mutants": [{"mutant": <Mutant.model_dump()>,
                  "result": {"status": "Survived" (MutantStatus value = Stryker name),
                             "executor": "generic" | "fork" | "none", "duration_s": 0.4,
                             "killed_by": [test ids], "covered_by": [test ids],
                             "import_time": false, "source": "run" | "cached" | "resumed" | "static",
                             "note": "", "cache_key": "..." | null}}]}

  `covered_by` lists the tests that execute the mutant ([] without coverage data: a custom test
  command); with `import_time` true the mutant also runs at import and was tested with the whole
  suite.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from launcher.mutation.discover import read_source
from launcher.mutation.model import Mutant, MutantStatus, mutation_score
from launcher.store.files import atomic_write_text
from launcher.store.mutants import ResultRow

SCHEMA = "launcher-mutants/1"
REPORT_VERSION = "1"


@dataclass
class MutantRecord:
    """A settled mutant: its result and how it was obtained."""

    mutant: Mutant
    status: MutantStatus
    executor: str  # "generic" | "fork" | "none"
    duration_s: float = 0.0
    killed_by: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)  # covering tests (import_time: ran the whole suite)
    import_time: bool = False
    source: str = "run"  # run | cached (an earlier sweep) | resumed (this sweep, before a crash) | static
    note: str = ""
    cache_key: str | None = None
    equivalence: str = ""  # the pre-filter's class ("equivalent", "duplicate", "docstring-only", ...), if any

    @property
    def seed_status(self) -> str:
        """report.json's status: the seed spelling, or the pre-filter's own (EQUIVALENT, DUPLICATE)
        for a mutant it settled (Ignored, with the reason, in the Stryker report)."""
        if self.status is MutantStatus.IGNORED and self.equivalence in ("equivalent", "duplicate"):
            return self.equivalence.upper()
        return self.status.seed

    def row(self) -> ResultRow:
        return ResultRow(
            mutant_id=self.mutant.id, status=self.status.value, executor=self.executor, duration_s=self.duration_s,
            killed_by=self.killed_by, tests=self.tests, cache_key=self.cache_key, source=self.source, note=self.note,
        )  # fmt: skip


@dataclass
class SweepMeta:
    sweep_id: str
    base_sha: str
    root: Path
    test_cmd: str | None
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # the options shaping the results
    shard: str | None = None  # "I/N"


def counts(records: Iterable[MutantRecord]) -> dict[str, int]:
    found = Counter(r.status.value for r in records)
    return {status.value: found.get(status.value, 0) for status in MutantStatus}


def score_of(records: Iterable[MutantRecord]) -> float | None:
    return mutation_score(r.status for r in records)


def fail_under_passes(score: float | None, mutants: int, since: str | None, fail_under: float | None
                      ) -> tuple[bool, str]:  # fmt: skip
    """Whether a run (a sweep, or merged shards) passes `--fail-under`, and a note when it passes
    only by the exception. Nothing scored never passes (a mistyped PATH, an operator that matched
    nothing), except a `--since` run of a change that touched no mutable code: nothing to test."""
    if fail_under is None:
        return True, ""
    if since and mutants == 0:
        return True, f"nothing to mutate since {since}: --fail-under passes"
    return score is not None and score >= fail_under, ""


def source_label(record: MutantRecord) -> str:
    """How a verdict came, as shown: a mutant settled without running is "not run" (`static` is
    Stryker's word for code that runs at import, which is run)."""
    return "not run" if record.source == "static" else record.source


def progress_line(done: int, total: int, record: MutantRecord) -> str:
    m = record.mutant
    how = source_label(record) if record.source != "run" else f"{record.executor}, {record.duration_s:.2f}s"
    return f"[{done}/{total}] {record.status.value:<12} {m.target}:{m.line} {m.fault} #{m.index} ({how})"


def _report(meta: SweepMeta, records: Sequence[MutantRecord]) -> dict[str, Any]:
    tally = counts(records)
    summary: dict[str, Any] = {"total": len(records)}
    summary.update({status.seed.lower(): tally[status.value] for status in MutantStatus})
    # Where each result came from, apart from the status counts: "not_run" (decided without a
    # test run: no coverage, proven equivalent), which summary.txt also calls it.
    summary["sources"] = dict(Counter("not_run" if r.source == "static" else r.source for r in records))
    classes = Counter(r.equivalence for r in records if r.equivalence)
    summary["prefilter"] = {k: classes.get(k, 0) for k in ("equivalent", "duplicate", "docstring-only",
                                                           "annotation-only")}  # fmt: skip
    return {
        "report_version": REPORT_VERSION, "tool": "launcher", "sweep_id": meta.sweep_id, "base_sha": meta.base_sha,
        "test_cmd": meta.test_cmd, "shard": meta.shard, "score": score_of(records), "summary": summary,
        "mutants": [
            {"id": r.mutant.index, "mutant_id": r.mutant.id, "fault": r.mutant.fault, "target": r.mutant.target,
             "line": r.mutant.line, "function": r.mutant.function, "status": r.seed_status,
             "executor": r.executor, "killed_by": r.killed_by, "duration_s": round(r.duration_s, 3),
             "source": r.source, "note": r.note, **({"equivalence": r.equivalence} if r.equivalence else {})}
            for r in records
        ],
    }  # fmt: skip


def summary_text(meta: SweepMeta, records: Sequence[MutantRecord], *, head_only: bool = False) -> str:
    """`summary.txt`: the totals, then every mutant that needs attention (`head_only`: totals)."""
    tally = counts(records)
    score = score_of(records)
    sources = Counter(r.source for r in records)
    executors = Counter(r.executor for r in records if r.source == "run")
    lines = [
        f"Mutation sweep {meta.sweep_id} at {meta.base_sha[:12]}",
        f"Score: {'n/a' if score is None else f'{score:.1f}%'} ({len(records)} mutants)",
        "  ".join(f"{name} {n}" for name, n in tally.items()),
        f"Run {sources.get('run', 0)}"
        + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(executors.items())) + ")" if executors else "")
        + f", cached {sources.get('cached', 0)}, resumed {sources.get('resumed', 0)}; {meta.wall_s:.1f}s",
    ]
    unclassified = tally[MutantStatus.RUNTIME_ERROR.value]
    if unclassified:  # out of the score, so never silent: the notes name them with the runner's error
        lines.append(f"Unclassified {unclassified}: the runner failed even on the whole suite; not in the score")
    lines += [f"Note: {note}" for note in meta.notes]
    if head_only:
        return "\n".join(lines) + "\n"
    for status in (MutantStatus.SURVIVED, MutantStatus.NO_COVERAGE, MutantStatus.TIMEOUT, MutantStatus.RUNTIME_ERROR):
        chosen = [r for r in records if r.status is status]
        if chosen:
            lines.append(f"{status.value}:")
            lines += [f"  #{r.mutant.index} {r.mutant.target}:{r.mutant.line} {r.mutant.fault}: "
                      f"{r.mutant.orig!r} -> {r.mutant.mut!r}" for r in chosen]  # fmt: skip
    return "\n".join(lines) + "\n"


def _mutants_file(
    meta: SweepMeta, records: Sequence[MutantRecord], durations: dict[str, float], created: str
) -> dict[str, Any]:
    files: dict[str, dict[str, str]] = {}
    for r in records:
        target = r.mutant.target
        if target not in files:
            path = meta.root / target
            text = read_source(path) if path.is_file() else ""  # the text mutant offsets index
            files[target] = {"language": r.mutant.language, "source": text}
    tests = {t: {"file": t.split("::", 1)[0], "duration_s": round(d, 4)} for t, d in sorted(durations.items())}
    return {
        "schema": SCHEMA, "sweep_id": meta.sweep_id, "base_sha": meta.base_sha, "root": str(meta.root),
        "test_cmd": meta.test_cmd, "created_at": created, "shard": meta.shard, "options": meta.options,
        "score": score_of(records), "counts": counts(records), "wall_s": round(meta.wall_s, 3),
        "notes": list(meta.notes), "files": files, "tests": tests,
        "mutants": [
            {"mutant": r.mutant.model_dump(mode="json"),
             "result": {"status": r.status.value, "executor": r.executor, "duration_s": round(r.duration_s, 3),
                        "killed_by": r.killed_by, "covered_by": r.tests, "import_time": r.import_time,
                        "source": r.source, "note": r.note, "cache_key": r.cache_key,
                        **({"equivalence": r.equivalence} if r.equivalence else {})}}
            for r in records
        ],
    }  # fmt: skip


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"  # as atomic_write_json writes it


def seed_contents(
    meta: SweepMeta, records: Sequence[MutantRecord], durations: dict[str, float] | None = None
) -> dict[str, str]:
    """The text of the four files by name, `mutants.json` last: a run dir holding it is taken for
    a finished sweep's (`mutation report`), so it is written once every other report is."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    survivors = [r.mutant.to_survivor("SURVIVED") for r in records if r.status is MutantStatus.SURVIVED]
    return {
        "report.json": _json_text(_report(meta, records)),
        "summary.txt": summary_text(meta, records),
        "survivors.jsonl": "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in survivors),
        "mutants.json": _json_text(_mutants_file(meta, records, durations or {}, created)),
    }


def write_outputs(
    out_dir: Path, meta: SweepMeta, records: Sequence[MutantRecord], durations: dict[str, float] | None = None
) -> list[Path]:
    """Write the four files atomically; returns their paths."""
    paths = []
    for name, text in seed_contents(meta, records, durations).items():
        atomic_write_text(out_dir / name, text)
        paths.append(out_dir / name)
    return paths


_STYLE = {
    MutantStatus.SURVIVED: "bold red", MutantStatus.NO_COVERAGE: "yellow", MutantStatus.TIMEOUT: "cyan",
    MutantStatus.KILLED: "green", MutantStatus.RUNTIME_ERROR: "magenta", MutantStatus.COMPILE_ERROR: "dim",
}  # fmt: skip


def render_table(records: Sequence[MutantRecord], *, show_killed: bool = False) -> Table:
    """A rich table of the mutants that need attention (all of them with `show_killed`)."""
    tally = counts(records)
    score = score_of(records)
    caption = "  ".join(f"{k} {v}" for k, v in tally.items() if v)
    caption += f"  score {score:.1f}%" if score is not None else ""
    table = Table(title="Mutation sweep", caption=caption, show_lines=False)
    for column in ("#", "status", "where", "operator", "original", "mutated", "executor"):
        # Only the code columns fold: a status or a path broken over two lines reads as two.
        table.add_column(column, overflow="fold", no_wrap=column in ("#", "status"),
                         ratio=2 if column in ("original", "mutated") else 1)
    for r in records:
        if r.status.detected and not show_killed:
            continue
        m = r.mutant
        executor = r.executor if r.source == "run" else f"{r.executor} ({source_label(r)})"
        cells = (str(m.index), r.status.value, f"{m.target}:{m.line}", m.fault, m.orig, m.mut, executor)
        texts = [Text(cell) for cell in cells]  # Text, not markup: code holds brackets
        texts[1].stylize(_STYLE.get(r.status, ""))
        table.add_row(*texts)
    return table
