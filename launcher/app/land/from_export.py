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
from pathlib import Path
from typing import Any

import anyio

from launcher import process
from launcher.app.context import EventSink, RunContext, open_journal
from launcher.app.land.earlier_lands import take_over_earlier_lands
from launcher.app.land.export_lock import landing_shard_runs
from launcher.app.land.landed_attempt import report_landed_attempts
from launcher.app.land.landing import land_approved
from launcher.app.land.manifests import (
    BUNDLE_LIMIT,
    bad_export,
    check_complete,
    check_together,
    not_exported_state,
    read_manifest,
    reading,
    whole_plan,
)
from launcher.app.land.origin import (
    Earlier,
    already_message,
    built_on_redone,
    earlier_landing,
    landed_before_rerun,
    landed_origins,
    origin_of,
    plan_task_of,
    regraded_since,
)
from launcher.app.land.recovery import finish_earlier_landings
from launcher.app.land.shard_landed import not_exported_landed
from launcher.app.land.shard_runs import record_landed_in_shard_runs
from launcher.app.land.spares import import_spares
from launcher.app.land.trusted import check_plan_given, check_target_current
from launcher.app.land.unfinished import land_continues
from launcher.app.report import run_message, run_status
from launcher.app.report_now import current_report
from launcher.app.run import containment
from launcher.app.run.inputs import cache_problem, prepare_worktree_root
from launcher.app.run.preflight import check_integration_program
from launcher.app.run.shared_credentials import check_shared_credentials
from launcher.engine.orphans import journaling_observer
from launcher.errors import UsageProblem, stopped_by_error
from launcher.git import history, include, worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import load_repo_config
from launcher.models.events import Event
from launcher.models.ids import new_run_id
from launcher.models.report import RunReport
from launcher.models.states import RunStatus, TaskState
from launcher.regular_files import sha256_capped


