"""`launcher run --shard I/N --no-merge --export DIR`: a CI job's approved branches as a git
bundle plus a JSON manifest, for `launcher land --from DIR` in a final job.

The bundle is written first and the manifest last, each to a temporary name renamed into place,
so a manifest present in DIR always describes a complete export.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from launcher import process_identity
from launcher.agents.passed_env import plan_secrets
from launcher.app.context import open_journal
from launcher.app.land.export_lock import landing_shard_runs
from launcher.app.report import run_status
from launcher.app.run import include_screen
from launcher.app.run.best_of import NOT_SELECTED
from launcher.app.run.shard import digest_of
from launcher.errors import EnvironmentProblem, LauncherError, UsageProblem, disk_problem, fullest
from launcher.git.repo import GitRepo
from launcher.models.export_manifest import SCHEMA
from launcher.models.plan import Plan, plan_from_journal
from launcher.models.redact import mask, mask_contract
from launcher.models.states import RunStatus, TaskState
from launcher.private_files import open_private
from launcher.regular_files import read_json_or_none
from launcher.store import own_files
from launcher.store.journal import BEST_OF_N, Journal, TaskRow

# SCHEMA (in models.export_manifest, the model a manifest is checked against when read) 2: `plan`
# is the whole plan (it hashes to `plan_digest`), `not_exported` is required, and a task carries
# its `iteration` and `round_base` (a revision round while landing counts on).
MANIFEST = "launcher-export.json"
BUNDLE = "branches.bundle"
# What a writer names its file before renaming it into place (`.branches.bundle.<me>.partial`,
# git's own `.lock` of it, `.launcher-export.json.<me>.partial`; <me> is `<pid>t<start time>`, or
# `<pid>` from an older launcher): left behind by a writer killed with -9, removed by the next
# export of the run (and by `clean` of the run).
_PARTIAL = re.compile(r"\.(?:branches\.bundle|launcher-export\.json)\.(\d+)(?:t(\d+))?\.partial(?:\.lock)?")


def _me() -> str:
    """This process in a partial file's name: its pid and start time (a later process that gets
    its pid once it is gone is not taken for a live writer)."""
    started = process_identity.start_time(os.getpid())
    return f"{os.getpid()}" if started is None else f"{os.getpid()}t{started}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{_me()}.partial")
    own_files.record_write(path, data)  # into a checkout a run watches: not an agent's
    try:
        with os.fdopen(open_private(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException as exc:  # a full disk, say: no half-written file is left behind
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a write's ENOSPC: say which file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


async def branch_tips(repo: GitRepo, journal: Journal, run_id: str) -> dict[str, str]:
    """The run's approved tasks' branches -> the commit each is at now (one git process)."""
    refs = sorted({f"refs/heads/{row.branch}" for row in journal.tasks(run_id)
                   if row.state is TaskState.APPROVED and row.branch})
    if not refs:
        return {}
    listed = await repo.git("for-each-ref", "--format=%(objectname) %(refname)", *refs)
    found = (line.partition(" ") for line in listed.out.splitlines())
    # (a pattern also matches the refs below it: only the branches themselves)
    return {ref.removeprefix("refs/heads/"): sha for sha, _, ref in found if ref in refs}


def _withdrawn(run_id: str, row: TaskRow, tip: str | None) -> str:
    """Why an approved task whose branch is no longer at its approved head is not exported."""
    assert row.branch and row.head_sha
    moved = (f"its branch {row.branch} changed after approval ({row.head_sha[:12]} -> {tip[:12]})" if tip
             else f"its branch {row.branch} no longer exists (deleted after approval)")
    return (f"{row.state.value}: approval withdrawn: {moved}; `launcher grade {run_id} {row.task_id}` "
            "re-grades what it holds and writes the export again")


def _describe(journal: Journal, run_id: str, shard: str, full_plan: Plan,
              tips: dict[str, str]) -> tuple[list[TaskRow], dict[str, Any]]:
    """(the approved tasks the bundle holds, the manifest without its `bundle`): what the run's
    journal says now. `tips`: `branch_tips`."""
    run = journal.run(run_id)
    every = journal.tasks(run_id)
    approved = [row for row in every if row.state is TaskState.APPROVED and row.branch and row.head_sha]
    # A branch moved since its approval (a commit made on it after the run, in its worktree) is
    # not what was approved: the bundle would hold it at another commit than the manifest's head,
    # an export no land takes. Listed as not exported, saying why (`launcher land RUN` here
    # withdraws its approval too); the rest of the shard's work lands.
    rows = [row for row in approved if tips.get(str(row.branch)) == row.head_sha]
    withdrawn = {row.task_id: _withdrawn(run_id, row, tips.get(str(row.branch)))
                 for row in approved if row not in rows}
    # The whole plan, not this shard's share: `land --from` checks it against its digest and
    # needs every task of it to know that no shard's work is missing.
    plan = full_plan.model_dump(mode="json", by_alias=True)
    # What agents and checks got (the plan's and the repo config's `env`, `check_env`): masked in
    # their output and in what an agent wrote (its contract), as the journal keeps them: a CI artifact.
    secrets = {**plan_secrets(plan), **journal.passed_values(run_id)}
    manifest = {
        "schema": SCHEMA, "run_id": run_id, "shard": shard, "plan_digest": digest_of(plan),
        "plan_order": [t.id for t in full_plan.tasks],
        "base_sha": run.base_sha, "target": run.target, "plan": plan, "bundle": None,
        "tasks": [{
            "id": row.task_id, "branch": row.branch, "head": row.head_sha, "start": row.start_sha,
            "approval_hash": row.approval_hash, "contract": mask_contract(row.contract, secrets), "files": row.files,
            "included": row.included, "included_blobs": row.included_blobs,
            "iteration": row.iteration, "round_base": row.round_base,
            # Its grading rounds: the land's report says how it was graded (`rubric_gate`), and
            # its landing commit whether a grader or a person approved it (`Launcher-Verdict`).
            # (the launcher's own words and the rubric's ids, read back by `land --from`: not masked)
            "rounds": [{key: graded[key] for key in ("iteration", "verdict", "audit", "error_key")}
                       for graded in journal.rounds(run_id, row.task_id)],
        } for row in rows],
        "spares": _spares(journal, run_id, full_plan, rows, secrets),
        # "<state>: <message>": `land --from` reads the state back (never masked), the message is for people
        "not_exported": {row.task_id: (withdrawn.get(row.task_id)
                                       or f"{row.state.value}: {mask(row.message, secrets)}")[:300]
                         for row in every if row not in rows},
    }
    return rows, manifest


def _spares(journal: Journal, run_id: str, plan: Plan, rows: list[TaskRow],
            secrets: dict[str, str]) -> list[dict[str, Any]]:
    """The approved attempts of each exported best-of-N task its selection set aside: `land
    --from` lands the next best (`best_of.runner_up`) when the selected attempt breaks the
    integration check or conflicts, as a local landing does. Each is bundled under the ref its
    commits were kept under (or its branch, when they could not be kept)."""
    exported = {row.task_id for row in rows}
    found = []
    for task in plan.tasks:
        if task.id not in exported:
            continue
        for attempt in task.select_from:
            row = journal.task(run_id, attempt)
            # An attempt that waited at the iteration cap goes too: when no approved attempt can
            # land, the land escalates the task with it (`best_of._escalated_back`), as a local run.
            state = next((s for s in (TaskState.APPROVED, TaskState.ESCALATED)
                          if row.message.startswith(f"{BEST_OF_N} not selected ({s.value})")), None)
            if row.state is not TaskState.SKIPPED or state is None or not (row.branch and row.head_sha) or (
                    state is TaskState.APPROVED and not row.approval_hash):
                continue
            kept = f"its commits kept as refs/launcher/{run_id}/{attempt}/{NOT_SELECTED}" in row.message
            ref = f"refs/launcher/{run_id}/{attempt}/{NOT_SELECTED}" if kept else f"refs/heads/{row.branch}"
            found.append({
                "id": attempt, "task": task.id, "ref": ref, "branch": row.branch, "head": row.head_sha,
                "state": state.value,
                "start": row.start_sha, "approval_hash": row.approval_hash,
                "contract": mask_contract(row.contract, secrets), "files": row.files, "included": row.included,
                "included_blobs": row.included_blobs, "iteration": row.iteration, "round_base": row.round_base,
                "rounds": [{key: graded[key] for key in ("iteration", "verdict", "audit", "error_key")}
                           for graded in journal.rounds(run_id, attempt)],
            })
    return found


async def _bundle(repo: GitRepo, path: Path, refs: list[str], base_sha: str) -> None:
    """The refs as a bundle of the commits after the base only: the land checks that its clone
    has the base before it reads a bundle, and a whole history in every shard's CI artifact costs
    its size N times over. The whole history when git would leave a ref out (one at the base)."""
    done = await repo.git("bundle", "create", "--quiet", str(path), *refs, f"^{base_sha}", check=False)
    if done.ok:
        listed = await repo.git("bundle", "list-heads", str(path), check=False)
        if listed.ok and {line.partition(" ")[2] for line in listed.out.splitlines()} >= set(refs):
            return
    path.unlink(missing_ok=True)
    await repo.git("bundle", "create", "--quiet", str(path), *refs)


async def _bundled_spares(repo: GitRepo, manifest: dict[str, Any]) -> list[str]:
    """The refs of the spares that are still at their head (`clean --force` may have removed a
    kept ref): those go into the bundle; the others are left out of the manifest."""
    present = []
    for spec in manifest["spares"]:
        found = await repo.git("rev-parse", "--verify", "--quiet", f"{spec['ref']}^{{commit}}", check=False)
        if found.ok and found.out.strip() == spec["head"]:
            present.append(spec)
    manifest["spares"] = present
    return [spec["ref"] for spec in present]


def _same_export(written: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether the manifest in DIR already says what the run's journal says now (its bundle
    aside: the bundle follows from the tasks' branches and heads)."""
    now = json.loads(json.dumps(now))  # as it reads back from the file
    # (its spares too: which of them are bundled follows from the refs that still hold them)
    aside = ("bundle", "spares")
    return {k: v for k, v in written.items() if k not in aside} == {k: v for k, v in now.items() if k not in aside}


