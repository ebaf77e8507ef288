"""Decoders that fail only with their format's own error type, whatever the input.

The standard decoders let `RecursionError` (`[` repeated 100,000 times), `ValueError` (an
integer of more than 4,300 digits) and friends escape; every reader would then need to know the
whole list. These wrappers turn all of them into `json.JSONDecodeError`, `tomllib.TOMLDecodeError`
or `yaml.YAMLError`, which the readers already turn into the project's errors. They also refuse
documents nested deeper than `MAX_DEPTH` (a value that deep would overflow the stack later, when
it is validated or written to the journal), text no file can hold (unpaired surrogates), and
JSON's non-standard `NaN`/`Infinity` constants and numbers beyond a float's range (`1e999`).
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import yaml

from launcher.regular_files import NotRegular, TooLarge, read_capped

MAX_DEPTH = 64
MAX_VALUES = 1_000_000  # YAML aliases can make a small file expand to billions of values
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
TOO_MANY_VALUES = f"more than {MAX_VALUES} values"  # a size limit, not a syntax error: `size_limit_problem`


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def structure_problem(value: Any, *, yaml_aliases: bool = False) -> str | None:
    """Why a decoded value is unusable (None when it is fine): lists and dicts nested deeper than
    MAX_DEPTH, more than MAX_VALUES values, or text with an unpaired surrogate (`"\\ud800"`
    decodes, then fails every write). Iterative, so it never recurses itself."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return TOO_MANY_VALUES + (" (YAML aliases expanding?)" if yaml_aliases else "")
        if isinstance(item, str):
            if _unencodable(item):
                return "text contains an unpaired surrogate (\\ud800-\\udfff)"
            continue
        if isinstance(item, dict):
            children: list[Any] = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            children = list(item)
        else:
            continue
        if depth + 1 > MAX_DEPTH:
            return TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None


class _BadNumber(ValueError):
    """A number JSON has not (NaN, Infinity) or a float cannot hold (1e999); `token` as written."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


def _reject_constant(name: str) -> Any:
    raise _BadNumber(f"{name} is not a JSON number", name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"{text} is out of range for a number", text)
    return value


def _outside_strings(text: str, start: int) -> Iterator[int]:
    """The indexes from `start` on whose character stands outside a JSON string (quotes
    themselves excluded)."""
    in_string = escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        else:
            yield index


def _token_position(text: str, token: str, start: int = 0) -> int:
    """Where `token` first stands outside a JSON string in `text` (from `start`), else `start`:
    the decoder's callbacks do not say where the bad number was."""
    for index in _outside_strings(text, start):
        if text.startswith(token, index) and not (index and (text[index - 1].isalnum() or text[index - 1] == ".")):
            return index
    return start


