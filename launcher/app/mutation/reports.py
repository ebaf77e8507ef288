"""`launcher mutation report | show | merge`: read sweep run dirs, render and join them.

A run is named by its dir under `.launcher/mutation-runs/` or by a path (a run dir, or its
`mutants.json`); no name means the latest run. Original sources: those the run recorded, else git
at the sweep's base commit, else the work tree; each only where it fits the mutants' offsets.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from launcher.app.context import writable_state_dir
from launcher.app.mutation.history import SweepListing, list_sweeps
from launcher.app.mutation.progress import resume_command
from launcher.errors import LauncherError, RunNotFound, UsageProblem
from launcher.git.repo import GitRepo
from launcher.models.decoding import json_loads
from launcher.mutation.merge import (
    HTML_FILE,
    MUTANTS_FILE,
    STRYKER_FILE,
    load_run,
    merge_data,
    seed_reports,
    write_run,
    write_stryker,
)
from launcher.mutation.model import Mutant
from launcher.mutation.report_stryker import embedded_sources, entries, load_sources, repo_of
from launcher.mutation.results import MutantRecord, SweepMeta, seed_contents
from launcher.store import mutants as store_mod
from launcher.store.files import atomic_write_text

ReportFormat = Literal["text", "json", "stryker", "html"]
RUNS_DIR = "mutation-runs"
_STAMP = re.compile(r"(?<!\d)(\d{8})-?(\d{6})(?!\d)")


async def runs_root(cwd: Path) -> Path:
    repo = await GitRepo.discover(cwd)
    return writable_state_dir(repo) / RUNS_DIR


def _when(run_dir: Path) -> tuple[str, str]:
    """Sort key: the timestamp in the dir's name (`m-20250101-120000-ab12`, `20250101-120000`), else
    the time its mutants.json was written, in the same UTC digits."""
    found = _STAMP.search(run_dir.name)
    if found:
        return found.group(1) + found.group(2), run_dir.name
    mtime = (run_dir / MUTANTS_FILE).stat().st_mtime
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(mtime)), run_dir.name


def _run_dirs(root: Path, started: Sequence[str] = ()) -> list[Path]:
    """Run dirs holding a mutants.json, newest first. `started`: the sweep ids the store knows,
    the one started last first (its insertion order); those dirs take the places of the store's
    sweeps in that order, never the order of their time stamps (a clock stepped back stamps a
    later sweep earlier). Dirs the store does not know keep their place by their stamp."""
    if not root.is_dir():
        return []
    dirs = sorted((d for d in root.iterdir() if (d / MUTANTS_FILE).is_file()), key=_when, reverse=True)
    rank = {sweep_id: i for i, sweep_id in enumerate(started)}
    slots = [i for i, d in enumerate(dirs) if d.name in rank]
    for slot, run_dir in zip(slots, sorted((dirs[i] for i in slots), key=lambda d: rank[d.name]), strict=True):
        dirs[slot] = run_dir
    return dirs


def _started_after(sweep: SweepListing, finished: Path, started: Sequence[str]) -> bool:
    """Whether the sweep was started after the finished run dir's: by the store's order when it
    knows both, else by their time stamps."""
    if sweep.sweep_id in started and finished.name in started:
        return started.index(sweep.sweep_id) < started.index(finished.name)
    return _sweep_key(sweep.sweep_id) > _when(finished)


async def resolve_run(cwd: Path, run: str | Path | None, *, latest_for: str | None = None) -> Path:
    """The run dir for a name, a path, or (None) the latest sweep. A sweep that has not finished
    (interrupted, running, failed: no mutants.json yet) is said to be unfinished, with what
    finishes it, never said not to exist. `latest_for` (the command, for its hint): with no RUN,
    a newer sweep that can still finish (interrupted, running) is refused rather than the older
    finished one silently taken for "the latest" (`mutation judge`, `label`, `fix` act on it)."""
    if run is not None:
        path = Path(run) if Path(run).is_absolute() else cwd / run
        if (path / MUTANTS_FILE).is_file():
            return path
        if path.is_file() and path.name == MUTANTS_FILE:
            return path.parent
    root = await runs_root(cwd)
    sweeps = await _sweeps(cwd)
    started = [s.sweep_id for s in sweeps]
    unfinished = [s for s in sweeps if s.status != store_mod.DONE]
    if run is None:
        found = _run_dirs(root, started)
        if not found:
            if unfinished:
                raise _unfinished_problem(unfinished[0], root, "no sweep has finished yet: ")
            raise RunNotFound(
                "there are no mutation sweeps yet", where=str(root), fix="run one with `launcher mutation sweep`"
            )
        newer = [s for s in unfinished if s.status in (store_mod.INTERRUPTED, store_mod.RUNNING)
                 and _started_after(s, found[0], started)]  # fmt: skip
        if latest_for is not None and newer:
            raise _newer_unfinished(newer[0], found[0], root, latest_for)
        return found[0]
    if (root / str(run) / MUTANTS_FILE).is_file():
        return root / str(run)
    name = Path(str(run)).name  # its id, or the path of its dir
    pending = next((s for s in unfinished if s.sweep_id == name), None)
    if pending is not None:
        raise _unfinished_problem(pending, root)
    known = ", ".join(d.name for d in _run_dirs(root, started)[:5])
    if not known and unfinished:
        known = f"none has finished yet (unfinished: {', '.join(s.sweep_id for s in unfinished[:5])})"
    raise RunNotFound(f"no mutation run {str(run)!r}", where=str(root),
                      fix=f"pass a run dir or one of: {known or 'none yet'} (`launcher mutation list` lists "
                          "them)")  # fmt: skip


async def _sweeps(cwd: Path) -> list[SweepListing]:
    """The sweeps the repository's store knows, the one started last first (none when there is
    no store, or it cannot be read: then only finished run dirs are known, by their stamps)."""
    try:
        return await list_sweeps(cwd, limit=1000)
    except (LauncherError, OSError, sqlite3.Error):
        return []


def _sweep_key(sweep_id: str) -> tuple[str, str]:
    """A sweep id's place in `_when`'s order (`m-20250101-120000-ab12`); one without a time stamp
    counts as newer than any run dir (it is asked about rather than passed over)."""
    found = _STAMP.search(sweep_id)
    return (found.group(1) + found.group(2), sweep_id) if found else ("99999999999999", sweep_id)


def _finish(sweep: SweepListing) -> str:
    """What finishes an unfinished sweep, as `launcher mutation list` says it."""
    if sweep.status == store_mod.INTERRUPTED:
        return f"finish it with `{resume_command(sweep.sweep_id)}`"
    if sweep.status == store_mod.RUNNING:
        return "wait for it to finish (`launcher mutation list` shows it)"
    return "it stopped on an error: fix that error, then sweep again (`launcher mutation sweep`)"


def _unfinished_problem(sweep: SweepListing, root: Path, lead: str = "") -> RunNotFound:
    return RunNotFound(
        f"{lead}sweep {sweep.sweep_id} is {sweep.status} ({sweep.progress} mutants settled), so it has no "
        f"survivors yet (no {MUTANTS_FILE})", where=str(root / sweep.sweep_id),
        fix=f"{_finish(sweep)}, then run this again", error_key="sweep_unfinished",
    )  # fmt: skip


def _newer_unfinished(sweep: SweepListing, finished: Path, root: Path, command: str) -> RunNotFound:
    return RunNotFound(
        f"the latest sweep, {sweep.sweep_id}, is {sweep.status} ({sweep.progress} mutants settled); the latest "
        f"finished one, {finished.name}, is older", where=str(root / sweep.sweep_id),
        fix=f"{_finish(sweep)}, then run this again; or name the older one: `{command} {finished.name}`",
        error_key="sweep_unfinished",
    )  # fmt: skip


async def _sources(cwd: Path, data: dict[str, Any]) -> dict[str, str]:
    """The original sources: those recorded in the run, else git at base, else the work tree."""
    found = embedded_sources(data)
    missing = [m for m, _ in entries(data) if m.target not in found]
    if not missing:
        return found
    repo = Path(repo_of(data) or "")
    if not repo_of(data) or not repo.is_dir():
        try:
            repo = (await GitRepo.discover(cwd)).root
        except LauncherError:
            return found
    return {**await load_sources(repo, data.get("base_sha"), missing), **found}


async def write_standard_reports(cwd: Path, run_dir: Path) -> tuple[Path, Path]:
    """The Stryker JSON and its HTML page beside a run's seed files (one read of the run)."""
    return await _write_standard(cwd, run_dir, load_run(run_dir))


