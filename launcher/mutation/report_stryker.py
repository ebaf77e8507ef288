"""A sweep's `mutants.json` as a Stryker `mutation-testing-report-schema` report (DESIGN 9, 11).

`to_stryker` is pure: it takes the sweep data and the original sources. `load_sources` (async, git)
and `sources_from_worktree` (sync, files) find those sources, keeping a text only if every mutant's
`replaced` text sits at its offsets in it, so locations and highlighting are never off.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from launcher import __version__, process
from launcher.git.environment import git_env
from launcher.mutation.model import Mutant, MutantStatus, mutation_score
from launcher.mutation.report_coords import ViewerText

SCHEMA_VERSION = "2"
THRESHOLDS = {"high": 80, "low": 60}
PENDING = "Pending"  # a mutant the sweep has not tested (yet): Stryker's name for it
STATUSES = (*(s.value for s in MutantStatus), PENDING)
_CONFIG_KEYS = ("sweep_id", "base_sha", "test_cmd", "options", "shard", "created_at", "merged_from")


def entries(data: Mapping[str, Any]) -> list[tuple[Mutant, dict[str, Any]]]:
    """The (mutant, result) pairs of a `mutants.json`; a missing result is a Pending mutant."""
    pairs = []
    for entry in data.get("mutants", []):
        result = dict(entry.get("result") or {})
        result.setdefault("status", PENDING)
        pairs.append((Mutant.model_validate(entry["mutant"]), result))
    return pairs


def repo_of(data: Mapping[str, Any]) -> str | None:
    """The swept repository: `root` (as the sweep writes it) or `repo`."""
    value = data.get("root") or data.get("repo")
    return str(value) if value else None


def tests_of(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The sweep's tests by id, from either `{"id": {"file", ...}}` or `[{"id", "file", "name"}]`."""
    raw = data.get("tests") or {}
    if isinstance(raw, Mapping):
        return {str(tid): {"id": str(tid), **dict(info or {})} for tid, info in raw.items()}
    return {str(t["id"]): dict(t) for t in raw}


def embedded_sources(data: Mapping[str, Any]) -> dict[str, str]:
    """The sources recorded in `mutants.json` (`files[path].source`) that fit its mutants."""
    files = data.get("files") or {}
    grouped = _by_file(m for m, _ in entries(data))
    found = {}
    for rel, group in grouped.items():
        text = (files.get(rel) or {}).get("source")
        if isinstance(text, str) and fits(text, group):
            found[rel] = text
    return found


def score(statuses: Iterable[str]) -> float | None:
    """Stryker's mutation score in percent (None: no valid tested mutant); Pending counts in neither."""
    return mutation_score(MutantStatus(s) for s in statuses if s != PENDING)


def _status_reason(mutant: Mutant, result: Mapping[str, Any]) -> str:
    given = result.get("status_reason") or result.get("output_tail")
    if given:
        return str(given)[-2000:]
    status, executor = result["status"], result.get("executor")
    by = f" ({executor} executor)" if executor and executor != "none" else ""
    if result.get("source") in ("cached", "resumed"):
        by += f" ({result['source']})"
    killed_by = list(result.get("killed_by") or [])
    covered = len(result.get("covered_by") or [])
    reasons = {
        "Killed": f"failed: {', '.join(killed_by)}" if killed_by else "the tests failed",
        "Survived": f"{covered} covering test(s) passed" if covered else "the test suite passed",
        "NoCoverage": f"no test executes line {mutant.line}",
        "Timeout": "the tests ran past the time limit derived from the baseline",
        "CompileError": "the mutated source does not compile",
        "RuntimeError": "the test run crashed before reporting results",
        "Ignored": "ignored",
        PENDING: "not tested yet",
    }
    reason = reasons.get(status, status) + (by if status not in (PENDING, "NoCoverage") else "")
    note = str(result.get("note") or "")
    if note in _SAID_BY_STATUS.get(status, ()):  # the reason says it already
        note = ""
    return f"{reason}; {note}" if note else reason


