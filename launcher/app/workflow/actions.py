"""The workflow actions by name, with JSON-ready results: one table for the CLI and the MCP
tool `orchestrator`. Long actions (`start`, `next`, `resume` of a phase) can run detached: a
`launcher workflow next|resume ID` process of its own session, whose pid and progress are in the
journal, so the caller (an MCP server answering at once) may even exit while the phase runs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import anyio

from launcher import detached, process_identity
from launcher.app.context import EventSink, state_dir
from launcher.app.run.shared_credentials import check_shared_credentials
from launcher.app.workflow import engine, handoff, integrity, offers, planner, routing, runner
from launcher.app.workflow.session import WorkflowSession
from launcher.app.workflow.templates import load_templates, unknown_template
from launcher.app.workflow.tool_args import (
    RECOMMEND_DEFAULT,
    RECOMMEND_MAX,
    check_args,
    check_context,
    check_options,
    check_plan_path,
)
from launcher.errors import UsageProblem
from launcher.git import worktrees
from launcher.git.repo import NoRepositoryHere
from launcher.launcher_child import launcher_module_argv
from launcher.models.config import RepoConfig
from launcher.models.workflow import WorkflowState, WorkflowStatus, WorkflowTemplate
from launcher.private_files import open_private_append


def _need(value: Any, what: str, action: str) -> Any:
    if value is None or value == "":
        raise UsageProblem(f"action {action!r} needs {what}", fix=f"pass {what}", error_key=f"missing:{what}")
    return value


async def _templates_here(cwd: Path) -> tuple[dict[str, WorkflowTemplate], RepoConfig]:
    """The templates `cwd` sees, with the config that shapes their phases: inside a repository its
    session's (the shipped ones and the repository's `workflows/`), outside any the shipped ones
    with the default config (listing or showing a template needs no repository)."""
    try:
        session = await WorkflowSession.open(cwd)
    except NoRepositoryHere:
        return load_templates(None), RepoConfig()
    return session.templates(), session.config


async def templates_list(cwd: Path) -> list[dict[str, Any]]:
    templates, _ = await _templates_here(cwd)
    return [{"name": t.name, "category": t.category, "description": t.description,
             "phases": [p.id for p in t.phases], "parameters": list(t.parameters), "source": t.source}
            for t in sorted(templates.values(),
                            key=lambda t: (t.category != "development", t.category, t.name))]


async def template_show(cwd: Path, name: str) -> dict[str, Any]:
    templates, config = await _templates_here(cwd)
    template = templates.get(name) or unknown_template(templates, name)
    data = template.model_dump(mode="json", by_alias=False, exclude={"phases"})
    data["source"] = template.source
    data["phases"] = planner.describe(template, {}, config)
    if (problem := planner.role_problem(config, templates)) is not None:
        data["notes"] = [str(problem)]  # shown, not refused: this view is where roles are looked up
    return data


async def make_plan(cwd: Path, context: str, workflow: str | None, write: Path | None,
                    *, overwrite: bool = False) -> dict[str, Any]:
    check_context(context)
    session = await WorkflowSession.open(cwd)
    # the routing analysis is CPU work: off the event loop, so the MCP server answers other calls meanwhile
    template, ranked = await anyio.to_thread.run_sync(planner.choose_template, context, session.templates(), workflow)
    planner.check_roles(session.config, session.templates())
    main_param = next(iter(template.parameters), "task")
    params = {main_param: context}
    run_plan = planner.whole_run_plan(template, params, session.config)
    analysis = await anyio.to_thread.run_sync(routing.analyze, context)
    result = {"workflow": template.name, "custom": template.name == "custom",
              "analysis": analysis.as_dict(), "suggestions": ranked[:5],
              "phases": planner.describe(template, params, session.config), "run_plan": run_plan,
              "start": f"launcher workflow start {template.name} --param {main_param}=...",
              "notes": _agent_notes(session)}
    if write is not None:
        from launcher.store.files import atomic_write_json
        target = plan_target(session, cwd, write, overwrite=overwrite)
        try:
            atomic_write_json(target, run_plan)
        except OSError as exc:
            raise UsageProblem(f"cannot write the plan: {exc.strerror or exc}", where=str(write),
                               fix="write it to a path in an existing folder you may write to",
                               error_key="usage:write") from None
        result["written"] = str(write)
    return result


def plan_target(session: WorkflowSession, cwd: Path, write: Path, *, overwrite: bool) -> Path:
    """Where `plan --write` may write: a path inside the repository's work tree, never in a git
    directory, and never over an existing file unless `overwrite` is asked for."""
    where = str(write)
    if "\0" in where:
        raise UsageProblem(f"the plan's path holds a NUL character (\\u0000) at character {where.index(chr(0))}, "
                           "which no file name can hold", where=where.replace("\0", "\\u0000"),
                           fix="pass a file path without it, e.g. plan.json", error_key="usage:write")
    root = session.repo.root.resolve()
    given = write if write.is_absolute() else cwd / write
    try:  # the folder's symlinks resolved, not the file's
        target = given.parent.resolve() / given.name
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13), a name too long
        raise UsageProblem(f"the plan's folder cannot be resolved: {getattr(exc, 'strerror', None) or exc}",
                           where=where, fix="write it to a path in an existing folder of the work tree",
                           error_key="usage:write") from None
    if ".git" in given.parts or ".git" in target.parts or target.is_relative_to(session.repo.common_dir.resolve()):
        raise UsageProblem("the plan would be written inside the repository's git directory", where=where,
                           fix="write it to a path in the work tree, e.g. --write plan.json",
                           error_key="usage:write")
    if not target.is_relative_to(root) or target == root:
        raise UsageProblem(f"the plan would be written outside the repository ({root})", where=where,
                           fix="write it to a path in the work tree, e.g. --write plan.json",
                           error_key="usage:write")
    if held := _launcher_state_holding(session, given, target):
        raise UsageProblem(f"the plan would be written inside the launcher's own state ({held}: its journal, "
                           "runs' records, workflows' state and worktrees), which is not the work tree's content",
                           where=where, fix="write it to a path in the work tree, e.g. --write plan.json",
                           error_key="usage:write")
    if os.path.lexists(target):
        if not overwrite:
            raise UsageProblem("the file exists; the plan does not overwrite it", where=where,
                               fix="choose a new file name, or pass --overwrite (MCP: options.overwrite = true) "
                                   "to replace it", error_key="usage:write_exists")
        if target.is_symlink() or not target.is_file():
            raise UsageProblem("not a regular file; the plan replaces only a regular file", where=where,
                               fix="choose a new file name", error_key="usage:write")
    return target


def _launcher_state_holding(session: WorkflowSession, given: Path, target: Path) -> Path | None:
    """The launcher's state folder (`.launcher/`, the worktree root when it lies in the
    repository) that holds the plan's path, named as given or with its symlinks resolved."""
    folders = [state_dir(session.repo), worktrees.default_worktree_root(session.repo, session.config.worktree_root)]
    for folder in folders:
        for form in (folder.absolute(), folder.resolve()):
            if given.absolute().is_relative_to(form) or target.is_relative_to(form):
                return folder
    return None


