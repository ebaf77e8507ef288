"""`launcher mutation fix`: genuine survivors become test-writing tasks of an ordinary run.

The run is `app.run.start_run` with a generated plan (`mutation_fix_plan`); each task's check is
the launcher's own kill gate, so a task lands only when its tests pass on the original code and
fail with every mutant it claims. Then the sweep is updated from the landed tasks' evidence:
those mutants become Killed, by the new tests, every report of the run dir is rewritten, and the
score before and after is recorded (`fix.json`, `report.json` "fix", a line in summary.txt).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher.app.context import EventSink
from launcher.app.mutation.fix_earlier import read_evidence, remembering_run, unrecorded_kills
from launcher.app.mutation.fix_fresh import check_fresh
from launcher.app.mutation.fix_plan import FIX_DIR, build_plan, group, load_verdict, select
from launcher.app.mutation.fix_resettle import Resettled, resettle
from launcher.app.mutation.reports import resolve_run, write_standard_reports
from launcher.app.mutation.setup import configured
from launcher.app.mutation.sweep import SweepOptions
from launcher.app.run.runner import RunOptions, start_run
from launcher.errors import ExitCode
from launcher.git.repo import GitRepo
from launcher.models.config import load_repo_config
from launcher.models.states import TaskState
from launcher.mutation.interpreter import resolve_python
from launcher.mutation.merge import load_run, write_run
from launcher.mutation.model import MutantStatus
from launcher.mutation.report_stryker import embedded_sources, entries, score
from launcher.store.files import atomic_write_json

FIX_FILE = "fix.json"


@dataclass
class FixOptions:
    run: str | None = None
    agent: str = "scripted-test-writer"
    max_tasks: int | None = None
    ids: list[str] = field(default_factory=list)
    all_unjudged: bool = False
    python: str | None = None
    max_parallel: int | None = None


@dataclass
class FixSummary:
    exit_code: int
    message: str
    sweep_dir: Path | None = None
    run_id: str | None = None
    tasks: int = 0
    killed: dict[str, list[str]] = field(default_factory=dict)  # mutant id -> the new tests that kill it
    also_killed: dict[str, list[str]] = field(default_factory=dict)  # unclaimed mutants the landed tests kill
    refused: dict[str, str] = field(default_factory=dict)  # task id -> why it did not land
    score_before: float | None = None
    score_after: float | None = None
    # earlier fix run -> the mutants its landed tests kill, recorded now (that fix was stopped first)
    recorded: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "message": self.message, "sweep": str(self.sweep_dir or ""),
                "run_id": self.run_id, "tasks": self.tasks, "killed": self.killed, "also_killed": self.also_killed,
                "refused": self.refused, "recorded_earlier": self.recorded,
                "score_before": self.score_before, "score_after": self.score_after}  # fmt: skip


def _was(also: Resettled) -> str:
    statuses = list(also.was.values())
    return ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


_RUN_LINE = re.compile(r"^Run \d+.*; (\d+(?:\.\d+)?)s$", re.MULTILINE)


def _keep_summary_facts(sweep_dir: Path, data: dict[str, Any]) -> None:
    """A sweep written before mutants.json kept them: its duration and notes, from summary.txt,
    so the rewritten summary does not say 0.0s."""
    if "wall_s" in data and "notes" in data:
        return
    try:
        text = (sweep_dir / "summary.txt").read_text(encoding="utf-8")
    except OSError:
        return
    found = _RUN_LINE.search(text)
    if found and "wall_s" not in data:
        data["wall_s"] = float(found.group(1))
    if "notes" not in data:
        data["notes"] = [line.removeprefix("Note: ") for line in text.splitlines() if line.startswith("Note: ")]


def _fix_line(record: dict[str, Any]) -> str:
    return (f"Mutation fix (run {record.get('run_id')}): score {_pct(record.get('score_before'))} -> "
            f"{_pct(record.get('score_after'))}; {len(record.get('killed') or {})} survivor(s) killed by new tests"
            + (f", {len(record['also_killed'])} more mutant(s) of the sweep killed by them too"
               if record.get("also_killed") else "") + "\n")


def record_kills(sweep_dir: Path, data: dict[str, Any], killed: dict[str, list[str]], run_id: str,
                 also: Resettled | None = None) -> float | None:  # fmt: skip
    """Mark the killed mutants in the sweep (the claimed ones, and `also` those of the sweep the
    landed tests kill too) and rewrite its reports (keeping the sweep's duration and notes);
    returns the new score."""
    before = data.get("score")
    also = also or Resettled()
    _keep_summary_facts(sweep_dir, data)
    for entry in data["mutants"]:  # the raw entries: `entries` hands out copies
        mutant_id = str(entry["mutant"]["id"])
        if mutant_id in killed:
            entry.setdefault("result", {}).update(status=MutantStatus.KILLED.value, killed_by=killed[mutant_id],
                          note=f"killed by a test written in run {run_id} (launcher mutation fix)")  # fmt: skip
        elif mutant_id in also.killed:
            entry.setdefault("result", {}).update(
                status=MutantStatus.KILLED.value, killed_by=also.killed[mutant_id],
                note=f"{also.was.get(mutant_id, 'not killed')} in the sweep; killed by a test written in run "
                     f"{run_id} (launcher mutation fix), run again with the landed tests")  # fmt: skip
    statuses = [str(r["status"]) for _, r in entries(data)]
    data["score"] = score(statuses)
    data["counts"] = {s.value: statuses.count(s.value) for s in MutantStatus}
    record = {"run_id": run_id, "at": datetime.now(UTC).isoformat(timespec="seconds"), "score_before": before,
              "score_after": data["score"], "counts_after": data["counts"], "killed": killed,
              "also_killed": also.killed, "rerun": also.tried}  # fmt: skip
    if also.note:
        record["note"] = also.note
    if also.put_back:
        record["installs_put_back"] = also.put_back
    data["fix_history"] = [*(data.get("fix_history") or []), record]
    write_run(sweep_dir, data, embedded_sources(data))
    atomic_write_json(sweep_dir / FIX_FILE, data["fix_history"])
    report = json.loads((sweep_dir / "report.json").read_text(encoding="utf-8"))
    report["fix"] = data["fix_history"]
    atomic_write_json(sweep_dir / "report.json", report)
    with (sweep_dir / "summary.txt").open("a", encoding="utf-8") as summary:  # every fix, the rewrite dropped them
        summary.write("".join(_fix_line(r) for r in data["fix_history"]))
    return data["score"]


def _landed_tests(evidence: dict[str, Any]) -> list[str]:
    return [str(t) for t in evidence.get("test_files") or [] if isinstance(t, str)]


async def _record_earlier(cwd: Path, repo: GitRepo, sweep_dir: Path, data: dict[str, Any], python: str,
                          summary: FixSummary) -> None:  # fmt: skip
    """The kills of an earlier fix of this sweep that was stopped after its run landed tests and
    before it recorded them (app/mutation/fix_earlier.py): the landed tests are checked against
    the sweep's other mutants now, and the kills recorded, before any new task is planned."""
    for earlier in await unrecorded_kills(cwd, sweep_dir / FIX_DIR, data, _landed_tests):
        also = await resettle(repo, data, set(earlier.killed), sorted(earlier.tests), python, earlier.run_id)
        record_kills(sweep_dir, data, earlier.killed, earlier.run_id, also)
        summary.recorded[earlier.run_id] = {**earlier.killed, **also.killed}
    if summary.recorded:
        await write_standard_reports(cwd, sweep_dir)


def _recorded_line(summary: FixSummary) -> str:
    runs = ", ".join(summary.recorded)
    count = sum(len(killed) for killed in summary.recorded.values())
    return (f"recorded {count} mutant(s) killed by the tests run {runs} landed (that fix was stopped before "
            "it recorded them)")


async def fix_survivors(cwd: Path, options: FixOptions, emit: EventSink) -> FixSummary:
    repo = await GitRepo.discover(cwd)
    sweep_dir = await resolve_run(cwd, options.run, latest_for="launcher mutation fix")
    data = load_run(sweep_dir)
    summary = FixSummary(int(ExitCode.OK), "", sweep_dir, score_before=data.get("score"))
    # A relative --python is the directory's the command runs in, as a sweep's: the kill gate runs
    # the tests from a copy beside the task's worktree, where `.venv/bin/python` names nothing.
    given = resolve_python(options.python, cwd)
    python = configured(repo.root, SweepOptions(python=given)).python or "python3"
    await _record_earlier(cwd, repo, sweep_dir, data, python, summary)
    recorded = f"{_recorded_line(summary)}; " if summary.recorded else ""
    targets = select(data, load_verdict(sweep_dir), ids=options.ids, all_unjudged=options.all_unjudged,
                     where=str(sweep_dir))  # fmt: skip
    if not targets:
        has_survivors = any(r.get("status") == "Survived" for _, r in entries(data))
        summary.message = ("no survivor to write a test for" if has_survivors else
                           f"sweep {sweep_dir.name} has no survivors: there is nothing to judge or to write a test "
                           "for")  # fmt: skip
        summary.score_after = data.get("score")
        if summary.recorded:
            summary.message = (f"{recorded}mutation score {_pct(summary.score_before)} -> "
                               f"{_pct(summary.score_after)}; {summary.message}")
        return summary
    tasks = group(targets, options.max_tasks)
    config = load_repo_config(repo.root)
    base_sha = await repo.rev_parse("HEAD")
    # Before any task or agent: the picked mutants' positions must fit the code the tasks start from.
    await check_fresh(repo, base_sha, data, [t for task in tasks for t in task.targets], sweep_dir)
    out_dir = sweep_dir / FIX_DIR / datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    plan = build_plan(tasks, data, agent=options.agent, base_sha=base_sha, python=python, out_dir=out_dir,
                      known_agents=tuple(config.agents))  # fmt: skip
    # Its run named in out_dir once journaled: a fix stopped after landing is recorded by the next.
    report = await start_run(cwd, plan, RunOptions(max_parallel=options.max_parallel),
                             remembering_run(out_dir, emit))
    summary.run_id, summary.tasks = report.run_id, len(tasks)
    landed_tests: set[str] = set()
    for task in report.tasks:
        evidence_path = out_dir / f"{task.id}.evidence.json"
        evidence = read_evidence(evidence_path)
        if task.state == TaskState.MERGED and evidence.get("accepted"):
            summary.killed.update(evidence["killed_by"])
            landed_tests.update(_landed_tests(evidence))
        else:
            summary.refused[task.id] = str(evidence.get("reason") or task.message or task.state)
    summary.score_after = data.get("score")
    also = Resettled()
    if summary.killed:
        # The landed tests may kill more of the sweep than the mutants they claimed (NoCoverage ones)
        also = await resettle(repo, data, set(summary.killed), sorted(landed_tests), python, report.run_id)
        summary.also_killed = also.killed
        summary.score_after = record_kills(sweep_dir, data, summary.killed, report.run_id, also)
        await write_standard_reports(cwd, sweep_dir)  # Stryker JSON and page with the sources found as `report` does
    more = (f"; {len(also.killed)} more mutant(s) of the sweep ({_was(also)}) killed by the landed tests"
            if also.killed else "")  # fmt: skip
    summary.message = (f"{recorded}{len(summary.killed)} survivor(s) killed by new tests in {len(tasks)} "
                       f"task(s){more}; "
                       f"mutation score {_pct(summary.score_before)} -> {_pct(summary.score_after)}"
                       + (f" ({also.note})" if also.note else "")
                       + (f"; {'; '.join(also.put_back)}" if also.put_back else ""))
    summary.exit_code = int(ExitCode.OK) if not summary.refused else int(ExitCode.FAILED)
    return summary
