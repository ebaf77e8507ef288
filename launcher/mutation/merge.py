"""Join shard sweeps into one run (DESIGN 11: `--shard I/N` on many machines, then merge).

Each shard's run dir holds a `mutants.json`; the merge checks they describe the same sweep (base
commit, test command, options), unions the mutants by stable id, renumbers them as an unsharded
sweep would (`number_mutants` over the union) and writes every report of a run dir.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from launcher.errors import UsageProblem
from launcher.models.decoding import json_loads, read_text
from launcher.mutation import results
from launcher.mutation.model import Mutant, MutantStatus, number_mutants
from launcher.mutation.report_elements import PLAIN_FILE, render_elements_html
from launcher.mutation.report_html import render_html
from launcher.mutation.report_stryker import (
    PENDING,
    STATUSES,
    embedded_sources,
    entries,
    repo_of,
    score,
    sources_from_worktree,
    tests_of,
    to_stryker,
)
from launcher.store.files import atomic_write_json, atomic_write_text

MUTANTS_FILE = "mutants.json"
STRYKER_FILE = "mutation-report.json"
HTML_FILE = "mutation-report.html"
SEED_FILES = ("report.json", "summary.txt", "survivors.jsonl")
SAME_SWEEP = ("base_sha", "test_cmd")  # keys that must agree across shards (plus `options`)
_PER_RUN = {"sweep_id", "created_at", "shard", "mutants", "tests", "files", "counts", "score", "merged_from",
            "wall_s", "notes"}
_FIX = "merge the run dirs of one sweep: same commit, test command and options, differing only in --shard"


def load_run(path: Path) -> dict[str, Any]:
    """A run's `mutants.json` (given the run dir or the file), checked enough to merge and report."""
    file = path / MUTANTS_FILE if path.is_dir() else path
    if not file.is_file():
        raise UsageProblem(
            f"no {MUTANTS_FILE} here", where=str(path),
            fix="pass a sweep's run dir (.launcher/mutation-runs/<sweep-id>) or its mutants.json",
        )  # fmt: skip
    try:
        data = json_loads(read_text(file))
    except OSError as exc:
        raise UsageProblem(f"cannot read it: {exc}", where=str(file), fix="re-run the sweep") from None
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                           where=f"{file}:{exc.lineno}", fix="re-run the sweep") from None
    if not isinstance(data, dict) or not isinstance(data.get("mutants"), list):
        raise UsageProblem('expected an object with a "mutants" list', where=str(file))
    try:
        pairs = entries(data)
        tests_of(data)
    except (KeyError, TypeError, AttributeError, ValueError, ValidationError) as exc:
        raise UsageProblem(f"a mutant or test entry is malformed: {exc}", where=str(file)) from exc
    unknown = sorted({str(r["status"]) for _, r in pairs} - set(STATUSES))
    if unknown:
        raise UsageProblem(
            f"unknown mutant status(es): {', '.join(unknown)}",
            where=str(file),
            fix=f"statuses are Stryker's: {', '.join(STATUSES)}",
        )
    data["_path"] = str(file.parent)
    return data


def _shard(data: Mapping[str, Any]) -> tuple[int, int] | None:
    raw = data.get("shard") or (data.get("options") or {}).get("shard")
    try:
        if isinstance(raw, str) and "/" in raw:
            i, n = raw.split("/", 1)
            return int(i), int(n)
        if isinstance(raw, list | tuple) and len(raw) == 2:
            return int(raw[0]), int(raw[1])
    except ValueError:
        pass
    return None


def _options(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (data.get("options") or {}).items() if k != "shard"}


