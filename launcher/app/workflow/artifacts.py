"""A phase's artifacts in `.launcher/workflows/<id>/`, written from facts: the files git says
the phase's own landed tasks changed, its tasks' contracts and landed documents, and real runs of the project's
test command (and coverage) on the phase's landed result."""

from __future__ import annotations

import json
import re
import shlex
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher import process
from launcher.engine import site_installs
from launcher.engine.command_env import command_env
from launcher.engine.orphans import journaling_observer, reap_journaled
from launcher.git.integration_check import run_integration_check
from launcher.git.repo import GitRepo
from launcher.models.report import RunReport, TaskReport
from launcher.models.workflow import ArtifactSpec, Phase
from launcher.store.files import atomic_write_json, atomic_write_text
from launcher.store.journal import Journal

TEST_TIMEOUT_S = 1800.0
# `python -m MODULE ...`, the interpreter as the command names it (`python3`, `.venv/bin/python`)
_PYTHON_MODULE = re.compile(r"^\s*((?:\S*/)?python[0-9.]*)\s+-m\s+(\S+)(.*)$")
_NO_COVERAGE = "launcher: coverage.py is not importable by the test command's interpreter"


async def changed_files(repo: GitRepo, start: str, end: str, tasks: list[TaskReport]) -> list[dict[str, str]]:
    """The files the phase's own landed tasks changed (what git recorded for each task), as the
    target's history from `start` to `end` changed them: never a file that reached the target
    meanwhile by other hands (the operator's commit while the phase was paused, another
    workflow's phase landing on the same branch)."""
    own = {path for task in tasks if task.merged for path in task.files}
    if start == end or not own:
        return []
    done = await repo.git("diff", "--name-status", "--no-renames", "-z", start, end, check=False)
    kinds = {"A": "created", "M": "modified", "D": "deleted"}
    fields = done.out.split("\0")
    rows = []
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        if path in own:
            rows.append({"path": path, "change": kinds.get(status[:1], status)})
    return rows


def _parse_counts(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)", output):
        counts[word.rstrip("s") if word.startswith("error") else word] = int(number)
    ran = re.search(r"Ran (\d+) tests?", output)  # unittest
    if ran:
        counts["ran"] = int(ran.group(1))
        bad = re.search(r"FAILED \(([^)]*)\)", output)
        for key, number in re.findall(r"(failures|errors|skipped)=(\d+)", bad.group(1) if bad else ""):
            counts[key] = int(number)
    return counts


def _env(repo: GitRepo, owner: str) -> Callable[[Path], dict[str, str]]:
    """The command's environment; LAUNCHER_RUN_ID is the workflow's id (`owner`), by which a
    later `workflow resume`/`cancel` finds what a killed runner left running (orphans.py)."""
    def make(tree: Path) -> dict[str, str]:
        return command_env(tree, main_root=repo.root, run_id=owner, task_id=None, pass_names=[])
    return make


@dataclass
class PhaseTests:
    """What every test and coverage run of a workflow shares: the values its phase's run passes
    (masked in the output kept, before its tail is cut), and the user's venv guarded: the
    command's `pip install -e .` from its scratch tree put back after it (engine/site_installs)."""

    owner: str  # the workflow's id
    secrets: Mapping[str, str] = field(default_factory=dict)
    record: Path | None = None  # where the venvs' installs are kept while a command runs
    put_back: list[str] = field(default_factory=list)  # what its commands' guards put back (for the notes)

    async def run(self, repo: GitRepo, commit: str, command: str, scratch: Path) -> tuple[bool, str, list[str]]:
        """(ok, output tail masked, what was put back in the user's venvs)."""
        make_env = _env(repo, self.owner)
        record = self.record or scratch.parent / site_installs.RECORD
        async with site_installs.guarded(scratch.parent, record, make_env(repo.root)) as put_back:
            ok, output = await run_integration_check(repo, commit, command, scratch, TEST_TIMEOUT_S,
                                                     env=make_env, secrets=self.secrets)
        return ok, output, put_back


PUT_BACK_WHY = ("the test command installed the project from its scratch tree; it should not install "
               "into a shared environment")


def _with_put_back(result: dict[str, Any], put_back: list[str], said: list[str] | None = None) -> dict[str, Any]:
    """`result` with what was put back in the user's venvs; `said` collects the same lines (the
    phase's notes: `install_notes`)."""
    if put_back:
        result["installs_put_back"] = [f"{line} ({PUT_BACK_WHY})" for line in put_back]
        if said is not None:
            said += put_back
    return result


async def test_results(repo: GitRepo, commit: str, command: str, scratch: Path, how: PhaseTests) -> dict[str, Any]:
    ok, output, put_back = await how.run(repo, commit, command, scratch)
    return _with_put_back({"command": command, "commit": commit, "passed": ok, "counts": _parse_counts(output),
                           "output_tail": output[-4000:]}, put_back, how.put_back)


