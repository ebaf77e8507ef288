"""A journal row's columns as the launcher's types, each checked as it is read.

SQLite keeps whatever a column is given (`status = 'zzz'`, `cost_usd = 'abc'`, `plan_json = '{'`):
a journal edited by hand, written by a broken tool, or damaged below the page level still opens.
Every store reads its rows through these accessors inside `SqliteStore.decoding`, the one place a
row becomes a model: a value that is not what the launcher writes raises `RowDamaged`, which
`decoding` turns into the journal-damage error (exit 3, "move it aside"), never a traceback later
in whichever command meets the value first.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from typing import Any, TypeVar

from launcher.store.sqlite import ColumnMissing, unbound

E = TypeVar("E", bound=enum.Enum)


class RowDamaged(ValueError):
    """A column holds a value the launcher never writes there."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def cell(row: sqlite3.Row, column: str) -> Any:
    """The row's value of `column`; a column the table lacks is another launcher version's layout
    (`ColumnMissing`: said as that, not as damage)."""
    try:
        return row[column]
    except IndexError:  # sqlite3.Row: "No item with that key"
        raise ColumnMissing(column) from None


def _value(row: sqlite3.Row, column: str, kinds: tuple[type, ...], words: str, null: bool) -> Any:
    value = unbound(cell(row, column)) if str in kinds else cell(row, column)  # text that held a name's odd bytes
    if value is None and null:
        return None
    if not isinstance(value, kinds):
        raise RowDamaged(f"{column} is {_shown(value)}, not {words}")
    return value


def text(row: sqlite3.Row, column: str) -> str:
    return str(_value(row, column, (str,), "text", null=False))


def optional_text(row: sqlite3.Row, column: str) -> str | None:
    value = _value(row, column, (str,), "text", null=True)
    return None if value is None else str(value)


def integer(row: sqlite3.Row, column: str) -> int:
    return int(_value(row, column, (int,), "a whole number", null=False))


def optional_integer(row: sqlite3.Row, column: str) -> int | None:
    value = _value(row, column, (int,), "a whole number", null=True)
    return None if value is None else int(value)


def number(row: sqlite3.Row, column: str) -> float:
    return float(_value(row, column, (int, float), "a number", null=False))


def optional_number(row: sqlite3.Row, column: str) -> float | None:
    value = _value(row, column, (int, float), "a number", null=True)
    return None if value is None else float(value)


def member(row: sqlite3.Row, column: str, kind: type[E]) -> E:
    value = cell(row, column)
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(str(m.value) for m in kind)
        raise RowDamaged(f"{column} is {_shown(value)}, not one of {known}") from None


def optional_member(row: sqlite3.Row, column: str, kind: type[E]) -> E | None:
    return None if cell(row, column) is None or row[column] == "" else member(row, column, kind)


def json_of(row: sqlite3.Row, column: str, kind: type) -> Any:
    """A JSON column's value, which must decode to a `kind` (dict, list)."""
    raw = cell(row, column)
    if not isinstance(raw, str):
        raise RowDamaged(f"{column} is {_shown(raw)}, not JSON text")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise RowDamaged(f"{column} is not JSON ({_shown(raw)})") from None
    if not isinstance(value, kind):
        raise RowDamaged(f"{column} is {_shown(raw)}, not a JSON {'object' if kind is dict else 'array'}")
    return value
