"""Stable mutant ids (DESIGN 11) and the normalized scope hashes they are made of."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable

from launcher.mutation.source_text import parse_quietly

ID_LENGTH = 12


def stable_id(target: str, scope: str, scope_hash: str, fault: str, ordinal: int, variant: int = 0) -> str:
    """DESIGN 11: file, enclosing scope (name and normalized-source hash), operator, and the node's
    ordinal among that operator's sites in the scope. Nothing here depends on line numbers, so
    code moving around, or edits to other functions, leave the id alone."""
    key = "\0".join((target, scope, scope_hash, fault, str(ordinal), str(variant)))
    # surrogateescape: a file name that is not UTF-8 (os.fsdecode's lone surrogates) hashes as
    # its own bytes; every UTF-8 name encodes exactly as before, so no existing id changes
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:ID_LENGTH]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Stub(ast.NodeTransformer):
    """Empties nested function and class bodies: a module's or class's own hash must not change
    when one of its functions is edited (those have their own scope and ids)."""

    def __init__(self, root: ast.AST) -> None:
        self.root = root

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if node is not self.root and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            node.body = [ast.Pass()]
            return node
        return super().generic_visit(node)


def python_scope_hash(code: str, kind: str) -> str:
    """Hash of a function's (or class's, module's) code, insensitive to comments, blank lines,
    formatting and position: the code as ast.unparse renders it. Classes and modules leave out
    the bodies of their functions, which are scopes of their own."""
    tree = parse_quietly(code)
    if kind != "function":
        tree = _Stub(tree.body[0] if kind == "class" else tree).visit(tree)
    return text_hash(ast.unparse(tree))


def shell_scope_hash(code_lines: Iterable[str]) -> str:
    """Hash of shell code lines (comments already removed), whitespace runs collapsed."""
    return text_hash("\n".join(" ".join(line.split()) for line in code_lines if line.strip()))