def remove_partials(out_dir: Path) -> list[Path]:
    """The half-written files a killed export left in `out_dir` (their writer's pid is not a live
    process), removed: the directory never holds a half-written export (CI would upload it)."""
    removed = []
    try:
        names = [entry.name for entry in os.scandir(out_dir)]
    except OSError:
        return []  # not made yet, or not a directory: nothing of ours in it
    for name in names:
        found = _PARTIAL.fullmatch(name)
        if found is None or process_identity.alive(int(found.group(1)), int(found.group(2) or 0) or None):
            continue  # another file, or a live writer's (this process's own included)
        path = out_dir / name
        if path.is_symlink() or not path.is_file():
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _remove_own_partials(out_dir: Path) -> None:
    """This process's half-written files in `out_dir` (its export failed or was stopped)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(out_dir):
            found = _PARTIAL.fullmatch(entry.name)
            if found is not None and int(found.group(1)) == os.getpid() and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def remove_run_partials(journal: Journal, run_id: str) -> list[str]:
    """For `launcher clean RUN`: the half-written files a killed export of the run left in the
    directory it exports to, removed; one line each."""
    request = journal.run(run_id).settings.get("export")
    if not isinstance(request, dict) or not isinstance(request.get("dir"), str):
        return []
    return [f"removed {path}, a half-written export file a killed launcher left"
            for path in remove_partials(Path(request["dir"]))]


async def export_run(cwd: Path, run_id: str, out_dir: Path, *, shard: str, full_plan: Plan,
                     rewrite: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export the run's approved tasks to `out_dir`; return the manifest written.

    `rewrite`: the manifest of this run already in `out_dir`, which no longer says what the run
    ended with (a resumed run's tasks changed since): replaced by one that does. The new bundle
    goes to a name of its own, the manifest is replaced in one rename, and only then is the old
    bundle deleted: the manifest present in DIR always describes a complete export."""
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    # Before any branch is bundled: the bundle is uploaded as a CI artifact, a route out of the machine.
    await include_screen.refuse_leaking(repo, journal, run_id, "refused at export")
    rows, manifest = _describe(journal, run_id, shard, full_plan, await branch_tips(repo, journal, run_id))
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_partials(out_dir)
    if rewrite is None and out_dir.joinpath(MANIFEST).exists():
        raise UsageProblem(f"{out_dir} already holds an export", where=str(out_dir),
                           fix="export each shard to its own empty directory")
    old_bundle = (rewrite or {}).get("bundle")
    old_name = old_bundle.get("file") if isinstance(old_bundle, dict) else None
    placed: Path | None = None  # the bundle renamed into place, until a manifest names it
    spare_refs = await _bundled_spares(repo, manifest) if rows else []
    try:
        if rows:
            partial = out_dir / f".{BUNDLE}.{_me()}.partial"
            await _bundle(repo, partial, [f"refs/heads/{row.branch}" for row in rows] + spare_refs,
                          manifest["base_sha"])
            checksum = file_sha256(partial)
            name = BUNDLE if rewrite is None else f"branches-{checksum[:16]}.bundle"
            own_files.record_written(out_dir / name, checksum)
            os.replace(partial, out_dir / name)
            placed = None if name == old_name else out_dir / name
            manifest["bundle"] = {"file": name, "sha256": file_sha256(out_dir / name)}
        write_atomically(out_dir / MANIFEST, json.dumps(manifest, indent=2).encode())
    except BaseException:  # a full disk, Ctrl-C: nothing half-written, no bundle no manifest names
        _remove_own_partials(out_dir)
        if placed is not None:
            with contextlib.suppress(OSError):
                placed.unlink(missing_ok=True)
        raise
    new_name = manifest["bundle"]["file"] if manifest["bundle"] else None
    if isinstance(old_name, str) and old_name != new_name and Path(old_name).name == old_name:
        out_dir.joinpath(old_name).unlink(missing_ok=True)  # no manifest names it any more
    return manifest


