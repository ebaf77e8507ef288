"""What the fork executor must refuse, decided from the source alone (DESIGN 11, issue 5).

A process that imported the code before a mutant is swapped in keeps whatever the unmutated code
computed at that time. So import-time code (module and class bodies, decorators, defaults),
functions under a caching decorator (`lru_cache`, `cache`, memoizers) and functions that write
module-level or class state (`global`, `CACHE[k] = v`, `REGISTRY.append(...)`, `cls.x = ...`)
go to the generic executor. Other decorated functions are forked: the worker swaps the code of
the function inside the wrapper, which calls that very object.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from launcher.mutation import fork_worker
from launcher.mutation.model import Mutant
from launcher.mutation.source_text import parse_quietly

_PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod", "property"})
_PROPERTY_PARTS = frozenset({"setter", "getter", "deleter"})
# Decorators that keep results: a result cached before the fork would hide the mutant.
_CACHING = re.compile(r"cache|memo|lru|once|singleton", re.IGNORECASE)
_MUTATORS = frozenset({
    "append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "clear", "remove",
    "discard", "appendleft", "extendleft", "__setitem__", "__delitem__", "put", "put_nowait", "register",
})  # fmt: skip
_Def = ast.FunctionDef | ast.AsyncFunctionDef
_Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass
class _Index:
    """Every def and class of one file by qualified name (named as `python_ops` names scopes)."""

    chains: dict[str, list[list[_Scope]]]  # qualname -> [outermost scope ... the scope itself]
    verdicts: dict[tuple[int, int], str | None]  # (outer def line, col) -> refusal, memoized


_INDEXES: dict[Path, tuple[tuple[int, int], _Index | None]] = {}


def _index(path: Path) -> _Index | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _INDEXES.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        tree = parse_quietly(fork_worker.read_source(str(path)))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        index = None
    else:
        chains: dict[str, list[list[_Scope]]] = {}

        def visit(node: ast.AST, chain: list[_Scope], prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, _Scope):
                    qualname = prefix + child.name
                    inner = [*chain, child]
                    chains.setdefault(qualname, []).append(inner)
                    visit(child, inner, qualname + ("." if isinstance(child, ast.ClassDef) else ".<locals>."))
                else:
                    visit(child, chain, prefix)

        visit(tree, [], "")
        index = _Index(chains, {})
    _INDEXES[path] = (key, index)
    return index


def _decorator_refusal(fn: _Def) -> str | None:
    for deco in fn.decorator_list:
        if isinstance(deco, ast.Name) and deco.id in _PLAIN_DECORATORS:
            continue
        if isinstance(deco, ast.Attribute) and deco.attr in _PROPERTY_PARTS and isinstance(deco.value, ast.Name):
            continue  # @x.setter: the property's functions are swapped like any other
        text = ast.unparse(deco)
        if _CACHING.search(text):
            return f"{fn.name} is decorated (@{text}): a cache may keep results of the original"
    # Any other decorator: the worker finds the function inside the decorator's object and swaps
    # its code (a wrapper calls that very object); one it cannot find is refused there, and a
    # fork survivor is confirmed on the generic executor anyway.
    return None


def _own_nodes(fn: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not descending into nested functions' bodies (their
    decorators and defaults run in this function, so they are included)."""
    stack: list[ast.AST] = list(fn.body) if isinstance(fn, _Def) else [fn.body] if isinstance(fn, ast.Lambda) else []
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _Def | ast.Lambda):
            stack += [*getattr(node, "decorator_list", []), *node.args.defaults]
            stack += [d for d in node.args.kw_defaults if d is not None]
        else:
            stack += ast.iter_child_nodes(node)


def _bound_names(fn: _Def | ast.Lambda) -> set[str]:
    """Names local to a function: parameters and whatever its own body binds."""
    args = fn.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    for node in _own_nodes(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, _Def | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            declared |= set(node.names)
    return names - declared


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        found = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor | ast.comprehension):
        found = [node.target]
    elif isinstance(node, ast.Delete):
        found = list(node.targets)
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        found = [node.optional_vars]
    else:
        return []
    flat: list[ast.expr] = []
    while found:
        target = found.pop()
        if isinstance(target, ast.Tuple | ast.List):
            found += target.elts
        elif isinstance(target, ast.Starred):
            found.append(target.value)
        else:
            flat.append(target)
    return flat


