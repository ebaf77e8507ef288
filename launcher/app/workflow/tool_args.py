"""The arguments of the workflow actions by name (the MCP tool `orchestrator`, and the CLI's
`workflow analyze|suggest|status`): one pydantic model, `ToolArguments`, both checks what a
client sends (`check_args`) and is, as JSON Schema, the input schema the tool advertises
(`input_schema`), so the two cannot disagree. What the schema allows is taken; what it forbids
is refused with the structured envelope naming the argument, never converted (a JSON `true`
for a text parameter is not the text "True").

Checked in this order, the first failure reported: an argument the tool does not take
(usage:arguments); text that is not valid Unicode (usage:<argument>); then each argument in the
order of the model: `action` (missing:action, usage:action), `context`, `workflow`,
`workflowId`, `signal` (text of 1 to TEXT_MAX characters), `limit` (a whole number 1-50; 3.0 is
one, as JSON Schema says), `params` (an object of text values, each at most TEXT_MAX
characters), `options` (an object of the options below, each of its JSON type)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, with_config
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict  # pydantic's TypedDict before Python 3.12

from launcher.errors import UsageProblem

Action = Literal["workflows", "workflow", "analyze", "suggest", "recommend", "plan", "start", "status", "next",
                 "checkpoint", "pause", "resume", "cancel", "list"]
ACTIONS: tuple[str, ...] = get_args(Action)
RECOMMEND_DEFAULT, RECOMMEND_MAX = 5, 50
# Characters in one text argument (context, workflow, workflowId, signal) or one parameter's value.
# The routing analysis of a context is CPU work (about 0.5 s per MB here); longer text also could
# never be an agent's prompt, which its CLI gets as one command-line argument (at most 96 KiB:
# agents/cli_common.PROMPT_LIMIT_BYTES).
TEXT_MAX = 100_000
# A Unicode noncharacter (reserved for a program's internal use): the MCP server's reader puts it
# where the client sent a lone surrogate or bytes that are not UTF-8 (cli/mcp_stdin.py).
INVALID_TEXT_MARK = "\ufdd0"


def _whole_number(value: Any) -> Any:
    """3.0 is the integer 3 (JSON Schema: a number with a zero fractional part); 3.5, "3" and
    true are left to be refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Text = Annotated[str, Field(min_length=1, max_length=TEXT_MAX)]


@with_config(ConfigDict(extra="forbid", strict=True))
class Options(TypedDict, total=False):
    """Each option is one action's (named before the colon); any other action refuses it."""

    write: Annotated[str, Field(min_length=1, description="plan: also write the plan as a new file in the "
                                                           "work tree (a path)")]
    overwrite: Annotated[bool, Field(description="plan: let write replace an existing file")]
    all: Annotated[bool, Field(description="list: ended workflows too")]
    scripts: Annotated[Any, Field(description="start: steps of the built-in scripted agent by task id or role")]
    skip: Annotated[bool, Field(description="next: skip the failed phase, then run the next")]
    retry_failed: Annotated[bool, Field(description="resume: run the failed phase's failed tasks again")]
    force: Annotated[bool, Field(description="cancel: also delete branches holding agents' unlanded commits")]


class ToolArguments(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, title="orchestrator")

    action: Action = Field(description="what to do")
    context: Text | None = Field(None, description="a task description (analyze, suggest, plan)")
    workflow: Text | None = Field(None, description="a template name (workflow, plan, start)")
    workflowId: Text | None = Field(  # the tool's argument, as clients spell it
        None, description="wf_... (status: the latest when left out; next, checkpoint, pause, resume, cancel)")
    signal: Text | None = Field(None, description="the checkpoint's reference (checkpoint)")
    limit: Annotated[int, Field(ge=1, le=RECOMMEND_MAX), BeforeValidator(_whole_number)] | None = Field(
        None, description=f"recommend's count (default {RECOMMEND_DEFAULT})")
    params: dict[str, Annotated[str, Field(max_length=TEXT_MAX)]] | None = Field(
        None, description="the template's parameters, as text (start)")
    options: Options | None = Field(None, description="the action's options (only those it takes)")


ARGUMENTS: tuple[str, ...] = tuple(ToolArguments.model_fields)  # the MCP tool's, every one checked
_BOOL, _PATH, _ANY = "true or false", "a file path", "any"
# The options each action takes: anything else is refused, never read as its truthiness
# ("false" is a non-empty string) nor silently ignored (a misspelt key).
OPTIONS: dict[str, dict[str, str]] = {
    "plan": {"write": _PATH, "overwrite": _BOOL},
    "list": {"all": _BOOL},
    "start": {"scripts": _ANY},
    "next": {"skip": _BOOL},
    "resume": {"retry_failed": _BOOL},
    "cancel": {"force": _BOOL},
}


