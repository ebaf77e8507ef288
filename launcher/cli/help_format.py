"""How `--help` reads: `-h` works too, and a flag shows no `<bool>` type.

Typer's rich help prints every option's Python type (`--json <bool>`, `--task <list[str]>`);
a flag takes no value, so its type column is left empty, and a repeatable option shows the
type of one value. Typer has no setting for it, hence the one override below.
"""

from __future__ import annotations

from typing import Any

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