def _root(expr: ast.expr) -> str | None:
    """The variable an attribute/subscript chain starts from; "__class__" for class state."""
    while True:
        if isinstance(expr, ast.Attribute):
            if expr.attr in ("__class__", "__dict__"):
                return "__class__"
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Name):
            return expr.id
        else:
            return None


def _state_refusal(fn: _Def | ast.Lambda, enclosing: frozenset[str]) -> str | None:
    """Whether a function (and what it nests) may write state that outlives a call: module
    globals, class attributes. Conservative: any write not rooted at a local variable."""
    local = frozenset(_bound_names(fn)) | enclosing
    cls_param = None
    if isinstance(fn, _Def) and any(isinstance(d, ast.Name) and d.id == "classmethod" for d in fn.decorator_list):
        params = [*fn.args.posonlyargs, *fn.args.args]
        cls_param = params[0].arg if params else None

    def foreign(expr: ast.expr) -> str | None:
        root = _root(expr)
        if root is None or root == "__class__" or root == cls_param:
            return f"writes class or shared state ({ast.unparse(expr)})"
        if root not in local:
            return f"writes module-level state ({ast.unparse(expr)})"
        return None

    for node in _own_nodes(fn):
        reason: str | None = None
        if isinstance(node, ast.Global):
            reason = f"declares global {', '.join(node.names)}"
        elif isinstance(node, _Def | ast.Lambda):
            reason = _state_refusal(node, local)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _MUTATORS:
                reason = foreign(func.value)
            elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args:
                reason = foreign(ast.Attribute(value=node.args[0], attr="_", ctx=ast.Load()))
            elif isinstance(func, ast.Name) and func.id == "globals":
                reason = "uses globals()"
        else:
            for target in _targets(node):
                if isinstance(target, ast.Attribute | ast.Subscript):
                    reason = reason or foreign(target)
        if reason:
            return reason
    return None


def fork_refusal(mutant: Mutant, root: Path | None = None) -> str | None:
    """Why the fork executor must not run this mutant (None: it can). `root`: the tree holding
    `mutant.target` (default: the working directory)."""
    if mutant.language != "python":
        return "not a Python mutant"
    if not mutant.valid:
        return "the mutated source does not compile"
    if mutant.import_time:
        return f"{mutant.function}: runs at import time (module or class body, decorator, default)"
    if "#" in mutant.function:
        return f"{mutant.function}: a redefinition of a name in the same file"
    path = (root or Path.cwd()) / mutant.target
    index = _index(path)
    if index is None:
        return f"{mutant.target}: cannot read or parse it"
    chains = [
        chain
        for chain in index.chains.get(mutant.function, [])
        if chain[-1].lineno <= mutant.line <= (chain[-1].end_lineno or chain[-1].lineno)
    ]
    if len(chains) != 1 or not isinstance(chains[0][-1], _Def):
        return f"{mutant.function}: not found as one function around line {mutant.line}"
    chain = chains[0]
    first = next(i for i, scope in enumerate(chain) if isinstance(scope, _Def))
    for scope in chain[first:]:
        if isinstance(scope, _Def) and (reason := _decorator_refusal(scope)):
            return reason
    outer = chain[first]
    assert isinstance(outer, _Def)
    key = (outer.lineno, outer.col_offset)
    if key not in index.verdicts:
        index.verdicts[key] = _state_refusal(outer, frozenset())
    reason = index.verdicts[key]
    return f"{outer.name}: {reason}; its results may be cached" if reason else None


def fork_can_handle(mutant: Mutant, root: Path | None = None) -> bool:
    """Whether the fork executor may run this mutant; else use the generic executor. Pass the
    tree the mutants were generated from as `root` (default: the working directory)."""
    return fork_refusal(mutant, root) is None