async def coverage_results(repo: GitRepo, commit: str, command: str, scratch: Path, how: PhaseTests) -> dict[str, Any]:
    """Coverage of the test command when it is `python -m MODULE ...`: the same command under
    coverage.py, run by the same interpreter (the project's, as the command names it, with its
    packages; never the launcher's own); otherwise, or when that interpreter has no coverage.py,
    it says why nothing was measured."""
    found = _PYTHON_MODULE.match(command)
    if not found:
        return {"measured": False, "command": command,
                "reason": "the test command is not `python -m MODULE ...`, so coverage.py cannot wrap it"}
    python, module, rest = found.group(1), found.group(2), found.group(3)
    with tempfile.TemporaryDirectory(prefix="launcher-cov-") as tmp:
        data, report = Path(tmp) / ".coverage", Path(tmp) / "coverage.json"
        py, data_q, report_q = shlex.quote(python), shlex.quote(str(data)), shlex.quote(str(report))
        probe = f"{py} -c 'import coverage' 2>/dev/null || {{ echo {shlex.quote(_NO_COVERAGE)}; exit 97; }}; "
        # the test command's arguments end their own line: a trailing `# comment` of the test
        # command must not swallow the report step (nor the exit status)
        wrapped = (f"{probe}{py} -m coverage run --data-file={data_q} -m {module}{rest}\n"
                   f"status=$?; {py} -m coverage json -q --data-file={data_q} -o {report_q} "
                   "--omit='*/site-packages/*'"
                   "; exit $status")
        ok, output, put_back = await how.run(repo, commit, wrapped, scratch)
        if _NO_COVERAGE in output:
            return {"measured": False, "command": command,
                    "reason": f"coverage.py is not installed for `{python}`, the test command's interpreter "
                              f"(install it there, e.g. `{python} -m pip install coverage`)"}
        if not report.is_file():
            return _with_put_back({"measured": False, "command": command, "reason": "coverage.py wrote no report",
                                   "output_tail": output[-2000:]}, put_back, how.put_back)
        raw = json.loads(report.read_text(encoding="utf-8"))
    totals = raw.get("totals", {})
    files = {}
    for path, info in raw.get("files", {}).items():
        rel = path.split("/_coverage/", 1)[-1] if "/_coverage/" in path else path
        files[rel] = round(info.get("summary", {}).get("percent_covered", 0.0), 2)
    return _with_put_back({"measured": True, "command": command, "commit": commit, "tests_passed": ok,
                           "percent_covered": round(totals.get("percent_covered", 0.0), 2),
                           "covered_lines": totals.get("covered_lines"),
                           "num_statements": totals.get("num_statements"), "files": files}, put_back, how.put_back)


def _task_section(task: TaskReport, documents: dict[str, str]) -> str:
    contract = task.contract or {}
    lines = [f"## {task.role} ({task.id}: {task.state}, agent {task.agent})", ""]
    if contract.get("summary"):
        lines += [str(contract["summary"]), ""]
    for key, title in (("decisions", "Decisions"), ("blockers", "Blockers")):
        if contract.get(key):
            lines += [f"{title}:", *[f"- {item}" for item in contract[key]], ""]
    if "approved" in contract or contract.get("qa_status"):  # DESIGN 7.1's QA verdict
        approved = contract.get("approved")
        verdict = "approved" if approved is True else "rejected" if approved is False else "not stated"
        lines += [f"Verdict: {verdict}" + (f" (qa_status: {contract['qa_status']})" if contract.get("qa_status")
                                           else ""), ""]
    for key, title in (("must_fix", "Must fix"), ("issues_found", "Issues found")):
        items = contract.get(key)
        if isinstance(items, list) and items:
            lines += [f"{title}:", *[f"- {item}" for item in items], ""]
        elif isinstance(items, str) and items.strip():
            lines += [f"{title}: {items}", ""]
    if contract.get("llm_observations"):
        lines += ["Observations: " + str(contract["llm_observations"]), ""]
    if task.files:
        lines += ["Files: " + ", ".join(task.files), ""]
    for path, text in documents.items():
        lines += [f"### {path}", "", text.rstrip(), ""]
    if task.message:
        lines += [f"Launcher: {task.message}", ""]
    return "\n".join(lines)


async def _documents(repo: GitRepo, commit: str, task: TaskReport) -> dict[str, str]:
    """The Markdown documents a task landed, as they are in the phase's result."""
    docs = {}
    for path in task.files:
        if path.endswith(".md"):
            shown = await repo.git("show", f"{commit}:{path}", check=False)
            if shown.ok:
                docs[path] = shown.text[:20000]
    return docs


