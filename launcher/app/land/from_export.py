"""`launcher land --from DIR [--from DIR ...]`: the final CI job lands every shard's exports.

Everything is checked before anything moves: each manifest's schema, that all come from the
same plan and base (and distinct shards), each bundle's checksum and `git bundle verify`. Then
the bundles are fetched into their branches, the tasks are journaled as one new run, approved
with the shard's approval hash, and landed by the same queue and guards as a local run
(`land_approved`: approval hash, include-file guard, markers, integration check, CAS).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from launcher import process
from launcher.app.context import EventSink, RunContext, open_journal
from launcher.app.land.landing import land_approved
from launcher.app.report import build_report, run_status
from launcher.app.run.export import MANIFEST, SCHEMA, file_sha256
from launcher.app.run.shard import digest_of
from launcher.engine.orphans import journaling_observer
from launcher.errors import UsageProblem
from launcher.git import worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import load_repo_config
from launcher.models.ids import new_run_id
from launcher.models.plan import Plan, plan_from_journal
from launcher.models.report import RunReport
from launcher.models.states import RunStatus, TaskState

_FIX = "use the directories written by `launcher run --shard I/N --no-merge --export DIR` of one plan"
_TASK_KEYS = ("id", "branch", "head", "approval_hash")


def _bad(where: Path, what: str) -> UsageProblem:
    return UsageProblem(f"export refused: {what}", where=str(where), fix=_FIX)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(directory, f"no {MANIFEST} (the export is missing or incomplete)") from None
    except (OSError, ValueError) as exc:
        raise _bad(directory, f"{MANIFEST} is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise _bad(directory, f"schema is {found!r}, expected {SCHEMA!r}")
    for key in ("run_id", "shard", "plan_digest", "base_sha", "target", "plan", "tasks", "plan_order"):
        if key not in data:
            raise _bad(directory, f"{MANIFEST} lacks {key!r}")
    if not isinstance(data["plan"], dict) or digest_of(data["plan"]) != data["plan_digest"]:
        # The plan is what lands (its integration check, its tasks): one edited after the
        # export no longer hashes to the digest every shard computed from the plan it ran.
        raise _bad(directory, f"its plan does not match its plan_digest ({str(data['plan_digest'])[:12]}): "
                              "the manifest was edited or is damaged")
    tasks = data["tasks"]
    if not isinstance(tasks, list) or not all(
            isinstance(t, dict) and all(isinstance(t.get(k), str) for k in _TASK_KEYS) for t in tasks):
        raise _bad(directory, f"{MANIFEST}: every task needs {', '.join(_TASK_KEYS)}")
    if tasks and not isinstance(data.get("bundle"), dict):
        raise _bad(directory, f"{MANIFEST} lists tasks but no bundle")
    return data


def check_together(exports: list[tuple[Path, dict[str, Any]]]) -> None:
    """One plan, one base, each shard once, each task once."""
    first_dir, first = exports[0]
    seen_shards: dict[str, Path] = {}
    seen_tasks: dict[str, Path] = {}
    for directory, data in exports:
        for key, what in (("plan_digest", "plan"), ("base_sha", "base commit"), ("target", "target")):
            if data[key] != first[key]:
                raise _bad(directory, f"its {what} ({str(data[key])[:12]}) differs from that of "
                                      f"{first_dir} ({str(first[key])[:12]})")
        if data["shard"] in seen_shards:
            raise _bad(directory, f"shard {data['shard']} is also exported in {seen_shards[data['shard']]}")
        seen_shards[data["shard"]] = directory
        for spec in data["tasks"]:
            if spec["id"] in seen_tasks:
                raise _bad(directory, f"task {spec['id']!r} is also exported in {seen_tasks[spec['id']]}")
            seen_tasks[spec["id"]] = directory


async def verify_bundle(repo: GitRepo, directory: Path, data: dict[str, Any]) -> Path | None:
    if not data["tasks"]:
        return None
    bundle = directory / str(data["bundle"].get("file", ""))
    if not bundle.is_file() or bundle.parent != directory:
        raise _bad(directory, f"bundle {bundle.name!r} is missing")
    if file_sha256(bundle) != data["bundle"].get("sha256"):
        raise _bad(directory, f"bundle {bundle.name} does not match its checksum (damaged or replaced)")
    verified = await repo.git("bundle", "verify", "--quiet", str(bundle), check=False)
    if not verified.ok:
        raise _bad(directory, f"`git bundle verify` refuses {bundle.name}: {verified.err.strip()[:300]}")
    return bundle


async def _fetch(repo: GitRepo, exports: list[tuple[Path, dict[str, Any]]], bundles: list[Path | None]) -> None:
    for (directory, data), bundle in zip(exports, bundles, strict=True):
        if bundle is None:
            continue
        refspecs = []
        for spec in data["tasks"]:
            have = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{spec['branch']}", check=False)
            if have.ok and have.out.strip() != spec["head"]:
                raise _bad(directory, f"branch {spec['branch']} exists here at another commit")
            if not have.ok:  # already here at that head: this clone ran the shard itself
                refspecs.append(f"refs/heads/{spec['branch']}:refs/heads/{spec['branch']}")
        if not refspecs:
            continue
        async with repo.lock.hold():
            fetched = await repo.git("fetch", "--quiet", "--no-tags", str(bundle), *refspecs, check=False)
        if not fetched.ok:
            raise _bad(directory, f"fetching its bundle failed: {fetched.err.strip()[:300]}")
        for spec in data["tasks"]:
            if await repo.rev_parse(f"refs/heads/{spec['branch']}") != spec["head"]:
                raise _bad(directory, f"the bundle's {spec['branch']} is not at the manifest's head")


def whole_plan(exports: list[tuple[Path, dict[str, Any]]]) -> Plan:
    """The plan every shard ran a share of (the manifests' plans are one: same digest)."""
    directory, data = exports[0]
    return plan_from_journal(data["plan"], f"{data['run_id']} (export {directory})")


def combined_plan(exports: list[tuple[Path, dict[str, Any]]]) -> Plan:
    """The exported tasks, in the whole plan's order, dependencies kept among them."""
    plan = whole_plan(exports)
    exported = {spec["id"] for _, data in exports for spec in data["tasks"]}
    tasks = [t.model_copy(update={"depends_on": [d for d in t.depends_on if d in exported],
                                  "select_from": [d for d in t.select_from if d in exported]})
             for t in plan.tasks if t.id in exported]
    return plan.model_copy(update={"tasks": tasks})


async def land_from(cwd: Path, directories: list[Path], emit: EventSink) -> RunReport:
    repo = await GitRepo.discover(cwd)
    exports = [(d.absolute(), read_manifest(d.absolute())) for d in directories]
    check_together(exports)
    bundles = [await verify_bundle(repo, d, data) for d, data in exports]
    await _fetch(repo, exports, bundles)
    plan = combined_plan(exports)
    first = exports[0][1]
    config = load_repo_config(repo.root)
    run_id = new_run_id()
    journal = open_journal(repo)
    journal.create_run(
        run_id, repo=str(repo.root), base_sha=first["base_sha"], target=first["target"],
        plan=plan.model_dump(mode="json", by_alias=True),
        settings={"merge": True, "from": [str(d) for d, _ in exports]},
        task_ids=[t.id for t in plan.tasks], launcher_pid=os.getpid(),
    )
    # A clone that ran a shard itself still has that task's worktree: landing cleans it up too.
    held = {info.branch: str(info.path) for info in await worktrees.list_worktrees(repo) if info.branch}
    for directory, data in exports:
        for spec in data["tasks"]:
            journal.transition(
                run_id, spec["id"], TaskState.APPROVED,
                f"approved in shard {data['shard']} (run {data['run_id']}), imported from {directory}",
                branch=spec["branch"], worktree=held.get(spec["branch"]), head_sha=spec["head"],
                start_sha=spec.get("start"),
                approval_hash=spec["approval_hash"], contract=spec.get("contract"),
                files=list(spec.get("files") or []), included=list(spec.get("included") or []),
                included_blobs=dict(spec.get("included_blobs") or {}),
            )
    ctx = RunContext(
        repo=repo, journal=journal, run_id=run_id, plan=plan, config=config, base_sha=first["base_sha"],
        target=first["target"], worktree_root=worktrees.default_worktree_root(repo, config.worktree_root),
        emit=emit, merge=True,
    )
    with process.observing_spawns(journaling_observer(journal, run_id, None)):
        try:
            reached_target, message = await land_approved(ctx)
        except BaseException:
            journal.set_run(run_id, status=RunStatus.INTERRUPTED,
                            message=f"interrupted while landing; `launcher land {run_id}` continues")
            raise
    status = run_status(journal.tasks(run_id), merge=True, reached_target=reached_target)
    journal.set_run(run_id, status=status, message=message)
    return build_report(journal, run_id, repo.root)