async def verify_bundle(repo: GitRepo, directory: Path, data: dict[str, Any]) -> Path | None:
    """The bundle is the one the manifest describes (checksum), git can apply it (`git bundle
    verify`: its prerequisites are here), and it holds each task's branch at the manifest's
    head, which is not already here at another commit. Nothing is fetched yet."""
    if not data["tasks"]:
        return None
    bundle = directory / str(data["bundle"].get("file", ""))
    if bundle.parent != directory or not bundle.name:
        raise bad_export(directory, f"bundle {bundle.name!r} is missing")
    with reading(directory, f"bundle {bundle.name}", f"bundle {bundle.name!r} is missing"):
        checksum = sha256_capped(bundle, BUNDLE_LIMIT)  # a regular file, no link followed, bounded
    if checksum != data["bundle"].get("sha256"):
        raise bad_export(directory, f"bundle {bundle.name} does not match its checksum (damaged or replaced)")
    verified = await repo.git("bundle", "verify", "--quiet", str(bundle), check=False)
    if not verified.ok:
        raise bad_export(directory, f"`git bundle verify` refuses {bundle.name}: {verified.err.strip()[:300]}")
    listed = await repo.git("bundle", "list-heads", str(bundle), check=False)
    if not listed.ok:
        raise bad_export(directory, f"`git bundle list-heads` refuses {bundle.name}: {listed.err.strip()[:300]}")
    heads = {ref: sha for sha, _, ref in (line.partition(" ") for line in listed.out.splitlines())}
    prefix = f"launcher/{data['run_id']}/"
    for spec in data["tasks"]:
        branch = spec["branch"]
        if not branch.startswith(prefix) or ".." in branch or branch.endswith("/"):
            raise bad_export(directory, f"task {spec['id']!r}: branch {branch!r} is not one of run "
                                  f"{data['run_id']}'s branches ({prefix}...)")
        in_bundle = heads.get(f"refs/heads/{branch}")
        if in_bundle != spec["head"]:
            found = f"at {in_bundle[:12]}" if in_bundle else "not in it"
            raise bad_export(directory, f"task {spec['id']!r}: the manifest's head {spec['head'][:12]} of {branch} "
                                  f"is not what its bundle holds ({found})")
        have = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        if have.ok and have.out.strip() != spec["head"]:
            if moved := await _moved_by_earlier_land(repo, branch, spec["head"], have.out.strip()):
                raise moved
            raise bad_export(
                directory, f"task {spec['id']!r}: branch {branch} is at {have.out.strip()[:12]} in this clone, not at "
                f"the head {spec['head'][:12]} its export holds (a commit made on it here since the export?)",
                fix=f"land the exports in a fresh clone (what shard {data['shard']} approved is in its bundle); or, "
                    f"here, `launcher grade {data['run_id']} {spec['id']}` re-grades what the branch holds now "
                    "and writes that shard's export again; nothing was fetched or landed")
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
                    raise bad_export(directory, f"branch {spec['branch']} exists here at another commit")
                if not have.ok:  # already here at that head: this clone ran the shard itself
                    refspecs.append(f"{ref}:{ref}")
                    created.append(ref)
            if not refspecs:
                continue
            async with repo.lock.hold():
                fetched = await repo.git("fetch", "--quiet", "--no-tags", "--atomic", "--no-write-fetch-head",
                                         str(bundle), *refspecs, check=False)
            if not fetched.ok:
                raise bad_export(directory, f"fetching its bundle failed: {fetched.err.strip()[:300]}")
            for spec in data["tasks"]:
                if await repo.rev_parse(f"refs/heads/{spec['branch']}") != spec["head"]:
                    raise bad_export(directory, f"the bundle's {spec['branch']} is not at the manifest's head")
        for directory, data in exports:  # before anything is journaled: no run names a missing commit
            for spec in data["tasks"]:
                if spec["start"] is not None and not await _is_commit(repo, spec["start"]):
                    raise bad_export(directory, f"task {spec['id']!r}: its start {spec['start'][:12]} is not a "
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
            raise bad_export(directory, (
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


async def _check_target_reaches_base(repo: GitRepo, target: str, base_sha: str, directories: list[Path]) -> None:
    """The target's history reaches the exports' base (a shallow clone's may stop before it,
    though the base is here on another branch), or at least shares history with it: else every
    landing would fail half-way, with git's "unrelated histories", after a run was journaled."""
    where = f"{repo.root} (landing {', '.join(map(str, directories))})"
    nothing = "nothing was fetched or landed"
    if await history.is_shallow(repo):
        if await repo.is_ancestor(base_sha, target):
            return
        raise UsageProblem(
            f"{history.shallow_said(repo)}: its history of {target} stops before the exports' base commit "
            f"{base_sha[:12]}, so the landing cannot see what {target} changed since the shards ran",
            where=where, error_key="usage:shallow_clone", fix=f"{history.DEEPEN}, then land again; {nothing}")
    if not await history.share_history(repo, base_sha, target):
        raise UsageProblem(
            f"branch {target!r} shares no history with the exports' base commit {base_sha[:12]} (rewritten, or "
            "replaced by an unrelated branch?): no task built on the base could land there",
            where=where, error_key="usage:bad_into",
            fix=f"land in a clone whose {target} grew from the commit the shards started from, or run the "
                f"shards again on {target}; {nothing}")


async def _is_commit(repo: GitRepo, sha: str) -> bool:
    return (await repo.git("cat-file", "-e", f"{sha}^{{commit}}", check=False)).ok


async def _unfetch(repo: GitRepo, created: list[str]) -> None:
    """Delete the refs this land fetched (none of them was here before it)."""
    async with repo.lock.hold():
        for ref in created:
            await repo.git("update-ref", "-d", ref, check=False)


async def land_from(cwd: Path, directories: list[Path], emit: EventSink, plan_file: Path | None = None) -> RunReport:
    """`plan_file`: the plan the shard jobs ran, which the exports' plan must be (`--plan`)."""
    repo = await GitRepo.discover(cwd)
    exports = [(d.absolute(), read_manifest(d.absolute())) for d in directories]
    check_together(exports)
    # Another landing of these shard runs' work (a second `land --from` of the export, `launcher
    # land RUN` of the shard run here) is waited for: it moves and deletes the shared branches.
    async with landing_shard_runs(repo, [data["run_id"] for _, data in exports]):
        return await _land_from(cwd, repo, directories, emit, plan_file)


async def _land_from(cwd: Path, repo: GitRepo, directories: list[Path], emit: EventSink,
                     plan_file: Path | None) -> RunReport:
    # Read again under the lock: the landing waited for (`launcher land RUN` of the shard run in
    # this clone) writes its export again, without what it landed.
    exports = [(d.absolute(), read_manifest(d.absolute())) for d in directories]
    check_together(exports)
    if plan_file is not None:
        await check_plan_given(cwd, plan_file, exports[0][1]["plan"], exports[0][0])
    plan = whole_plan(exports)
    check_complete(exports, plan)
    await _check_target(repo, exports[0][1]["target"], [d for d, _ in exports])
    await check_target_current(repo, exports[0][1]["target"])
    if not await _is_commit(repo, exports[0][1]["base_sha"]):
        raise bad_export(exports[0][0], f"its base commit {exports[0][1]['base_sha'][:12]} is not in this "
                                  "repository", fix="land in a clone of the repository the shards ran in, "
                                                    "fetched far enough (actions/checkout: fetch-depth: 0)")
    await _check_target_reaches_base(repo, exports[0][1]["target"], exports[0][1]["base_sha"],
                                     [d for d, _ in exports])
    bundles = [await verify_bundle(repo, d, data) for d, data in exports]
    config = load_repo_config(repo.root)
    check_integration_program(plan, config)
    if (unusable := cache_problem(repo, config.worktree_root, ports_needed=False)) is not None:
        raise unusable  # a culprit's or conflict's agent round would need it half-way
    await check_shared_credentials(repo)  # the integration check and a culprit's round read the config
    await prepare_worktree_root(repo, config.worktree_root)
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
    # A task an earlier land put on the target at another head (re-graded since): what its new
    # head adds lands, unless that head is not built on the landed one.
    refused.update({(data["run_id"], spec["id"]): why for _, data in exports for spec in data["tasks"]
                    if not already(data, spec) and (why := await regraded_since(
                        repo, landed, origin_of(data["run_id"], spec["id"]), spec["head"], first["target"]))})
    await repo.ensure_excluded("/.launcher/")  # as a run does: the journal is not an agent's write
    # A clone that ran a shard itself still has that task's worktree: landing cleans it up too.
    # (Read before the run is journaled: from there on to the landing's guard, no await, so a
    # Ctrl-C finds the run whole, each task recorded.)
    journal = open_journal(repo)
    root = worktrees.default_worktree_root(repo, config.worktree_root)
    finished += await take_over_earlier_lands(repo, journal, root, {
        spec["branch"] for _, data in exports for spec in data["tasks"] if not already(data, spec)})
    held = {info.branch: str(info.path) for info in await worktrees.list_worktrees(repo) if info.branch}
    run_id = journal.create_run(
        new_run_id, repo=str(repo.root), base_sha=first["base_sha"], target=first["target"],
        plan=plan.model_dump(mode="json", by_alias=True),
        settings={"merge": True, "from": [str(d) for d, _ in exports],
                  # Written into each landing commit's trailers (app/land/origin.py).
                  "origins": {spec["id"]: {"origin": origin_of(data["run_id"], spec["id"]), "head": spec["head"],
                                           "plan": plan_task_of(data["plan_digest"], spec["id"])}
                              for _, data in exports for spec in data["tasks"]}},
        task_ids=[t.id for t in plan.tasks], launcher_pid=os.getpid(),
    )
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
            if merged := await not_exported_landed(repo, journal, data["run_id"], task_id, first["target"], reason):
                journal.transition(run_id, task_id, merged[0], merged[1], merged=True, merge_commit=merged[2])
                continue
            if task_id not in attempts and (rerun := landed_before_rerun(first["target"], landed, data, task_id,
                                                                         reason)):
                journal.transition(run_id, task_id, TaskState.MERGED, rerun[1], merged=True, merge_commit=rerun[0])
                continue
            state, message = not_exported_state(data["shard"], data["run_id"], reason, task_id in attempts)
            journal.transition(run_id, task_id, state, message)
    # A best-of-N task found landed: the attempt the target holds, not the export's first choice.
    await report_landed_attempts(repo, journal, run_id, plan, [data for _, data in exports])
    for (directory, data), bundle in zip(exports, bundles, strict=True):  # its next-best attempts
        await import_spares(repo, journal, run_id, directory, data, bundle)
    ctx = RunContext(
        repo=repo, journal=journal, run_id=run_id, plan=plan, config=config, base_sha=first["base_sha"],
        target=first["target"], worktree_root=worktrees.default_worktree_root(repo, config.worktree_root),
        emit=emit, merge=True,
    )
    # The run is named from here on: a Ctrl-C says `launcher land RUN` (or `resume RUN`) continues
    # it and prints its report, never "nothing was recorded, start it again" (a second run).
    emit(Event(run_id, None, "recorded"))
    ctx.emit(Event(run_id, None, "run", None, f"{run_id} on {first['target']}"))
    for note in finished:
        ctx.note(None, note)
    with process.observing_spawns(journaling_observer(journal, run_id, None)):
        try:
            # A culprit of the integration check gets an agent round here: guarded as in a run.
            ctx.include_paths = await include.resolve_includes(repo, config.include_file)
            ctx.main_snapshot = set(await repo.status_porcelain())
            await containment.start(ctx)
            reached_target, message = await land_approved(ctx)
            await containment.reap(ctx)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                again = land_continues(((r.task_id, r.state) for r in journal.tasks(run_id)), run_id)
                code, said = stopped_by_error(exc, f"`{again}` continues the landing")
                journal.set_run(run_id, status=RunStatus.INTERRUPTED, exit_code=code,
                                message=said or f"interrupted while landing; `{again}` continues")
                await containment.reap(ctx)
            raise
        finally:
            await containment.release_main(ctx)  # the main checkout's snapshot ref goes with the landing
    rows = journal.tasks(run_id)
    status = run_status(rows, merge=True, reached_target=reached_target)
    journal.set_run(run_id, status=status, message=run_message(rows, message))
    # A clone that ran a shard itself: that shard run's tasks landed now say so there too.
    await record_landed_in_shard_runs(repo, journal, run_id, first["target"], [
        (data["run_id"], spec["id"], spec["head"]) for _, data in exports for spec in data["tasks"]
        if (found := already(data, spec)) is None or found.origin == origin_of(data["run_id"], spec["id"])])
    return await current_report(repo, journal, run_id)
