"""The grader relay: one grading round of one task against its rubrics.

The grader runs on a detached worktree at the task's head, so it can read and even run the code
but nothing it does reaches the task's branch. Deterministic `check:` criteria run there too
and always override the grader. Invalid grader output gets a corrective re-spawn; three invalid
answers in a row escalate instead of looping. A grader that hangs or crashes counts as invalid:
the specialist's work stays on its branch either way.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from launcher.agents.base import AgentOutcome, AgentRequest
from launcher.agents.passed_env import plan_secrets
from launcher.agents.registry import get_adapter
from launcher.engine import reaper
from launcher.engine.agent_round import Limits, run_agent_round
from launcher.engine.answer_dir import private_answer_path
from launcher.engine.command_env import command_env
from launcher.engine.import_audit import ImportAudit
from launcher.errors import LauncherError
from launcher.gates.answer_masks import masked_error, masked_verdict
from launcher.gates.answers import grader_answer
from launcher.gates.packet import build_packet
from launcher.gates.verdict import apply_deterministic, run_rubric_checks
from launcher.git import submodules, worktrees
from launcher.git.repo import GitRepo
from launcher.models.plan import AgentConfig, Task
from launcher.models.redact import mask
from launcher.models.rubric import Rubric, all_criteria, composed_version
from launcher.models.verdict import Verdict, VerdictInvalid, audit_line, claimed_task_id, parse_grader_output
from launcher.regular_files import read_capped
from launcher.store.files import atomic_write_json, atomic_write_text

MAX_INVALID_IN_A_ROW = 3
# Grader process failures worth another attempt: a crash, a stall, no structured answer, and the
# model's own stochastic stops (gemini's `loop_detected`, aider's `edit_failed`: a new sample may
# not loop, may format its answer). The others are not retried: the same CLI, prompt and
# configuration would end the same way again, and be paid again (api_error, budget_exceeded,
# max_turns, context_exceeded and output_limit: the packet and limits are the same;
# content_filtered, stopped: a filter or hook of the user's; permission_denied, cli_missing,
# spawn_failed, unreadable_output).
RETRIED_FAILURES = frozenset({None, "crashed", "timeout", "stalled", "no_structured_output", "loop_detected",
                              "edit_failed"})
GRADER_PROMPT = (
    "You are the grader. Read the grading packet at {packet} (task, spec, diff, completion "
    "contract, lessons, rubrics, measured facts). Judge every criterion pass/fail with a one-line "
    "justification and answer with ONLY the verdict JSON described at the end of the packet. "
    "Do not modify any file."
)


@dataclass
class GradingInput:
    run_id: str
    task: Task
    grader_name: str
    grader_config: AgentConfig
    rubrics: list[Rubric]
    iteration: int
    head_sha: str
    start_sha: str
    diff: str
    contract: dict[str, Any]
    facts: dict[str, Any]
    lessons: str | None
    grading_dir: Path
    scratch: Path
    limits: Limits
    port_base: int
    check_env: list[str] = field(default_factory=list)  # parent variables rubric checks may see
    # Called once the verdict file is written, before anything else can go wrong (the journal
    # records its digest there, so a launcher killed later reuses this verdict, and only this file)
    on_verdict_written: Callable[[GradeResult], None] | None = None


@dataclass
class GradeResult:
    verdict: Verdict | None  # None: the grader never gave a valid verdict (escalate)
    audit: str | None
    error_key: str | None
    attempts: int
    cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)
    tokens: dict[str, int] | None = None  # summed over every grader process of the round
    rubric_checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # criterion -> result
    failure: str | None = None  # the grader CLI's own message when it failed in a way not retried
    # sha256 of the `<n>-verdict.json` the launcher wrote: journaled with the round, so that only
    # a verdict file the launcher itself wrote is ever reused (an agent can write that directory)
    verdict_sha256: str | None = None


async def add_scratch(repo: GitRepo, path: Path, head: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        await remove_scratch(repo, path)
    async with repo.lock.hold():
        await worktrees.add(repo, "--detach", "--force", path=path, start=head)
    await submodules.check_out(repo, path)  # best effort: a check that needs one says so


async def remove_scratch(repo: GitRepo, path: Path) -> None:
    async with repo.lock.hold():
        # (git stopped at its time limit too: the files are deleted below)
        done = await repo.git("worktree", "remove", "--force", "--force", str(path), check=False, timed_out_ok=True)
        if not done.ok:
            shutil.rmtree(path, ignore_errors=True)
            await worktrees.forget(repo, path)


async def grade(repo: GitRepo, spec: GradingInput) -> GradeResult:
    criteria = all_criteria(spec.rubrics)
    ids = [c.id for c in criteria]
    spec.grading_dir.mkdir(parents=True, exist_ok=True)
    await add_scratch(repo, spec.scratch, spec.head_sha)
    try:
        audit = ImportAudit(repo, spec.grading_dir / f"{spec.iteration}-imports.audit")
        env = command_env(spec.scratch, main_root=repo.root, run_id=spec.run_id, task_id=spec.task.id,
                          pass_names=spec.check_env, audit_file=audit.file)
        env["LAUNCHER_BASE_SHA"] = spec.start_sha
        notes: list[str] = []
        try:
            checks = await run_rubric_checks(criteria, spec.scratch, env, spec.limits.timeout_s, audit)
        finally:  # the task's code ran: what it left running goes, however the checks ended
            with anyio.CancelScope(shield=True):
                notes += await reap_escaped(spec.run_id, spec.task.id, "the rubric checks")
        facts = {**spec.facts, "rubric_checks": {cid: r.as_dict() for cid, r in checks.items()}}
        packet = build_packet(
            task_record=_task_record(spec), prompt=spec.task.prompt, diff=spec.diff,
            contract=spec.contract, lessons=spec.lessons, rubrics=spec.rubrics, facts=facts,
            iteration=spec.iteration, artifacts=spec.grading_dir.parent,  # the task's: contract.json, diff.patch
        )
        packet_path = spec.grading_dir / f"{spec.iteration}-packet.md"
        atomic_write_text(packet_path, packet)
        result = await _ask_grader(spec, packet_path, ids)
        result.notes[:0] = notes
        result.rubric_checks = facts["rubric_checks"]
        if result.verdict is not None:
            result.verdict = apply_deterministic(result.verdict, checks)
            result.audit = audit_line(result.verdict, ids)
            text = json.dumps(result.verdict.to_contract(), indent=2) + "\n"
            atomic_write_text(spec.grading_dir / f"{spec.iteration}-verdict.json", text)
            result.verdict_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if spec.on_verdict_written is not None:
                spec.on_verdict_written(result)
        return result
    finally:
        await remove_scratch(repo, spec.scratch)


def _task_record(spec: GradingInput) -> dict[str, Any]:
    return {
        "run_id": spec.run_id, "task_id": spec.task.id, "title": spec.task.title,
        "role": spec.task.role, "agent": spec.task.agent, "iteration": spec.iteration,
        "head_sha": spec.head_sha, "start_sha": spec.start_sha,
    }


async def _ask_grader(spec: GradingInput, packet_path: Path, ids: list[str]) -> GradeResult:
    adapter = get_adapter(spec.grader_config.adapter)
    grader_task = spec.task.model_copy(
        update={"prompt": GRADER_PROMPT.format(packet=packet_path), "script": [], "checks": []}
    )
    error_key: str | None = None
    cost = 0.0
    tokens: dict[str, int] = {}
    hint: Path | None = None
    notes: list[str] = []
    # What it got from the launcher's environment (its `env`, its CLI's keys): masked in its answer's
    # prose (justifications, fixes: the verdict file, the journal, the report, the agent's feedback)
    # and in the errors quoting it, once the answer is validated as it wrote it (answer_masks.py).
    secrets = plan_secrets({"agents": {spec.grader_name: spec.grader_config.model_dump(mode="json")}})
    for attempt in range(1, MAX_INVALID_IN_A_ROW + 1):
        # Each attempt answers into a directory of its own, read once this attempt's processes
        # (and what escaped them) are gone: never a file another process of the run could know.
        with private_answer_path(f"{spec.iteration}-verdict.agent.json") as answer_path:
            request = AgentRequest(
                run_id=spec.run_id, task=grader_task, agent_name=spec.grader_name,
                config=spec.grader_config, worktree=spec.scratch, artifacts=spec.grading_dir,
                base_sha=spec.start_sha, iteration=spec.iteration, contract_path=answer_path,
                feedback_path=hint, port_base=spec.port_base, attempt=attempt,
                packet_path=packet_path, answer=grader_answer(spec.iteration),
            )
            round_result = await run_agent_round(adapter, request, limits=spec.limits)
            notes += await reap_escaped(spec.run_id, spec.task.id, f"grader attempt {attempt}")
            if round_result.supervised is not None:  # a stdout line too long to read, a capped log
                notes += [f"grader attempt {attempt}: {line}" for line in round_result.supervised.notes]
            try:
                answer: str | VerdictInvalid = answer_text(answer_path, round_result.outcome)
            except VerdictInvalid as exc:
                answer = exc
        outcome = round_result.outcome
        cost += outcome.cost_usd or 0.0
        for kind, count in (outcome.tokens or {}).items():
            tokens[kind] = tokens.get(kind, 0) + count
        if not outcome.ok and outcome.error_kind not in RETRIED_FAILURES:
            # An API error, a budget, a turn limit or a login would fail (and bill) the same way
            # again: one attempt, and the CLI's own message goes to whoever decides.
            notes.append(f"grader attempt {attempt}: grader_{outcome.error_kind}: {outcome.message}")
            return GradeResult(None, None, f"grader_{outcome.error_kind}", attempt, cost or None, notes,
                               tokens or None, failure=outcome.message)
        try:
            if not outcome.ok:
                raise VerdictInvalid(
                    f"the grader did not finish: {outcome.message}",
                    error_key=f"grader_{outcome.error_kind}",
                    fix="the grader must exit 0 and print the verdict JSON",
                )
            if isinstance(answer, VerdictInvalid):
                raise answer
            verdict = parse_grader_output(answer, expected_criteria=ids)
            claimed_task_id(verdict, spec.task.id)  # task_id_mismatch, task_id_not_string
            verdict = _as_this_round(masked_verdict(verdict, secrets), spec, notes, secrets)
            return GradeResult(verdict, None, None, attempt, cost or None, notes, tokens or None)
        except VerdictInvalid as raised:
            invalid = masked_error(raised, secrets)
            error_key = invalid.error_key
            notes.append(f"grader attempt {attempt}: {invalid.error_key}")
            hint = spec.grading_dir / f"{spec.iteration}-hint-{attempt}.json"
            atomic_write_json(hint, invalid.envelope())
    return GradeResult(None, None, error_key, MAX_INVALID_IN_A_ROW, cost or None, notes, tokens or None)


async def reap_escaped(run_id: str, task_id: str, after: str) -> list[str]:
    """Kill what escaped its process group (a `setsid` daemon) among the task's processes, once
    `after` (its rubric checks, a grader attempt) is over: before an answer is read, before the
    next attempt starts. The note saying so, if any were."""
    killed = await anyio.to_thread.run_sync(reaper.reap_escaped, run_id, task_id)
    return [f"killed {len(killed)} process(es) that escaped their process group after {after}"] if killed else []


def _as_this_round(verdict: Verdict, spec: GradingInput, notes: list[str], secrets: dict[str, str]) -> Verdict:
    """The verdict as the record of this round: the iteration and rubric version are the
    launcher's (the audit line must not repeat a grader's stale or wrong numbers); a grader that
    said otherwise is noted (what it said masked)."""
    version = composed_version(spec.rubrics)
    claimed = (str(verdict.iteration).strip(), str(verdict.rubric_version).replace(" ", ""))
    if claimed != (str(spec.iteration), version):
        notes.append(mask(f"the grader answered for iteration {verdict.iteration} of rubric "
                          f"{verdict.rubric_version}; recorded as iteration {spec.iteration} of {version}", secrets))
    return verdict.model_copy(update={"iteration": spec.iteration, "rubric_version": version})


# A reviewer's answer file is read up to this size; a larger one is refused unread.
MAX_ANSWER_BYTES = 4 * 1024 * 1024


def answer_text(answer_path: Path, outcome: AgentOutcome, invalid: type[LauncherError] = VerdictInvalid) -> str:
    """A reviewer's answer: a CLI's structured output (Claude Code's `--json-schema`, Codex's
    final message) wins, then the file it wrote, then its final message (DESIGN 7.1's order). The
    structured output is the run's last word: the file may hold a draft the reviewer wrote before
    it changed its mind (Claude Code is told to give both). What it left at that path that is not
    a regular file of at most MAX_ANSWER_BYTES (a FIFO, a symbolic link, never followed, a file it
    made unreadable) is an invalid answer (`invalid`, error key `answer_unreadable`), never a crash;
    so is one that is not UTF-8 text (as `launcher gate grade-record` refuses it), never read
    with its bad bytes replaced."""
    if isinstance(outcome.structured_output, dict):
        return json.dumps(outcome.structured_output)
    fix = "write the answer JSON as a regular file of UTF-8 text at the path named by $LAUNCHER_CONTRACT"
    try:
        data = read_capped(answer_path, MAX_ANSWER_BYTES)
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise invalid(f"the answer file {answer_path} cannot be read: {exc.strerror or exc}",
                      fix=fix, error_key="answer_unreadable") from None  # fmt: skip
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(f"the answer file {answer_path} is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})",
                      fix=fix, error_key="answer_unreadable") from None  # fmt: skip
    if text.strip():
        return text
    return outcome.final_text
