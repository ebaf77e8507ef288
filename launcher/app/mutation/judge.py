"""`launcher mutation judge`: the judge relay over a sweep's survivors, or over the calibration set.

The judge is a paid call, so it never runs unasked (DESIGN 7.4): `--confirm-judge`, or a `y` at
`Proceed to judge (N calls, ~$X)?`; without either (CI, no terminal) it stops with exit 2 and
says how to confirm. Zero survivors means no call at all.

`--calibrate` asks the judge about the operator-labelled calibration set instead (labels
stripped), then runs the calibration gate on its answer: exit 0 passed, 1 failed, 3 precision
undefined, 2 malformed input (also when the judge gave no usable verdict: nothing to gate).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher.app.agents_info import describe_agents
from launcher.app.context import DEFAULT_TIMEOUT_S, state_dir, writable_state_dir
from launcher.app.mutation import calibration_code
from launcher.app.mutation.calibration_default import choose_calibration_set, python_set_file
from launcher.app.mutation.reports import resolve_run
from launcher.app.run.inputs import prepare_worktree_root
from launcher.app.run.preflight import AUTH_HINTS, uncommitted_programs
from launcher.app.run.shared_credentials import check_shared_credentials
from launcher.engine import site_installs
from launcher.engine.agent_round import Limits
from launcher.engine.command_env import command_env
from launcher.errors import ConfigError, EnvironmentProblem, ExitCode, UsageProblem
from launcher.gates import judge_relay
from launcher.gates.calibration import (
    REPORT_NAME,
    GateExit,
    check_bound,
    evaluate,
    gate_exit,
    precision_text,
    resolve_threshold,
    set_problem,
)
from launcher.gates.judge_identity import judge_identity
from launcher.gates.judge_model_files import project_paths, read_at_head
from launcher.gates.judge_prompt import judge_prompt
from launcher.git.repo import GitRepo
from launcher.git.worktrees import default_worktree_root
from launcher.models.config import RepoConfig, load_repo_config
from launcher.models.decoding import json_loads, read_text
from launcher.models.judge import (
    CalibrationSet,
    JudgeInputInvalid,
    Survivor,
    labels_digest,
    load_judge_file,
    parse_judge_text,
)
from launcher.models.plan import BUILTIN_ADAPTERS, AgentConfig
from launcher.store.files import atomic_write_json

# A rough price of one judge call when the agent config sets no budget_usd: only for the question.
DEFAULT_CALL_USD = 0.25
SURVIVORS_FILE = "survivors.jsonl"
REGENERATE = "sweep again (`launcher mutation sweep`) to write the sweep's files anew, or restore them"


@dataclass
class JudgeOptions:
    run: str | None = None
    agent: str | None = None
    confirm: bool = False
    batch_size: int | None = None
    calibrate: bool = False
    calibration: Path | None = None
    threshold: float | None = None
    min_lower_bound: float | None = None  # with calibrate: precision's 95% lower bound must reach it


@dataclass
class JudgeSummary:
    exit_code: int
    message: str
    out_dir: Path | None = None
    survivors: int = 0
    calls: int = 0
    verdict_path: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)
    gate_report: dict[str, Any] | None = None
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    cost_usd: float | None = None  # every judge process summed; None: none reported a cost
    prefiltered: int = 0  # mutants the equivalence pre-filter proved equivalent (never judged)
    calls_saved: int = 0  # the judge calls they would have cost
    calibration_file: Path | None = None  # with --calibrate: the labelled set judged
    calibration_note: str = ""  # with --calibrate: which set is judged and why (said before the call)
    built_in: str | None = None  # a built-in judge (scripted-judge): no model, no cost
    warnings: list[str] = field(default_factory=list)  # the calibration gate's (a judge that cannot tell, a small set)

    @property
    def cost_line(self) -> str:
        """What the judge cost, said plainly (Codex and Gemini report tokens, not money)."""
        if self.calls == 0:
            return "judge cost: none (no call)"
        if self.built_in:
            return f"judge cost: no cost, the built-in {self.built_in} runs no model ({self.calls} call(s))"
        if self.cost_usd is None:
            return f"judge cost: not reported by the agent ({self.calls} call(s))"
        return f"judge cost: ${self.cost_usd:.4f} ({self.calls} call(s))"

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code, "message": self.message, "out_dir": str(self.out_dir or ""),
            "survivors": self.survivors, "calls": self.calls, "verdict": str(self.verdict_path or ""),
            "counts": self.counts, "calibration_report": str(self.report_path or ""), "notes": self.notes,
            "cost_usd": self.cost_usd, "prefiltered": self.prefiltered, "calls_saved": self.calls_saved,
            "warnings": self.warnings, "calibration_file": str(self.calibration_file or ""),
            "calibration_note": self.calibration_note,
            # with --calibrate: the gate's verdict (None: no verdict came back to gate, exit 2)
            "gate_verdict": (self.gate_report or {}).get("gate_verdict"),
            "precision": (self.gate_report or {}).get("precision"),
        }  # fmt: skip


def _agent_config(config: RepoConfig, name: str) -> AgentConfig | None:
    if name in config.agents:
        return config.agents[name]
    if name in BUILTIN_ADAPTERS:
        return AgentConfig.model_validate({"adapter": name})
    return None


def configured_judge(config: RepoConfig, name: str, prompt: str | None = None,
                     project: dict[str, str] | None = None) -> dict[str, Any] | None:  # fmt: skip
    """The identity of the judge agent `name` as configured now, given `prompt` and the files of
    its checkout (`project`, judge_model_files.read_at_head) (None: no such agent)."""
    agent = _agent_config(config, name)
    if agent is None:
        return None
    return judge_identity(name, agent, prompt=prompt, project=project, for_old_records=True)


async def configured_judges(cwd: Path) -> Callable[[str], dict[str, Any] | None] | None:
    """For `launcher mutation gate`: the judges configured in the repository at `cwd` (None: not in
    a repository, so no configured judge to hold a calibration verdict against)."""
    try:
        repo = await GitRepo.discover(cwd)
    except EnvironmentProblem:
        return None
    config = load_repo_config(repo.root)
    prompt = judge_prompt(repo.root)
    # what the judge's checkout of HEAD holds of its CLI's config files, for every judge it may be
    agents = [agent for name in (*config.agents, *BUILTIN_ADAPTERS) if (agent := _agent_config(config, name))]
    paths = dict.fromkeys(path for agent in agents for path in project_paths(agent, os.environ))
    project = await read_at_head(repo, list(paths))
    return lambda name: configured_judge(config, name, prompt, project)


def _judge_agent(config: RepoConfig, name: str | None) -> tuple[str, AgentConfig]:
    chosen = name or config.mutation.judge
    if not chosen:
        raise UsageProblem("no judge agent named", where="--agent",
                           fix="pass --agent NAME (an [agents.NAME] of launcher.toml, or an adapter such as "
                               "claude), or set [mutation] judge")  # fmt: skip
    if chosen in config.agents:
        return chosen, config.agents[chosen]
    if chosen in BUILTIN_ADAPTERS:
        return chosen, AgentConfig.model_validate({"adapter": chosen})
    configured = f"a configured agent ({', '.join(sorted(config.agents))}), " if config.agents else ""
    raise ConfigError(f"unknown judge agent {chosen!r}", where="--agent",
                      fix=f"use {configured}an adapter ({', '.join(BUILTIN_ADAPTERS)}), or define [agents.{chosen}] "
                          "in launcher.toml")  # fmt: skip


async def _check_cli(name: str, agent: AgentConfig) -> None:
    """The judge's CLI is on PATH (its own `set_env` PATH if it has one), as `launcher run` checks."""
    if agent.adapter in _BUILT_IN:
        return
    rows = await describe_agents({name: agent}, search_path=agent.set_env.get("PATH"))
    row = rows[-1]  # the configured agent comes last
    if row.found:
        return
    what = row.note or (f"{row.binary} cannot be run" if row.binary else "it cannot be run")
    hint = f"; install: {row.install_hint}" if row.install_hint else ""
    auth = AUTH_HINTS.get(row.adapter, "")
    raise EnvironmentProblem(
        f"cannot start the judge: agent {name!r} ({row.adapter}): {what}{hint}{'; ' + auth if auth else ''}",
        where="--agent", error_key="agent_missing",
        fix="install the missing agent CLI or correct its [agents.<name>] command (`launcher agents` lists "
            "what is found); no judge call was made",
    )  # fmt: skip


