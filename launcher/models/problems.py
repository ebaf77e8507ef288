"""Validation problems in the project's words: every error at once, with the key and a suggestion.

Pydantic reports "Extra inputs are not permitted" or "Input should be a valid integer"; a user
wants "unknown key `max_paralel`; did you mean `max_parallel`?". `describe` turns one pydantic
error into a `Problem`; `raise_problems` reports all of them in one error of the caller's class.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from launcher.errors import LauncherError

MAX_LISTED = 20  # more than this many problems: the rest are counted, not listed


@dataclass(frozen=True)
class Problem:
    where: str  # the key, e.g. "task[2] (id 'api').timeout_s"
    what: str
    error_key: str
    fix: str | None = None
    file: str | None = None  # the file the key is in, when not the one being read (launcher.toml's)

    def line(self) -> str:
        where = f"{self.where} (in {Path(self.file).name})" if self.file else self.where
        text = f"{where}: {self.what}" if where else self.what
        return f"{text} ({self.fix})" if self.fix else text


def _unwrap(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return [a for arg in get_args(annotation) for a in _unwrap(arg)]
    if str(origin) == "typing.Annotated" or getattr(annotation, "__metadata__", None) is not None:
        return _unwrap(get_args(annotation)[0])
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    """The type found one key or index below `annotation` (None when unknown)."""
    for candidate in _unwrap(annotation):
        origin = get_origin(candidate)
        if isinstance(part, int) and origin is list:
            return get_args(candidate)[0]
        if isinstance(part, str) and origin is dict:
            return get_args(candidate)[1]
        if isinstance(part, str) and isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, field in candidate.model_fields.items():
                if part in (name, field.alias):
                    return field.annotation
    return None


def known_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the table at `loc` accepts (empty if it is not a known table)."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [field.alias or name for name, field in candidate.model_fields.items()]
    return []


def _header(loc: Sequence[str | int], top: str = "") -> str:
    """The TOML header of the table at `loc`: [mutation], [agents.bot], [[task]]; under `top`
    ("[tool.launcher]"), [tool.launcher.mutation]."""
    prefix = f"{top.strip('[]')}." if top else ""
    if loc and isinstance(loc[-1], int):
        return f"[[{prefix}{'.'.join(str(p) for p in loc[:-1])}]]"
    return f"[{prefix}{'.'.join(str(p) for p in loc)}]"


def _tables(model: type[BaseModel]) -> list[tuple[str | int, ...]]:
    """Where the top-level tables of `model` are: ("grading",), ("task", 0), ("agents", "<name>")."""
    found: list[tuple[str | int, ...]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        for loc in ((key,), (key, 0), (key, "<name>")):
            if known_keys(model, loc):
                found.append(loc)
                break
    return found


def misplaced_key_hint(model: type[BaseModel], loc: Sequence[str | int], top: str = "") -> str | None:
    """The fix for an unknown key that is a known key of another place: a top-level key written
    below a table's header (TOML puts it in that table: `setup = ...` appended after [mutation]
    is `mutation.setup`), or a key of another table. `top`: the table that is the top level
    (`[tool.launcher]` of a pyproject.toml); empty for a file's own top level."""
    if len(loc) < 2 or not isinstance(loc[-1], str):
        return None
    key, table = loc[-1], loc[:-1]
    if key in known_keys(model, ()):
        where = (f"directly under {top}, above the first [table] header below it" if top
                 else "above the first [table] header of the file")
        return (f"`{key}` is a top-level key, not a key of {_header(table, top)}: TOML puts every key written "
                f"below a [table] header into that table; move it {where}")
    others = [other for other in _tables(model) if other[0] != table[0] and key in known_keys(model, other)]
    if others:
        listed = " or ".join(_header(other, top) for other in others)
        return f"`{key}` is a key of {listed}, not of {_header(table, top)}"
    return None


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{found[0]}`?" if found else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_TYPE_WORDS = {
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "text (a quoted string)", "list_type": "a list",
    "dict_type": "a table (key = value pairs)", "model_type": "a table (key = value pairs)",
    "model_attributes_type": "a table (key = value pairs)",
}


def _words(error: dict[str, Any]) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, not {_shown(value)}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}, not {_shown(value)}"
    if kind == "finite_number":
        return f"must be a finite number, not {_shown(value)}"
    bounds = {"greater_than": "greater than", "greater_than_equal": "at least",
              "less_than": "less than", "less_than_equal": "at most"}
    for name, words in bounds.items():
        if kind == name:
            limit = next(iter(ctx.values()), "")
            return f"must be {words} {limit}, not {_shown(value)}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length', 1)} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length', '')} item(s)"
    if kind == "string_too_short":
        return "must not be empty"
    return str(error["msg"]).removeprefix("Value error, ")


def describe(
    error: dict[str, Any], model: type[BaseModel], location: Callable[[tuple[Any, ...]], str],
    key_prefix: str, top_hints: dict[str, str] | None = None, top: str = "",
) -> Problem:
    """One pydantic error as a Problem: where, what (our words), a suggestion for unknown keys."""
    loc = tuple(error["loc"])
    what = _words(error)
    fix: str | None = None
    if error["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
        if len(loc) == 1 and top_hints and loc[0] in top_hints:
            fix = top_hints[loc[0]]
        else:  # spelt right but in the wrong place, else misspelt
            fix = misplaced_key_hint(model, loc, top) or did_you_mean(loc[-1], known_keys(model, loc[:-1]))
    return Problem(location(loc), what, f"{key_prefix}:{error['type']}", fix)


def problems_of(
    exc: ValidationError, model: type[BaseModel], location: Callable[[tuple[Any, ...]], str],
    key_prefix: str, top_hints: dict[str, str] | None = None, top: str = "",
) -> list[Problem]:
    return [describe(dict(e), model, location, key_prefix, top_hints, top) for e in exc.errors()]


def raise_problems(
    problems: Sequence[Problem], source: str, error_class: type[LauncherError], general_fix: str,
) -> NoReturn:
    """One error for all the problems: the only one as it is, else a numbered list."""
    if len(problems) == 1:
        only = problems[0]
        where = f"{only.file or source}: {only.where}" if only.where else only.file or source
        if only.file:  # the fix of the file being read (a plan) is not this file's
            general_fix = ""
        fix = "; ".join(part for part in (only.fix, general_fix) if part) or None
        raise error_class(only.what, where=where, fix=fix, error_key=only.error_key)
    listed = [f"  - {p.line()}" for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        listed.append(f"  - ... and {len(problems) - MAX_LISTED} more")
    raise error_class(
        f"{len(problems)} problems:\n" + "\n".join(listed), where=source, fix=general_fix,
        error_key=problems[0].error_key,
    )
