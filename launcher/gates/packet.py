"""The grading packet: everything the grader needs, in the seed's order, as one Markdown file.

Order: task record, spec (the prompt), diff, completion contract, LESSONS.md, the applied rubrics,
the launcher's facts, then the verdict contract the grader must answer with. Saved by the relay
as `grading/<n>-packet.md`.

The rubric and facts sections sit between markers that carry a hash of the packet's content
(announced on the first line), so a tool reading the packet (the scripted grader) can find them
even when the diff or the prompt quotes rubric headings or marker-like text.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from launcher.gates.packet_bounds import LIST_SHOWN, bounded, cuts_said, paths_shown, spread
from launcher.models.markdown import cell, code, code_path, fence, item
from launcher.models.printable import normalisation_twins, quote_path_bytes, twins_note
from launcher.models.rubric import Rubric, all_criteria, composed_version
from launcher.models.verdict import PACKET_HEADER, REQUIRED_KEYS, packet_marker

DIFF_BUDGET = 200_000  # characters of diff shown in total
FILE_BUDGET = 40_000  # characters of one file's diff
_DIFF_FILE = re.compile(r"^diff --git a/(.*?) b/(.*)$", re.MULTILINE)


def split_diff(diff: str) -> list[tuple[str, str]]:
    """(path, text) per file of a `git diff` output; what comes before the first file (the note
    that the start of a too-long diff is not shown, the end of a file cut there) as a part of its
    own, never dropped."""
    starts = list(_DIFF_FILE.finditer(diff))
    if not starts:
        return [("", diff)] if diff.strip() else []
    leading = diff[: starts[0].start()]
    parts = [("", leading)] if leading.strip() else []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(diff)
        parts.append((match.group(2), diff[match.start() : end]))
    return parts


def truncate_diff(diff: str, budget: int = DIFF_BUDGET, per_file: int = FILE_BUDGET) -> tuple[str, list[str]]:
    """Whole files while the budget lasts (each capped at `per_file`); the notes say what was cut."""
    shown: list[str] = []
    notes: list[str] = []
    used = 0
    omitted: list[str] = []
    for path, text in split_diff(diff):
        if used >= budget:
            omitted.append(path or "(unnamed)")  # as git's diff header quotes it
            continue
        cap = min(per_file, budget - used)
        if len(text) > cap:
            lines = text[:cap].rsplit("\n", 1)[0]
            cut = text.count("\n") - lines.count("\n")
            notes.append(f"{item(path)}: diff cut after {len(lines)} of {len(text)} characters ({cut} lines not shown)")
            text = lines + f"\n[launcher: {cut} more lines of this file's diff not shown]\n"
        shown.append(text)
        used += len(text)
    if omitted:  # named up to LIST_SHOWN, then counted by folder: a codemod leaves out 5,000
        notes.append(f"{len(omitted)} more file(s) not shown (diff budget {budget} characters): "
                     + (", ".join(item(p) for p in omitted) if len(omitted) <= LIST_SHOWN else
                        ", ".join(item(p) for p in omitted[:LIST_SHOWN])
                        + f" and {len(omitted) - LIST_SHOWN:,} more ({spread(omitted)})"))
    return "".join(shown), notes


def _task_record(task_record: dict[str, Any]) -> str:
    lines = []
    for key, value in task_record.items():
        if value in (None, "", [], {}):
            continue
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"- **{key}**: {item(shown)}")
    return "\n".join(lines) or "(no task record)"


def _facts_summary(facts: dict[str, Any]) -> str:
    lines: list[str] = []
    checks = facts.get("checks") or []
    rubric_checks = facts.get("rubric_checks") or {}
    if checks or rubric_checks:
        lines += ["| check | criterion | result |", "|---|---|---|"]
        for check in checks:
            lines.append(f"| {_command(check)} | | {_check_result(check)} |")
        for cid, check in rubric_checks.items():
            lines.append(f"| {_command(check)} | {cell(item(str(cid)))} | {_check_result(check)} |")
        lines.append("")
    else:
        lines += ["No checks were configured for this task.", ""]
    real = facts.get("files_changed")
    claimed = facts.get("claimed_files")
    if real is not None:
        lines.append(f"- Files really changed (git): {_paths(real)}")
    if claimed is not None:
        lines.append(f"- Files the contract claims: {_paths(claimed)}")
    twins = _twins(facts)
    for key, label in (("claimed_not_changed", "Claimed but not changed"),
                       ("changed_not_claimed", "Changed but not claimed"),
                       ("main_tree_intrusions", "Written into the main checkout"),
                       ("included", "Copied from .worktreeinclude (must not be committed)")):
        if key in facts:
            lines.append(f"- {label}: {_paths(facts[key], twins)}")
    if twins:
        lines.append(f"- {item(twins_note(twins))}")
    return "\n".join(lines)


def _twins(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """Claims and changed files whose names print alike (`normalisation_twins`)."""
    claimed, changed = facts.get("claimed_not_changed"), facts.get("changed_not_claimed")
    if not isinstance(claimed, list) or not isinstance(changed, list):
        return []
    return normalisation_twins([str(p) for p in claimed], [str(p) for p in changed])


def _check_result(check: dict[str, Any]) -> str:
    if check.get("ok"):
        return "pass"
    return "timed out" if check.get("timed_out") else f"FAIL (exit {check.get('exit_code')})"


def _command(check: dict[str, Any]) -> str:
    return cell(code(str(check.get("command"))))


def _paths(paths: Any, twins: list[tuple[str, str]] | None = None) -> str:
    """Names an agent made (a file it added, a contract's claim): each quoted as git quotes it, in
    a code span it cannot close, so no name writes a line of its own among the facts; at most
    LIST_SHOWN of them, then how many more and in which folders (packet_bounds.paths_shown); a
    name of `twins` spelled byte by byte, as it differs from its twin."""
    if not isinstance(paths, list | tuple):
        return code(json.dumps(paths, default=str)) if paths else "none"
    by_bytes = {name for pair in twins or () for name in pair}
    if not by_bytes.intersection(str(p) for p in paths):
        return paths_shown(paths)
    said = ", ".join(code(quote_path_bytes(str(p))) if str(p) in by_bytes else code_path(str(p))
                     for p in paths[:LIST_SHOWN])
    return said + (f" and {len(paths) - LIST_SHOWN} more" if len(paths) > LIST_SHOWN else "")


def _verdict_contract(rubrics: list[Rubric], iteration: int) -> str:
    ids = [c.id for c in all_criteria(rubrics)]
    checked = [c.id for c in all_criteria(rubrics) if c.check]
    shown = list(dict.fromkeys([ids[0], ids[-1]]))  # the first criterion passing, the last failing
    example = {
        "verdict": "needs_revision",
        "criterion_results": [
            {"criterion": cid, "pass": cid != ids[-1], "justification": "one line: what you saw"} for cid in shown
        ],
        "required_fixes": [f"path/to/file.py:42 — what to change ({ids[-1]})"],
        "iteration": iteration,
        "rubric_version": composed_version(rubrics),
    }
    rules = [
        "Answer with exactly one JSON object (it may follow your reasoning, but it must be the last "
        "JSON object you print) with the keys " + ", ".join(f"`{k}`" for k in REQUIRED_KEYS) + ".",
        "`verdict` is `satisfied` or `needs_revision`; `satisfied` only when every criterion passes.",
        f"`criterion_results` has one item per criterion, in this order: {', '.join(ids)}; each "
        "`{\"criterion\": ID, \"pass\": true|false, \"justification\": \"one line\"}`.",
        "`required_fixes` lists what the specialist must change, one string per fix in the form "
        "`path:line — what to change (ID)`; empty when satisfied.",
        f"`iteration` is {iteration}; `rubric_version` is `{composed_version(rubrics)}`.",
    ]
    if checked:
        rules.append(f"Decided by the launcher's checks (see the facts): {', '.join(checked)}. Report them as "
                     "the facts say; your answer for them is replaced by the check's result.")
    intro = f"An example of the shape ({len(shown)} of the {len(ids)} criteria shown; answer all of them):"
    return "\n".join(f"{i}. {rule}" for i, rule in enumerate(rules, 1)) + f"\n\n{intro}\n\n" + fence(
        json.dumps(example, indent=2, ensure_ascii=False), "json"
    )


def _in_tree(task_record: dict[str, Any], git_args: str) -> str | None:
    """A git command that shows the whole of a cut part, in the grader's working directory (a
    checkout of the task's head)."""
    start, head = task_record.get("start_sha"), task_record.get("head_sha")
    if not start or not head:
        return None
    return f"`git {git_args} {start} {head}` in your working directory (it holds the task's head)"


def _artifact(artifacts: Path | None, name: str) -> str:
    return f"the launcher's {code(str(artifacts / name))}" if artifacts else f"the task's {name}"


def _contract_part(contract: dict[str, Any], task_record: dict[str, Any], artifacts: Path | None) -> str:
    cuts: dict[str, str] = {}
    shown = bounded(contract, cuts)
    body = fence(json.dumps(shown, indent=2, ensure_ascii=False), "json")
    if not cuts:
        return body
    return (f"The contract is long: it is shown cut ({cuts_said(cuts)}). The whole contract: "
            f"{_artifact(artifacts, 'contract.json')}.\n\n{body}")


def _facts_part(facts: dict[str, Any], task_record: dict[str, Any], artifacts: Path | None) -> str:
    cuts: dict[str, str] = {}
    shown = bounded(facts, cuts)
    if cuts:  # a reader of the JSON (the scripted grader) knows the lists are not whole
        shown["lists_cut"] = {key: len(facts[key]) for key in cuts if isinstance(facts.get(key), list)}
    part = _facts_summary(facts) + "\n\n" + fence(json.dumps(shown, indent=2, default=str), "json")
    if cuts:
        git = _in_tree(task_record, "diff --name-only")
        part += (f"\n\nCut in the JSON above: {cuts_said(cuts)}. The whole lists: {_artifact(artifacts, 'facts.json')}"
                 + (f"; the files really changed also: {git}" if git else "") + ".")
    return part


def _contents(titles: list[str], lines: list[int]) -> list[str]:
    return ["Sections of this packet (line numbers in this file; answer with the verdict contract of the "
            "last one, judging every criterion of the rubrics):", "",
            *(f"- {title}: line {line}" for title, line in zip(titles, lines, strict=True))]


def build_packet(
    *,
    task_record: dict[str, Any],
    prompt: str,
    diff: str,
    contract: dict[str, Any],
    lessons: str | None,
    rubrics: list[Rubric],
    facts: dict[str, Any],
    iteration: int = 1,
    artifacts: Path | None = None,
) -> str:
    """Render the grading packet (Markdown). Bounded whatever the size of the change: the diff to
    DIFF_BUDGET, every long list and text of the contract and facts by packet_bounds, each cut
    said with where the whole is (`artifacts`: the task's folder of contract.json, facts.json and
    diff.patch). A list of the sections with their line numbers follows the title, so a reader
    that sees the first lines only (a CLI's file reader) knows where the rubrics and the verdict
    contract are."""
    if not all_criteria(rubrics):
        raise ValueError("a grading packet needs at least one rubric criterion")
    shown_diff, diff_notes = truncate_diff(diff)
    diff_part = fence(shown_diff, "diff") if shown_diff.strip() else "(the branch changes no file)"
    if diff_notes:
        whole = " or ".join(filter(None, [_in_tree(task_record, "diff"), _artifact(artifacts, "diff.patch")]))
        diff_part = "The diff is too large to show whole; what was left out:\n\n" + "\n".join(
            f"- {n}" for n in diff_notes
        ) + f"\n\nThe whole diff: {whole}.\n\n" + diff_part
    rubric_part = "\n\n".join(r.to_markdown() for r in rubrics)
    sections: list[tuple[str, str, str | None]] = [  # (title, body, marker name)
        ("1. Task record", _task_record(task_record), None),
        ("2. Spec (the task's prompt)", fence(prompt or "(empty prompt)", "markdown"), None),
        ("3. Diff (the task's branch against its start commit)", diff_part, None),
        ("4. Completion contract", _contract_part(contract, task_record, artifacts), None),
        ("5. LESSONS.md", fence(lessons, "markdown") if lessons and lessons.strip() else "(the repository has none)",
         None),
        ("6. Rubrics", rubric_part, "rubrics"),
        ("7. Launcher facts (measured by the launcher, not claimed by the agent)",
         _facts_part(facts, task_record, artifacts), "facts"),
        ("8. Verdict contract", _verdict_contract(rubrics, iteration), None),
    ]
    nonce = hashlib.sha256("\0".join(body for _, body, _ in sections).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    header = {
        "nonce": nonce, "iteration": iteration, "rubric_version": composed_version(rubrics),
        "criteria": [c.id for c in all_criteria(rubrics)],
    }
    header_json = json.dumps(header).replace(">", "\\u003e")  # a `-->` in a value cannot end the comment
    task_id = task_record.get("task_id") or task_record.get("id", "?")
    body_lines: list[str] = []
    starts: list[int] = []  # each section's heading, as a line index into body_lines
    for title, body, marker in sections:
        if marker:
            body = f"{packet_marker(marker, nonce, 'begin')}\n\n{body}\n\n{packet_marker(marker, nonce, 'end')}"
        starts.append(len(body_lines) + 1)
        body_lines += ["", f"# {title}", "", *body.split("\n")]  # sections are H1: rubrics are H2, criteria H3
    head = [f"{PACKET_HEADER}{header_json} -->", "", f"# Grading packet: task {task_id}", ""]
    first = len(head) + len(_contents([t for t, _, _ in sections], starts)) + 1  # line number of body_lines[0]
    contents = _contents([t for t, _, _ in sections], [first + index for index in starts])
    return "\n".join(head + contents + body_lines) + "\n"