def _check_same_sweep(runs: Sequence[Mapping[str, Any]]) -> None:
    first = runs[0]
    for run in runs[1:]:
        for key in SAME_SWEEP:
            if run.get(key) != first.get(key):
                raise UsageProblem(
                    f"{key} differs: {first.get(key)!r} in {first['_path']} but {run.get(key)!r} in {run['_path']}",
                    where=key, fix=_FIX,
                )  # fmt: skip
        mine, theirs = _options(first), _options(run)
        if mine != theirs:
            diff = sorted(k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k))
            raise UsageProblem(
                f"sweep options differ ({', '.join(diff)}) between {first['_path']} and {run['_path']}",
                where="options", fix=_FIX,
            )  # fmt: skip
    shards = [_shard(run) for run in runs]
    if any(shards) and not all(shards):
        whole = [str(run["_path"]) for run, shard in zip(runs, shards, strict=True) if shard is None]
        raise UsageProblem(
            f"cannot merge an unsharded run with shards: {', '.join(whole)} has no --shard", where="DIR...",
            fix="merge the shards of one sweep (--shard I/N each), or use the unsharded run alone",
        )  # fmt: skip
    seen: dict[tuple[int, int], str] = {}
    for run, shard in zip(runs, shards, strict=True):
        if shard is not None and shard in seen:
            raise UsageProblem(
                f"shard {shard[0]}/{shard[1]} given twice: {seen[shard]} and {run['_path']}", where="DIR...",
                fix="pass each shard's run dir once",
            )  # fmt: skip
        if shard is not None:
            seen[shard] = str(run["_path"])
    if all(shards):
        splits = {shard[1] for shard in shards if shard}
        if len(splits) > 1:
            raise UsageProblem(f"shards of different splits: {sorted(splits)}", where="--shard", fix=_FIX)
        n = splits.pop()
        missing = sorted(set(range(1, n + 1)) - {shard[0] for shard in shards if shard})
        if missing:
            raise UsageProblem(
                f"missing shard(s) {', '.join(f'{i}/{n}' for i in missing)}", where="--shard",
                fix="pass the run dir of every shard, or re-run the missing ones",
            )  # fmt: skip