# Notes the sweep records that only repeat the status's own reason.
_SAID_BY_STATUS = {"NoCoverage": ("no test executes this line",),
                   "CompileError": ("the mutated source does not compile",)}  # fmt: skip


def _tests_completed(result: Mapping[str, Any], suite_size: int, import_time: bool) -> int | None:
    if "tests_completed" in result:
        return int(result["tests_completed"])
    status, covered = result["status"], len(result.get("covered_by") or [])
    if status == "NoCoverage":
        return 0
    if status == "Survived":  # nothing failed, so every selected test ran ([] or import time: the whole suite)
        return suite_size if import_time or not covered else covered
    return None  # a bailing run stops at the first failure: unknown


def _location(mutant: Mutant, text: ViewerText | None) -> dict[str, dict[str, int]]:
    """Where the viewer shows the mutant: from its offsets in the embedded source (`report_coords`),
    else (no source, or not the one it was made from) its own line and column."""
    if text is not None and text.source[mutant.start : mutant.end] == mutant.replaced:
        return {"start": text.location(mutant.start), "end": text.location(mutant.end)}
    return {"start": {"line": mutant.line, "column": max(1, mutant.col)},
            "end": {"line": mutant.end_line, "column": max(1, mutant.end_col)}}  # fmt: skip


def stryker_mutant(
    mutant: Mutant, result: Mapping[str, Any], suite_size: int = 0, text: ViewerText | None = None
) -> dict[str, Any]:
    import_time = bool(result.get("import_time", mutant.import_time))
    out: dict[str, Any] = {
        "id": mutant.id,
        "mutatorName": mutant.fault,
        "replacement": mutant.replacement,
        "description": mutant.rationale,
        "location": _location(mutant, text),
        "status": result["status"],
        "statusReason": _status_reason(mutant, result),
        "static": import_time,
    }
    # An empty list is a claim ("no test"): made only where it is known (NoCoverage); a custom test
    # command has no coverage data and names no failing test, so those stay absent (unknown).
    if result.get("covered_by") or ("covered_by" in result and result["status"] == "NoCoverage"):
        out["coveredBy"] = [str(t) for t in result["covered_by"]]
    if result.get("killed_by"):
        out["killedBy"] = [str(t) for t in result["killed_by"]]
    completed = _tests_completed(result, suite_size, import_time)
    if completed is not None:
        out["testsCompleted"] = completed
    if result.get("duration_s") is not None:
        out["duration"] = round(float(result["duration_s"]) * 1000.0, 3)
    return out


def _test_files(data: Mapping[str, Any], pairs: list[tuple[Mutant, dict[str, Any]]]) -> dict[str, Any]:
    """`testFiles`: the sweep's tests by file, plus any test a mutant names that the list lacks."""
    tests = tests_of(data)
    for _, result in pairs:
        for tid in (*(result.get("covered_by") or []), *(result.get("killed_by") or [])):
            tests.setdefault(str(tid), {"id": str(tid)})
    files: dict[str, Any] = {}
    for tid, test in tests.items():
        file, _, name = tid.partition("::")
        # A file's own id (a test module that no longer imports kills the mutant) is that file;
        # only a pseudo-id such as "<collection>" belongs to no file.
        file = str(test.get("file") or (file if name or _is_file_id(tid) else ""))
        name = str(test.get("name") or name or tid)
        files.setdefault(file, {"tests": []})["tests"].append({"id": tid, "name": name})
    return dict(sorted(files.items()))


def _is_file_id(tid: str) -> bool:
    return not tid.startswith("<") and bool(PurePosixPath(tid).suffix)


