"""Which survivors `launcher mutation fix` turns into tasks, and the plan it runs.

One test-writing task per function (its survivors grouped): the prompt carries each mutant's
diff, its place, the judge's rationale and the tests that cover it, plus a ```json block of the
same facts for tools; the scope is the test files; the one check is `gates/mutant_kill`, the
launcher's own acceptance test, fed a claims file kept outside the worktree (`<sweep>/fix/`).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.errors import ConfigError, UsageProblem
from launcher.gates.mutant_kill import KillClaims
from launcher.launcher_child import launcher_check_argv, launcher_module_argv
from launcher.models.judge import JudgeCall, JudgeVerdict, load_judge_file
from launcher.models.plan import BUILTIN_ADAPTERS, AgentConfig, Plan, RunSettings, Task
from launcher.mutation.model import Mutant
from launcher.mutation.report_stryker import entries
from launcher.store.files import atomic_write_json

VERDICT_FILE = "verdict.json"
FIX_DIR = "fix"
SCRIPTED_WRITER = "scripted-test-writer"
TEST_PATTERNS = ("**/test_*.py", "**/*_test.py", "**/conftest.py")


@dataclass
class Target:
    """One survivor picked for a test: the mutant, its sweep result, the judge's call if any."""

    mutant: Mutant
    result: dict[str, Any]
    call: JudgeCall | None = None


@dataclass
class FixTask:
    task_id: str
    targets: list[Target] = field(default_factory=list)


def load_verdict(run_dir: Path) -> dict[int, JudgeCall]:
    path = run_dir / VERDICT_FILE
    if not path.is_file():
        return {}
    return {call.id: call for call in load_judge_file(path, JudgeVerdict).verdicts}


def _matches(mutant: Mutant, wanted: str) -> bool:
    wanted = wanted.strip()
    if wanted.lstrip("#").isdigit():
        return mutant.index == int(wanted.lstrip("#"))
    return mutant.id == wanted or (len(wanted) >= 4 and mutant.id.startswith(wanted))


def select(data: dict[str, Any], verdict: dict[int, JudgeCall], *, ids: list[str], all_unjudged: bool,
           where: str) -> list[Target]:  # fmt: skip
    """The survivors to write tests for: `ids` if given, else those judged genuine (and with
    `all_unjudged`, those the judge never saw)."""
    survivors = [Target(m, r, verdict.get(m.index)) for m, r in entries(data) if r.get("status") == "Survived"]
    if not survivors and not ids:
        return []  # nothing to judge nor to write a test for (the caller says so)
    if ids:
        picked = [t for t in survivors if any(_matches(t.mutant, w) for w in ids)]
        unknown = [w for w in ids if not any(_matches(t.mutant, w) for t in survivors)]
        if unknown:
            raise UsageProblem(f"not a survivor of this sweep: {', '.join(unknown)}", where="--ids",
                               fix="pass stable ids or numbers from survivors.jsonl")  # fmt: skip
        return picked
    if not verdict and not all_unjudged:
        raise UsageProblem("the sweep's survivors are not judged yet", where=where,
                           fix="run `launcher mutation judge` first, or pass --all to take every unjudged "
                               "survivor, or --ids")  # fmt: skip
    genuine = [t for t in survivors if t.call is not None and t.call.classification == "genuine"]
    unjudged = [t for t in survivors if t.call is None] if all_unjudged else []
    return genuine + unjudged


def group(targets: list[Target], max_tasks: int | None) -> list[FixTask]:
    """One task per function, in file order; `max_tasks` caps how many."""
    tasks: dict[tuple[str, str], FixTask] = {}
    for target in sorted(targets, key=lambda t: t.mutant.index):
        key = (target.mutant.target, target.mutant.function)
        if key not in tasks:
            slug = re.sub(r"[^a-z0-9]+", "-", f"{Path(key[0]).stem}-{key[1]}".lower()).strip("-")[:40]
            tasks[key] = FixTask(f"kill-{len(tasks) + 1}-{slug}")
        tasks[key].targets.append(target)
    return list(tasks.values())[:max_tasks] if max_tasks else list(tasks.values())