def _agent_notes(session: WorkflowSession) -> list[str]:
    if session.config.roles.get("default") or session.config.default_agent:
        return []
    return [f"roles without an agent in [roles] use {planner.FALLBACK_AGENT}; set [roles] default = \"NAME\" "
            "in launcher.toml to choose"]


async def recommend(cwd: Path, limit: int) -> list[dict[str, Any]]:
    if not 1 <= limit <= RECOMMEND_MAX:
        raise UsageProblem(f"limit {limit} is out of range", fix=f"use 1 to {RECOMMEND_MAX}",
                           error_key="usage:limit")
    session = await WorkflowSession.open(cwd)
    session.config  # noqa: B018  (every action it recommends reads it: a config error comes first)
    out: list[dict[str, Any]] = []
    for state in session.store.all():
        if state.status.is_final:
            continue
        for command in offers.offers(state)[:1]:
            out.append({"action": command, "workflow_id": state.id,
                        "why": f"{state.template} is {state.status.value}: {state.message}"})
    root = session.repo.root
    hints = [
        (not (root / "tests").is_dir() and not (root / "test").is_dir(), "feature-development",
         "no tests folder: start with a testing phase"),
        (any((root / d).is_dir() for d in ("migrations", "alembic", "db")), "database-migration",
         "the repository has migrations"),
        (True, "security-audit", "no audit recorded by a workflow in this repository"),
        (True, "performance-optimization", "profile the hot paths"),
        (True, "feature-development", "plan the next feature in parallel phases"),
    ]
    done = {s.template for s in session.store.all()}
    for applies, name, why in hints:
        if applies and name not in done and not any(r.get("workflow") == name for r in out):
            out.append({"action": f"launcher workflow plan \"...\" --workflow {name}", "workflow": name, "why": why})
    return out[:limit]


