"""Fingerprints of compiled modules, run by the project's own interpreter (standard library only).

Run as `python equivalence_probe.py REQUEST.json`, in the environment the tests get, so the
compiler, its optimiser and its optimisation level (`-O` via PYTHONOPTIMIZE) are exactly the
ones the tests run under. The request: {"levels": [-1], "files": [{"path": "pkg/mod.py", "source": "...",
"mutants": [{"id": "...", "start": 0, "end": 3, "replacement": "..."}]}]}. It prints
{"python": "3.12.1", "optimize": 0, "files": {"pkg/mod.py": {"original": PRINTS | null,
"mutants": {"<id>": PRINTS | null}}}} where PRINTS is [full, without docstrings, without
annotations], three hashes of the recursively compared code objects (the instructions with
their constants, typed, and names resolved, the first constant (a docstring), variable names,
flags, argument counts, stack size, exception table, nested code; never line tables, positions
or file names), and null means it does not compile. With several optimisation
levels the prints cover them all (a custom test command may run `python -O`: equal at every
level, or not equal).

Kept compatible with Python 3.8: it runs under whatever interpreter the project uses.
"""

from __future__ import annotations

import ast
import dis
import hashlib
import json
import sys
import warnings
from typing import Any

_FIELDS = ("co_varnames", "co_freevars", "co_cellvars", "co_flags", "co_argcount",
           "co_posonlyargcount", "co_kwonlyargcount", "co_nlocals", "co_stacksize", "co_exceptiontable",
           "co_name", "co_qualname")  # fmt: skip


def _const(value: Any) -> Any:
    """A constant with its type: 1, 1.0 and True are equal in Python but not the same program."""
    if hasattr(value, "co_code"):
        return _code(value)
    if isinstance(value, tuple):
        return ("tuple", tuple(_const(v) for v in value))
    if isinstance(value, frozenset):
        return ("frozenset", tuple(sorted(repr(_const(v)) for v in value)))
    return (type(value).__name__, repr(value))  # repr tells -0.0 from 0.0


def _instruction(ins: Any) -> Any:
    """An instruction with its constant or name resolved: constants and names that only dead
    code used stay in co_consts / co_names and shift indices, but no instruction reads them."""
    if ins.opcode in dis.hasconst:
        return (ins.opname, _const(ins.argval))
    if ins.opcode in dis.hasname:  # argrepr keeps the flags packed beside the index ("NULL + print")
        return (ins.opname, repr(ins.argval), ins.argrepr)
    return (ins.opname, ins.arg)


def _code(code: Any) -> Any:
    fields = tuple((name, getattr(code, name, None)) for name in _FIELDS)
    first = _const(code.co_consts[0]) if code.co_consts else None  # a function's docstring lives here
    return ("code", fields, first, tuple(_instruction(i) for i in dis.get_instructions(code)))


LEVELS = [-1]  # optimisation levels to compile at (-1: this interpreter's own, as the tests run)


def _hash(tree_or_source: Any) -> str:
    digest = hashlib.sha256()
    for level in LEVELS:
        code = compile(tree_or_source, "<mutant>", "exec", dont_inherit=True, optimize=level)
        digest.update(repr(_code(code)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class _NoDocstrings(ast.NodeTransformer):
    def _strip(self, node: Any) -> Any:
        self.generic_visit(node)
        body = node.body
        first = body[0].value if body and isinstance(body[0], ast.Expr) else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            node.body = body[1:] or [ast.copy_location(ast.Pass(), body[0])]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip


class _NoAnnotations(ast.NodeTransformer):
    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def _function(self, node: Any) -> Any:
        self.generic_visit(node)
        node.returns = None
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def prints(source: str) -> Any:
    """[full, without docstrings, without annotations], or None when it does not compile."""
    try:
        full = _hash(source)
        no_doc = _hash(ast.fix_missing_locations(_NoDocstrings().visit(ast.parse(source))))
        no_ann = _hash(ast.fix_missing_locations(_NoAnnotations().visit(ast.parse(source))))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return [full, no_doc, no_ann]


def main(request_path: str) -> None:
    # The compiler's warnings about the project's code (an invalid escape is a SyntaxWarning from
    # 3.12 on), three compilations per mutant, would bury a real error in what this prints.
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    LEVELS[:] = request.get("levels") or [-1]
    files = {}
    for entry in request["files"]:
        source = entry["source"]
        mutants = {}
        for m in entry["mutants"]:
            mutants[m["id"]] = prints(source[: m["start"]] + m["replacement"] + source[m["end"] :])
        files[entry["path"]] = {"original": prints(source), "mutants": mutants}
    version = ".".join(str(part) for part in sys.version_info[:3])
    levels = [sys.flags.optimize if level < 0 else level for level in LEVELS]
    json.dump({"python": version, "optimize": sys.flags.optimize, "levels": levels, "files": files}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