async def write_sweep_reports(cwd: Path, out_dir: Path, meta: SweepMeta, records: Sequence[MutantRecord],
                              durations: dict[str, float]) -> list[Path]:  # fmt: skip
    """A sweep's whole report set (README, Mutation sweeps): the seed files, the Stryker JSON and
    its two HTML pages, and `mutants.json` last: a run dir holding it is a finished sweep's to
    `mutation report`, `judge`, `label` and `fix`, so it appears only once every other file is
    there. An error (a full disk) leaves it unwritten; the caller says what writes the rest."""
    contents = seed_contents(meta, records, durations)
    last = contents.pop(MUTANTS_FILE)
    for name, text in contents.items():
        atomic_write_text(out_dir / name, text)
    stryker, page = await _write_standard(cwd, out_dir, json_loads(last))
    atomic_write_text(out_dir / MUTANTS_FILE, last)
    return [*(out_dir / name for name in contents), out_dir / MUTANTS_FILE, stryker, page]


async def _write_standard(cwd: Path, run_dir: Path, data: dict[str, Any]) -> tuple[Path, Path]:
    return write_stryker(run_dir, data, await _sources(cwd, data))


async def report(cwd: Path, run: str | None = None, fmt: ReportFormat = "text", out: Path | None = None) -> str:
    """The run's report: the text or JSON itself (written to `out` if given, then its path), or
    for `stryker`/`html` the path of the file written (default: into the run dir)."""
    if fmt not in get_args(ReportFormat):
        raise UsageProblem(f"unknown report format {fmt!r}", where="--format", fix="use text, json, stryker or html")
    run_dir = await resolve_run(cwd, run)
    data = load_run(run_dir)
    if out is not None and not out.is_absolute():
        out = cwd / out
    if fmt in ("text", "json"):
        name = "summary.txt" if fmt == "text" else "report.json"
        saved = run_dir / name
        text = saved.read_text(encoding="utf-8") if saved.is_file() else seed_reports(data)[name]
        if out is None:
            return text
        atomic_write_text(out, text)
        return str(out)
    stryker, page = await _write_standard(cwd, run_dir, data)
    written = stryker if fmt == "stryker" else page
    if out is not None:
        atomic_write_text(out, written.read_text(encoding="utf-8"))
        return str(out)
    return str(written)


