"""How `--help` reads: `-h` works too, a flag shows no `<bool>` type, and help text is plain text.

Typer's rich help prints every option's Python type (`--json <bool>`, `--task <list[str]>`);
a flag takes no value, so its type column is left empty, and a repeatable option shows the
type of one value. Typer has no setting for it, hence the override below.

Typer also reads every docstring and `help=` string as rich markup, so a square-bracketed word
(`[tool.launcher]`, `[agents.NAME]`, `[grading] grader`) is taken for a style tag and vanishes
from the help. The launcher's help text never means markup: it is escaped before rich sees it.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from typer import rich_utils
from typer.core import TyperOption

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


_typer_make_rich_text = rich_utils._make_rich_text


def _plain_rich_text(*, text: str, style: str = "", markup_mode: Any) -> Any:
    """Typer's help text maker with the text escaped: every bracket in help text is shown."""
    if markup_mode == rich_utils.MARKUP_MODE_RICH and not rich_utils._has_ansi_character(text):
        text = escape(text)
    return _typer_make_rich_text(text=text, style=style, markup_mode=markup_mode)


rich_utils._make_rich_text = _plain_rich_text
