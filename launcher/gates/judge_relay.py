"""The judge relay (DESIGN 7.4): a judge agent classifies surviving mutants.

The judge gets the judge packet (`{"survivors": [...], "report": ..., "contract_version": "1"}`)
and runs on a detached worktree at the sweep's base commit, so it can read the code the mutants
came from while nothing it does reaches a branch. `judge-packet.json` keeps every survivor; each
call reads its own batch, `judge/packet-N.json`. Survivors go in batches (one call each); every
answer is validated (`models.judge`) and must answer exactly the batch's ids. An invalid answer
gets a corrective re-spawn with the error in `$LAUNCHER_FEEDBACK`; three in a row give up on the
judge rather than loop (the survivors stay as they are).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from launcher.agents.base import AgentRequest
from launcher.agents.passed_env import plan_secrets
from launcher.agents.registry import get_adapter
from launcher.engine.agent_round import Limits, run_agent_round
from launcher.engine.answer_dir import private_answer_path
from launcher.gates.answer_masks import masked_error, masked_judge_verdict
from launcher.gates.answers import JUDGE_ANSWER
from launcher.gates.judge_guard import JudgeWatch, RunDirWatch
from launcher.gates.judge_lock import LOCK_NAME, judging
from launcher.gates.judge_prompt import shipped_prompt
from launcher.gates.relay import RETRIED_FAILURES, add_scratch, answer_text, reap_escaped, remove_scratch
from launcher.git.repo import GitRepo
from launcher.models.decoding import json_loads, last_json_object_or_failure
from launcher.models.judge import (
    CONTRACT_VERSION,
    JudgeCall,
    JudgeInputInvalid,
    JudgeVerdict,
    id_set_problem,
    parse_judge_text,
    survivors_digest,
)
from launcher.models.plan import AgentConfig, Task
from launcher.models.printable import one_line
from launcher.regular_files import clear_path
from launcher.store.files import atomic_write_json, unused_path, utc_stamp

MAX_INVALID_IN_A_ROW = 3
PACKET_NAME = "judge-packet.json"
VERDICT_NAME = "verdict.json"
PREVIOUS_VERDICT_NAME = "verdict.prev.json"  # an earlier verdict, moved aside when a judge run starts
INTRUSIONS_DIR = "intrusions"  # under judge/: what a judge wrote outside its checkout, moved there
WROTE_OUTSIDE = "judge_wrote_outside_checkout"
PROSE_WINDOW = 256 * 1024  # of an answer that is not one JSON object: the end searched for the verdict


@dataclass
class JudgeInput:
    label: str  # the sweep (or calibration) id: the agent's LAUNCHER_RUN_ID
    agent_name: str
    config: AgentConfig
    survivors: list[dict[str, Any]]
    report: str  # the packet's `report`: where the sweep's report is
    out_dir: Path  # judge-packet.json, verdict.json and the judge/ work files go here
    scratch: Path
    base_sha: str
    limits: Limits
    batch_size: int = 25
    judged: dict[str, Any] | None = None  # what is judged (models.judge.Judged), recorded in verdict.json
    # A scratch the caller made, a repository of its own (a calibration set's label-free code):
    # used as it is and deleted afterwards; None: a detached worktree of `repo` at base_sha.
    standalone: bool = False
    # Where the judge's packets, answers and log go while it runs (None: out_dir/judge). Elsewhere
    # (a calibration judge must not be pointed into the repository's .launcher/, which holds
    # earlier calibration reports), they are moved to out_dir/judge afterwards.
    work_dir: Path | None = None
    # The judge prompt (gates/judge_prompt.py: the repository's mutation/judge-prompt.md, else the
    # shipped one); None: the shipped one.
    prompt: str | None = None

    @property
    def work(self) -> Path:
        return self.work_dir or self.out_dir / "judge"


@dataclass
class JudgeOutcome:
    verdict: JudgeVerdict | None  # None: the judge never answered validly
    calls: int
    packet_path: Path
    verdict_path: Path | None = None
    error: str | None = None
    cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)
    previous: Path | None = None  # where an earlier verdict.json was moved before judging


def batches(survivors: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    size = max(1, size)
    return [survivors[i : i + size] for i in range(0, len(survivors), size)]


async def judge(repo: GitRepo, spec: JudgeInput,
                around: Callable[[], AbstractAsyncContextManager[object]] | None = None) -> JudgeOutcome:
    """`around`: entered once the judge lock is held, around the judging (what only the one judge
    of the sweep may do: the guard of the user's environments keeps its record in the run dir,
    which a second judge, refused by the lock, must neither write nor take for a killed one's)."""
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    with judging(spec.out_dir, spec.label) as killed:  # one judge per sweep; a killed one's reaped
        async with around() if around is not None else contextlib.nullcontext():
            outcome = await _judge(repo, spec)
    if killed:
        outcome.notes.insert(0, f"killed {len(killed)} process(es) a killed `mutation judge` of {spec.label} "
                                "had left running")
    return outcome


async def _judge(repo: GitRepo, spec: JudgeInput) -> JudgeOutcome:
    # An earlier verdict goes aside first: should this run fail, nothing (`fix`, `label`) may take
    # the old verdict for the current one.
    previous = _move_aside(spec.out_dir / VERDICT_NAME)
    packet_path = spec.out_dir / PACKET_NAME
    atomic_write_json(packet_path, _packet(spec.survivors, spec.report))
    parts = batches(spec.survivors, spec.batch_size)
    outcome = JudgeOutcome(None, 0, packet_path, previous=previous)
    _drop_stale(spec.out_dir / "judge")
    if spec.work_dir is not None:
        _drop_stale(spec.work_dir)
    calls: list[JudgeCall] = []
    if not spec.standalone:
        await add_scratch(repo, spec.scratch, spec.base_sha)
    aside = unused_path(spec.out_dir / "judge" / INTRUSIONS_DIR, utc_stamp())  # never an earlier call's
    watch: JudgeWatch | None = None
    try:
        # What it must not change, recorded once its checkout exists (DESIGN 14, as for agents)
        # and the run's own directory, where only the launcher writes the verdict
        run_dir = RunDirWatch.start(spec.out_dir, frozenset({"judge", LOCK_NAME, "fix"}))  # fix: `mutation fix`
        watch = await JudgeWatch.start(repo, spec.scratch, run_dir)
        for number, part in enumerate(parts, 1):
            # Every call's packet is its own file in judge/ (one batch too); its answer goes to a
            # directory of its own (`_ask`). A CLI confined to a few directories is given both.
            part_path = spec.work / f"packet-{number}.json"
            part_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(part_path, _packet(part, spec.report))
            await watch.before_call()  # what the user saved since the record is not the call's doing
            answer, spent, error, ran = await _ask(spec, part_path, [int(s["id"]) for s in part], number,
                                                   outcome.notes)  # fmt: skip
            outcome.calls += ran  # every process, corrective rounds included
            outcome.cost_usd = _plus(outcome.cost_usd, spent)
            wrote = await watch.check(aside)
            if wrote:
                outcome.error = wrote_outside(wrote, aside)
                outcome.notes.append(f"judge batch {number}: {WROTE_OUTSIDE}")
                return outcome
            if answer is None:
                outcome.error = f"batch {number}/{len(parts)}: {error}"
                return outcome
            calls.extend(answer.verdicts)
    except BaseException:
        if watch is not None:  # interrupted mid-call: what the judge wrote is put back all the same
            with anyio.CancelScope(shield=True):
                await watch.check(aside)
        raise
    finally:
        if spec.standalone:
            shutil.rmtree(spec.scratch, ignore_errors=True)
        else:
            await remove_scratch(repo, spec.scratch)
        if spec.work_dir is not None:
            keep_work(spec.work_dir, spec.out_dir / "judge")
    verdict: dict[str, Any] = {"contract_version": CONTRACT_VERSION, "verdicts": [c.model_dump(mode="json")
                                                                                    for c in calls]}
    if spec.judged is not None:
        verdict["judged"] = {**spec.judged, "survivors_sha256": survivors_digest(spec.survivors),
                             "survivors": len(spec.survivors)}  # fmt: skip
    outcome.verdict = JudgeVerdict.model_validate(verdict)
    outcome.verdict_path = spec.out_dir / VERDICT_NAME
    atomic_write_json(outcome.verdict_path, outcome.verdict.model_dump(mode="json"))
    return outcome


def wrote_outside(wrote: list[str], aside: Path) -> str:
    """Why the verdict of a judge that changed files outside its checkout is not used."""
    return (f"{WROTE_OUTSIDE}: the judge changed files outside its read-only checkout ({'; '.join(wrote)}); "
            f"what it wrote is kept in {aside}, and its verdict is not used (a judge that can rewrite the "
            "repository, its labels or its hooks is not judging): make the judge only read the checkout and "
            "answer, then judge again")


def _move_aside(verdict: Path) -> Path | None:
    if not verdict.is_file():
        return None
    previous = verdict.with_name(PREVIOUS_VERDICT_NAME)
    verdict.replace(previous)
    return previous


def keep_work(work: Path, record: Path) -> None:
    """The judge's files, moved from where it ran to the run's record (out_dir/judge)."""
    if not work.is_dir():
        return
    record.mkdir(parents=True, exist_ok=True)
    for item in work.iterdir():
        target = record / item.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        shutil.move(str(item), str(target))
    shutil.rmtree(work, ignore_errors=True)


def _drop_stale(work: Path) -> None:
    """An earlier judge run's files (another batch size left more packets; a stale answer file
    must never pass for this run's answer)."""
    for pattern in ("packet-*.json", "verdict-*.agent.json", "hint-*.json"):
        for old in work.glob(pattern):
            clear_path(old)  # a directory the judge made under that name too


def _plus(total: float | None, more: float | None) -> float | None:
    """A sum of costs that stays None (unknown) while no process reported one."""
    return more if total is None else total + (more or 0.0)


def _packet(survivors: list[dict[str, Any]], report: str) -> dict[str, Any]:
    return {"survivors": survivors, "report": report, "contract_version": CONTRACT_VERSION}


async def _ask(
    spec: JudgeInput, packet_path: Path, ids: list[int], number: int, notes: list[str]
) -> tuple[JudgeVerdict | None, float | None, str | None, int]:
    """One batch: its verdict (None after three invalid answers), what every process of it
    cost (None: none reported a cost), the last error and how many processes ran. A CLI that
    cannot start is not tried again: no corrective round installs it; nor is a failure another
    attempt would end the same way (a turn or output limit, an API error: `RETRIED_FAILURES`,
    as for a grader)."""
    adapter = get_adapter(spec.config.adapter)
    work = spec.work
    work.mkdir(parents=True, exist_ok=True)
    instructions = spec.prompt if spec.prompt is not None else shipped_prompt()
    prompt = (f"{instructions}\n\nThe judge packet is at {packet_path} ($LAUNCHER_PACKET). The code the "
              f"mutants came from is checked out at {spec.scratch} (each survivor's `target` is relative to "
              "it).")  # fmt: skip
    task = Task(id="judge", title="judge surviving mutants", role="judge", agent=spec.agent_name, prompt=prompt)
    hint: Path | None = None
    cost: float | None = None
    error: str | None = None
    last: JudgeInputInvalid | None = None
    # What it got from the launcher's environment (its `env`, its CLI's keys): masked in its answer's
    # justifications (verdict.json, the sweep's report) and the errors quoting it (printed, the hint
    # files), once the answer is validated as it wrote it (answer_masks.py).
    secrets = plan_secrets({"agents": {spec.agent_name: spec.config.model_dump(mode="json")}})
    for attempt in range(1, MAX_INVALID_IN_A_ROW + 1):
        # Its answer goes to a directory of its own, read once its processes (and what escaped
        # them) are gone: never a file another process could know of (engine/answer_dir.py).
        with private_answer_path(f"verdict-{number}.agent.json") as answer_path:
            request = AgentRequest(
                run_id=spec.label, task=task, agent_name=spec.agent_name, config=spec.config, worktree=spec.scratch,
                artifacts=work, base_sha=spec.base_sha, iteration=number, contract_path=answer_path,
                feedback_path=hint, port_base=0, attempt=attempt, packet_path=packet_path, answer=JUDGE_ANSWER,
            )  # fmt: skip
            result = await run_agent_round(adapter, request, limits=spec.limits)
            notes += await reap_escaped(spec.label, task.id, f"judge batch {number} attempt {attempt}")
            if result.supervised is not None:  # a stdout line too long to read, a capped log
                notes += [f"judge batch {number} attempt {attempt}: {line}" for line in result.supervised.notes]
            try:
                answer: str | JudgeInputInvalid = answer_text(answer_path, result.outcome, JudgeInputInvalid)
            except JudgeInputInvalid as exc:
                answer = exc
        cost = _plus(cost, result.outcome.cost_usd)
        if result.outcome.error_kind in ("cli_missing", "spawn_failed"):  # the same again: not retried
            notes.append(f"judge batch {number} attempt {attempt}: judge_{result.outcome.error_kind} (not retried)")
            return None, cost, f"the judge cannot start: {result.outcome.message}", attempt - 1
        if not result.outcome.ok and result.outcome.error_kind not in RETRIED_FAILURES:
            # As for a grader (gates/relay.py): a turn, context or output limit, an API error, a
            # hook's or filter's stop would end (and bill) another attempt the same way
            kind = result.outcome.error_kind
            notes.append(f"judge batch {number} attempt {attempt}: judge_{kind} (not retried)")
            return (None, cost, f"the judge did not finish (judge_{kind}, not retried: another attempt would "
                                f"end the same way): {result.outcome.message}", attempt)
        try:
            if not result.outcome.ok:
                raise JudgeInputInvalid(f"the judge did not finish: {result.outcome.message}",
                                        error_key=f"judge_{result.outcome.error_kind}",
                                        fix="the judge must exit 0 and answer the verdict JSON")  # fmt: skip
            if isinstance(answer, JudgeInputInvalid):
                raise answer
            return masked_judge_verdict(_validated(answer, ids), secrets), cost, None, attempt
        except JudgeInputInvalid as raised:
            invalid = masked_error(raised, secrets)
            last, error = invalid, _what_and_where(invalid)
            notes.append(f"judge batch {number} attempt {attempt}: {invalid.error_key}")  # (its place: hint file)
            hint = work / f"hint-{number}-{attempt}.json"
            atomic_write_json(hint, invalid.envelope())
    return None, cost, _given_up(spec, error, last, hint), MAX_INVALID_IN_A_ROW


def _what_and_where(exc: JudgeInputInvalid) -> str:
    """`judge answer $.verdicts[0].confidence: required key is missing (invalid:missing)`: the
    place at fault (the JSON path in the judge's answer), what is wrong there, and its error key.
    The judge's words (a value it gave) are shown on one line, escaped."""
    return one_line(f"{exc.where}: {exc.what} ({exc.error_key})" if exc.where else f"{exc.what} ({exc.error_key})")


def _given_up(spec: JudgeInput, error: str | None, last: JudgeInputInvalid | None, hint: Path | None) -> str:
    """Why a batch has no verdict after its corrective rounds: the last error with its place,
    how to fix the judge, and where its answers (agent.log) and the last error sent to it (the
    hint file) are kept once it is done (out_dir/judge)."""
    record = spec.out_dir / "judge"
    fix = f"fix the judge ({one_line(last.fix)}), then judge again" if last is not None and last.fix else (
        "fix the judge, then judge again")  # fmt: skip
    kept = f"its answers are in {record / 'agent.log'}"
    if hint is not None:
        kept += f", the last error it was sent in {record / hint.name}"
    return f"no valid verdict {MAX_INVALID_IN_A_ROW} times in a row, the last: {error}; {fix}; {kept}"


def _whole_object(text: str) -> str | None:
    """The answer when it is one JSON object and nothing else (a file, a judge printing only its
    verdict): read whole, however long (the answer is capped at relay.MAX_ANSWER_BYTES)."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    try:
        return stripped if isinstance(json_loads(stripped), dict) else None
    except (ValueError, RecursionError):
        return None


def _validated(text: str, ids: list[int]) -> JudgeVerdict:
    whole = _whole_object(text)
    if whole is not None:
        answer = whole
    else:  # an answer in prose: its verdict object is searched for at its end (a bounded scan)
        found, broken = last_json_object_or_failure(text[-PROSE_WINDOW:])
        # A broken outer object (NaN, a trailing comma) is reported as such, at the parser's position,
        # not as a key missing from an object inside it.
        answer = broken if broken is not None else json.dumps(found) if found is not None else text
    try:
        verdict = parse_judge_text(answer, JudgeVerdict, where="judge answer")
    except JudgeInputInvalid as exc:
        if whole is not None or len(text) <= PROSE_WINDOW:
            raise
        raise JudgeInputInvalid(  # the window may have cut the verdict object: never "a key is missing"
            f"{exc.what} (the answer is {len(text)} characters and not one JSON object, so only its last "
            f"{PROSE_WINDOW // 1024} KiB were searched for the verdict, which may have cut it)", where=exc.where,
            error_key="too_large", fix="answer with the verdict JSON alone, nothing around it (or write it to the "
            "file $LAUNCHER_CONTRACT names), or judge fewer survivors per call (a smaller --batch-size)",
        ) from None  # fmt: skip
    problem = id_set_problem(set(ids), {v.id for v in verdict.verdicts})
    if problem:
        raise JudgeInputInvalid(problem, where="judge answer", error_key="id_sets_differ",
                                fix="answer every survivor of the packet once, with its own id")  # fmt: skip
    return verdict