def _find(data: dict[str, Any], wanted: str) -> list[tuple[Mutant, dict[str, Any]]]:
    pairs = entries(data)
    exact = [p for p in pairs if p[0].id == wanted]
    if exact:
        return exact
    if wanted.lstrip("#").isdigit():
        return [p for p in pairs if p[0].index == int(wanted.lstrip("#"))]
    return [p for p in pairs if len(wanted) >= 4 and p[0].id.startswith(wanted)]


async def show(cwd: Path, mutant_id: str, run: str | None = None) -> str:
    """The mutant as a unified diff of its file (original vs mutated) with its status. The id is a
    stable id (or a unique prefix of 4+ characters), looked up in the newest run that has it; a
    number (`7` or `#7`) is the seed survivor id in the latest run (or in `run`)."""
    wanted = mutant_id.strip()
    numeric = wanted.lstrip("#").isdigit()
    if run is not None or numeric:
        dirs = [await resolve_run(cwd, run)]
    else:
        dirs = _run_dirs(await runs_root(cwd), [s.sweep_id for s in await _sweeps(cwd)])
        if not dirs:
            raise RunNotFound("there are no mutation sweeps yet", fix="run one with `launcher mutation sweep`")
    for run_dir in dirs:
        data = load_run(run_dir)
        found = _find(data, wanted)
        if len(found) > 1:
            ids = ", ".join(m.id for m, _ in found[:5])
            raise UsageProblem(
                f"{wanted!r} matches several mutants: {ids}", where=str(run_dir), fix="pass more characters of the id"
            )
        if found:
            mutant, result = found[0]
            sources = await _sources(cwd, {**data, "mutants": [{"mutant": mutant.model_dump(), "result": result}]})
            return render_mutant(mutant, result, sources.get(mutant.target), run_dir.name)
    raise UsageProblem(
        f"no mutant {wanted!r} in {', '.join(d.name for d in dirs[:5])}", where="MUTANT_ID",
        fix="pass an id from survivors.jsonl, summary.txt or the report (`launcher mutation report`)",
    )  # fmt: skip


