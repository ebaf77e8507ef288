"""`launcher workflow <action>`: multi-phase workflows (the same actions as the MCP tool)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from launcher.app.workflow import actions, engine
from launcher.app.workflow.session import WorkflowSession
from launcher.cli import stop_signals
from launcher.cli.calls import call
from launcher.cli.lazy_commands import LAZY_GROUPS
from launcher.cli.run_view import abandon_view
from launcher.errors import ExitCode, UsageProblem
from launcher.models.decoding import read_text
from launcher.models.printable import one_line, printable
from launcher.models.workflow import WorkflowStatus
from launcher.ui.view import make_view

workflow_app = typer.Typer(help=LAZY_GROUPS["workflow"].help, no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Plain lines, no live table.")]
WidArg = Annotated[str, typer.Argument(help="Workflow id (wf_...).")]


def _print(data: Any, json_mode: bool, text: str | None = None) -> None:
    print(json.dumps(data, indent=2, default=str) if json_mode or text is None else text)


def _shown_status(data: dict[str, Any]) -> str:
    """The workflow's status as `workflow status` and `workflow list` both show it: a `running`
    workflow whose runner stopped mid-phase (`interrupted`: nothing runs it) says so."""
    return "running  (interrupted)" if data["interrupted"] else str(data["status"])


def _where(data: dict[str, Any]) -> str:
    """The phase(s) a workflow is at, for `workflow list`: those running, else the one it is
    paused on (empty when neither)."""
    running = [p["id"] for p in data["phases"] if p["status"] == "running"]
    phases = running or ([data["paused_on"]] if data.get("paused_on") else [])
    return f"phase {', '.join(phases)}" if phases else ""


def _list_line(data: dict[str, Any]) -> str:
    line = f"{data['id']}  {data['template']:<26} {_shown_status(data)}"
    parts = [_where(data)]
    if data["interrupted"]:  # nothing runs it: say how it goes on
        parts.append(f"`launcher workflow resume {data['id']}` continues it")
    where = "; ".join(part for part in parts if part)
    return f"{line}  {where}" if where else line


def _state_text(data: dict[str, Any]) -> str:
    lines = [f"{data['id']}  {data['template']}  {_shown_status(data)}"]
    for phase in data["phases"]:
        run = f"  run {phase['run_id']}" if phase["run_id"] else ""
        lines.append(f"  {phase['id']:<16} {phase['status']:<10}{run}")
        for task in phase["tasks"]:
            lines.append(f"      {task['id']:<36} {printable(task['agent']):<12} {task['state']}")
        if phase["error"]:
            # one line: it quotes agents' text (file names in a park reason, a task's message)
            lines.append(f"      error: {one_line(phase['error'])}")
        lines += [f"      note: {one_line(note)}" for note in phase.get("notes", [])]
    if data["message"]:
        lines.append(printable(data["message"], newlines=True))
    lines += [f"  next: {command}" for command in data["offers"]]
    return "\n".join(lines)


def _exit_for(data: dict[str, Any]) -> None:
    bad = data["status"] in (WorkflowStatus.FAILED.value,) or (
        data["status"] == "paused" and (data.get("paused_on") or data.get("lost_work")))
    raise typer.Exit(int(ExitCode.FAILED) if bad else 0)


@workflow_app.command("workflows")
def workflows_cmd(json_mode: JsonOpt = False) -> None:
    """List the workflow templates (shipped, and this repository's `workflows/`)."""
    rows = call(lambda: actions.templates_list(Path.cwd()), json_mode=json_mode)
    _print(rows, json_mode, "\n".join(f"{r['name']:<26} {r['category']:<12} {' → '.join(r['phases'])}" for r in rows))


@workflow_app.command("workflow")
def workflow_cmd(name: Annotated[str, typer.Argument()], json_mode: JsonOpt = False) -> None:
    """Show one template: parameters, phases, parallel agent groups, checkpoints."""
    data = call(lambda: actions.template_show(Path.cwd(), name), json_mode=json_mode)
    lines = [f"{data['name']}: {data['description']}", f"parameters: {', '.join(data['parameters']) or 'none'}"]
    for p in data["phases"]:
        groups = " | ".join(" + ".join(f"{r['role']} ({r['agent']})" for r in g) for g in p["parallel_groups"])
        flags = (" [checkpoint]" if p["checkpoint"] else "") + (f" [parallel with {', '.join(p['parallel_with'])}]"
                                                                 if p["parallel_with"] else "")
        lines.append(f"  {p['step']}. {p['name']}{flags}: {groups}")
    lines += [f"note: {one_line(note)}" for note in data.get("notes", [])]
    _print(data, json_mode, "\n".join(lines))


@workflow_app.command("analyze")
def analyze_cmd(context: Annotated[str, typer.Argument()], json_mode: JsonOpt = False) -> None:
    """Domains, roles and complexity found in a task description."""
    data = call(lambda: actions.dispatch(Path.cwd(), "analyze", {"context": context}, lambda e: None, detach=False),
                json_mode=json_mode)
    domains = ", ".join(f"{d['domain']} ({', '.join(d['keywords'])})" for d in data["domains"]) or "none"
    _print(data, json_mode, f"domains: {domains}\nroles: {', '.join(data['roles']) or 'none'}\n"
                            f"complexity: {data['complexity']}")


@workflow_app.command("suggest")
def suggest_cmd(context: Annotated[str, typer.Argument()], json_mode: JsonOpt = False) -> None:
    """Templates ranked for a task description, with scores and why."""
    rows = call(lambda: actions.dispatch(Path.cwd(), "suggest", {"context": context}, lambda e: None, detach=False),
                json_mode=json_mode)
    _print(rows, json_mode, "\n".join(f"{r['score']:>4g}  {r['workflow']:<26} {r['why']}" for r in rows)
           or "no template matches; `launcher workflow plan` builds a custom plan")


@workflow_app.command("recommend")
def recommend_cmd(limit: Annotated[int, typer.Option("--limit", help="At most this many (1-50).")] = 5,
                  json_mode: JsonOpt = False) -> None:
    """Next actions for this repository and its active workflows."""
    rows = call(lambda: actions.recommend(Path.cwd(), limit), json_mode=json_mode)
    _print(rows, json_mode, "\n".join(f"{r['action']}\n    {r['why']}" for r in rows))


@workflow_app.command("plan")
def plan_cmd(
    context: Annotated[str, typer.Argument()],
    workflow: Annotated[str | None, typer.Option("--workflow", help="Template to use (default: best match).")] = None,
    write: Annotated[Path | None, typer.Option(
        "--write", help="Also write it as a `launcher run` plan file (a new file in the work tree).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Let --write replace an existing file.")] = False,
    json_mode: JsonOpt = False,
) -> None:
    """A multi-phase plan with parallel agent groups (a custom one when no template matches)."""
    data = call(lambda: actions.make_plan(Path.cwd(), context, workflow, write, overwrite=overwrite),
                json_mode=json_mode)
    lines = [f"workflow: {data['workflow']}" + (" (custom, routed from keywords)" if data["custom"] else "")]
    for p in data["phases"]:
        groups = " | ".join(" + ".join(r["role"] for r in g) for g in p["parallel_groups"])
        lines.append(f"  step {p['step']} {p['name']}{' [checkpoint]' if p['checkpoint'] else ''}: {groups}")
    lines += [*data["notes"], f"written: {data['written']}" if write else f"start: {data['start']}"]
    _print(data, json_mode, "\n".join(lines))


def _params(raw: list[str]) -> dict[str, str]:
    out = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageProblem(f"--param {item!r} is not KEY=VALUE", fix="e.g. --param feature='a login page'")
        out[key.strip()] = value
    return out


def _scripts(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_text(path))  # at most 64 MiB, never a FIFO
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path}: expected an object of task id or role -> steps")
    return data


