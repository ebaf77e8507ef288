"""How `--help` reads: `-h` works too, a flag shows no `<bool>` type, and help text is plain text.

Typer's rich help prints every option's Python type (`--json <bool>`, `--task <list[str]>`);
a flag takes no value, so its type column is left empty, and a repeatable option shows the
type of one value. Typer has no setting for it, hence the override below.

Typer also reads every docstring and `help=` string as rich markup, so a square-bracketed word
(`[tool.launcher]`, `[agents.NAME]`, `[grading] grader`) is taken for a style tag and vanishes
from the help. The launcher's help text never means markup: it is escaped before rich sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.markup import escape
from typer.core import TyperCommand, TyperGroup, TyperOption

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

_typer_display_type = TyperOption.display_type_rich


def _display_type(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    shown = _typer_display_type(self, ctx)
    if shown and shown.startswith("<list[") and shown.endswith("]>"):
        return "<" + shown[len("<list["):-len("]>")] + ">"
    return shown


TyperOption.display_type_rich = _display_type  # type: ignore[method-assign]


def _install_plain_text() -> None:
    """Typer's help text maker, with the text escaped: every bracket in help text is shown.

    Installed when help is first formatted, not at import: `typer.rich_utils` pulls in rich's
    markdown and syntax modules (~50 ms), which a command that prints no help never needs."""
    from typer import rich_utils

    if getattr(rich_utils._make_rich_text, "_launcher_plain", False):
        return
    typer_make_rich_text = rich_utils._make_rich_text

    def plain_rich_text(*, text: str, style: str = "", markup_mode: Any) -> Any:
        if markup_mode == rich_utils.MARKUP_MODE_RICH and not rich_utils._has_ansi_character(text):
            text = escape(text)
        return typer_make_rich_text(text=text, style=style, markup_mode=markup_mode)

    plain_rich_text._launcher_plain = True  # type: ignore[attr-defined]
    rich_utils._make_rich_text = plain_rich_text


def _one_line_summaries(group: Any) -> None:
    """A group's list of commands shows each docstring's first paragraph as it was wrapped in the
    source (ragged lines at any width): it is joined into one line, for rich to wrap."""
    for command in getattr(group, "commands", {}).values():
        if command.short_help or not command.help:
            continue
        first = command.help.split("\n\n")[0]
        if "\n" in first.strip():
            command.short_help = " ".join(first.split())


def _plain_text_first(format_help: Callable[..., None]) -> Callable[..., None]:
    def formatted(self: Any, ctx: Any, formatter: Any) -> None:
        _install_plain_text()
        _one_line_summaries(self)
        format_help(self, ctx, formatter)

    return formatted


# Every help screen (a command's, a group's) is formatted through one of these two.
TyperCommand.format_help = _plain_text_first(TyperCommand.format_help)  # type: ignore[method-assign]
TyperGroup.format_help = _plain_text_first(TyperGroup.format_help)  # type: ignore[method-assign]