_BUILT_IN = frozenset({"scripted", "scripted-grader", "scripted-judge"})


async def _check_program(repo: GitRepo, name: str, agent: AgentConfig, base_sha: str, calibrate: bool) -> None:
    """A command judge naming a program of this repository (`python3 tools/judge.py`) runs it in
    the judge's checkout of the sweep's base commit (HEAD with --calibrate): a file that commit
    lacks would fail every call, each counted and retried, so it is refused before any (as
    `launcher run` refuses agent scripts)."""
    checkout = "the judge's checkout is " + ("HEAD" if calibrate else "the sweep's base commit")
    problems = await uncommitted_programs(repo, {name: agent}, base_sha, where=checkout)
    if problems:
        raise EnvironmentProblem(
            "cannot start the judge: " + "; ".join(problems), where="--agent", error_key="agent_file_uncommitted",
            fix="commit it (git add FILE && git commit; then sweep again, or judge with --calibrate at the new "
                "HEAD), or name it by absolute path; no judge call was made",
        )  # fmt: skip


def _sweep_survivors(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / SURVIVORS_FILE
    if not path.is_file():
        raise UsageProblem(f"no {SURVIVORS_FILE} here", where=str(run_dir),
                           fix="run `launcher mutation sweep` first (it writes the survivors)")  # fmt: skip
    try:
        text = read_text(path)
    except OSError as exc:
        raise UsageProblem(f"cannot read it: {exc.strerror or exc}", where=str(path), error_key="survivors_invalid",
                           fix=REGENERATE) from None  # fmt: skip
    survivors = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            where = f"{path}:{number}"
            try:
                survivors.append(parse_judge_text(line, Survivor, where=where).model_dump())
            except JudgeInputInvalid as exc:
                key = (exc.where or "").removeprefix(where).strip()  # the JSON path, e.g. `$.line`
                raise UsageProblem(f"line {number} is not a survivor: {key + ' ' if key else ''}{exc.what}",
                                   where=where, fix=REGENERATE, error_key="survivors_invalid") from None  # fmt: skip
    return survivors


def _sweep_report(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "report.json"
    try:
        data = json_loads(read_text(path))
    except (OSError, json.JSONDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.strerror or exc
        raise UsageProblem(f"cannot read the sweep's report: {reason}", where=str(path), fix=REGENERATE,
                           error_key="sweep_report_invalid") from None  # fmt: skip
    if not isinstance(data, dict):
        raise UsageProblem("the sweep's report is not a JSON object", where=str(path), fix=REGENERATE,
                           error_key="sweep_report_invalid")
    return data


def _calibration_file(repo: GitRepo, given: Path | None) -> tuple[Path, str]:
    """The set to judge and why (empty: named with --calibration)."""
    if given is not None:
        return given, ""
    chosen, why = choose_calibration_set(repo.root)  # own labels, else the shipped Python set for Python sweeps
    if chosen is not None:
        return chosen, why
    raise UsageProblem("no calibration set", where="--calibration",
                       fix="pass --calibration FILE, or keep one at mutation/calibration-set.json "
                           "(`launcher init` writes a starter)")  # fmt: skip


def calibration_note(source: Path, why: str, count: int) -> str:
    """Which labelled set `judge --calibrate` judges, said before the call: the shipped Python set
    stands in for a starter `mutation/calibration-set.json`, which is not what one would guess."""
    if why and source == python_set_file():
        return f"judging the shipped python set ({count} mutants, {source}) because {why}"
    return f"judging the calibration set {source} ({count} mutants{'; ' + why if why else ''})"


def _check_calibrate_options(options: JudgeOptions) -> None:
    """The gate's options mean nothing without --calibrate: never dropped without a word while the
    sweep is judged (paid calls, exit 0, which a CI step meant to gate the judge takes for a pass)."""
    given = [flag for flag, value in (("--calibration", options.calibration), ("--threshold", options.threshold),
                                      ("--min-lower-bound", options.min_lower_bound)) if value is not None]
    if given and not options.calibrate:
        raise UsageProblem(f"{' and '.join(given)} only apply to the calibration gate, and --calibrate is not given",
                           where=given[0], error_key="needs_calibrate",
                           fix=f"add --calibrate to judge the labelled set and gate the judge, or drop "
                               f"{'/'.join(given)} to judge the sweep's survivors; no judge call was made")  # fmt: skip


async def judge_survivors(cwd: Path, options: JudgeOptions, ask: Callable[[str], bool] | None,
                          say: Callable[[str], None] | None = None) -> JudgeSummary:  # fmt: skip
    """Ask the judge; `ask` puts the cost question to a person (None: nobody is there to answer);
    `say` tells what is judged before any call."""
    _check_calibrate_options(options)
    repo = await GitRepo.discover(cwd)
    config = load_repo_config(repo.root)
    threshold = resolve_threshold(options.threshold) if options.calibrate else None
    bound = check_bound(options.min_lower_bound)
    labelled: CalibrationSet | None = None
    proven = 0  # equivalents the pre-filter settled in the sweep: each a judge question not asked
    source: Path | None = None  # with --calibrate: the labelled set judged
    note = ""
    unpassable: str | None = None  # with --calibrate: why no judge can pass the gate on the set
    unseen: str | None = None  # with --calibrate: labels of code the judge's checkout lacks
    if options.calibrate:
        source, why = _calibration_file(repo, options.calibration)
        labelled = load_judge_file(source, CalibrationSet)
        note = calibration_note(source, why, len(labelled.calibration))
        if say is not None:
            say(note)
        genuine = sum(1 for s in labelled.calibration if s.ground_truth == "genuine")
        unpassable = set_problem(genuine, len(labelled.calibration) - genuine)  # said before any paid call
        if unpassable and say is not None:
            say(f"warning: {unpassable}")
        unseen = await calibration_code.unseen_warning(repo, source, labelled.calibration)
        if unseen and say is not None:
            say(f"warning: {unseen}")
        survivors = [s.unlabelled() for s in labelled.calibration]
        # unique, also across repositories: a judge lock kills what carries a dead judge's label
        stamp = f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        out_dir, label = writable_state_dir(repo) / "calibration" / stamp, f"c-{stamp}"
        report = ""  # the label-free copy's path, once the judge's place outside the repository is known
        base_sha = await repo.rev_parse("HEAD")
        judged: dict[str, Any] = {"subject": "calibration", "calibration_file": str(source.resolve()),
                                  "labels_sha256": labels_digest(labelled.calibration)}  # fmt: skip
    else:
        out_dir = await resolve_run(cwd, options.run, latest_for="launcher mutation judge")
        survivors = _sweep_survivors(out_dir)
        sweep_report = _sweep_report(out_dir)
        report, label = str(out_dir / "report.json"), out_dir.name
        base_sha = sweep_report.get("base_sha") or await repo.rev_parse("HEAD")
        proven = int(((sweep_report.get("summary") or {}).get("prefilter") or {}).get("equivalent") or 0)
        judged = {"subject": "sweep", "sweep": str(sweep_report.get("sweep_id") or out_dir.name),
                  "run_dir": str(out_dir)}  # fmt: skip
    batch = options.batch_size or config.mutation.judge_batch
    calls = math.ceil(len(survivors) / batch)
    saved = math.ceil((len(survivors) + proven) / batch) - calls
    said = f" (the equivalence pre-filter proved {proven} equivalent for free: {saved} call(s) saved)" if proven else ""
    if not survivors:
        return JudgeSummary(int(ExitCode.OK), f"0 survivors: no judge call{said}", out_dir, prefiltered=proven,
                            calls_saved=saved)  # fmt: skip
    name, agent = _judge_agent(config, options.agent)
    prompt = judge_prompt(repo.root)  # the repository's mutation/judge-prompt.md, else the shipped one
    if options.calibrate:  # which judge the calibration measures (the gate refuses it for another)
        # its CLI's config files as its checkout (of HEAD) holds them: a model set there is the judge's
        project = await read_at_head(repo, project_paths(agent, os.environ))
        judged["judge"] = judge_identity(name, agent, prompt=prompt, project=project)
    await _check_cli(name, agent)  # before the cost question: no retry installs a missing CLI
    await _check_program(repo, name, agent, base_sha, options.calibrate)
    await check_shared_credentials(repo)  # the judge works in a checkout that reads the repository's config
    per_call = agent.budget_usd if agent.budget_usd is not None else (
        0.0 if agent.adapter.startswith("scripted") else DEFAULT_CALL_USD)  # fmt: skip
    free = f"; {saved} saved by the pre-filter's {proven} proven equivalent(s)" if proven else ""
    question = f"Proceed to judge ({calls} calls, ~${calls * per_call:.2f}{free})?"
    if options.calibrate and unpassable:
        question = f"The gate cannot pass on this set (see the warning above). {question}"
    elif options.calibrate and unseen:
        question = f"The judge cannot see the code of some labels (see the warning above). {question}"
    built_in = agent.adapter if agent.adapter in _BUILT_IN else None
    if not options.confirm:
        if ask is None:
            what = (f"the judge was not confirmed ({question}; the built-in {built_in} has no cost, but every "
                    "judge run is confirmed)" if built_in else
                    f"the judge is a paid call and was not confirmed ({question})")  # fmt: skip
            raise UsageProblem(what,
                               fix="pass --confirm-judge, or run it at a terminal and answer y",
                               error_key="judge_not_confirmed")  # fmt: skip
        if not ask(question):
            return JudgeSummary(int(ExitCode.FAILED), "declined: the judge was not called", out_dir, len(survivors),
                                prefiltered=proven, calls_saved=saved)  # fmt: skip
    await prepare_worktree_root(repo, config.worktree_root)
    scratch = default_worktree_root(repo, config.worktree_root) / "judge" / label
    spec = judge_relay.JudgeInput(
        label=label, agent_name=name, config=agent, survivors=survivors, report=report, out_dir=out_dir,
        scratch=scratch, base_sha=base_sha,
        limits=Limits(timeout_s=agent.timeout_s or DEFAULT_TIMEOUT_S, inactivity_s=agent.inactivity_timeout_s),
        batch_size=batch, judged=judged, prompt=prompt,
    )  # fmt: skip
    if labelled is not None and source is not None:
        # The answer key is not handed to the judge (DESIGN 7.4): a scratch of its own holding the
        # code without any labelled set, its files outside the repository's .launcher/. (Not a
        # sandbox: a command judge runs as the user and could still open the repository's files.)
        spec.work_dir = scratch.with_name(f"{label}-work")
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        label_free = spec.work_dir / calibration_code.LABEL_FREE_NAME
        atomic_write_json(label_free, calibration_code.label_free_report(labelled.description, survivors))
        spec.report = str(label_free)
        spec.base_sha = await calibration_code.make_code_scratch(repo, scratch, source,
                                                                 [s.target for s in labelled.calibration])
        spec.standalone = True
    # The judge works in its checkout under judge/: what it installs from there into the user's
    # venv (`pip install -e .`) is put back after it (engine/site_installs.py).
    env = {**command_env(repo.root, main_root=repo.root, run_id=label, task_id=None), **agent.set_env}
    put_back: list[str] = []

    @contextlib.asynccontextmanager
    async def guard() -> AsyncIterator[None]:  # entered under the judge lock (judge_relay.judge)
        async with site_installs.guarded(scratch.parent, out_dir / site_installs.RECORD, env,
                                         state_dir=state_dir(repo)) as lines:
            yield
        put_back.extend(lines)  # what the guard put back as it ended

    outcome = await judge_relay.judge(repo, spec, around=guard)
    notes = [*outcome.notes, *(f"{line} (the judge installed the project from its checkout; a judge should not "
                               "install into a shared environment)" for line in put_back)]
    summary = JudgeSummary(int(ExitCode.FAILED), "", out_dir, len(survivors), outcome.calls, outcome.verdict_path,
                           notes=notes, cost_usd=outcome.cost_usd, prefiltered=proven,
                           calls_saved=saved, built_in=built_in)  # fmt: skip
    if labelled is not None:
        summary.calibration_file, summary.calibration_note = source, note
    if outcome.verdict is None:
        aside = (f" (the earlier verdict was moved to {outcome.previous.name}: `fix` and `label` no longer use it)"
                 if outcome.previous is not None else "")  # fmt: skip
        summary.message = f"the judge gave no usable verdict: {outcome.error}; the survivors stand unjudged{aside}"
        if labelled is not None:
            # Nothing to gate is not a failed gate (DESIGN 7.4: 1 failed, 2 malformed input or id
            # sets differ): the gate's input, the judge's verdict, is missing or malformed.
            summary.exit_code = int(GateExit.MALFORMED)
            summary.message = (f"calibration gate not run: the judge gave no usable verdict on {source}: "
                               f"{outcome.error}{aside}")
        return summary
    kinds = [v.classification for v in outcome.verdict.verdicts]
    summary.counts = {"genuine": kinds.count("genuine"), "equivalent": kinds.count("equivalent")}
    if labelled is None or threshold is None:
        summary.exit_code = int(ExitCode.OK)
        summary.message = (f"judged {len(survivors)} survivors: {summary.counts['genuine']} genuine, "
                           f"{summary.counts['equivalent']} equivalent{said}")
        return summary
    gate = evaluate(outcome.verdict, labelled, threshold, where=str(outcome.verdict_path), min_lower_bound=bound)
    gate["verdict_file"], gate["calibration_file"] = str(outcome.verdict_path), str(source)
    gate["judge"] = judged.get("judge")
    if unseen:  # kept with the precision it makes doubtful
        gate["warnings"].insert(0, unseen)
    summary.report_path = out_dir / REPORT_NAME
    atomic_write_json(summary.report_path, gate)
    summary.gate_report = gate
    summary.exit_code = int(gate_exit(gate))
    summary.warnings = list(gate["warnings"])
    summary.message = (f"calibration gate: {gate['gate_verdict']} - {precision_text(gate)} on "
                       f"{len(survivors)} labelled survivors of {source}")
    return summary
