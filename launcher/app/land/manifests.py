"""Reading and checking `launcher land --from`'s shard exports before anything moves: each
manifest's every field (`models.export_manifest`) and its plan digest, that all come from one
plan and base, that every shard is there and accounts for each of its tasks, and the state a
task its shard did not export lands as."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from launcher.app.run.export import MANIFEST
from launcher.app.run.shard import MAX_SHARDS, digest_of, parse_shard, select_shard
from launcher.errors import UsageProblem
from launcher.models.decoding import json_loads
from launcher.models.export_manifest import SCHEMA, ExportManifest
from launcher.models.plan import Plan, plan_from_journal
from launcher.models.problems import problems_of, raise_problems
from launcher.models.states import TaskState
from launcher.regular_files import NotRegular, TooLarge, read_capped
from launcher.store.journal import BEST_OF_N, NO_CHANGES

_FIX = "use the directories written by `launcher run --shard I/N --no-merge --export DIR` of one plan"


def bad_export(where: Path, what: str, fix: str = _FIX) -> UsageProblem:
    return UsageProblem(f"export refused: {what}", where=str(where), fix=fix)


def _schema_refused(directory: Path, found: object) -> UsageProblem:
    """An export of another launcher version names the version problem and both ways out; any
    other schema value is not an export this launcher wrote."""
    prefix, _, version = str(found).partition("/")
    if prefix != SCHEMA.partition("/")[0] or not version.isdigit():
        return bad_export(directory, f"schema is {found!r}, expected {SCHEMA!r}")
    own = int(SCHEMA.partition("/")[2])
    which = "an older" if int(version) < own else "a newer"
    return bad_export(
        directory, f"it was written by {which} launcher (format {found}; this launcher reads {SCHEMA})",
        fix="land it with the launcher version that wrote it, or run that shard job again with this one "
            "(`launcher run PLAN --shard I/N --no-merge --export DIR`) and land its new export")


# Bounds on what is read of an export (a CI artifact: anyone who could write it could make a
# manifest a FIFO, a link to /dev/zero, or huge). Far beyond what a shard writes.
MANIFEST_LIMIT = 64 * 1024 * 1024
BUNDLE_LIMIT = 16 * 1024 * 1024 * 1024
MISSING_LISTED = 10  # missing shards named one by one; the rest are counted


def not_taken(exc: OSError) -> str:
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


@contextmanager
def reading(directory: Path, name: str, missing: str) -> Iterator[None]:
    """Reading one file of an export (its manifest, a bundle): what keeps it from being read is
    said as a problem of that export, `missing` when it is not there."""
    try:
        yield
    except FileNotFoundError:
        raise bad_export(directory, missing) from None
    except (NotRegular, TooLarge) as exc:
        raise bad_export(directory, f"{name} is {not_taken(exc)}") from None
    except OSError as exc:
        raise bad_export(directory, f"{name} is not readable ({exc.strerror or exc})") from None


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest, every field checked (`models.export_manifest`): a damaged or edited one is
    refused here, naming the field, before anything is fetched or journaled."""
    path = directory / MANIFEST
    if directory.exists() and not directory.is_dir():
        named = f"its manifest {MANIFEST}, not" if directory.name == MANIFEST else "a file, not"
        raise bad_export(directory, f"--from names {named} an export directory",
                   fix=f"pass the directory the export was written to: --from {directory.parent}"
                   if directory.name == MANIFEST else _FIX)
    # A downloaded artifact, as untrusted as an agent's files: a FIFO, a link (to /dev/zero,
    # to a huge file) or a huge file is refused, never waited on or read whole.
    with reading(directory, MANIFEST, f"no {MANIFEST} (the export is missing or incomplete)"):
        raw = read_capped(path, MANIFEST_LIMIT)
    try:
        data = json_loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise bad_export(directory, f"{MANIFEST} is not UTF-8 text (byte {exc.start})") from None
    except ValueError as exc:
        raise bad_export(directory, f"{MANIFEST} is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise _schema_refused(directory, found)
    try:
        manifest = ExportManifest.model_validate(data)
    except ValidationError as exc:
        problems = [replace(p, what=f"{MANIFEST}: {p.where}: {p.what}", where="")
                    for p in problems_of(exc, ExportManifest, _location(data), "export_invalid")]
        raise_problems(problems, str(directory), UsageProblem, _FIX)
    try:
        index, count = parse_shard(manifest.shard, bounded=False)
    except UsageProblem:
        raise bad_export(directory, f"its shard {manifest.shard!r} is not I/N") from None
    if count > MAX_SHARDS:
        raise bad_export(directory, f"its shard {manifest.shard[:40]!r} splits the plan into more than {MAX_SHARDS} "
                              "shards, which no land takes (the manifest was edited or is damaged)")
    checked = manifest.model_dump(mode="json", by_alias=True)
    checked["shard"] = f"{index}/{count}"
    if digest_of(checked["plan"]) != checked["plan_digest"]:
        # The plan is what lands (its integration check, its tasks): one edited after the
        # export no longer hashes to the digest every shard computed from the plan it ran.
        raise bad_export(directory, f"its plan does not match its plan_digest ({manifest.plan_digest[:12]}): "
                              "the manifest was edited or is damaged")
    if manifest.tasks and manifest.bundle is None:
        raise bad_export(directory, f"{MANIFEST} lists tasks but no bundle")
    return checked


# Why two exports of one matrix can differ in a field, and what to do about it.
_APART = {
    "plan_digest": ": the shard jobs ran different plans (the plan file changed between them, or `--on-cap` "
                   "was given to some and not others?)",
    "base_sha": ": the shard jobs started from different commits (the target moved between them), and "
                "each one's tasks are built on its own",
    "target": ": the shard jobs ran into different branches",
}
_APART_FIX = {
    "plan_digest": f"{_FIX}, all run from the same plan file at the same commit",
    "base_sha": "run every shard job on one commit (in a CI matrix, check the same commit out in each, as "
                "actions/checkout does with the workflow's commit), re-running the jobs that ran on another; "
                "nothing was fetched or landed",
    "target": f"{_FIX}, all landing into the same branch (its `into`, else the branch checked out)",
}


def check_together(exports: list[tuple[Path, dict[str, Any]]]) -> None:
    """One plan, one base, each shard once, each task once."""
    first_dir, first = exports[0]
    seen_shards: dict[tuple[int, int], tuple[Path, str]] = {}
    seen_tasks: dict[str, Path] = {}
    for directory, data in exports:
        for key, what in (("plan_digest", "plan"), ("base_sha", "base commit"), ("target", "target")):
            if data[key] != first[key]:
                raise bad_export(directory, f"its {what} ({str(data[key])[:12]}) differs from that of "
                                      f"{first_dir} ({str(first[key])[:12]}){_APART[key]}",
                                 fix=_APART_FIX[key])
        shard = parse_shard(data["shard"])
        if shard in seen_shards:
            other, run_id = seen_shards[shard]
            same = run_id == data["run_id"] or other == directory
            raise bad_export(
                directory, f"shard {data['shard']} is also exported in {other}"
                + ("" if same else f" (by run {run_id}; this one by run {data['run_id']}: the job ran twice?)"),
                fix="pass each shard's export once" + ("" if same else
                    ": the one of that job's latest run (a re-run job's export replaces its earlier one)"))
        seen_shards[shard] = (directory, data["run_id"])
        for task_id in [spec["id"] for spec in data["tasks"]] + list(data["not_exported"]):
            if task_id in seen_tasks:
                raise bad_export(directory, f"task {task_id!r} is also in the export {seen_tasks[task_id]}")
            seen_tasks[task_id] = directory


def check_complete(exports: list[tuple[Path, dict[str, Any]]], plan: Plan) -> None:
    """Every shard of the split is here, and each accounts for exactly its own tasks (exported,
    or listed as not exported): no work of the plan goes missing without a word."""
    counts = {parse_shard(data["shard"])[1] for _, data in exports}
    if len(counts) > 1:
        raise bad_export(exports[0][0], f"the exports split the plan into different numbers of shards "
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
            raise bad_export(directory, f"task {stray[0]!r} is not one of shard {data['shard']}'s tasks "
                                  f"({', '.join(share) or 'none'})")
        unaccounted = [task_id for task_id in share if task_id not in listed]
        if unaccounted:
            raise bad_export(directory, f"task {unaccounted[0]!r} of shard {data['shard']} is neither exported "
                                  "nor listed as not exported: the manifest was edited or is incomplete",
                       fix=f"pass shard {data['shard']}'s export as its job wrote it, or re-run that job")
        both = [task_id for task_id in exported if task_id in data["not_exported"]]
        if both:
            raise bad_export(directory, f"task {both[0]!r} is both exported and listed as not exported")


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
    if state is TaskState.SKIPPED and message.startswith(NO_CHANGES + ":"):
        return state, message
    if state is TaskState.SKIPPED and attempt and message.startswith(BEST_OF_N + " "):
        return state, _attempt_not_exported(shard, run_id, message)
    if state is None or not state.is_final or state is TaskState.MERGED:
        state = TaskState.FAILED
    return state, f"not exported by shard {shard} (run {run_id}): {reason}"




# "its commits kept as refs/launcher/<shard run>/<attempt>/not-selected": a ref of the shard's clone
_KEPT_REF = re.compile(r"kept as (refs/launcher/[^\s),;]+)")


def _attempt_not_exported(shard: str, run_id: str, message: str) -> str:
    """A settled best-of-N attempt as the land reports it: the ref its commits were kept under
    is in the clone that ran the shard, not in this repository, and an attempt the selection
    set aside is not exported (only the selected one is): it cannot land here instead."""
    where = f"the clone that ran shard {shard} (run {run_id})"
    said = _KEPT_REF.sub(lambda m: f"kept as {m[1]} in {where}, not in this repository", message)
    if message.startswith(f"{BEST_OF_N} not selected ({TaskState.APPROVED.value})"):
        said += ("; its commits are not in this repository (not in the export), so it cannot land here "
                 "if the selected one does not")
    return said


def whole_plan(exports: list[tuple[Path, dict[str, Any]]]) -> Plan:
    """The plan every shard ran a share of (the manifests' plans are one: same digest)."""
    directory, data = exports[0]
    return plan_from_journal(data["plan"], f"{data['run_id']} (export {directory})")

