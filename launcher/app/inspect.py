"""`launcher status`, `launcher logs`: read only the journal and the artifact files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio

from launcher.app.context import open_journal, state_dir
from launcher.app.report_now import current_report, status_now
from launcher.app.run.grading import branch_tips
from launcher.errors import GitFailed, GitTimedOut, LauncherError, RunNotFound, UsageProblem
from launcher.git import patches, worktrees
from launcher.git.repo import GitRepo
from launcher.models.ids import task_id_problem
from launcher.models.plan import Plan
from launcher.models.redact import cut_reach, mask_bytes_window
from launcher.models.report import RunReport
from launcher.regular_files import copy_regular, read_from, read_json_or_none, read_tail
from launcher.store.files import RunFiles
from launcher.store.journal import RunRow


async def run_report(cwd: Path, run_id: str | None) -> RunReport:
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    run_id = run_id or journal.latest_run_id()
    if run_id is None:
        raise RunNotFound("there are no runs yet", fix="start one with `launcher run PLAN`")
    return await current_report(repo, journal, run_id)


async def list_runs(cwd: Path, limit: int = 20) -> list[RunReport]:
    """`runs --json`: each run's report as `status --json` prints it (`current_report`)."""
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    return [await current_report(repo, journal, run.id) for run in journal.runs(limit)]


@dataclass(frozen=True)
class RunLine:
    run_id: str
    status: str
    tasks: int
    target: str


async def run_lines(cwd: Path, limit: int = 20) -> list[RunLine]:
    """One line per latest run, its status the one `status` shows (`status_now`), without a full
    report per run (which would read every task's contract to print its count): the launcher's
    branches are listed once, and git is asked only about a succeeded or parked run's approvals."""
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    runs = journal.runs(limit)
    tips = await branch_tips(repo, f"{worktrees.BRANCH_PREFIX}/") if runs else None
    statuses: dict[str, str] = {}
    limiter = anyio.CapacityLimiter(8)  # a few git processes at once, not one per run

    async def one(run: RunRow) -> None:
        async with limiter:
            statuses[run.id] = await status_now(repo, journal, run, tips)

    async with anyio.create_task_group() as group:
        for run in runs:
            group.start_soon(one, run)
    return [RunLine(run.id, statuses[run.id], journal.task_count(run.id), run.target) for run in runs]


async def log_task(cwd: Path, run_id: str, task_id: str) -> tuple[str, str | None]:
    """Whose agent log `logs RUN TASK` shows, and a line to say so: the task's own; a best-of-N
    task runs no agent of its own, so the attempt it lands (before the selection, the first of
    its attempts that started), the line naming every attempt's log."""
    repo, _ = await _task_dir(cwd, run_id, task_id)
    journal = open_journal(repo)
    spec = next((t for t in journal.run(run_id).plan.get("task", [])
                 if isinstance(t, dict) and t.get("id") == task_id), {})
    attempts = [a for a in spec.get("select_from") or [] if isinstance(a, str)]
    if not attempts:
        return task_id, None
    branch = journal.task(run_id, task_id).branch
    rows = [journal.task(run_id, attempt) for attempt in attempts]
    landing = next((r.task_id for r in rows if branch and r.branch == branch), None)
    shown = landing or next((r.task_id for r in rows if r.start_sha), attempts[0])
    named = ", ".join(f"`launcher logs {run_id} {a}`" for a in attempts)
    why = ("the attempt it lands" if landing else
           "its first attempt that started" if shown != attempts[0] else "its first attempt")
    return shown, (f"{task_id} is a best-of-{len(attempts)} task: its agents' work is in its attempts "
                   f"({named}); showing {shown}, {why}")


async def log_path(cwd: Path, run_id: str, task_id: str) -> Path:
    _, task_dir = await _task_dir(cwd, run_id, task_id)
    return task_dir / "agent.log"


async def log_secrets(cwd: Path, run_id: str) -> Mapping[str, str]:
    """What `logs` masks in the agent's and checks' text it prints (value -> name): the values the
    run passes to its agents and checks that this launcher's environment holds (models/redact.py;
    the agent's log is its raw transcript, kept as written)."""
    return dict(open_journal(await GitRepo.discover(cwd)).passed_values(run_id))