async def write_phase_artifacts(
    repo: GitRepo, folder: Path, phase: Phase, report: RunReport, start: str, landed: str,
    test_command: str, scratch_root: Path, journal: Journal, workflow_id: str,
) -> tuple[list[str], list[str]]:
    """Every artifact the template names for this phase; returns their paths (relative) and what
    the test and coverage commands' guards put back in the user's venvs (`install_notes`). The test
    and coverage commands are journaled under the workflow's id as they start (and marked ended
    when reaped), so what a killed runner left running is found and killed by the workflow's
    next `resume` or its `cancel` (`reap_left_behind`)."""
    how = PhaseTests(workflow_id, journal.passed_values(report.run_id), folder / site_installs.RECORD)
    with process.observing_spawns(journaling_observer(journal, workflow_id, None)):
        written = await _write_artifacts(repo, folder, phase, report, start, landed, test_command, scratch_root, how)
    return written, how.put_back


async def _write_artifacts(
    repo: GitRepo, folder: Path, phase: Phase, report: RunReport, start: str, landed: str,
    test_command: str, scratch_root: Path, how: PhaseTests,
) -> list[str]:
    tasks = [t for t in report.tasks if t.id in phase.task_ids()]
    written: list[str] = []
    for spec in phase.artifacts:
        target = folder / spec.path
        name = Path(spec.path).name
        if name == "files.json" or name.endswith("-files.json"):
            atomic_write_json(target, {"phase": phase.id, "from": start, "to": landed,
                                       "files": await changed_files(repo, start, landed, tasks)})
        elif name == "results.json":
            scratch = scratch_root / f"{phase.id}-test"
            atomic_write_json(target, await test_results(repo, landed, test_command, scratch, how))
        elif name == "coverage.json":
            scratch = scratch_root / f"{phase.id}-cov"
            atomic_write_json(target, await coverage_results(repo, landed, test_command, scratch, how))
        elif name == "log.md":
            atomic_write_text(target, _log(phase, report, start, landed))
        else:
            atomic_write_text(target, await _document(repo, landed, phase, spec, tasks))
        written.append(spec.path)
    return written


async def _document(repo: GitRepo, landed: str, phase: Phase, spec: ArtifactSpec, tasks: list[TaskReport]) -> str:
    chosen = [t for t in tasks if spec.role is None or t.role == spec.role]
    parts = [f"# {phase.title}", "", phase.description, ""]
    for task in chosen:
        parts.append(_task_section(task, await _documents(repo, landed, task)))
    if not chosen:
        parts.append(f"(no task of role {spec.role} in this phase)")
    if spec.path.endswith(".json"):
        return json.dumps({"phase": phase.id, "text": "\n".join(parts)}, indent=2) + "\n"
    return "\n".join(parts) + "\n"


def _log(phase: Phase, report: RunReport, start: str, landed: str) -> str:
    lines = [f"# {phase.title}: log", "", f"Run {report.run_id}: {report.status}; {start[:12]} -> {landed[:12]}", ""]
    for task in report.tasks:
        if task.id not in phase.task_ids():
            continue
        summary = (task.contract or {}).get("summary", "")
        lines.append(f"- {task.id} ({task.agent}): {task.state}; {len(task.files)} file(s). {summary}".rstrip())
    if report.message:
        lines += ["", report.message]
    return "\n".join(lines) + "\n"


def error_path(phase: Phase) -> str:
    return f"{phase.id}/error.json"


def clear_error(folder: Path, phase: Phase) -> None:
    """A phase that succeeded (on a retry) keeps no error.json of an earlier failure."""
    if error_path(phase) not in {a.path for a in phase.artifacts}:
        (folder / error_path(phase)).unlink(missing_ok=True)


def write_error(folder: Path, phase: Phase, report: RunReport | None, error: str) -> str:
    """A failed phase's details, for the operator choosing retry, skip or cancel."""
    path = error_path(phase)
    tasks = [] if report is None else [
        {"id": t.id, "state": t.state, "message": t.message, "branch": t.branch, "worktree": t.worktree}
        for t in report.tasks if t.id in phase.task_ids()]
    atomic_write_json(folder / path, {"phase": phase.id, "error": error,
                                      "run_id": report.run_id if report else None, "tasks": tasks})
    return path


async def put_back_installs(scratch_root: Path | None, folder: Path) -> list[str]:
    """What a test or coverage command of a killed runner left installed from its scratch tree
    (under `scratch_root`; None: the one its record names) in the user's venvs, put back
    (`folder`: the workflow's, its record)."""
    return await site_installs.put_back_left(scratch_root, folder / site_installs.RECORD)


def reap_left_behind(journal: Journal, workflow_id: str) -> list[int]:
    """Kill the test and coverage commands a runner that died (kill -9) while writing a phase's
    artifacts left running; returns their pids. Only called under the workflow's claim with no
    live runner, so nothing of a live writer is touched."""
    return reap_journaled(journal, workflow_id, set())
