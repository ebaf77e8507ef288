"""`launcher land --from DIR [--from DIR ...]`: the final CI job lands every shard's exports.

Everything is checked before anything moves: each manifest's every field
(`models.export_manifest`) and that its plan (the whole plan, which is what lands) hashes to its
plan digest; that all come from the same plan and base; that every shard of the split is there
and accounts for each of its tasks (exported, or listed as not exported); each bundle's
checksum, `git bundle verify`, and that it holds each task's branch at the manifest's head; that
the target is a local branch here, not behind the remote branch it tracks (`land.trusted`).
Another run's landing left half-done is finished first. A
task already on the target (its landing commit's `Launcher-Origin` trailer, from an earlier land
of the same export) is reported merged and not landed again. Then the bundles are fetched into
their branches (a fetch that fails, or a task's start commit still missing, deletes what this
land fetched), the plan's tasks are journaled as one new run, the exported ones approved with
the shard's approval hash and the others with their shard's outcome, and landed by the same
queue and guards as a local run (`land_approved`: approval hash, include-file guard, markers,
integration check, CAS). A culprit of the integration check is revised on its exported branch,
its rounds counted on from its shard's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError

from launcher import process
from launcher.app.context import EventSink, RunContext, open_journal
from launcher.app.land.landing import land_approved
from launcher.app.land.origin import (
    Earlier,
    already_message,
    built_on_redone,
    earlier_landing,
    landed_origins,
    origin_of,
    plan_task_of,
)
from launcher.app.land.recovery import finish_earlier_landings
from launcher.app.land.shard_runs import record_landed_in_shard_runs
from launcher.app.land.trusted import check_plan_given, check_target_current
from launcher.app.land.unfinished import land_continues
from launcher.app.report import build_report, run_message, run_status
from launcher.app.run import containment
from launcher.app.run.export import MANIFEST
from launcher.app.run.preflight import check_integration_program
from launcher.app.run.shard import digest_of, parse_shard, select_shard
from launcher.engine.orphans import journaling_observer
from launcher.errors import UsageProblem
from launcher.git import include, worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import load_repo_config
from launcher.models.decoding import json_loads
from launcher.models.export_manifest import SCHEMA, ExportManifest
from launcher.models.ids import new_run_id
from launcher.models.plan import Plan, plan_from_journal
from launcher.models.problems import problems_of, raise_problems
from launcher.models.report import RunReport
from launcher.models.states import RunStatus, TaskState
from launcher.regular_files import NotRegular, TooLarge, read_capped, sha256_capped
from launcher.store.journal import BEST_OF_N, NO_CHANGES

_FIX = "use the directories written by `launcher run --shard I/N --no-merge --export DIR` of one plan"


def _bad(where: Path, what: str, fix: str = _FIX) -> UsageProblem:
    return UsageProblem(f"export refused: {what}", where=str(where), fix=fix)


# Bounds on what is read of an export (a CI artifact: anyone who could write it could make a
# manifest a FIFO, a link to /dev/zero, or huge). Far beyond what a shard writes.
MANIFEST_LIMIT = 64 * 1024 * 1024
BUNDLE_LIMIT = 16 * 1024 * 1024 * 1024
MAX_SHARDS = 10_000  # shards of one plan (a CI matrix has at most a few hundred jobs)
MISSING_LISTED = 10  # missing shards named one by one; the rest are counted


def _not_taken(exc: OSError) -> str:
    """Why a file of an export is not read: `a FIFO, not a regular file`, `larger than ...`."""
    if isinstance(exc, NotRegular) and exc.kind == "a symbolic link":
        return "a symbolic link, which is not followed (an export holds the files themselves)"
    if isinstance(exc, NotRegular):
        return f"{exc.kind}, not a regular file"
    return str(exc.strerror)  # TooLarge: `larger than the N bytes read (M bytes)`


def _location(data: dict[str, Any]) -> Callable[[tuple[Any, ...]], str]:
    """`tasks[0] (id 'alpha').contract`, as the manifest names it."""
    def location(loc: tuple[Any, ...]) -> str:
        parts: list[str] = []
        for index, item in enumerate(loc):
            if isinstance(item, int) and parts:
                parts[-1] += f"[{item}]"
                tasks = data.get("tasks")
                if index == 1 and loc[0] == "tasks" and isinstance(tasks, list) and item < len(tasks) \
                        and isinstance(tasks[item], dict) and isinstance(tasks[item].get("id"), str):
                    parts[-1] += f" (id {tasks[item]['id']!r})"
            else:
                parts.append(str(item))
        return ".".join(parts) or "(top level)"
    return location


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest, every field checked (`models.export_manifest`): a damaged or edited one is
    refused here, naming the field, before anything is fetched or journaled."""
    path = directory / MANIFEST
    if directory.exists() and not directory.is_dir():
        named = f"its manifest {MANIFEST}, not" if directory.name == MANIFEST else "a file, not"
        raise _bad(directory, f"--from names {named} an export directory",
                   fix=f"pass the directory the export was written to: --from {directory.parent}"
                   if directory.name == MANIFEST else _FIX)
    try:
        # A downloaded artifact, as untrusted as an agent's files: a FIFO, a link (to /dev/zero,
        # to a huge file) or a huge file is refused, never waited on or read whole.
        data = json_loads(read_capped(path, MANIFEST_LIMIT).decode("utf-8"))
    except FileNotFoundError:
        raise _bad(directory, f"no {MANIFEST} (the export is missing or incomplete)") from None
    except (NotRegular, TooLarge) as exc:
        raise _bad(directory, f"{MANIFEST} is {_not_taken(exc)}") from None
    except UnicodeDecodeError as exc:
        raise _bad(directory, f"{MANIFEST} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise _bad(directory, f"{MANIFEST} is not readable ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise _bad(directory, f"{MANIFEST} is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise _bad(directory, f"schema is {found!r}, expected {SCHEMA!r}")
    try:
        manifest = ExportManifest.model_validate(data)
    except ValidationError as exc:
        problems = [replace(p, what=f"{MANIFEST}: {p.where}: {p.what}", where="")
                    for p in problems_of(exc, ExportManifest, _location(data), "export_invalid")]
        raise_problems(problems, str(directory), UsageProblem, _FIX)
    try:
        index, count = parse_shard(manifest.shard)
    except UsageProblem:
        raise _bad(directory, f"its shard {manifest.shard!r} is not I/N") from None
    if count > MAX_SHARDS:
        raise _bad(directory, f"its shard {manifest.shard[:40]!r} splits the plan into more than {MAX_SHARDS} "
                              "shards, which no land takes (the manifest was edited or is damaged)")
    checked = manifest.model_dump(mode="json", by_alias=True)
    checked["shard"] = f"{index}/{count}"
    if digest_of(checked["plan"]) != checked["plan_digest"]:
        # The plan is what lands (its integration check, its tasks): one edited after the
        # export no longer hashes to the digest every shard computed from the plan it ran.
        raise _bad(directory, f"its plan does not match its plan_digest ({manifest.plan_digest[:12]}): "
                              "the manifest was edited or is damaged")
    if manifest.tasks and manifest.bundle is None:
        raise _bad(directory, f"{MANIFEST} lists tasks but no bundle")
    return checked


def check_together(exports: list[tuple[Path, dict[str, Any]]]) -> None:
    """One plan, one base, each shard once, each task once."""
    first_dir, first = exports[0]
    seen_shards: dict[tuple[int, int], Path] = {}
    seen_tasks: dict[str, Path] = {}
    for directory, data in exports:
        for key, what in (("plan_digest", "plan"), ("base_sha", "base commit"), ("target", "target")):
            if data[key] != first[key]:
                raise _bad(directory, f"its {what} ({str(data[key])[:12]}) differs from that of "
                                      f"{first_dir} ({str(first[key])[:12]})")
        shard = parse_shard(data["shard"])
        if shard in seen_shards:
            raise _bad(directory, f"shard {data['shard']} is also exported in {seen_shards[shard]}")
        seen_shards[shard] = directory
        for task_id in [spec["id"] for spec in data["tasks"]] + list(data["not_exported"]):
            if task_id in seen_tasks:
                raise _bad(directory, f"task {task_id!r} is also in the export {seen_tasks[task_id]}")
            seen_tasks[task_id] = directory


def check_complete(exports: list[tuple[Path, dict[str, Any]]], plan: Plan) -> None:
    """Every shard of the split is here, and each accounts for exactly its own tasks (exported,
    or listed as not exported): no work of the plan goes missing without a word."""
    counts = {parse_shard(data["shard"])[1] for _, data in exports}
    if len(counts) > 1:
        raise _bad(exports[0][0], f"the exports split the plan into different numbers of shards "
                                  f"({', '.join(str(n) for n in sorted(counts))})")
    count = counts.pop()
    present = {parse_shard(data["shard"])[0] for _, data in exports}
    if len(present) < count:
        where = ", ".join(str(d) for d, _ in exports)
        missing = [f"{index}/{count}" for index in islice(
            (index for index in range(1, count + 1) if index not in present), MISSING_LISTED)]
        left = count - len(present) - len(missing)
        named = ", ".join(missing) + (f" and {left} more" if left else "")
        raise UsageProblem(
            f"export refused: shard {named} {'is' if count - len(present) == 1 else 'are'} missing (the plan was "
            f"split into {count} shards; only {len(present)} were given)", where=where,
            fix=f"pass every shard's export directory, one --from each ({count} in all); if a job "
                "failed before exporting, re-run it")
    for directory, data in exports:
        index, _ = parse_shard(data["shard"])
        share = [t.id for t in select_shard(plan, index, count).tasks]
        exported = [spec["id"] for spec in data["tasks"]]
        listed = set(exported) | set(data["not_exported"])
        stray = [task_id for task_id in sorted(listed) if task_id not in share]
        if stray:
            raise _bad(directory, f"task {stray[0]!r} is not one of shard {data['shard']}'s tasks "
                                  f"({', '.join(share) or 'none'})")
        unaccounted = [task_id for task_id in share if task_id not in listed]
        if unaccounted:
            raise _bad(directory, f"task {unaccounted[0]!r} of shard {data['shard']} is neither exported "
                                  "nor listed as not exported: the manifest was edited or is incomplete",
                       fix=f"pass shard {data['shard']}'s export as its job wrote it, or re-run that job")
        both = [task_id for task_id in exported if task_id in data["not_exported"]]
        if both:
            raise _bad(directory, f"task {both[0]!r} is both exported and listed as not exported")


def not_exported_state(shard: str, run_id: str, reason: str, attempt: bool) -> tuple[TaskState, str]:
    """How a task the shard did not export is reported by the land: a task that succeeded
    with nothing to land (no changes; a settled best-of-N attempt, only for a task the plan
    makes an `attempt`) as it was; any other keeps its final state, or fails, with the shard's
    reason. The reason is the shard's word (no digest covers it): what it does not say exactly
    the launcher's words for success fails the land."""
    state_text, _, message = reason.partition(": ")
    try:
        state: TaskState | None = TaskState(state_text)
    except ValueError:
        state = None
    if state is TaskState.SKIPPED and (message.startswith(NO_CHANGES + ":")
                                       or (attempt and message.startswith(BEST_OF_N + " "))):
        return state, message
    if state is None or not state.is_final or state is TaskState.MERGED:
        state = TaskState.FAILED
    return state, f"not exported by shard {shard} (run {run_id}): {reason}"


async def verify_bundle(repo: GitRepo, directory: Path, data: dict[str, Any]) -> Path | None:
    """The bundle is the one the manifest describes (checksum), git can apply it (`git bundle
    verify`: its prerequisites are here), and it holds each task's branch at the manifest's
    head, which is not already here at another commit. Nothing is fetched yet."""
    if not data["tasks"]:
        return None
    bundle = directory / str(data["bundle"].get("file", ""))
    if bundle.parent != directory or not bundle.name:
        raise _bad(directory, f"bundle {bundle.name!r} is missing")
    try:
        checksum = sha256_capped(bundle, BUNDLE_LIMIT)  # a regular file, no link followed, bounded
    except FileNotFoundError:
        raise _bad(directory, f"bundle {bundle.name!r} is missing") from None
    except (NotRegular, TooLarge) as exc:
        raise _bad(directory, f"bundle {bundle.name} is {_not_taken(exc)}") from None
    except OSError as exc:
        raise _bad(directory, f"bundle {bundle.name} is not readable ({exc.strerror or exc})") from None
    if checksum != data["bundle"].get("sha256"):
        raise _bad(directory, f"bundle {bundle.name} does not match its checksum (damaged or replaced)")
    verified = await repo.git("bundle", "verify", "--quiet", str(bundle), check=False)
    if not verified.ok:
        raise _bad(directory, f"`git bundle verify` refuses {bundle.name}: {verified.err.strip()[:300]}")
    listed = await repo.git("bundle", "list-heads", str(bundle), check=False)
    if not listed.ok:
        raise _bad(directory, f"`git bundle list-heads` refuses {bundle.name}: {listed.err.strip()[:300]}")
    heads = {ref: sha for sha, _, ref in (line.partition(" ") for line in listed.out.splitlines())}
    prefix = f"launcher/{data['run_id']}/"
    for spec in data["tasks"]:
        branch = spec["branch"]
        if not branch.startswith(prefix) or ".." in branch or branch.endswith("/"):
            raise _bad(directory, f"task {spec['id']!r}: branch {branch!r} is not one of run "
                                  f"{data['run_id']}'s branches ({prefix}...)")
        in_bundle = heads.get(f"refs/heads/{branch}")
        if in_bundle != spec["head"]:
            found = f"at {in_bundle[:12]}" if in_bundle else "not in it"
            raise _bad(directory, f"task {spec['id']!r}: the manifest's head {spec['head'][:12]} of {branch} "
                                  f"is not what its bundle holds ({found})")
        have = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        if have.ok and have.out.strip() != spec["head"]:
            if moved := await _moved_by_earlier_land(repo, branch, spec["head"], have.out.strip()):
                raise moved
            raise _bad(directory, f"branch {branch} exists here at another commit")
    return bundle


async def _moved_by_earlier_land(repo: GitRepo, branch: str, head: str, now: str) -> UsageProblem | None:
    """A branch an earlier `land --from` in this clone moved past the exported head (the queue
    sent the task back and it got a round there): said as such, with what to do, rather than
    as an export that is not of one plan."""
    if not (repo.root / ".launcher" / "launcher.db").is_file() or not await repo.is_ancestor(head, now):
        return None
    journal = open_journal(repo)
    for run in journal.runs(limit=200):
        row = next((r for r in journal.tasks(run.id) if r.branch == branch and r.head_sha == now), None)
        if "from" not in run.settings or row is None:
            continue
        tree = f"`git worktree remove --force {row.worktree}`, " if row.worktree else ""
        return UsageProblem(
            f"export refused: branch {branch} is at {now[:12]}, past the exported head {head[:12]}: "
            f"the earlier `launcher land --from` here (run {run.id}) gave task {row.task_id!r} a "
            f"round of its own there (it ended {row.state.value})",
            where=f"{repo.root} (branch {branch})",
            fix="to land the exports again, run this in a fresh clone (what landed is not landed "
                "twice; the task is retried from its exported head); or, here: keep that round's "
                f"work if you want it (`git branch keep-{row.task_id} {branch}`), then {tree}"
                f"`git branch -D {branch}`, and run this again")
    return None


async def _fetch(repo: GitRepo, exports: list[tuple[Path, dict[str, Any]]], bundles: list[Path | None]) -> None:
    """Fetch each bundle into its branches; if any fetch fails, the branches already fetched
    are deleted again: a refused export leaves nothing behind."""
    created: list[str] = []  # the refs this land makes
    try:
        for (directory, data), bundle in zip(exports, bundles, strict=True):
            if bundle is None:
                continue
            refspecs = []
            for spec in data["tasks"]:
                ref = f"refs/heads/{spec['branch']}"
                have = await repo.git("rev-parse", "--verify", "--quiet", ref, check=False)
                if have.ok and have.out.strip() != spec["head"]:
                    raise _bad(directory, f"branch {spec['branch']} exists here at another commit")
                if not have.ok:  # already here at that head: this clone ran the shard itself
                    refspecs.append(f"{ref}:{ref}")
                    created.append(ref)
            if not refspecs:
                continue
            async with repo.lock.hold():
                fetched = await repo.git("fetch", "--quiet", "--no-tags", "--atomic", "--no-write-fetch-head",
                                         str(bundle), *refspecs, check=False)
            if not fetched.ok:
                raise _bad(directory, f"fetching its bundle failed: {fetched.err.strip()[:300]}")
            for spec in data["tasks"]:
                if await repo.rev_parse(f"refs/heads/{spec['branch']}") != spec["head"]:
                    raise _bad(directory, f"the bundle's {spec['branch']} is not at the manifest's head")
        for directory, data in exports:  # before anything is journaled: no run names a missing commit
            for spec in data["tasks"]:
                if spec["start"] is not None and not await _is_commit(repo, spec["start"]):
                    raise _bad(directory, f"task {spec['id']!r}: its start {spec['start'][:12]} is not a "
                                          "commit of this repository, nor of its bundle")
                await _check_descends(repo, directory, data, spec)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _unfetch(repo, created)
        raise


async def _check_descends(repo: GitRepo, directory: Path, data: dict[str, Any], spec: dict[str, Any]) -> None:
    """A task's exported head contains the commit its shard started it from (the export's base,
    or its dependency's head): a branch of unrelated history (rewritten, or replaced in the
    bundle) could only fail later, in the middle of the landing, with git's words."""
    for what, commit in (("its start", spec["start"]), ("the export's base commit", data["base_sha"])):
        if commit is not None and not await repo.is_ancestor(commit, spec["head"]):
            raise _bad(directory, (
                f"task {spec['id']!r}: its exported head {spec['head'][:12]} ({spec['branch']}) does not "
                f"contain {what} {commit[:12]}: the branch in the bundle has unrelated or rewritten "
                "history, so it is not the work shard " + f"{data['shard']} approved"),
                fix=f"pass shard {data['shard']}'s export as its job wrote it, or re-run that job")


async def _check_target(repo: GitRepo, target: str, directories: list[Path]) -> None:
    """The branch the plan lands into is a local branch here, as `run` demands: a CI clone has
    only the branch it checked out, and landing onto a missing one would park everything."""
    if await repo.branch_exists(target):
        return
    remotes = await repo.git("for-each-ref", "--format=%(refname:lstrip=2)", f"refs/remotes/*/{target}",
                             check=False)
    tracking = remotes.out.split()
    fix = (f"create it from the remote's: `git branch {target} {tracking[0]}`" if tracking else
           f"fetch it first: `git fetch origin {target}:{target}`")
    raise UsageProblem(
        f"branch {target!r}, which the exports land into, does not exist in this clone",
        where=", ".join(map(str, directories)), error_key="usage:bad_into", fix=f"{fix}, then land again")


async def _is_commit(repo: GitRepo, sha: str) -> bool:
    return (await repo.git("cat-file", "-e", f"{sha}^{{commit}}", check=False)).ok


async def _unfetch(repo: GitRepo, created: list[str]) -> None:
    """Delete the refs this land fetched (none of them was here before it)."""
    async with repo.lock.hold():
        for ref in created:
            await repo.git("update-ref", "-d", ref, check=False)


def whole_plan(exports: list[tuple[Path, dict[str, Any]]]) -> Plan:
    """The plan every shard ran a share of (the manifests' plans are one: same digest)."""
    directory, data = exports[0]
    return plan_from_journal(data["plan"], f"{data['run_id']} (export {directory})")


async def land_from(cwd: Path, directories: list[Path], emit: EventSink, plan_file: Path | None = None) -> RunReport:
    """`plan_file`: the plan the shard jobs ran, which the exports' plan must be (`--plan`)."""
    repo = await GitRepo.discover(cwd)
    exports = [(d.absolute(), read_manifest(d.absolute())) for d in directories]
    check_together(exports)
    if plan_file is not None:
        await check_plan_given(cwd, plan_file, exports[0][1]["plan"], exports[0][0])
    plan = whole_plan(exports)
    check_complete(exports, plan)
    await _check_target(repo, exports[0][1]["target"], [d for d, _ in exports])
    await check_target_current(repo, exports[0][1]["target"])
    if not await _is_commit(repo, exports[0][1]["base_sha"]):
        raise _bad(exports[0][0], f"its base commit {exports[0][1]['base_sha'][:12]} is not in this "
                                  "repository", fix="land in a clone of the repository the shards ran in, "
                                                    "fetched far enough (actions/checkout: fetch-depth: 0)")
    bundles = [await verify_bundle(repo, d, data) for d, data in exports]
    config = load_repo_config(repo.root)
    check_integration_program(plan, config)
    # An earlier land (or run) killed half-way left the main work tree behind its target: finish
    # that first, or nothing here would see the tree as it is.
    finished = await finish_earlier_landings(repo, config)
    first = exports[0][1]
    # This final job ran before (a CI re-run after its push), or a shard job ran again after it
    # (a new run of the same plan's tasks): what it landed is not landed again.
    landed = await landed_origins(repo, first["base_sha"], first["target"])
    earlier = {(data["run_id"], spec["id"]): found for _, data in exports for spec in data["tasks"]
               if (found := earlier_landing(landed, data, spec))}

    def already(data: dict[str, Any], spec: dict[str, Any]) -> Earlier | None:
        return earlier.get((data["run_id"], spec["id"]))

    await _fetch(repo, [(d, {**data, "tasks": [t for t in data["tasks"] if not already(data, t)]})
                        for d, data in exports], bundles)
    # A task built on a second version of a task whose first version landed would land it twice.
    redone = [(spec, found) for _, data in exports for spec in data["tasks"]
              if (found := already(data, spec)) and found.origin != origin_of(data["run_id"], spec["id"])]
    refused = {(data["run_id"], spec["id"]): why for _, data in exports for spec in data["tasks"]
               if redone and not already(data, spec) and (why := await built_on_redone(repo, redone, spec))}
    await repo.ensure_excluded("/.launcher/")  # as a run does: the journal is not an agent's write
    run_id = new_run_id()
    journal = open_journal(repo)
    journal.create_run(
        run_id, repo=str(repo.root), base_sha=first["base_sha"], target=first["target"],
        plan=plan.model_dump(mode="json", by_alias=True),
        settings={"merge": True, "from": [str(d) for d, _ in exports],
                  # Written into each landing commit's trailers (app/land/origin.py).
                  "origins": {spec["id"]: {"origin": origin_of(data["run_id"], spec["id"]), "head": spec["head"],
                                           "plan": plan_task_of(data["plan_digest"], spec["id"])}
                              for _, data in exports for spec in data["tasks"]}},
        task_ids=[t.id for t in plan.tasks], launcher_pid=os.getpid(),
    )
    # A clone that ran a shard itself still has that task's worktree: landing cleans it up too.
    held = {info.branch: str(info.path) for info in await worktrees.list_worktrees(repo) if info.branch}
    attempts = {attempt for task in plan.tasks for attempt in task.select_from}
    for directory, data in exports:
        for spec in data["tasks"]:
            found = already(data, spec)
            own = found is None or found.origin == origin_of(data["run_id"], spec["id"])
            for graded in spec["rounds"] if own else []:  # its shard's grading rounds, as it reported them
                journal.record_round(run_id, spec["id"], graded["iteration"], verdict=graded["verdict"],
                                     audit=graded["audit"], error_key=graded["error_key"])
            if found:
                journal.transition(
                    run_id, spec["id"], TaskState.MERGED, already_message(first["target"], found, data, spec),
                    **({"head_sha": spec["head"]} if own else {}), merged=True, merge_commit=found.commit,
                    contract=spec["contract"], files=spec["files"], iteration=spec["iteration"],
                    round_base=spec["round_base"])
                continue
            if why := refused.get((data["run_id"], spec["id"])):
                journal.transition(run_id, spec["id"], TaskState.FAILED, why, branch=spec["branch"],
                                   worktree=held.get(spec["branch"]), head_sha=spec["head"],
                                   start_sha=spec["start"] or first["base_sha"])
                continue
            journal.transition(
                run_id, spec["id"], TaskState.APPROVED,
                f"approved in shard {data['shard']} (run {data['run_id']}), imported from {directory}",
                branch=spec["branch"], worktree=held.get(spec["branch"]), head_sha=spec["head"],
                start_sha=spec["start"] or first["base_sha"],
                # A revision round the queue sends it back for counts on from its shard's rounds.
                iteration=spec["iteration"], round_base=spec["round_base"],
                approval_hash=spec["approval_hash"], contract=spec["contract"],
                files=spec["files"], included=spec["included"], included_blobs=spec["included_blobs"],
            )
        for task_id, reason in data["not_exported"].items():
            state, message = not_exported_state(data["shard"], data["run_id"], reason, task_id in attempts)
            journal.transition(run_id, task_id, state, message)
    ctx = RunContext(
        repo=repo, journal=journal, run_id=run_id, plan=plan, config=config, base_sha=first["base_sha"],
        target=first["target"], worktree_root=worktrees.default_worktree_root(repo, config.worktree_root),
        emit=emit, merge=True,
    )
    for note in finished:
        ctx.note(None, note)
    # A culprit of the integration check gets an agent round here: guarded as in a run.
    ctx.include_paths = await include.resolve_includes(repo, config.include_file)
    ctx.main_snapshot = set(await repo.status_porcelain())
    await containment.start(ctx)
    with process.observing_spawns(journaling_observer(journal, run_id, None)):
        try:
            reached_target, message = await land_approved(ctx)
            await containment.reap(ctx)
        except BaseException:
            with anyio.CancelScope(shield=True):
                again = land_continues(((r.task_id, r.state) for r in journal.tasks(run_id)), run_id)
                journal.set_run(run_id, status=RunStatus.INTERRUPTED,
                                message=f"interrupted while landing; `{again}` continues")
                await containment.reap(ctx)
            raise
    rows = journal.tasks(run_id)
    status = run_status(rows, merge=True, reached_target=reached_target)
    journal.set_run(run_id, status=status, message=run_message(rows, message))
    # A clone that ran a shard itself: that shard run's tasks landed now say so there too.
    await record_landed_in_shard_runs(repo, journal, run_id, first["target"], [
        (data["run_id"], spec["id"], spec["head"]) for _, data in exports for spec in data["tasks"]
        if (found := already(data, spec)) is None or found.origin == origin_of(data["run_id"], spec["id"])])
    return build_report(journal, run_id, repo.root)