def merge_data(runs: Sequence[Mapping[str, Any]], sweep_id: str = "merged") -> dict[str, Any]:
    """The union of shard runs as one `mutants.json` (same shape as a sweep's), numbered as the
    unsharded sweep would be."""
    if not runs:
        raise UsageProblem("nothing to merge", where="DIR...", fix="pass the run dir of each shard")
    _check_same_sweep(runs)
    mutants: dict[str, Mutant] = {}
    outcome: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    tests: dict[str, dict[str, Any]] = {}
    files: dict[str, Any] = {}
    for run in runs:
        for mutant, result in entries(run):
            seen = outcome.get(mutant.id)
            if seen is not None and seen["status"] != result["status"]:
                raise UsageProblem(
                    f"mutant {mutant.id} ({mutant.target}:{mutant.line}) is {seen['status']} in {origin[mutant.id]} "
                    f"but {result['status']} in {run['_path']}",
                    where=mutant.id, fix="merge each shard once; re-run the shards that disagree",
                )  # fmt: skip
            if seen is None:
                mutants[mutant.id], outcome[mutant.id], origin[mutant.id] = mutant, result, str(run["_path"])
        for tid, test in tests_of(run).items():
            tests.setdefault(tid, test)
        for rel, text in embedded_sources(run).items():
            files.setdefault(rel, {"language": (run["files"][rel] or {}).get("language", "python"), "source": text})
    first = runs[0]
    merged: dict[str, Any] = {k: v for k, v in first.items() if k not in _PER_RUN and not k.startswith("_")}
    merged["sweep_id"] = sweep_id
    merged["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if _options(first):
        merged["options"] = _options(first)
    merged["merged_from"] = [str(run.get("sweep_id") or run["_path"]) for run in runs]
    numbered = number_mutants(mutants.values())
    statuses = [str(outcome[m.id]["status"]) for m in numbered]
    merged["score"] = score(statuses)
    merged["counts"] = {s.value: statuses.count(s.value) for s in MutantStatus} | (
        {PENDING: statuses.count(PENDING)} if PENDING in statuses else {}
    )
    merged["files"] = dict(sorted(files.items()))
    if isinstance(first.get("tests"), list):  # keep the container the shards used
        merged["tests"] = list(tests.values())
    else:
        merged["tests"] = {tid: {k: v for k, v in t.items() if k != "id"} for tid, t in sorted(tests.items())}
    merged["mutants"] = [{"mutant": m.model_dump(mode="json"), "result": outcome[m.id]} for m in numbered]
    return merged


def _records(data: Mapping[str, Any]) -> list[results.MutantRecord]:
    """The settled mutants as the sweep's result records (a Pending one has no seed status)."""
    records = []
    for m, r in sorted(entries(data), key=lambda p: p[0].index):
        if r["status"] == PENDING:
            continue
        record = results.MutantRecord(
            mutant=m, status=MutantStatus(r["status"]), executor=str(r.get("executor") or "none"),
            duration_s=float(r.get("duration_s") or 0.0), killed_by=list(r.get("killed_by") or []),
            tests=list(r.get("covered_by") or []), import_time=bool(r.get("import_time", m.import_time)),
            source=str(r.get("source") or "run"), note=str(r.get("note") or ""), cache_key=r.get("cache_key"),
            equivalence=str(r.get("equivalence") or ""),
        )  # fmt: skip
        records.append(record)
    return records


def seed_reports(data: Mapping[str, Any]) -> dict[str, str]:
    """report.json, summary.txt and survivors.jsonl of a run, written by the sweep's own writer."""
    meta = results.SweepMeta(
        sweep_id=str(data.get("sweep_id") or ""), base_sha=str(data.get("base_sha") or ""),
        root=Path(repo_of(data) or "."), test_cmd=data.get("test_cmd"),
        wall_s=float(data.get("wall_s") or 0.0), notes=[str(n) for n in data.get("notes") or []],
        options=dict(data.get("options") or {}), shard=data.get("shard"),
    )  # fmt: skip
    durations = {tid: float(t.get("duration_s") or 0.0) for tid, t in tests_of(data).items()}
    with tempfile.TemporaryDirectory(prefix="launcher-merge-") as tmp:
        results.write_outputs(Path(tmp), meta, _records(data), durations)
        return {name: (Path(tmp) / name).read_text(encoding="utf-8") for name in SEED_FILES}


def write_stryker(run_dir: Path, data: Mapping[str, Any], sources: Mapping[str, str]) -> tuple[Path, Path]:
    """mutation-report.json (Stryker schema), mutation-report.html (the mutation-testing-elements
    viewer) and mutation-report-plain.html (the same without JavaScript)."""
    report = to_stryker(data, sources)
    atomic_write_json(run_dir / STRYKER_FILE, report)
    title = f"Mutation testing report: {data.get('sweep_id', run_dir.name)}"
    atomic_write_text(run_dir / HTML_FILE, render_elements_html(report, title=title))
    atomic_write_text(run_dir / PLAIN_FILE, render_html(report, title=title))
    return run_dir / STRYKER_FILE, run_dir / HTML_FILE


def write_run(out: Path, data: Mapping[str, Any], sources: Mapping[str, str]) -> Path:
    """A complete run dir: mutants.json (with `sources` recorded), the seed reports, Stryker, HTML."""
    out.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in data.items() if not k.startswith("_")}
    files = dict(clean.get("files") or {})
    for m, _ in entries(clean):
        if m.target in sources:
            files[m.target] = {"language": m.language, "source": sources[m.target]}
    clean["files"] = dict(sorted(files.items()))
    for name, text in seed_reports(clean).items():
        atomic_write_text(out / name, text)
    atomic_write_json(out / MUTANTS_FILE, clean)
    write_stryker(out, clean, sources)
    return out


def merge_runs(dirs: list[Path], out: Path, *, sources: Mapping[str, str] | None = None) -> Path:
    """Merge shard run dirs into `out` (a new run dir); returns it. Sources: `sources`, else those
    the shards recorded, else the repo's work tree files where they still fit the mutants."""
    targets = {d.resolve() for d in dirs} | {d.resolve().parent for d in dirs if d.is_file()}
    if out.resolve() in targets:
        raise UsageProblem(f"the output {out} is one of the inputs", where="-o", fix="write the merge to a new dir")
    merged = merge_data([load_run(d) for d in dirs], sweep_id=out.name)
    if sources is None:
        found = embedded_sources(merged)
        missing = [m for m, _ in entries(merged) if m.target not in found]
        repo = Path(repo_of(merged) or ".")
        sources = {**(sources_from_worktree(repo, missing) if missing and repo.is_dir() else {}), **found}
    return write_run(out, merged, sources)
