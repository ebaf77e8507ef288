"""The workflow actions by name, with JSON-ready results: one table for the CLI and the MCP
tool `orchestrator`. Long actions (`start`, `next`) can run detached: a `launcher workflow next
ID` process of its own session, whose pid and progress are in the journal, so the caller (an MCP
server answering at once) may even exit while the phase runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from launcher import process
from launcher.app.context import EventSink
from launcher.app.workflow import engine, planner, routing
from launcher.app.workflow.session import WorkflowSession
from launcher.errors import UsageProblem
from launcher.models.workflow import WorkflowState, WorkflowStatus

ACTIONS = ("workflows", "workflow", "analyze", "suggest", "recommend", "plan", "start", "status", "next",
           "checkpoint", "pause", "resume", "cancel", "list")
RECOMMEND_DEFAULT, RECOMMEND_MAX = 5, 50


def _need(value: Any, what: str, action: str) -> Any:
    if value is None or value == "":
        raise UsageProblem(f"action {action!r} needs {what}", fix=f"pass {what}", error_key=f"missing:{what}")
    return value


async def templates_list(cwd: Path) -> list[dict[str, Any]]:
    session = await WorkflowSession.open(cwd)
    return [{"name": t.name, "category": t.category, "description": t.description,
             "phases": [p.id for p in t.phases], "parameters": list(t.parameters), "source": t.source}
            for t in sorted(session.templates().values(),
                            key=lambda t: (t.category != "development", t.category, t.name))]


async def template_show(cwd: Path, name: str) -> dict[str, Any]:
    session = await WorkflowSession.open(cwd)
    template = session.templates().get(name) or engine._unknown(session, name)
    data = template.model_dump(mode="json", by_alias=False, exclude={"phases"})
    data["source"] = template.source
    data["phases"] = planner.describe(template, {}, session.config)
    return data


async def make_plan(cwd: Path, context: str, workflow: str | None, write: Path | None) -> dict[str, Any]:
    session = await WorkflowSession.open(cwd)
    template, ranked = planner.choose_template(context, session.templates(), workflow)
    main_param = next(iter(template.parameters), "task")
    params = {main_param: context}
    run_plan = planner.whole_run_plan(template, params, session.config)
    result = {"workflow": template.name, "custom": template.name == "custom",
              "analysis": routing.analyze(context).as_dict(), "suggestions": ranked[:5],
              "phases": planner.describe(template, params, session.config), "run_plan": run_plan,
              "start": f"launcher workflow start {template.name} --param {main_param}=...",
              "notes": _agent_notes(session)}
    if write is not None:
        from launcher.store.files import atomic_write_json
        atomic_write_json(write, run_plan)
        result["written"] = str(write)
    return result


def _agent_notes(session: WorkflowSession) -> list[str]:
    if session.config.roles.get("default") or session.config.default_agent:
        return []
    return [f"roles without an agent in [roles] use {planner.FALLBACK_AGENT}; set [roles] default = \"NAME\" "
            "in launcher.toml to choose"]


async def recommend(cwd: Path, limit: int) -> list[dict[str, Any]]:
    if not 1 <= limit <= RECOMMEND_MAX:
        raise UsageProblem(f"--limit {limit} is out of range", fix=f"use 1 to {RECOMMEND_MAX}",
                           error_key="usage:limit")
    session = await WorkflowSession.open(cwd)
    out: list[dict[str, Any]] = []
    for state in session.store.all():
        if state.status.is_final:
            continue
        for command in engine.offers(state)[:1]:
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


def spawn_runner(session: WorkflowSession, state: WorkflowState, *, skip: bool = False) -> WorkflowState:
    """Run the next phase in a detached `launcher workflow next` process; returns at once."""
    engine.check_can_run(state, skip=skip)
    argv = [sys.executable, "-m", "launcher.cli.main", "workflow", "next", state.id, "--quiet", "--spawned"]
    if skip:
        argv.append("--skip")
    pid = process.spawn_detached(argv, cwd=session.repo.root, env=os.environ,
                                 log_path=session.folder(state.id) / "runner.log")
    state.runner_pid = pid
    state.message = f"the next phase runs in process {pid}; `status` shows its progress"
    session.save(state)
    return state


async def dispatch(cwd: Path, action: str, args: dict[str, Any], emit: EventSink, *, detach: bool) -> Any:
    """One action by name (the MCP tool's entry); `detach` runs start/next in the background."""
    process.reap_detached()
    if action not in ACTIONS:
        raise UsageProblem(f"unknown action {action!r}", fix=f"one of: {', '.join(ACTIONS)}",
                           error_key="usage:action")
    wid = args.get("workflowId")
    if action == "workflows":
        return await templates_list(cwd)
    if action == "workflow":
        return await template_show(cwd, _need(args.get("workflow"), "workflow", action))
    if action == "analyze":
        return routing.analyze(_need(args.get("context"), "context", action)).as_dict()
    if action == "suggest":
        session = await WorkflowSession.open(cwd)
        return routing.suggest(_need(args.get("context"), "context", action), session.templates())
    if action == "recommend":
        return await recommend(cwd, int(args.get("limit") or RECOMMEND_DEFAULT))
    if action == "plan":
        write = (args.get("options") or {}).get("write")
        return await make_plan(cwd, _need(args.get("context"), "context", action), args.get("workflow"),
                               Path(write) if write else None)
    if action == "list":
        return [view(s) for s in await engine.listing(cwd, everything=bool((args.get("options") or {}).get("all")))]
    if action == "status":
        return view(await engine.status(cwd, wid))
    if action == "start":
        state = await engine.create(cwd, _need(args.get("workflow"), "workflow", action),
                                    {k: str(v) for k, v in (args.get("params") or {}).items()},
                                    {"scripts": (args.get("options") or {}).get("scripts") or {}})
        return await _go(cwd, state.id, emit, detach=detach)
    wid = _need(wid, "workflowId", action)
    if action == "next":
        return await _go(cwd, wid, emit, detach=detach, skip=bool((args.get("options") or {}).get("skip")))
    if action == "checkpoint":
        return view(await engine.record_checkpoint(cwd, wid, _need(args.get("signal"), "signal", action)))
    if action == "pause":
        return view(await engine.pause(cwd, wid))
    if action == "resume":
        retry = bool((args.get("options") or {}).get("retry_failed"))
        return view(await engine.resume(cwd, wid, emit, retry_failed=retry))
    if action == "cancel":
        return view(await engine.cancel(cwd, wid))
    raise AssertionError(action)  # every name in ACTIONS is handled above


async def _go(cwd: Path, wid: str, emit: EventSink, *, detach: bool, skip: bool = False) -> dict[str, Any]:
    if detach:
        session = await WorkflowSession.open(cwd)
        return view(spawn_runner(session, session.load(wid), skip=skip))
    return view(await engine.run_next(cwd, wid, emit, skip=skip))


def view(state: WorkflowState) -> dict[str, Any]:
    data = engine.state_view(state)
    data["workflowId"] = state.id
    data["done"] = state.status in (WorkflowStatus.COMPLETED, WorkflowStatus.CANCELLED, WorkflowStatus.FAILED)
    return data
