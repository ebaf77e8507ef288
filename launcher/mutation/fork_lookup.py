"""Finding the live function a mutant's code goes into, for the fork worker (`fork_worker`).

Stdlib only and no `launcher` import, like the worker that loads it: it runs inside the
project's Python. The worker loads this file by path under a private module name when it is
itself run by path, so nothing of the launcher's lands on the tests' `sys.path`.
"""

from __future__ import annotations

import dis
import gc
import os
import types
from collections.abc import Iterator
from typing import Any

CO_OPTIMIZED = 0x1

_real_cache: dict[str, str] = {}


def real(path: str) -> str:
    found = _real_cache.get(path)
    if found is None:
        found = _real_cache[path] = os.path.realpath(path)
    return found


class Refused(Exception):
    """The mutant cannot be run by swapping code in this process."""


# --------------------------------------------------------------------------- code objects


def walk_code(code: types.CodeType, prefix: str = "") -> Iterator[tuple[str, types.CodeType]]:
    """(qualified name, code) of every function and class body nested in `code`."""
    for const in code.co_consts:
        if not isinstance(const, types.CodeType):
            continue
        qualname = getattr(const, "co_qualname", None) or prefix + const.co_name  # < 3.11
        yield qualname, const
        is_function = bool(const.co_flags & CO_OPTIMIZED)  # a class body is not optimized
        yield from walk_code(const, qualname + (".<locals>." if is_function else "."))


def last_line(code: types.CodeType) -> int:
    last = code.co_firstlineno
    for _, line in dis.findlinestarts(code):
        if line is not None:
            last = max(last, line)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, last_line(const))
    return last


def new_code(module_code: types.CodeType, qualname: str, line: int) -> types.CodeType:
    """The code object of function `qualname` around `line` in the compiled mutated module."""
    found = [
        code
        for name, code in walk_code(module_code)
        if name == qualname and code.co_firstlineno <= line <= last_line(code)
    ]
    if len(found) != 1:
        raise Refused(f"{qualname}: {len(found)} definitions around line {line} in the mutated source")
    return found[0]


def functions_of(value: Any) -> list[types.FunctionType]:
    """The plain functions behind a namespace entry: the function itself, or what a staticmethod,
    classmethod or property wraps. Anything else (another decorator's wrapper) is not ours."""
    if isinstance(value, types.FunctionType):
        return [value]
    if isinstance(value, (staticmethod, classmethod)):
        inner = value.__func__
        return [inner] if isinstance(inner, types.FunctionType) else []
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
    return []


def wrapped_functions(value: Any, depth: int = 4, budget: int = 512) -> list[types.FunctionType]:
    """The plain functions a decorator's object holds (`functools.wraps`' `__wrapped__`, a
    closure cell, a `partial`, a class such as toolz's `curry`): found through what it
    references, never by running its code, and never through a module's globals. Swapping such
    a function's code reaches every caller, since the wrapper calls that very object."""
    found: list[types.FunctionType] = []
    seen: set[int] = {id(value)}
    frontier: list[Any] = [value]
    for _ in range(depth):
        following: list[Any] = []
        for obj in frontier:
            if isinstance(obj, types.FunctionType):  # its own attributes and closure, not __globals__
                refs: list[Any] = [*(obj.__dict__.values()), *(c.cell_contents for c in obj.__closure__ or ()
                                                              if filled(c))]
            else:
                refs = list(gc.get_referents(obj))
            for ref in refs:
                if id(ref) in seen or isinstance(ref, (type, types.ModuleType, str, bytes, int, float)):
                    continue
                if isinstance(ref, dict) and "__builtins__" in ref:
                    continue  # a module's globals: everything in the file, not what was wrapped
                seen.add(id(ref))
                if len(seen) > budget:
                    return found
                if isinstance(ref, types.FunctionType):
                    found.append(ref)
                following.append(ref)
        frontier = following
    return found


def of_code(functions: list[types.FunctionType], code: types.CodeType, path: str) -> list[types.FunctionType]:
    """The functions whose code is the (unmutated) counterpart of `code` in file `path`."""
    return [f for f in functions if f.__code__.co_firstlineno == code.co_firstlineno
            and f.__code__.co_name == code.co_name and real(f.__code__.co_filename) == real(path)]  # fmt: skip


def filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def live_function(module: types.ModuleType, qualname: str) -> tuple[list[types.FunctionType], str]:
    """Candidates for the outermost function on the path to `qualname` and that function's
    qualified name. Looked up in `__dict__`s so no descriptor or `__getattr__` runs."""
    parts = qualname.split(".")
    owner: Any = module
    for i, part in enumerate(parts):
        name = ".".join(parts[: i + 1])
        if part == "<locals>" or "#" in part:
            break
        namespace = getattr(owner, "__dict__", None)
        if not isinstance(namespace, (dict, types.MappingProxyType)) or part not in namespace:
            raise Refused(f"{name} is not in the loaded module")
        value = namespace[part]
        functions = functions_of(value)
        if functions:
            return functions, name
        if not isinstance(value, type):
            wrapped = wrapped_functions(value)
            if wrapped:  # a decorator's object: the caller keeps only the function of this file
                return wrapped, name
            raise Refused(f"{name} is a {type(value).__name__}, not a plain function (decorated?)")
        owner = value
    raise Refused(f"{qualname} is not inside a function (module or class body code)")