def _test_lines(result: dict[str, Any]) -> list[str]:
    """Which tests killed and which covered the mutant (the report's killedBy and coveredBy)."""
    status, killed, covered = result.get("status"), result.get("killed_by") or [], result.get("covered_by") or []
    lines = []
    if killed:
        lines.append(f"killed by: {', '.join(killed)}")
    elif status == "Killed":
        lines.append("killed by: the test run failed (no failing test named: " + (result.get("note") or "?") + ")")
    if covered:
        lines.append(f"covered by ({len(covered)}): {', '.join(covered)}")
    elif status == "NoCoverage":
        lines.append("covered by: no test")
    elif result.get("import_time"):
        lines.append("covered by: every test that imports it (it runs at import time: tested with the whole suite)")
    elif "covered_by" in result:
        lines.append("covered by: unknown (no coverage data: a custom test command runs the whole suite)")
    return lines


def render_mutant(mutant: Mutant, result: dict[str, Any], source: str | None, run_name: str = "") -> str:
    status = result.get("status", "Pending")
    executor = f" ({result['executor']} executor)" if result.get("executor") else ""
    head = [
        f"mutant {mutant.id} #{mutant.index}{f' in {run_name}' if run_name else ''}: {mutant.fault} at "
        f"{mutant.target}:{mutant.line}:{mutant.col} in {mutant.function}",
        f"status: {status}{executor}",
        f"why: {mutant.rationale}",
    ]
    head += _test_lines(result)
    if source is not None:
        before, after = source, mutant.apply(source)
    else:
        head.append("(the original file is not available; showing the mutated lines only)")
        before, after = mutant.orig + "\n", mutant.mut + "\n"
    diff = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"a/{mutant.target}", tofile=f"b/{mutant.target}",
    )  # fmt: skip
    body = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff)
    return "\n".join(head) + "\n" + body


async def merge(cwd: Path, dirs: list[Path], out: Path | None = None) -> Path:
    """Join shard runs (names or paths) into a new run dir (default: a fresh one under
    .launcher/mutation-runs) with every report; returns its path."""
    if not dirs:
        raise UsageProblem("nothing to merge", where="DIR...", fix="pass the run dir of each shard")
    run_dirs = [await resolve_run(cwd, d) for d in dirs]
    if out is None:
        out = await runs_root(cwd) / f"m-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-merged"
    elif not out.is_absolute():
        out = cwd / out
    if out.resolve() in {d.resolve() for d in run_dirs}:
        raise UsageProblem(f"the output {out} is one of the inputs", where="-o", fix="write the merge to a new dir")
    merged = merge_data([load_run(d) for d in run_dirs], sweep_id=out.name)
    return write_run(out, merged, await _sources(cwd, merged))


__all__ = ["HTML_FILE", "STRYKER_FILE", "ReportFormat", "merge", "render_mutant", "report", "resolve_run", "show"]