def input_schema() -> dict[str, Any]:
    """The tool's input schema: `ToolArguments` as JSON Schema, with its definitions inlined
    (some clients do not follow `$ref`)."""
    schema = ToolArguments.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline({**definitions[ref.removeprefix("#/$defs/")],
                               **{k: v for k, v in node.items() if k != "$ref"}})
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


def check_argument_names(names: Iterable[str]) -> None:
    """Refuse (usage:arguments) an argument the tool does not take: dropped, a misspelt
    `workflow_id` would leave `status` to answer for the latest workflow, not the one asked for."""
    unknown = [name for name in names if name not in ARGUMENTS]
    if not unknown:
        return
    hints = [f"{name} -> {known}" for name in unknown for known in ARGUMENTS
             if name.replace("_", "").lower() == known.lower() or (name == "id" and known == "workflowId")]
    raise UsageProblem(f"not an argument of the orchestrator tool: {', '.join(map(repr, unknown))} (its arguments "
                       f"are: {', '.join(ARGUMENTS)}); nothing was done",
                       where=f"arguments.{unknown[0]}",
                       fix=(f"rename {', '.join(hints)}" if hints else f"drop {', '.join(unknown)}")
                           + "; a workflow's id is workflowId, an action's options go in options",
                       error_key="usage:arguments")  # fmt: skip


def check_args(args: dict[str, Any]) -> dict[str, Any]:
    """The tool's arguments as typed values (`params` and `options` an object, empty when left
    out), or a usage error naming the argument (the MCP client may send anything). An argument
    given as null is one left out."""
    check_argument_names(args)
    for name, value in args.items():
        _refuse_invalid_text(name, value)
    given = {name: value for name, value in args.items() if value is not None}
    try:
        checked = ToolArguments.model_validate(given)
    except ValidationError as exc:
        raise _refusal(exc.errors()[0], given) from None
    out = {name: getattr(checked, name) for name in ARGUMENTS}  # limit 3.0 is 3
    return {**out, "params": dict(checked.params or {}), "options": dict(checked.options or {})}


def check_options(action: str, options: dict[str, Any]) -> None:
    """Refuse (usage:options) an option the action does not take, and a boolean option that is
    not a JSON boolean."""
    known = OPTIONS.get(action, {})
    for key, value in options.items():
        kind = known.get(key)
        if kind is None:
            takes = f"its options are: {', '.join(known)}" if known else "it takes no options"
            raise UsageProblem(f"not an option of action {action!r} ({takes})",
                               where=f"options.{key}",
                               fix=f"drop options.{key}" + (f", or use one of: {', '.join(known)}" if known else ""),
                               error_key="usage:options")
        if kind == _BOOL and not isinstance(value, bool):
            raise UsageProblem(f"must be true or false (a JSON boolean), not {value!r}",
                               where=f"options.{key}", fix=f"pass {key}: true or {key}: false, without quotes",
                               error_key="usage:options")
        if key == "scripts":
            check_scripts_confined(value)


_SCRIPT_PATHS = ("write", "append", "replace", "delete")


def check_scripts_confined(scripts: Any) -> None:
    """`start`'s options.scripts through the tool: the scripted agent's steps stay in its
    worktree. An MCP client drives workflows; it must not run commands (`run` steps) nor write,
    read or delete files outside the worktree (an absolute path, a `..`) through them. (On the
    command line `--scripts` is the operator's own file, taken as it is.) Their shape is checked
    at `start` (planner.check_scripts)."""
    if not isinstance(scripts, dict):
        return
    for key, steps in scripts.items():
        for number, step in enumerate(steps if isinstance(steps, list) else []):
            if not isinstance(step, dict):
                continue
            where = f"options.scripts[{key!r}][{number}]"
            if "run" in step:
                raise UsageProblem("a `run` step runs a command, which the MCP tool does not let a client do",
                                   where=where, error_key="workflow_scripts_invalid",
                                   fix="drop the `run` step; steps through MCP may write, append, replace or "
                                       "delete files in the task's worktree (and say, commit, contract, ...)")
            for name in _SCRIPT_PATHS:
                path = step.get(name)
                if isinstance(path, str) and (path.startswith("/") or ".." in path.split("/")):
                    raise UsageProblem(f"the {name} path {path!r} leads outside the task's worktree",
                                       where=f"{where}.{name}", error_key="workflow_scripts_invalid",
                                       fix="use a path relative to the worktree, without `..` (e.g. docs/plan.md)")