def _performance(data: Mapping[str, Any]) -> dict[str, float] | None:
    perf = data.get("performance")
    if not isinstance(perf, Mapping):
        return None
    if all(k in perf for k in ("setup", "initialRun", "mutation")):
        return {k: float(perf[k]) for k in ("setup", "initialRun", "mutation")}
    keys = {"setup": "setup_s", "initialRun": "initial_run_s", "mutation": "mutation_s"}
    if all(v in perf for v in keys.values()):
        return {k: round(float(perf[v]) * 1000.0, 3) for k, v in keys.items()}
    return None


def to_stryker(
    data: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
    *,
    thresholds: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The Stryker report of one sweep (`mutants.json` data). `sources` maps each mutated file to
    its original text (default: the texts recorded in the data, where they fit the mutants); a file
    without one gets an empty source (the report stays valid, the HTML lists its mutants)."""
    sources = {**embedded_sources(data), **(sources or {})}
    pairs = entries(data)
    suite_size = len(tests_of(data))
    files: dict[str, Any] = {}
    texts = {rel: ViewerText(text) for rel, text in sources.items() if text}
    for mutant, result in sorted(pairs, key=lambda p: (p[0].target, p[0].index, p[0].id)):
        file = files.setdefault(
            mutant.target, {"language": mutant.language, "source": sources.get(mutant.target, ""), "mutants": []}
        )
        file["mutants"].append(stryker_mutant(mutant, result, suite_size, texts.get(mutant.target)))
    config = {k: data[k] for k in _CONFIG_KEYS if k in data}
    report: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "thresholds": dict(thresholds or THRESHOLDS),
        "files": dict(sorted(files.items())),
        "testFiles": _test_files(data, pairs),
        "framework": {"name": "launcher", "version": __version__},
        "config": config,
    }
    if repo_of(data):
        report["projectRoot"] = repo_of(data)
    performance = _performance(data)
    if performance:
        report["performance"] = performance
    return report


# --- original sources -------------------------------------------------------------------------


def decode_source(data: bytes, path: str) -> str:
    """Text as the mutant offsets index it: PEP 263 cookie for Python, BOM dropped, newlines kept."""
    encoding = "utf-8"
    if path.endswith(".py"):
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError:
            encoding = "utf-8"
    text = data.decode(encoding, "replace")
    return text[1:] if text.startswith("\ufeff") else text


def fits(source: str, mutants: Iterable[Mutant]) -> bool:
    """Whether every mutant's replaced text sits at its offsets in `source`."""
    return all(source[m.start : m.end] == m.replaced for m in mutants)


def _by_file(mutants: Iterable[Mutant]) -> dict[str, list[Mutant]]:
    grouped: dict[str, list[Mutant]] = {}
    for m in mutants:
        grouped.setdefault(m.target, []).append(m)
    return grouped


def sources_from_worktree(repo: Path, mutants: Iterable[Mutant]) -> dict[str, str]:
    """The work tree's files that still match the mutants (no git needed)."""
    found: dict[str, str] = {}
    for rel, group in _by_file(mutants).items():
        path = repo / rel
        try:
            text = decode_source(path.read_bytes(), rel)
        except OSError:
            continue
        if fits(text, group):
            found[rel] = text
    return found


async def load_sources(repo: Path, base_sha: str | None, mutants: Iterable[Mutant]) -> dict[str, str]:
    """Each mutated file's original text: `git show <base_sha>:<path>` if it matches the mutants
    (the sweep ran on a clean checkout of base), else the work tree's file if that matches (the
    sweep ran on uncommitted changes). Files matching neither are left out."""
    grouped = _by_file(mutants)
    found = sources_from_worktree(repo, (m for group in grouped.values() for m in group)) if repo.is_dir() else {}
    if not base_sha or not repo.is_dir():
        return found
    for rel, group in grouped.items():
        try:
            done = await process.run(["git", "show", f"{base_sha}:{rel}"], cwd=repo, env=git_env(), timeout=60)
        except OSError:
            break  # git missing: keep what the work tree gave
        if done.ok:
            text = decode_source(done.stdout, rel)
            if fits(text, group):
                found[rel] = text
    return found
