"""Command groups whose modules load only when invoked (`launcher mutation ...`, `launcher workflow ...`).

Why: every `launcher` process imports the top-level CLI. The mutation group pulls in libcst and
the workflow group the workflow engine (together ~1.5 s of a 2 s start-up under load), which
`launcher run` and the other commands never use. Help listings show a stub carrying the group's
one-line help; invoking the group imports its module and runs the real Typer group.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

from launcher.cli.usage_json import JsonUsageErrors

if TYPE_CHECKING:  # typer vendors click since 0.26; at run time only typer's public names are used
    from typer._click import Command, Context


@dataclass(frozen=True)
class LazyGroup:
    module: str  # the module defining the group's Typer app
    attribute: str  # that Typer app's name in the module
    help: str  # the one line shown in `launcher --help` (the real group uses the same text)


LAZY_GROUPS: dict[str, LazyGroup] = {
    "mutation": LazyGroup("launcher.cli.mutation", "mutation_app",
                          "Mutation sweeps for CI: mutate, run the tests, find survivors."),
    "workflow": LazyGroup("launcher.cli.workflow", "workflow_app",
                          "Multi-phase workflows: phases of parallel specialist agents."),
}


class _Stub(TyperGroup):
    """Stands in for a lazy group in help listings; never invoked."""


def _load(name: str) -> TyperGroup:
    lazy = LAZY_GROUPS[name]
    sub_app = getattr(importlib.import_module(lazy.module), lazy.attribute)
    assert isinstance(sub_app, typer.Typer)
    group = typer.main.get_group(sub_app)
    group.name = name
    return group


class LazyCommands(JsonUsageErrors):
    """The top-level group: eager commands as usual, plus LAZY_GROUPS loaded on first use (and
    the parser's usage errors as the `--json` envelope, usage_json.py)."""

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)  # type: ignore[arg-type]
        for name, lazy in LAZY_GROUPS.items():
            self.commands.setdefault(name, _Stub(name=name, help=lazy.help))

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and isinstance(command, _Stub):
            command = self.commands[name] = _load(name)
        return name, command, rest