def check_plan_path(write: Any) -> None:
    """`plan`'s options.write: a non-empty file path without a NUL character."""
    if isinstance(write, str) and write and "\0" not in write:
        return
    said = "holds a NUL character (\\u0000), which no file name can hold" if isinstance(write, str) \
        and write else "must be a file path"
    raise UsageProblem(f"the plan's path {said}", where="options.write",
                       fix="pass a file path in the work tree, e.g. \"plan.json\"",
                       error_key="usage:write" if isinstance(write, str) else "usage:options")


def check_context(context: str) -> None:
    """A task description the routing analyses: at most TEXT_MAX characters (usage:context)."""
    if len(context) > TEXT_MAX:
        raise _too_long("context", context)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({json.dumps(value)})"
    names: dict[type, str] = {str: "a string", list: "an array", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _too_long(where: str, value: str) -> UsageProblem:
    return UsageProblem(f"too long: {len(value):,} characters, where the tool takes at most {TEXT_MAX:,} in one "
                        "text argument or parameter value", where=where,
                        fix="shorten it: put the long text in a file of the repository and name that file instead",
                        error_key=f"usage:{where.split('.')[0]}")


def _refusal(error: ErrorDetails, given: dict[str, Any]) -> UsageProblem:
    """The first thing the model refused, said in the tool's words."""
    loc = [str(part) for part in error["loc"]]
    name, kind, value = loc[0], error["type"], error.get("input")
    where = ".".join(loc)
    key = f"usage:{name}"
    if name == "action":
        one_of = f"one of: {', '.join(ACTIONS)}"
        if kind == "missing":
            return UsageProblem("the argument action is missing", fix=f"pass action, {one_of}",
                                error_key="missing:action")
        if isinstance(value, str):
            return UsageProblem(f"unknown action {value!r}", fix=one_of, error_key=key)
        return UsageProblem(f"action must be a string, not {_json_type(value)}", fix=f"pass action as text ({one_of})",
                            error_key=key)
    if name == "options" and len(loc) > 1:
        action = given.get("action")
        if kind in ("extra_forbidden", "bool_type") and isinstance(action, str) and action in ACTIONS:
            check_options(action, given["options"])  # names the options this action takes
        if loc[1] == "write":
            check_plan_path(value)
    if kind == "string_too_long" and isinstance(value, str):
        return _too_long(where, value)
    if kind == "string_too_short":
        return UsageProblem(f"{where} is empty", fix=f"pass {where} as text, or leave it out", error_key=key)
    if kind == "string_type":
        if name != "params":
            return UsageProblem(f"{where} must be a string, not {_json_type(value)}", fix=f"pass {where} as text",
                                error_key=key)
        spelt = f" (\"{json.dumps(value)}\")" if isinstance(value, bool | int | float) else ""
        return UsageProblem(f"{where} must be text (a JSON string), not {_json_type(value)}",
                            fix=f"pass each parameter as a string{spelt}", error_key=key)
    if name == "limit":
        if kind in ("greater_than_equal", "less_than_equal"):
            return UsageProblem(f"limit {value} is out of range", fix=f"use 1 to {RECOMMEND_MAX}", error_key=key)
        return UsageProblem(f"limit must be a whole number, not {json.dumps(value, default=repr)}",
                            fix=f"use 1 to {RECOMMEND_MAX}", error_key=key)
    if kind in ("dict_type", "model_type"):
        return UsageProblem(f"{name} must be an object, not {_json_type(value)}",
                            fix=f"pass {name} as {{\"key\": value, ...}}", error_key=key)
    return UsageProblem(f"{where}: {error['msg']}", fix="see the tool's input schema", error_key=key)


def _refuse_invalid_text(where: str, value: Any) -> None:
    if isinstance(value, str) and INVALID_TEXT_MARK in value:
        raise UsageProblem(f"{where} is not valid Unicode text: it holds a lone UTF-16 surrogate (such as "
                           f"\\udce9) or bytes that are not UTF-8, at character {value.index(INVALID_TEXT_MARK)}",
                           fix=f"send {where} as valid Unicode (encode the text as UTF-8 before escaping it)",
                           error_key=f"usage:{where.split('.')[0]}")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_invalid_text(f"{where}.{key}", key)
            _refuse_invalid_text(f"{where}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_invalid_text(f"{where}[{index}]", item)