def spawn_runner(session: WorkflowSession, state: WorkflowState, *, skip: bool = False,
                 resume: bool = False, retry_failed: bool = False) -> WorkflowState:
    """Run the next phase (`resume`: continue or retry the phase) in a detached `launcher
    workflow next|resume` process; returns at once. Callers checked that it may run now."""
    action = ["resume", state.id, *(["--retry-failed"] if retry_failed else [])] if resume else \
        ["next", state.id, *(["--skip"] if skip else [])]
    log_path = session.folder(state.id) / runner.RUNNER_LOG
    with open_private_append(log_path, text=True) as log:  # the tail `status` shows starts after this line
        log.write(f"{runner.RUNNER_MARK}`launcher workflow {' '.join(action)}` at "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    argv = launcher_module_argv("launcher.cli.main", "workflow", *action, "--quiet", "--spawned")
    pid = detached.spawn_detached(argv, cwd=session.repo.root, env=os.environ, log_path=log_path)
    started = process_identity.start_time(pid)

    def record(now: WorkflowState) -> bool:
        if now.runner_pid not in (None, state.runner_pid) or now.status is not state.status:
            return False  # the runner already took over and recorded itself
        now.runner_pid, now.runner_started = pid, started
        now.message = f"the phase runs in process {pid}; `status` shows its progress"
        return True

    return session.update(state.id, record)


async def dispatch(cwd: Path, action: Any, args: dict[str, Any], emit: EventSink, *, detach: bool) -> Any:
    """One action by name (the MCP tool's entry); `detach` runs start/next/resume in the background."""
    detached.reap_detached()
    args = check_args({**args, "action": action})  # the tool's input schema: tool_args.ToolArguments
    options: dict[str, Any] = args["options"]
    check_options(action, options)
    wid = args.get("workflowId")
    if action == "workflows":
        return await templates_list(cwd)
    if action == "workflow":
        return await template_show(cwd, _need(args.get("workflow"), "workflow", action))
    if action == "analyze":  # CPU work, off the event loop (so is `plan`'s): other calls are answered meanwhile
        context = _need(args.get("context"), "context", action)
        return (await anyio.to_thread.run_sync(routing.analyze, context)).as_dict()
    if action == "suggest":
        session = await WorkflowSession.open(cwd)
        return await anyio.to_thread.run_sync(routing.suggest, _need(args.get("context"), "context", action),
                                              session.templates())
    if action == "recommend":
        limit = args.get("limit")
        return await recommend(cwd, RECOMMEND_DEFAULT if limit is None else limit)
    if action == "plan":
        write = options.get("write")
        if write is not None:
            check_plan_path(write)
        overwrite = options.get("overwrite", False)  # a boolean: check_options
        return await make_plan(cwd, _need(args.get("context"), "context", action), args.get("workflow"),
                               Path(write) if write is not None else None, overwrite=overwrite)
    if action == "list":
        return [view(s) for s in await engine.listing(cwd, everything=options.get("all", False))]
    if action == "status":
        return view(await engine.status(cwd, wid))
    if action == "start":
        state = await engine.create(cwd, _need(args.get("workflow"), "workflow", action), args["params"],
                                    {"scripts": options.get("scripts")})
        return await _go(cwd, state.id, emit, detach=detach)
    wid = _need(wid, "workflowId", action)
    if action == "next":
        return await _go(cwd, wid, emit, detach=detach, skip=options.get("skip", False))
    if action == "checkpoint":
        return view(await engine.record_checkpoint(cwd, wid, _need(args.get("signal"), "signal", action)))
    if action == "pause":
        return view(await engine.pause(cwd, wid))
    if action == "resume":
        retry = options.get("retry_failed", False)
        if detach:
            session = await WorkflowSession.open(cwd)
            async with session.claim(wid):  # checked and the runner recorded before another may look
                state = runner.notice_dead_runner(session, session.load(wid))
                if engine.resume_runs_a_phase(state, retry_failed=retry):
                    if engine.parked(state):
                        await engine.check_parked_held(session, state)  # refused here, not in the runner
                    elif state.paused_on and not runner.interrupted(state):  # a retry: so is lost earlier work
                        await integrity.refuse_retry_on_lost_work(session.repo, state)
                    engine.check_step_free(session, state)  # so is a run another launcher drives
                    await check_shared_credentials(session.repo)
                    handoff.check_present(session, state)  # the phase's inputs, before a runner is spawned
                    return view(spawn_runner(session, state, resume=True, retry_failed=retry))
        return view(await engine.resume(cwd, wid, emit, retry_failed=retry))
    if action == "cancel":
        return view(await engine.cancel(cwd, wid, force=options.get("force", False)))
    raise AssertionError(action)  # every name in ACTIONS is handled above


async def _go(cwd: Path, wid: str, emit: EventSink, *, detach: bool, skip: bool = False) -> dict[str, Any]:
    if detach:
        session = await WorkflowSession.open(cwd)
        async with session.claim(wid):  # checked and the runner recorded before another may look
            state = runner.notice_dead_runner(session, session.load(wid))
            engine.check_can_run(state, skip=skip)
            await check_shared_credentials(session.repo)  # refused to the caller, not in the runner
            handoff.check_present(session, state)  # so is a phase whose earlier artifacts are gone
            return view(spawn_runner(session, state, skip=skip))
    return view(await engine.run_next(cwd, wid, emit, skip=skip))


def view(state: WorkflowState) -> dict[str, Any]:
    data = offers.state_view(state)
    if data["interrupted"]:  # its runner died mid-phase: nothing runs it, so a client's poll ends here
        data["status"] = "interrupted"  # (the state keeps `running`: `resume` continues the phase)
    data["workflowId"] = state.id
    data["done"] = state.status in (WorkflowStatus.COMPLETED, WorkflowStatus.CANCELLED, WorkflowStatus.FAILED)
    return data
