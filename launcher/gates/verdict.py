"""Deterministic rubric criteria, the verdict they override, and the standalone grade-record gate."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from launcher.engine.import_audit import ImportAudit
from launcher.errors import ExitCode, LauncherError, UsageProblem
from launcher.gates.checks import CheckResult, run_checks
from launcher.models import markdown as md
from launcher.models.decoding import INPUT_LIMIT
from launcher.models.rubric import Criterion
from launcher.models.verdict import (
    CriterionResult,
    Verdict,
    VerdictInvalid,
    audit_line,
    claimed_task_id,
    validate_verdict_text,
)

_FIX_REFS = re.compile(r"\(([A-Za-z][A-Za-z0-9_-]{0,31})\)")


async def run_rubric_checks(
    criteria: Sequence[Criterion], cwd: Path, env: Mapping[str, str], timeout: float,
    audit: ImportAudit | None = None,
) -> dict[str, CheckResult]:
    """Run every `check:` criterion in the worktree. `env` should carry LAUNCHER_BASE_SHA (the
    task's start commit): the shipped C4 check diffs against it."""
    checked = [c for c in criteria if c.check]
    results = await run_checks(
        [c.check for c in checked if c.check], cwd=cwd, env=env, timeout_s=timeout, audit=audit
    )
    return {c.id: r for c, r in zip(checked, results, strict=True)}


def _check_justification(result: CheckResult) -> str:
    if result.ok:
        return f"launcher check passed: {md.code(result.command)}"
    if result.outside_imports and not result.timed_out:
        where = ", ".join(result.outside_imports[:3])
        return f"launcher check imported {where} from the main checkout, not the worktree: {md.code(result.command)}"
    how = "timed out" if result.timed_out else f"exited {result.exit_code}"
    tail = result.output_tail.strip().splitlines()[-1:] or [""]
    return f"launcher check {how}: {md.code(result.command)} {md.item(tail[0])}".strip()


def _decided(cid: str, result: CheckResult) -> CriterionResult:
    return CriterionResult.model_validate(
        {"criterion": cid, "pass": result.ok, "justification": _check_justification(result)}
    )


def _fix_refs(fix: str) -> set[str]:
    return set(_FIX_REFS.findall(fix))


def apply_deterministic(verdict: Verdict, results: Mapping[str, CheckResult]) -> Verdict:
    """Overwrite the grader's answer for every checked criterion with the check's result (the
    grader can never override a check) and recompute the verdict.

    A failed check forces needs_revision with a required fix naming the criterion. A grader that
    failed only criteria whose checks pass is overruled: those criteria pass, their fixes are
    dropped, and the verdict becomes satisfied if nothing else fails.
    """
    if not results:
        return verdict
    grader_failed = set(verdict.failing())
    items: list[CriterionResult] = []
    answered: set[str] = set()
    for item in verdict.criterion_results:
        result = results.get(item.criterion)
        if result is None:
            items.append(item)
            continue
        answered.add(item.criterion)
        items.append(_decided(item.criterion, result))
    for cid, result in results.items():
        if cid not in answered:
            items.append(_decided(cid, result))
    overruled = {cid for cid, r in results.items() if r.ok and cid in grader_failed}
    fixes = [f for f in verdict.required_fixes if not (_fix_refs(f) and _fix_refs(f) <= overruled)]
    for cid, result in results.items():
        if not result.ok:
            fix = f"make the check {md.code(result.command)} pass ({_check_justification(result)}) ({cid})"
            if fix not in fixes:
                fixes.append(fix)
    failing = [i.criterion for i in items if not i.passed]
    if failing:
        outcome = "needs_revision"
    elif verdict.verdict == "needs_revision" and grader_failed and grader_failed <= overruled:
        outcome = "satisfied"
    else:
        outcome = verdict.verdict
    return verdict.model_copy(update={
        "verdict": outcome, "criterion_results": items, "required_fixes": fixes,
        "overridden": sorted(results),
    })


def feedback_markdown(verdict: Verdict, criteria: Sequence[Criterion] = ()) -> str:
    """What a specialist's revision round reads from $LAUNCHER_FEEDBACK. The grader's text (its
    fixes, its justifications) is shown one line per item: it cannot add a section of its own."""
    titles = {c.id: c.title for c in criteria}
    order = [c.id for c in criteria] or None
    lines = [
        f"# Revision requested (grading iteration {verdict.iteration})", "",
        f"The grader answered {md.code(verdict.verdict)} against rubric {md.item(verdict.rubric_version)}.", "",
        "## Required fixes", "",
    ]
    lines += [f"- {md.item(fix)}" for fix in verdict.required_fixes] or ["- (the grader listed none; see below)"]
    lines += ["", "## Failing criteria", ""]
    by_id = {r.criterion: r for r in verdict.criterion_results}
    for cid in verdict.failing(order):
        title = f" {md.item(titles[cid])}" if cid in titles else ""
        lines.append(f"- **{md.item(cid)}.**{title} — {md.item(by_id[cid].justification)}")
    lines += ["", "Fix these in the same worktree, then return an updated completion contract."]
    return "\n".join(lines) + "\n"


def grade_record(text: str, *, expected_criteria: list[str] | None = None,
                 task_id: str | None = None) -> tuple[int, dict[str, Any]]:
    """`launcher gate grade-record` (seed semantics): exit 0 and `{"ok": true, ...}` with the
    audit line for a valid verdict; exit 1 and the error envelope otherwise. Both carry the
    seed's leading fields `ok, subcommand, task_id, status` (`status`: the verdict, or "error")."""
    try:
        verdict = validate_verdict_text(text, expected_criteria=expected_criteria)
        # `--task-id` names the task the caller records for; the verdict's own must agree.
        task_id = claimed_task_id(verdict, task_id)
    except VerdictInvalid as exc:
        return 1, error_envelope(exc, task_id or _task_id_in(text))
    line = audit_line(verdict, expected_criteria)
    return 0, {
        "ok": True,
        "subcommand": GRADE_RECORD,
        "task_id": task_id,
        "status": verdict.verdict,
        "verdict": verdict.verdict,
        "iteration": verdict.iteration,
        "rubric_version": verdict.rubric_version,
        "failed": verdict.failing(expected_criteria),
        "audit": line,
        "observations": f"recorded: {line}",
    }


GRADE_RECORD = "grade-record"


def error_envelope(exc: LauncherError, task_id: str | None) -> dict[str, Any]:
    """The seed's failure line: `{"ok":false,"subcommand":"grade-record","task_id":...,
    "status":"error","error_key":...,"observations":...,"usage":...}`."""
    inner = exc.envelope()
    return {"ok": False, "subcommand": GRADE_RECORD, "task_id": task_id, "status": "error",
            "error_key": inner["error_key"], "observations": inner["observations"],
            "usage": inner["usage"]}


def _task_id_in(text: str) -> str | None:
    """A `task_id` the input names at its top level, if it parses at all."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    value = data.get("task_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def envelope_line(envelope: dict[str, Any]) -> str:
    """One JSON line, as the seed's scripts print and other orchestrators parse: ASCII JSON (as
    every `--json` envelope), valid whatever the names hold; a byte a name's encoding could not
    decode is written `\\udcXX`, never raw (a line that is not UTF-8 is no JSON)."""
    return json.dumps(envelope, separators=(",", ":"))


VERDICT_LIMIT = INPUT_LIMIT  # bytes read of a verdict (as of every input file the user names: 64 MiB)


def _capped(stream: BinaryIO, what: str, usage: str) -> bytes:
    """At most VERDICT_LIMIT bytes of `stream`: one more is a verdict too large (`file_too_large`),
    never read on into memory (`--file /dev/zero`, a grader stuck printing into `--file <(...)`)."""
    data = stream.read(VERDICT_LIMIT + 1)
    if len(data) > VERDICT_LIMIT:
        raise VerdictInvalid(
            f"{what} holds more than {VERDICT_LIMIT // (1024 * 1024)} MiB, the most the launcher reads of a verdict "
            "(nothing more was read)", fix=usage, error_key="file_too_large")
    return data


def _utf8(raw: bytes, what: str, usage: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerdictInvalid(f"{what} is not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x})",
                             fix=usage, error_key="file_unreadable") from None


def read_grade_input(file: Path | None, stdin: TextIO | None = None) -> str:
    """The verdict text from `--file F`, else stdin (refusing a terminal, which would hang); at
    most VERDICT_LIMIT bytes of either."""
    if file is not None:
        usage = "launcher gate grade-record --file <readable path>"
        if file.is_dir():
            raise VerdictInvalid(f"the verdict file {file} is a directory", fix=usage, error_key="file_unreadable")
        if not file.exists():
            raise VerdictInvalid(f"verdict file does not exist: {file}", fix=usage, error_key="file_not_found")
        try:  # a regular file, or a pipe: --file <(grader ...), --file /dev/stdin
            with file.open("rb") as opened:
                raw = _capped(opened, f"the verdict file {file}", usage)
        except OSError as exc:
            raise VerdictInvalid(f"could not read verdict file {file}: {exc.strerror or exc}", fix=usage,
                                 error_key="file_unreadable") from None
        return _utf8(raw, f"the verdict file {file}", usage)
    stream = stdin if stdin is not None else sys.stdin
    if stream.isatty():
        raise VerdictInvalid(
            "no --file given and stdin is a terminal",
            fix="pipe the grader's JSON in, or pass --file <path>", error_key="no_input",
        )
    usage = "pipe the grader's JSON in as UTF-8 text"
    if hasattr(stream, "buffer"):
        raw = _capped(stream.buffer, "stdin", usage)
    else:  # a text stream (tests, an embedding caller)
        text = stream.read(VERDICT_LIMIT + 1)
        raw = _capped(io.BytesIO(text.encode("utf-8", "surrogateescape")), "stdin", usage)
    return _utf8(raw, "stdin", usage)


def grade_record_from(file: Path | None, stdin: TextIO | None = None, task_id: str | None = None,
                      criteria: str | None = None) -> tuple[int, dict[str, Any]]:
    """The whole command: read the input, validate, return (exit code, envelope to print).
    `criteria` (`--criteria C1,C2,...`): the applied rubrics' criterion ids, checked as a run
    checks them (`criterion_missing:<ID>`, `criterion_unknown:<ID>`)."""
    try:  # the caller's own mistake (exit 2), checked before the verdict is read
        expected = criteria_option(criteria)
    except UsageProblem as exc:
        return int(ExitCode.USAGE), error_envelope(exc, task_id)
    try:
        text = read_grade_input(file, stdin)
    except VerdictInvalid as exc:
        return 1, error_envelope(exc, task_id)
    return grade_record(text, expected_criteria=expected, task_id=task_id)


def criteria_option(value: str | None) -> list[str] | None:
    """The ids of `--criteria C1,C2,...`, in order; None without the option."""
    if value is None:
        return None
    ids = [part.strip() for part in value.split(",")]
    if not all(ids) or len(set(ids)) != len(ids):
        raise UsageProblem(
            f"--criteria {value!r} is not a list of distinct criterion ids",
            fix="launcher gate grade-record --criteria C1,C2,C3 (the criterion ids of the applied "
                "rubrics, as the grading packet lists them, separated by commas)",
            error_key="usage:criteria",
        )
    return ids