def _cancelling(wid: str) -> bool:
    """Whether `launcher workflow cancel` is stopping this workflow's runner (a live cancel's marker)."""
    async def find() -> bool:
        from launcher.app.workflow.cancel import cancel_running

        return cancel_running(await WorkflowSession.open(Path.cwd()), wid)

    try:
        return stop_signals.run(find)
    except Exception:  # only chooses the wording of the exit line
        return False


def _run_phase(wid: str, body: str, json_mode: bool, quiet: bool, **kw: Any) -> dict[str, Any]:
    """Run the next step in the foreground with the live view of its tasks."""
    async def tasks() -> list[tuple[str, str, str]]:
        session = await WorkflowSession.open(Path.cwd())
        state = session.load(wid)
        from launcher.app.workflow.phase_run import next_step, step_tasks
        step = next_step(session, state)
        return step_tasks(session, state, step) if step else []

    view = make_view(json_mode=json_mode, quiet=quiet)
    view.start(wid, call(tasks, json_mode=json_mode))
    try:
        def interrupted() -> str:
            abandon_view(view)
            if _cancelling(wid):
                return (f"stopped: workflow {wid} is being cancelled (`launcher workflow cancel`); "
                        "this phase is not continued")
            return f"interrupted: state saved; `launcher workflow resume {wid}` continues the phase"

        if body == "next":
            state = call(lambda: engine.run_next(Path.cwd(), wid, view.handle, **kw), json_mode=json_mode,
                         on_interrupt=interrupted)
        else:
            state = call(lambda: engine.resume(Path.cwd(), wid, view.handle, **kw), json_mode=json_mode,
                         on_interrupt=interrupted)
    finally:
        view.stop()
    return actions.view(state)