# The task's directory (`.launcher/runs/<run>/<task>/`) is in its agent's reach: what
# is read there is read as a regular file only, never following a link, never blocking, bounded
# (launcher/regular_files.py). A log longer than this is shown as its tail.
LOG_SHOWN = 4 * 1024 * 1024


class ArtifactUnreadable(LauncherError):
    default_key = "artifact_unreadable"


def _unreadable(path: Path, exc: OSError) -> ArtifactUnreadable:
    run_id, task_id = path.parent.parent.name, path.parent.name
    return ArtifactUnreadable(
        f"cannot show it: {exc.strerror or exc}",
        where=str(path),
        fix="the task's agent can write in this directory and may have replaced the file; look at it "
        f"with `ls -l`, or see what its branch holds: `launcher diff {run_id} {task_id}`",
    )


def _skipped(skipped: int, path: Path, shown: int = LOG_SHOWN) -> str:
    return f"[launcher: the first {skipped} bytes of {path} are not shown; its last {shown} follow]\n"


async def log_bytes(path: Path, secrets: Mapping[str, str] | None = None) -> bytes | None:
    """The agent's log as `logs` prints it, its exact bytes (its tail when it is over LOG_SHOWN,
    after a line saying so); None when there is none yet. ArtifactUnreadable for what is not a
    regular file (a FIFO, a link) or cannot be read. Decoding is the printer's, and masking: a
    pipe or a file gets these bytes unchanged, but for a tail. A tail is cut from the log with
    `secrets` (`log_secrets`) masked first, read from a little before its cut (`cut_reach`): a
    value the cut goes through is shown as its mask, never its end unmasked."""
    reach = cut_reach(secrets) if secrets else 0
    try:
        data, skipped = read_tail(path, LOG_SHOWN + reach)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    cut = max(len(data) - LOG_SHOWN, 0)  # the bytes before it are read to be masked, not shown
    if not skipped and not cut:
        return data
    tail, start, _ = mask_bytes_window(data, secrets or {}, cut, len(data))
    return _skipped(skipped + start, path, len(data) - start).encode() + tail


async def follow(path: Path, write: Callable[[bytes], None], done: Callable[[], bool]) -> None:
    """Print the log (its tail when it is big), then what is appended, until `done()` says the
    task has finished, and then what was appended before it said so (a last read: the agent's
    last words, written between two polls, are shown too). `write` gets the bytes as read: a
    character the agent wrote in two pieces may arrive split over two calls (the printer decodes
    incrementally, or not at all; and masks across them). ArtifactUnreadable when the log stops
    being a readable regular file."""
    offset: int | None = None
    ended = False
    while True:
        try:
            if offset is None:
                chunk, skipped = read_tail(path, LOG_SHOWN)
                offset = skipped + len(chunk)
                if skipped:
                    write(_skipped(skipped, path).encode())
            else:
                chunk, start = read_from(path, offset, LOG_SHOWN)
                offset = start + len(chunk)
        except FileNotFoundError:
            chunk = b""
        except OSError as exc:
            raise _unreadable(path, exc) from None
        if chunk:
            write(chunk)
        if ended:
            return
        ended = done()  # once it has: one more read, of what came since this one
        if not ended:
            await anyio.sleep(0.3)


async def _task_dir(cwd: Path, run_id: str, task_id: str) -> tuple[GitRepo, Path]:
    problem = task_id_problem(task_id)
    if problem:
        raise UsageProblem(problem, fix="pass a task id as shown by `launcher status`")
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    journal.run(run_id)  # an unknown run is named as such, with `launcher runs` to list them
    journal.task(run_id, task_id)  # raises a clear error for unknown ids
    return repo, RunFiles(state_dir(repo), run_id).run_dir / task_id