def export_request(out_dir: Path, shard: str, full_plan: Plan) -> dict[str, Any]:
    """What `run --export` records in the run's settings: where, which shard, the whole plan."""
    return {"dir": str(out_dir.absolute()), "shard": shard,
            "plan": full_plan.model_dump(mode="json", by_alias=True)}


async def export_requested(cwd: Path, run_id: str) -> tuple[Path, dict[str, Any]] | None:
    """A `run --shard I/N --no-merge --export DIR` writes its export when it ends, and so does
    every command that carries the run on after it (`resume`, `choose`, `grade`, `land RUN`): the
    export the interrupted run did not write, or the one it wrote rewritten when the run's tasks
    ended otherwise since (`resume --retry-failed` or `choose ... approve` approved a task the
    export lists as failed or escalated, `grade` approved a newer head, `land` landed it here):
    (DIR, the manifest written), or
    None when the run asked for none or DIR already says what the run ended with. DIR holding
    another run's export is refused (UsageProblem)."""
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    request = journal.run(run_id).settings.get("export")
    if not isinstance(request, dict):
        return None
    out_dir = Path(str(request["dir"]))
    full_plan = plan_from_journal(request["plan"], f"{run_id}'s export request")
    shard = str(request["shard"])
    remove_partials(out_dir)  # a killed export's, even when the manifest says what the run ended with
    written = read_json_or_none(out_dir / MANIFEST, 64 * 1024 * 1024)
    own = isinstance(written, dict) and written.get("run_id") == run_id
    if own and isinstance(written, dict):
        if _same_export(written, _describe(journal, run_id, shard, full_plan,
                                           await branch_tips(repo, journal, run_id))[1]):
            return None
        rewrite: dict[str, Any] | None = written
    else:
        rewrite = None
    manifest = await _while_exporting(journal, run_id, out_dir, lambda: export_run(
        cwd, run_id, out_dir, shard=shard, full_plan=full_plan, rewrite=rewrite))
    return out_dir, manifest