async def _refuse(problem: UsageProblem) -> None:
    raise problem


@workflow_app.command("start")
def start_cmd(
    name: Annotated[str, typer.Argument(help="Template name (`launcher workflow workflows`).")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE, repeatable.")] = None,
    no_run: Annotated[bool, typer.Option("--no-run", help="Only create it; `next` runs the first phase.")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Run the first phase in the background.")] = False,
    scripts: Annotated[Path | None, typer.Option(
        "--scripts", help="JSON file: task id or role -> steps of the built-in scripted agent.")] = None,
    json_mode: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Create a workflow (id wf_<hex>) and run its first phase."""
    options = {"scripts": _scripts(scripts)} if scripts else {}
    if no_run and detach:  # before anything is created: --detach runs the phase --no-run says not to run
        call(lambda: _refuse(UsageProblem("--no-run and --detach exclude each other: --no-run only creates the "
                                          "workflow, --detach runs its first phase in the background",
                                          fix=f"launcher workflow start {name} --no-run (then `launcher workflow "
                                              "next ID`), or --detach alone", error_key="usage:no_run_detach")),
             json_mode=json_mode)
    state = call(lambda: engine.create(Path.cwd(), name, _params(param or []), options), json_mode=json_mode)
    if no_run or detach:
        data = actions.view(state)
        if detach:
            data = call(lambda: actions._go(Path.cwd(), state.id, lambda e: None, detach=True), json_mode=json_mode)
        _print(data, json_mode, _state_text(data))
        raise typer.Exit(0)
    data = _run_phase(state.id, "next", json_mode, quiet)
    _print(data, json_mode, _state_text(data))
    _exit_for(data)


@workflow_app.command("next")
def next_cmd(
    workflow_id: WidArg,
    skip: Annotated[bool, typer.Option("--skip", help="Skip the failed phase, then run the next.")] = False,
    spawned: Annotated[bool, typer.Option("--spawned", hidden=True)] = False,
    json_mode: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Run the next phase (one launcher run of its roles' tasks)."""
    data = _run_phase(workflow_id, "next", json_mode, quiet, skip=skip, spawned=spawned)
    _print(data, json_mode, _state_text(data))
    _exit_for(data)


@workflow_app.command("status")
def status_cmd(workflow_id: Annotated[str | None, typer.Argument()] = None, json_mode: JsonOpt = False) -> None:
    """A workflow's phases, their tasks, and what to do next (default: the latest)."""
    data = call(lambda: actions.dispatch(Path.cwd(), "status", {"workflowId": workflow_id}, lambda e: None,
                                         detach=False), json_mode=json_mode)
    _print(data, json_mode, _state_text(data))


@workflow_app.command("checkpoint")
def checkpoint_cmd(workflow_id: WidArg, signal: Annotated[str, typer.Option("--signal", help="Your reference.")],
                   json_mode: JsonOpt = False) -> None:
    """Record a completion signal; releases a phase waiting for the operator."""
    state = call(lambda: engine.record_checkpoint(Path.cwd(), workflow_id, signal), json_mode=json_mode)
    data = actions.view(state)
    _print(data, json_mode, _state_text(data))


@workflow_app.command("pause")
def pause_cmd(workflow_id: WidArg, json_mode: JsonOpt = False) -> None:
    """Pause (a running phase finishes first)."""
    data = actions.view(call(lambda: engine.pause(Path.cwd(), workflow_id), json_mode=json_mode))
    _print(data, json_mode, _state_text(data))


@workflow_app.command("resume")
def resume_cmd(
    workflow_id: WidArg,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Run the failed phase's failed tasks again.")] = False,
    spawned: Annotated[bool, typer.Option("--spawned", hidden=True)] = False,
    json_mode: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Continue a paused workflow, a crashed phase, a parked phase once merged, or
    (--retry-failed) a failed phase."""
    data = _run_phase(workflow_id, "resume", json_mode, quiet, retry_failed=retry_failed, spawned=spawned)
    _print(data, json_mode, _state_text(data))
    _exit_for(data)


@workflow_app.command("cancel")
def cancel_cmd(workflow_id: WidArg, json_mode: JsonOpt = False,
               force: Annotated[bool, typer.Option(
                   "--force", help="Also delete branches and refs holding agents' commits the target "
                                   "does not reach (kept and named otherwise, as `launcher clean` does).")] = False,
               ) -> None:
    """Cancel a workflow (what earlier phases landed stays; unlanded agent commits are kept)."""
    data = actions.view(call(lambda: engine.cancel(Path.cwd(), workflow_id, force=force), json_mode=json_mode))
    _print(data, json_mode, _state_text(data))


@workflow_app.command("list")
def list_cmd(all_: Annotated[bool, typer.Option("--all", help="Ended ones too.")] = False,
             json_mode: JsonOpt = False) -> None:
    """Active workflows."""
    rows = [actions.view(s) for s in call(lambda: engine.listing(Path.cwd(), everything=all_), json_mode=json_mode)]
    _print(rows, json_mode, "\n".join(_list_line(r) for r in rows) or "no active workflow")


def run_demo_workflow(root: Path, *, temp: bool, json_mode: bool, quiet: bool) -> None:
    """`launcher demo --workflow` in the sample repo made in `root` (in a temp directory of its
    own if `temp`): plain progress lines (stderr with --json), then the state."""
    from launcher.app.workflow.demo import run_workflow_demo
    from launcher.cli.demo_stopped import stopped_line
    from launcher.cli.say_out import said_to

    with said_to(sys.stderr if json_mode else sys.stdout) as say:  # never blocks the event loop
        repo, state = call(lambda: run_workflow_demo(lambda event: None, say, root), json_mode=json_mode,
                           on_interrupt=lambda: stopped_line(root, temp=temp, shows="workflow status"))
    data = actions.view(state)
    folder = repo / ".launcher" / "workflows" / state.id
    # what the workflow wrote, not the lock that claims it
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.suffix != ".lock")
    data["artifacts_written"] = written
    _print(data, json_mode, _state_text(data) + f"\nartifacts in {folder}:\n  " + "\n  ".join(written))
    raise typer.Exit(0 if state.status is WorkflowStatus.COMPLETED else 1)