async def check_outputs(cwd: Path, run_id: str, task_id: str) -> list[dict[str, object]]:
    """The task's last measured checks (command, exit code, output), from its facts.json."""
    _, task_dir = await _task_dir(cwd, run_id, task_id)
    data = read_json_or_none(task_dir / "facts.json")  # in the agent's reach: the launcher's JSON only
    checks = data.get("checks") if isinstance(data, dict) else None
    return [c for c in checks if isinstance(c, dict)] if isinstance(checks, list) else []


async def write_task_diff(cwd: Path, run_id: str, task_id: str, out: BinaryIO) -> None:
    """What the task changed, its branch's diff against where it started, written whole to `out`:
    streamed from git as it prints it (never held in memory, never cut: a 50 MB binary's patch
    is a patch `git apply` takes). When git no longer has the task's commits (removed by a clean
    and a gc), the task's diff.patch, written at its collection, is copied whole instead."""
    repo, task_dir = await _task_dir(cwd, run_id, task_id)
    row = open_journal(repo).task(run_id, task_id)
    if row.start_sha and row.head_sha and all([await _has_commit(repo, row.start_sha),
                                               await _has_commit(repo, row.head_sha)]):
        try:
            # A limit on git's silence only: git waiting on the reader (`| less` left open) is not
            # a hang, a git that prints nothing while it is read (a stalled fetch, NFS) is.
            await repo.git("diff", *patches.options(), row.start_sha, row.head_sha, stdout_to=out, idle=True)
        except GitFailed as exc:  # what was printed already is not a whole patch: never exit 0 on it
            first = exc.fix if isinstance(exc, GitTimedOut) else "see git's message"  # the limit: how to raise it
            raise (GitTimedOut if isinstance(exc, GitTimedOut) else GitFailed)(
                f"{exc.what}; the output printed before it is not a whole patch", where=exc.where,
                fix=f"{first}; the task's diff.patch ({task_dir / 'diff.patch'}) holds its patch as collected",
                error_key=exc.error_key) from None
        return
    patch = task_dir / "diff.patch"
    try:
        copy_regular(patch, out)  # in the agent's reach: never a link, a FIFO
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _unreadable(patch, exc) from None
    else:
        return
    raise UsageProblem(f"task {task_id!r} of run {run_id} has no changes recorded yet",
                       fix=f"`launcher status {run_id}` shows where it is")


async def _has_commit(repo: GitRepo, sha: str) -> bool:
    return (await repo.git("cat-file", "-e", f"{sha}^{{commit}}", check=False)).ok


async def task_worktree(cwd: Path, run_id: str, task_id: str) -> Path:
    """The task's worktree, to open; an error saying what is left when it was removed."""
    repo, _ = await _task_dir(cwd, run_id, task_id)
    row = open_journal(repo).task(run_id, task_id)
    if row.worktree and Path(row.worktree).is_dir():
        return Path(row.worktree)
    where = ""
    if row.branch and (await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{row.branch}",
                                      check=False)).ok:
        where = f"; its branch {row.branch} is kept (`git switch {row.branch}`)"
    elif row.merged:
        where = "; its work landed" + (f" in {row.merge_commit[:12]}" if row.merge_commit else "")
    raise UsageProblem(f"task {task_id!r} of run {run_id} has no worktree (state {row.state.value}){where}",
                       fix=f"`launcher diff {run_id} {task_id}` shows its changes")


async def task_rows(cwd: Path, run_id: str | None) -> tuple[str | None, list[tuple[str, str, str]]]:
    """The run a command that continues it is about (`run_id`, else the latest) and its tasks
    (id, role, agent) for the live table of resume/land/choose/grade; (run_id, []) when there is
    no such run (the command itself then reports it: a mistyped id never falls back to the
    latest run)."""
    try:
        repo = await GitRepo.discover(cwd)
        journal = open_journal(repo)
        run_id = run_id or journal.latest_run_id()
        if run_id is None:
            return None, []
        plan = Plan.model_validate(journal.run(run_id).plan)
    except (LauncherError, ValueError):
        return run_id, []
    return run_id, [(t.id, t.role, t.agent) for t in plan.tasks]
