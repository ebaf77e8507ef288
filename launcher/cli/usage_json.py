"""Usage errors of the option parser as the `--json` envelope.

Typer (click) checks options before a command's body runs: `--max-parallel 0`, `--on-cap maybe`,
an unknown option or command, a missing argument. Those end in a formatted box on stderr and exit
2, the body that prints `{"ok": false, ...}` never running. README: exit 2 is "a structured
message, also as JSON with `--json`", so when `--json` is on the command line the same error is
also printed as the envelope on stdout (one line); stderr keeps the human box.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from launcher.cli.calls import print_envelope
from launcher.errors import UsageProblem

if TYPE_CHECKING:
    from typer._click import Context


def _click_class(name: str) -> type[Exception]:
    """A click exception class as typer raises it (typer >= 0.26 vendors click; older typer
    re-exports the real one): found among `typer.BadParameter`'s bases, public in both."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


UsageError = _click_class("UsageError")


def json_on_line(args: Sequence[str]) -> bool:
    """Whether `--json` is one of the arguments (before a `--` that ends the options)."""
    listed = list(args)
    return "--json" in (listed[:listed.index("--")] if "--" in listed else listed)


def usage_problem(exc: Exception) -> UsageProblem:
    """The parser's error in the launcher's words: what (click's message), where (the command),
    how to fix (its --help)."""
    ctx: Any = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "launcher"
    format_message = getattr(exc, "format_message", None)
    what = format_message() if callable(format_message) else str(exc)
    return UsageProblem(str(what), where=command, fix=f"see `{command} --help`", error_key="usage")


class JsonUsageErrors(TyperGroup):
    """The top-level group: a usage error raised while parsing (this group's options, a
    sub-command's, a nested group's) is printed as the envelope too when `--json` was given."""

    _JSON_KEY = "launcher.json_on_line"

    def make_context(self, info_name: str | None, args: list[str], parent: Context | None = None,
                     **extra: Any) -> Context:
        wanted = json_on_line(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            if wanted:
                print_envelope(usage_problem(exc))
            raise
        ctx.meta[self._JSON_KEY] = wanted
        return ctx

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if ctx.meta.get(self._JSON_KEY):
                print_envelope(usage_problem(exc))
            raise
