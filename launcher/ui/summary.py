"""The end-of-run report: a rich table, Markdown for GitHub, and the `--json` document."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from launcher.invocation import as_invoked
from launcher.models.printable import (
    normalisation_twins,
    one_line,
    printable,
    quote_path,
    quote_path_bytes,
    twins_note,
)
from launcher.models.report import RunReport, TaskReport
from launcher.models.states import TaskState
from launcher.ui.live import STATE_STYLES

_STATUS_STYLES = {
    "succeeded": "bold green",
    "failed": "bold red",
    "interrupted": "bold yellow",
    "parked": "bold yellow",
    "running": "bold cyan",
}


def _state_style(state: str) -> str:
    try:
        return STATE_STYLES.get(TaskState(state), "")
    except ValueError:
        return ""


def _one_line(text: str, limit: int | None = None) -> str:
    """Text from the journal (messages hold agents' file names and words): one line, control
    characters escaped (models/printable.py); the commands it suggests name the launcher as it
    was run (invocation.as_invoked)."""
    return one_line(as_invoked(text), limit)


def _where_lines(report: RunReport) -> list[str]:
    lines: list[str] = []
    if report.integration_branch:
        lines.append(
            f"Approved work is on the integration branch {report.integration_branch}: "
            f"{report.target} was not moved; merge or fast-forward it when ready."
        )
    elif report.landed_on:
        lines.append(f"Landed on {report.landed_on}.")
    if report.artifacts:
        lines.append(f"Artifacts: {report.artifacts}")
    return lines


_AT_WORK = frozenset({"pending", "provisioning", "running", "collected", "checking", "grading",
                      "needs_revision"})


def _state(state: str, run_status: str) -> str:
    """A task of a run that is not running any more is not at work: it stopped there."""
    return f"{state} (stopped)" if run_status == "interrupted" and state in _AT_WORK else state


MIN_MESSAGE_WIDTH = 24  # narrower, a message folds into a column of fragments: one line per task instead
_TABLE_FRAME = 16  # what a 5-column table adds to its cells: borders and one space each side


class TaskRows:
    """The run's tasks: a table when every task id and state fits whole on one line beside a
    message column of at least MIN_MESSAGE_WIDTH; otherwise (a long task id, a narrow terminal)
    one line per task, `id: state (merged?, files) - message`, so that the state and the reason
    a task failed are never squeezed to nothing."""

    def __init__(self, report: RunReport) -> None:
        self.title = f"run {printable(report.run_id)}"
        self.rows = [(task.id, _state(task.state, report.status), _state_style(task.state), _merged(task),
                      len(task.files), _one_line(_message(task), 300)) for task in report.tasks]

    def fits(self, width: int) -> bool:
        longest = [max([len(header), *(len(str(row[i])) for row in self.rows)])
                   for i, header in ((0, "task"), (1, "state"), (4, "files"))]
        message = min(MIN_MESSAGE_WIDTH, max([len("message"), *(len(row[5]) for row in self.rows)]))
        merged = max([len("merged"), *(len(row[3]) for row in self.rows)])
        return sum(longest) + merged + message + _TABLE_FRAME <= width

    def table(self) -> Table:
        table = Table(title=Text(self.title), title_justify="left")
        table.add_column("task", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("merged", justify="center", no_wrap=True)
        table.add_column("files", justify="right", no_wrap=True)
        table.add_column("message", overflow="fold", min_width=MIN_MESSAGE_WIDTH)
        for task_id, state, style, merged, files, message in self.rows:
            table.add_row(  # Text, not str: a message is user text, never rich markup
                Text(task_id), Text(state, style=style), merged, str(files), Text(message))
        return table

    def lines(self) -> list[Text]:
        out = [Text(self.title, style="italic")]
        for task_id, state, style, merged, files, message in self.rows:
            line = Text(f"{task_id}: ")
            line.append(state, style=style)
            said = {"yes": "merged", "no": "not merged"}.get(merged, "on the target, landing unfinished")
            line.append(f" ({said}, {files} file{'' if files == 1 else 's'})")
            if message:
                line.append(f" - {message}")
            out.append(line)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.fits(options.max_width):
            yield self.table()
        else:
            yield from self.lines()


def render_summary(report: RunReport) -> RenderableType:
    """The final table printed at the end of a run (not in `--json` mode)."""
    table = TaskRows(report)
    status = Text("status: ", style="bold")
    status.append(report.status, style=_STATUS_STYLES.get(report.status, ""))
    if report.message:
        status.append(f" - {_one_line(report.message)}")
    parts: list[RenderableType] = [table, status]
    parts.extend(Text(printable(line)) for line in _where_lines(report))
    parts.extend(Text(printable(line)) for line in [*_epic_lines(report), *_claim_lines(report),
                                                    *_queue_lines(report), *_spend_lines(report)])
    kept = _kept(report)
    if kept:
        parts.append(Text("Kept for inspection (branch, worktree):"))
        parts.extend(Text(printable(f"  {t.id}: {t.branch}  {t.worktree}")) for t in kept)
    parts.extend(Text(printable(line)) for line in _note_lines(report))
    return Group(*parts)


SHOWN_NOTES = 12


def _note_lines(report: RunReport) -> list[str]:
    if not report.notes:
        return []
    lines = ["Notes:"] + [f"  {n.task or '-'}: {_one_line(n.message, 300)}" for n in report.notes[:SHOWN_NOTES]]
    if len(report.notes) > SHOWN_NOTES:
        lines.append(f"  ... and {len(report.notes) - SHOWN_NOTES} more (`launcher status {report.run_id} --json`)")
    return lines


SHOWN_PATHS = 10
SHOWN_PAIRS = 20


def _some(paths: list[str], by_bytes: frozenset[str] = frozenset()) -> str:
    """At most SHOWN_PATHS of them (a task may change 100,000 files; `--json` lists them all); those
    in `by_bytes` spelled byte by byte (`quote_path_bytes`)."""
    extra = len(paths) - SHOWN_PATHS
    # as git quotes them: one line each
    shown = ", ".join(quote_path_bytes(p) if p in by_bytes else quote_path(p) for p in paths[:SHOWN_PATHS])
    return shown + (f" and {extra} more (`--json` lists them)" if extra > 0 else "")


def _claim_lines(report: RunReport) -> list[str]:
    """Every disagreement between a contract's claimed files and the branch's real diff. A claim
    and a changed file whose names print alike (Unicode normalisation) are spelled by their bytes."""
    lines = []
    for t in report.tasks:
        parts = []
        twins = normalisation_twins(t.claimed_not_changed, t.changed_not_claimed)
        by_bytes = frozenset(name for pair in twins for name in pair)
        if t.claimed_not_changed:
            parts.append(f"claimed but not changed: {_some(t.claimed_not_changed, by_bytes)}")
        if t.changed_not_claimed:
            parts.append(f"changed but not claimed: {_some(t.changed_not_claimed, by_bytes)}")
        if twins:
            parts.append(twins_note(twins))
        if parts:
            lines.append(f"{t.id}: contract and diff disagree; " + "; ".join(parts))
    return lines


def _merged(task: TaskReport) -> str:
    """yes, no, or `unfinished`: on the target, but its landing was left half-done (not yet
    recorded, the main work tree perhaps behind), which is neither."""
    return "yes" if task.merged else "unfinished" if task.landing_unfinished else "no"


def _message(task: TaskReport) -> str:
    """A withdrawn approval outranks the message of the approval it withdrew; a landing left
    unfinished with the task on the target outranks the journaled `approved` message."""
    return task.approval_withdrawn or task.landing_unfinished or task.message


def _md_cell(text: str) -> str:
    """One line of Markdown-safe text: raw HTML from check or agent output is shown, not rendered."""
    escaped = html.escape(_one_line(text), quote=False)
    return escaped.replace("\\", "\\\\").replace("|", "\\|")


def _md_row(task: TaskReport) -> str:
    cost = "" if task.cost_usd is None else f"${task.cost_usd:.2f}"
    cells = [
        f"`{task.id}`",
        _md_cell(task.state),
        f"`{_md_cell(task.branch)}`" if task.branch else "",
        _merged(task),
        str(len(task.files)),
        cost,
        _md_cell(_one_line(_message(task), 200)),
    ]
    return "| " + " | ".join(cells) + " |"


def markdown_summary(report: RunReport) -> str:
    """A Markdown report for `$GITHUB_STEP_SUMMARY`."""
    lines = [f"### launcher run `{report.run_id}`: {report.status}", ""]
    if report.message:
        lines += [_md_cell(report.message), ""]
    lines += [
        f"Base `{report.base_sha[:12]}`, target `{report.target}`.",
        "",
        "| task | state | branch | merged | files | cost | message |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [_md_row(task) for task in report.tasks]
    extra = [*_where_lines(report), *_epic_lines(report), *_claim_lines(report), *_queue_lines(report),
             *_spend_lines(report)]
    if extra:
        lines.append("")
        lines += [f"- {_md_cell(line)}" for line in extra]
    kept = _kept(report)
    if kept:
        lines += ["", "Kept for inspection:", ""]
        lines += [f"- `{_md_cell(t.id)}`: branch `{_md_cell(t.branch or '')}`, worktree "
                  f"`{_md_cell(t.worktree or '')}`" for t in kept]
    return "\n".join(lines) + "\n"


def _epic_lines(report: RunReport) -> list[str]:
    lines = []
    for epic in report.epics:
        shared = "; ".join(f"{quote_path(path)} ({', '.join(ids)})" for path, ids in epic.shared_files.items())
        lines.append(f"epic {epic.id}: {epic.decision}" + (f"; shared files: {shared}" if shared else ""))
    return lines


def _queue_lines(report: RunReport) -> list[str]:
    """The conflict matrix (pairs that conflict, or may) and what the merge queue did."""
    lines = [f"{'conflict' if c.kind == 'conflict' else 'may conflict'}: {c.a} x {c.b} "
             f"({_some(c.files) or 'no file named'})" for c in report.conflicts[:SHOWN_PAIRS]]
    if len(report.conflicts) > SHOWN_PAIRS:
        lines.append(f"... and {len(report.conflicts) - SHOWN_PAIRS} more pairs (`--json` lists them)")
    q = report.queue
    if q.batches:
        line = f"queue: {q.batches} batch(es), {q.check_runs} integration check run(s)"
        if q.bisections:
            line += f", {q.bisections} bisection step(s), culprit(s): {', '.join(q.culprits) or 'none'}"
        if q.returned:
            line += f"; sent back to their agents: {', '.join(q.returned)}"
        lines.append(line)
    return lines


def _kept(report: RunReport) -> list[TaskReport]:
    return [t for t in report.tasks if not t.merged and t.worktree and t.state != "skipped"]


def _spend_lines(report: RunReport) -> list[str]:
    parts = [f"{role}s ${u.cost_usd:.4f}" for role, u in report.usage.items() if u.cost_usd is not None]
    return [f"spend: {', '.join(parts)}"] if parts else []


def append_github_summary(report: RunReport, env: Mapping[str, str]) -> bool:
    """Append the Markdown report to the file named by GITHUB_STEP_SUMMARY; True when written."""
    path = env.get("GITHUB_STEP_SUMMARY", "").strip()
    if not path:
        return False
    try:
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as handle:  # a name's odd bytes: \udcXX
            handle.write(markdown_summary(report) + "\n")
    except OSError:
        return False  # a summary is a courtesy: never fail the run for it
    return True


def report_json(report: RunReport) -> str:
    """The `--json` document: field order follows the model, indent 2. ASCII only: every other
    character is a `\\uXXXX` escape, and a file name's byte the locale's encoding cannot decode
    (kept as `os.fsdecode` keeps it, a lone surrogate) is `\\udcXX` (XX: the byte, 80-ff), so the
    document is valid JSON whatever the names and `os.fsencode(name)` gives each name's bytes."""
    return json.dumps(report.model_dump(mode="json"), indent=2)


__all__ = ["append_github_summary", "markdown_summary", "render_summary", "report_json"]