def balanced_end(text: str, start: int) -> int | None:
    """The index after the `}` or `]` that closes the bracket at `start` (strings skipped), or None:
    how far a candidate object reaches even when it does not decode."""
    depth = 0
    for index in _outside_strings(text, start):
        char = text[index]
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _plain_reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return TOO_DEEP
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class _DuplicateKey(ValueError):
    """An object names a key twice: JSON decoders keep the last silently, dropping the first."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {json.dumps(key, ensure_ascii=False)} (an object names it twice)")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return value


def _duplicate_position(text: str, wanted: str) -> int:
    """Where an object of `text` names `wanted` for the second time: the decoder's hook knows the
    key, not where it stands. Only called once a duplicate was found."""
    objects: list[set[str] | None] = []  # one entry per open bracket: its keys ({) or None ([)
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            end = index + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            after = end + 1
            while after < len(text) and text[after] in " \t\r\n":
                after += 1
            if objects and objects[-1] is not None and after < len(text) and text[after] == ":":
                try:
                    key = json.loads(text[index : end + 1])
                except ValueError:
                    key = text[index + 1 : end]
                if key == wanted and key in objects[-1]:
                    return index
                objects[-1].add(key)
            index = end + 1
            continue
        if char == "{":
            objects.append(set())
        elif char == "[":
            objects.append(None)
        elif char in "}]" and objects:
            objects.pop()
        index += 1
    return 0


def json_loads(text: str, *, duplicate_keys: bool = False) -> Any:
    """`json.loads`, raising only `json.JSONDecodeError`. A key given twice in one object is an
    error naming it (the decoder would keep the last and drop the first without a word), unless
    `duplicate_keys` (a third-party CLI's event stream: its last value wins, as for its peers)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                           object_pairs_hook=None if duplicate_keys else _unique_keys)
    except json.JSONDecodeError:
        raise
    except _BadNumber as exc:
        raise json.JSONDecodeError(_plain_reason(exc), text, _token_position(text, exc.token)) from None
    except _DuplicateKey as exc:
        raise json.JSONDecodeError(str(exc), text, _duplicate_position(text, exc.key)) from None
    except (RecursionError, ValueError, MemoryError) as exc:
        raise json.JSONDecodeError(_plain_reason(exc), text, 0) from None
    problem = structure_problem(value)
    if problem:
        raise json.JSONDecodeError(problem, text, 0)
    return value


# Objects found in prose: one that names a key twice does not decode (it is not taken as an answer).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys)


_OBJECT_START = re.compile(r'\{\s*["}]')  # only a key or `}` can follow an object's `{`
_CHUNK = 64 * 1024
_ENCLOSING_TRIES = 50  # failed candidates looked at around the chosen object


def _decode_at(text: str, start: int) -> tuple[Any, int]:
    """Decode the JSON value at `start`, looking at a bounded chunk first: the decoder's error
    position costs a scan of everything before it, so garbage would make the search quadratic."""
    chunk = text[start : start + _CHUNK]
    try:
        value, end = _DECODER.raw_decode(chunk)
        return value, start + end
    except json.JSONDecodeError as exc:
        if len(chunk) < _CHUNK or exc.pos < len(chunk) - 1:
            raise
    value, end = _DECODER.raw_decode(text[start:])  # a value larger than the chunk
    return value, start + end


def json_objects(text: str) -> Iterator[dict[str, Any]]:
    """The top-level JSON objects in free text (an agent's final message, stdout), in order.
    Nothing in the text raises: what does not decode, or is unusable, is prose."""
    index = 0
    while (found := _OBJECT_START.search(text, index)) is not None:
        start = found.start()
        try:
            value, end = _decode_at(text, start)
        except RecursionError:
            newline = text.find("\n", start)  # deep garbage: go on with the next line
            index = newline + 1 if newline >= 0 else len(text)
            continue
        except (ValueError, MemoryError):  # JSONDecodeError, a 4,300-digit integer, NaN
            index = start + 1
            continue
        index = end
        if isinstance(value, dict) and structure_problem(value) is None:
            yield value


def last_json_object_or_failure(text: str, prefer_key: str | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """The last top-level JSON object in free text (the last with `prefer_key` if any has it), or,
    when that object sits inside a larger `{...}` that does not decode (a NaN, a trailing comma:
    the answer itself is broken JSON), that outer candidate's text, so the reader reports
    `invalid_json` at the parser's position rather than a key missing from an inner object."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    failed: list[int] = []
    index = 0
    while (match := _OBJECT_START.search(text, index)) is not None:
        start = match.start()
        try:
            value, end = _decode_at(text, start)
        except RecursionError:
            newline = text.find("\n", start)
            index = newline + 1 if newline >= 0 else len(text)
            continue
        except (ValueError, MemoryError):
            failed.append(start)
            index = start + 1
            continue
        index = end
        if isinstance(value, dict) and structure_problem(value) is None:
            found.append((start, end, value))
    preferred = [f for f in found if prefer_key is not None and prefer_key in f[2]] or found
    if not preferred:  # nothing decodes: the broken candidate that holds the last failure, if any
        if not failed:
            return None, None
        last = failed[-1]
        for outer in [f for f in failed if last - _CHUNK <= f <= last][:_ENCLOSING_TRIES]:
            close = balanced_end(text[: outer + _CHUNK], outer)
            if close is not None and close > last:
                return None, text[outer:close]
        return None, None
    start, end, value = preferred[-1]
    # The outermost failed candidate that encloses it (bounded: an answer is not that long).
    for outer in [f for f in failed if start - _CHUNK <= f < start][:_ENCLOSING_TRIES]:
        close = balanced_end(text[: outer + _CHUNK], outer)
        if close is not None and end <= close:
            return None, text[outer:close]
    later = _later_broken_answer(text, failed, end, value)
    return (None, later) if later is not None else (value, None)


def _later_broken_answer(text: str, failed: list[int], end: int, chosen: dict[str, Any]) -> str | None:
    """A candidate after the chosen object that does not decode but names one of its keys: the
    answer given again (a draft, then the corrected answer cut off or with a trailing comma). The
    last word is then broken JSON, never the draft before it: its text (to its closing bracket, or
    to the end when it was cut off), so the reader reports `invalid_json` at the parser's position."""
    keys = [re.escape(json.dumps(key)) for key in chosen if isinstance(key, str)][:64]
    if not keys:
        return None
    named = re.compile(r"(?:" + "|".join(keys) + r")\s*:")
    for outer in [f for f in failed if f >= end][:_ENCLOSING_TRIES]:
        close = balanced_end(text[: outer + _CHUNK], outer)
        candidate = text[outer:close] if close is not None else text[outer : outer + _CHUNK]
        if named.search(candidate):
            return candidate
    return None


def toml_loads(text: str) -> dict[str, Any]:
    """`tomllib.loads`, raising only `tomllib.TOMLDecodeError`."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except (RecursionError, ValueError, MemoryError) as exc:
        raise tomllib.TOMLDecodeError(_plain_reason(exc)) from None
    problem = structure_problem(value)
    if problem:
        raise tomllib.TOMLDecodeError(problem)
    return value


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that names a key twice (PyYAML keeps the last one
    silently). Keys merged in with `<<` may still be overridden, as YAML says."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base loader says so
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"duplicate key {key!r} (the mapping names it twice)", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def yaml_load(text: str) -> Any:
    """`yaml.safe_load`, raising only `yaml.YAMLError`; a key given twice in one mapping is one."""
    try:
        value = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError:
        raise
    except (RecursionError, ValueError, TypeError, MemoryError) as exc:
        raise yaml.YAMLError(_plain_reason(exc)) from None
    problem = structure_problem(value, yaml_aliases=True)
    if problem:
        raise yaml.YAMLError(problem)
    return value


INPUT_LIMIT = 64 * 1024 * 1024  # a file the user writes or names (a plan, a rubric, a calibration set, a verdict)


def read_text(path: Any) -> str:
    """A file's text as UTF-8, as `read_input_text` reads it: a regular file of at most 64 MiB
    (a bigger one, a FIFO or a device is an `OSError` saying so, never read); `UnicodeDecodeError`
    becomes an `OSError` naming the byte, so a reader needs only one handler."""
    return read_input_text(path)


BOM = "\ufeff"  # a UTF-8 byte-order mark, as Notepad and some editors start a file with


def read_document(path: Any, errors: str = "strict") -> str:
    """`read_text` of a file the user writes by hand in an editor (a plan in TOML, YAML or JSON,
    launcher.toml or pyproject.toml, a workflow template, a rubric, `.worktreeinclude`), the
    byte-order mark it may start with dropped: the file is read as the editor shows it. Files a
    program writes (an export's manifest, a verdict, a calibration set) and files the launcher
    rewrites whole (the ledgers) are read as they are. `errors="replace"`: bytes that are not
    UTF-8 are read as U+FFFD instead of refused."""
    text = read_input_text(path, errors=errors)
    return text[1:] if text.startswith(BOM) else text


def read_input_text(path: str | os.PathLike[str], limit: int = INPUT_LIMIT, errors: str = "strict") -> str:
    """The UTF-8 text of an input file the user names (or keeps in the checkout), read without
    ever blocking: a symbolic link is followed to its target (the user's own link), but only a
    regular file is opened, never a FIFO (whose `open()` waits for a writer for ever), a device
    or a directory, and at most `limit` bytes. One `OSError` for every failure, its message
    saying what (`FileNotFoundError` when nothing is there)."""
    real = os.path.realpath(path)
    try:
        data = read_capped(real, limit)
    except NotRegular as exc:
        raise OSError(f"not a regular file: it is {exc.kind}") from None
    except TooLarge as exc:
        raise OSError(f"it is {exc.size} bytes, over the size limit of {limit // (1024 * 1024)} MiB "
                                 "the launcher reads in such a file") from None  # fmt: skip
    try:
        return data.decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        raise OSError(f"not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x})") from None


def size_limit_problem(exc: json.JSONDecodeError) -> str | None:
    """What to say when a JSON document was refused for its size, not its syntax (None: it was
    not): a file that holds more than MAX_VALUES values is not "not valid JSON"."""
    if not exc.msg.startswith(TOO_MANY_VALUES):
        return None
    return (f"too large: it holds {TOO_MANY_VALUES} (numbers, strings, keys, lists, objects), over the size "
            "limit of one document the launcher reads")