def _test_dir(data: dict[str, Any]) -> str:
    """Where new test files go: the first directory of the suite's test files (named test_*.py or
    *_test.py when there are any: a doctest in a module of the package is no test file's home)."""
    files = [str(t.get("file") or tid.split("::")[0]) for tid, t in (data.get("tests") or {}).items()]
    named = [f for f in files if Path(f).name.startswith("test_") or Path(f).stem.endswith("_test")]
    dirs = sorted({str(Path(f).parent) for f in named or files if f})
    return "" if not dirs or dirs[0] == "." else dirs[0]


def scope(data: dict[str, Any]) -> list[str]:
    test_dir = _test_dir(data)
    return [*([f"{test_dir}/**"] if test_dir else []), *TEST_PATTERNS]


def prompt(task: FixTask, data: dict[str, Any], sources: dict[str, str]) -> str:
    lines = [
        "Write tests that kill these surviving mutants: each new test must PASS on the code as it is and FAIL "
        "with the mutant applied. Change test files only; leave the code under test exactly as it is. The "
        "launcher checks both itself and refuses a test that passes on the mutant or fails on the original.",
        "",
    ]
    for target in task.targets:
        m = target.mutant
        lines += [f"## Mutant {m.id} (#{m.index}): {m.fault} at {m.target}:{m.line} in {m.function}",
                  f"why it matters: {m.rationale}"]  # fmt: skip
        if target.call is not None:
            lines.append(f"judge: {target.call.classification} ({target.call.confidence:.2f}): "
                         f"{target.call.justification}")  # fmt: skip
        covered = target.result.get("covered_by") or []
        lines.append(f"covered by: {', '.join(covered) if covered else 'no test'}")
        lines += ["```diff", f"--- a/{m.target}", f"+++ b/{m.target} (mutated)", f"@@ line {m.line} @@"]
        lines += [f"-{line}" for line in m.orig.splitlines()] + [f"+{line}" for line in m.mut.splitlines()]
        lines += ["```", ""]
    facts = {"test_dir": _test_dir(data), "mutants": [
        {k: v for k, v in t.mutant.model_dump(mode="json").items()
         if k in ("id", "index", "target", "function", "line", "start", "end", "replaced", "replacement", "orig",
                  "mut")} for t in task.targets]}  # fmt: skip
    lines += ["The same mutants as data:", "```json", json.dumps(facts), "```"]
    return "\n".join(lines)


def writer_agent() -> AgentConfig:
    """The built-in scripted test writer, a command agent run with this Python."""
    return AgentConfig(adapter="command",
                       command=launcher_module_argv("launcher.agents.scripted_test_writer", "{prompt}"))  # fmt: skip


def check_agent(agent: str, known_agents: tuple[str, ...]) -> None:
    """Before anything is created: the test writer must be an agent that can write files."""
    writers = [a for a in BUILTIN_ADAPTERS if not a.startswith("scripted")]
    if agent in known_agents or agent == SCRIPTED_WRITER or agent in writers:
        return
    raise ConfigError(f"unknown test-writing agent {agent!r}", where="--agent",
                      fix=f"define [agents.{agent}] in launcher.toml, or use {SCRIPTED_WRITER} or one of "
                          f"{', '.join(writers)}")  # fmt: skip


def build_plan(tasks: list[FixTask], data: dict[str, Any], *, agent: str, base_sha: str, python: str,
               out_dir: Path, known_agents: tuple[str, ...]) -> Plan:  # fmt: skip
    """The run's plan; writes each task's claims file under `out_dir` (outside any worktree)."""
    check_agent(agent, known_agents)
    out_dir.mkdir(parents=True, exist_ok=True)
    agents = {agent: writer_agent()} if agent == SCRIPTED_WRITER and agent not in known_agents else {}
    plan_tasks = []
    for task in tasks:
        claims = KillClaims(base_sha=base_sha, python=python, evidence=str(out_dir / f"{task.task_id}.evidence.json"),
                            mutants=[t.mutant for t in task.targets], task_id=task.task_id)  # fmt: skip
        claims_path = out_dir / f"{task.task_id}.claims.json"
        atomic_write_json(claims_path, claims.as_dict())
        check = shlex.join(launcher_check_argv("launcher.gates.mutant_kill", str(claims_path)))
        first = task.targets[0].mutant
        plan_tasks.append(Task(id=task.task_id, title=f"kill {len(task.targets)} mutant(s) of {first.function}",
                               role="tests", agent=agent, prompt=prompt(task, data, {}), scope=scope(data),
                               checks=[check]))  # fmt: skip
    return Plan(run=RunSettings(base=base_sha), agents=agents, task=plan_tasks)