async def _while_exporting(journal: Journal, run_id: str, out_dir: Path,
                           write: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """The export written under the run's claim, the run `running` meanwhile: a launcher
    stopped while it writes (Ctrl-C, SIGTERM: journaled; SIGKILL: its claim's launcher is gone)
    leaves the run `interrupted`, never `succeeded` without the export it asked for, and
    `launcher resume RUN` writes it. Written (or refused: DIR another run's, a write error), the
    run's status and message are what they were."""
    claim = journal.claim_run(run_id, "resume")  # another live launcher of the run is refused
    message = journal.run(run_id).message
    unwritten = f"its export to {out_dir} was not written; `launcher resume {run_id}` writes it"
    try:
        journal.set_run(run_id, message=unwritten)  # driven now: a -9 leaves it `interrupted`
        manifest = await write()
    except Exception as exc:
        if (full := _no_room(exc, out_dir, run_id)) is None:
            journal.set_run(run_id, status=claim.previous_status, message=message)
            raise
        # No room for it (a full disk, a quota, a read-only file system): the run did not make
        # what it was asked for, so it is not `succeeded`; as when stopped, `resume` writes it.
        journal.set_run(run_id, status=RunStatus.INTERRUPTED, exit_code=int(full.exit_code),
                        message=f"its export to {out_dir} was not written ({full.what}): {full.fix}")
        raise full from exc
    except BaseException:  # Ctrl-C, SIGTERM: the state saved says what is missing
        with anyio.CancelScope(shield=True):
            journal.set_run(run_id, status=RunStatus.INTERRUPTED, message=unwritten)
        raise
    else:
        status = claim.previous_status
        if status is RunStatus.SUCCEEDED:  # a task refused at export: the run did not succeed
            status = run_status(journal.tasks(run_id), merge=False)
        journal.set_run(run_id, status=status, message=message)
    finally:
        journal.release_run(claim)
    return manifest


_FIRST_STEP = {
    "disk_full": "free space on the file system holding {where}",
    "read_only_file_system": "make the file system holding {where} writable",
    "disk_io_error": "check the file system holding {where} (`dmesg` shows disk errors) and free space there",
}


_ROOM_SEEN = re.compile(r" \(\d+ KiB free there\)")


def _no_room(exc: BaseException, out_dir: Path, run_id: str) -> EnvironmentProblem | None:
    """The error for an export that found no room to be written (None for any other failure):
    where (DIR, unless the place the error names is the fuller one) and what to do."""
    disk = disk_problem(exc)
    if disk is None:
        return None
    named = [Path(disk.where)] if disk.where else []
    at = fullest([out_dir, *named])
    where = at[0] if at is not None else out_dir
    free = f" ({at[1] // 1024} KiB free)" if at is not None and disk.error_key == "disk_full" else ""
    first = _FIRST_STEP.get(disk.error_key, _FIRST_STEP["disk_full"]).format(where=f"{where}{free}")
    # git's words stay; the room it saw is of another place than DIR, which the fix names
    what = _ROOM_SEEN.sub("", disk.what) if str(where) != disk.where else disk.what
    if what.endswith(" while writing") and disk.where:  # the launcher's own write: which file
        what += f" {disk.where}"
    return EnvironmentProblem(
        f"the run's export was not written: {what}", where=str(out_dir), error_key=disk.error_key,
        fix=f"{first}, then run `launcher resume {run_id}`: it writes the export (the run is "
            "`interrupted` until then; no agent runs again)")


async def export_as_ended(cwd: Path, run_id: str) -> tuple[tuple[Path, dict[str, Any]] | None, str | None]:
    """`export_requested` at the end of a command that drove the run: what it wrote, or why it
    could not write it. By then the command's work is done (a choice journaled, a task landed):
    a DIR taken by another run's export since, or one that cannot be written, is said beside the
    run's report, never in its place (an exit 2 would say the command was refused). No room to
    write it (a full disk, a quota) is raised (exit 3): the run, left `interrupted`, did not make
    what it was asked for, and `launcher resume RUN` writes it once there is room."""
    try:
        # Not while a `land --from` of the export reads it (`export_lock`): it lands what it read.
        async with landing_shard_runs(await GitRepo.discover(cwd), [run_id]):
            return await export_requested(cwd, run_id), None
    except EnvironmentProblem as exc:
        if exc.error_key in _FIRST_STEP:  # no room for it: the run is left to resume (exit 3)
            raise
        return None, _warning(exc, run_id)
    except (LauncherError, OSError) as exc:
        return None, _warning(exc, run_id)


def _warning(exc: LauncherError | OSError, run_id: str) -> str:
    """What a command that drove the run says beside its report when the export was refused."""
    why = exc.what if isinstance(exc, LauncherError) else f"{exc.strerror or exc}"
    where = exc.where if isinstance(exc, LauncherError) else exc.filename
    said = f"{where}: {why}" if where and not why.startswith(str(where)) else why
    return (f"the run's export was not written: {said} (the report says what the run ended with); "
            f"move that directory's contents away, or fix it, then `launcher resume {run_id}` writes it")
