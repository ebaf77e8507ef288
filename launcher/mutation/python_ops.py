"""Python mutation operators on libcst's syntax tree (DESIGN 11).

A visitor walks the module once and records *sites*: a character span of the original source and
its replacement. Spans are character offsets counted by libcst's own code generation (`_CharSpans`),
so applying a mutant is one string splice and never re-renders the tree; lines and columns are then
derived from the offsets with Python's own line ends (`model.line_starts`). libcst's line/column
positions are not used: its columns are wrong on lines after a form feed. Each site is numbered per
(enclosing scope, operator), which with the scope's normalized-source hash gives the stable id.
"""

from __future__ import annotations

import ast
import bisect
import math
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst import Module
from libcst.metadata import BaseMetadataProvider, CodeSpan, MetadataWrapper
from libcst.metadata.span_provider import SpanProvidingCodegenState

from launcher.errors import UsageProblem
from launcher.mutation.ids import python_scope_hash
from launcher.mutation.model import (
    PRAGMA,
    Mutant,
    Scope,
    ScopeKind,
    build_mutant,
    check_operators,
    line_starts,
    position,
    split_lines,
)
from launcher.mutation.source_text import compiles_quietly

OPERATORS = (
    "arithmetic",
    "comparison",
    "boolean",
    "logical",
    "number",
    "string",
    "return_value",
    "call_removal",
    "loop_control",
)

_ARITH: dict[type[cst.CSTNode], str] = {
    cst.Add: "-", cst.Subtract: "+", cst.Multiply: "/", cst.Divide: "*", cst.FloorDivide: "/",
    cst.Modulo: "/", cst.Power: "*", cst.LeftShift: ">>", cst.RightShift: "<<",
    cst.BitAnd: "|", cst.BitOr: "&", cst.BitXor: "&",
    cst.AddAssign: "-=", cst.SubtractAssign: "+=", cst.MultiplyAssign: "/=", cst.DivideAssign: "*=",
    cst.FloorDivideAssign: "/=", cst.ModuloAssign: "/=", cst.PowerAssign: "*=",
    cst.LeftShiftAssign: ">>=", cst.RightShiftAssign: "<<=", cst.BitAndAssign: "|=",
    cst.BitOrAssign: "&=", cst.BitXorAssign: "&=",
}  # fmt: skip
_COMPARE: dict[type[cst.CSTNode], str] = {
    cst.LessThan: "<=", cst.LessThanEqual: "<", cst.GreaterThan: ">=", cst.GreaterThanEqual: ">",
    cst.Equal: "!=", cst.NotEqual: "==", cst.Is: "is not", cst.IsNot: "is",
    cst.In: "not in", cst.NotIn: "in",
}  # fmt: skip
_LOGICAL: dict[type[cst.CSTNode], str] = {cst.And: "or", cst.Or: "and"}


@dataclass
class _Site:
    scope: Scope
    fault: str
    ordinal: int
    start: int
    end: int
    replacement: str
    rationale: str
    chunk: tuple[int, int]  # offsets of the smallest top-level unit to compile for a syntax check


class _CharSpans(BaseMetadataProvider[CodeSpan]):
    """Each node's span in characters of the code libcst writes for the module (its own
    ByteSpanPositionProvider counts UTF-8 bytes): offsets into the source, as long as that code is
    the source (`generate_mutants` checks)."""

    def _gen_impl(self, module: Module) -> None:
        state = SpanProvidingCodegenState(
            default_indent=module.default_indent, default_newline=module.default_newline, provider=self, get_length=len
        )
        module._codegen(state)


class _Collector(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (_CharSpans,)

    def __init__(self, module: cst.Module, source: str, operators: frozenset[str]) -> None:
        super().__init__()
        self.module = module
        self.source = source
        self.starts = line_starts(source)
        self.operators = operators
        self.scopes: list[Scope] = []
        self.sites: list[_Site] = []
        self.seen: Counter[tuple[str, str]] = Counter()
        self.outer_function: tuple[int, int] | None = None
        self.top_level: list[tuple[int, int]] = []

    # -- positions and bookkeeping

    def _span(self, node: cst.CSTNode) -> tuple[int, int]:
        span = self.get_metadata(_CharSpans, node)
        return span.start, span.start + span.length

    def _line(self, offset: int) -> int:
        return position(self.starts, offset)[0]

    def _add(self, fault: str, span: tuple[int, int], replacement: str, rationale: str) -> None:
        if fault not in self.operators:
            return
        scope = self.scopes[-1]
        ordinal = scope.next_ordinal(fault)
        chunk = self.outer_function
        if chunk is None:
            i = bisect.bisect_right(self.top_level, (span[0], len(self.source))) - 1
            chunk = self.top_level[i] if i >= 0 else (0, len(self.source))
        self.sites.append(_Site(scope, fault, ordinal, span[0], span[1], replacement, rationale, chunk))

    def _token(self, fault: str, op: cst.CSTNode, table: dict[type[cst.CSTNode], str]) -> None:
        new = table.get(type(op))
        if new is not None:
            span = self._span(op)
            old = self.source[span[0] : span[1]]
            if not old.strip():  # offsets that miss the operator: never a silent CompileError
                raise AssertionError(f"{type(op).__name__} at offset {span[0]} spans {old!r} in the source")
            self._add(fault, span, new, f"{old} replaced by {new}: do the tests pin this operator down?")

    def _push(self, node: cst.CSTNode, name: str, kind: ScopeKind) -> None:
        parent = self.scopes[-1] if self.scopes else None
        if parent is None or parent.kind == "module":
            qualname = name
        elif parent.kind == "function":
            qualname = f"{parent.qualname}.<locals>.{name}"
        else:
            qualname = f"{parent.qualname}.{name}"
        digest = python_scope_hash(self.module.code_for_node(node), kind)
        # Same name and same code twice in one file (a conditional redefinition): keep ids apart.
        self.seen[(qualname, digest)] += 1
        if self.seen[(qualname, digest)] > 1:
            qualname = f"{qualname}#{self.seen[(qualname, digest)]}"
        start, end = self._span(node)
        first, last = self._line(start), self._line(end)
        if kind == "function" and self.outer_function is None:
            # From the start of its line, so its indentation comes along.
            self.outer_function = (self.starts[first - 1], end)
        self.scopes.append(Scope(qualname, kind, digest, (first, last)))

    # -- scopes: a def's decorators and defaults run in the enclosing scope, only its body is its own

    def visit_Module(self, node: cst.Module) -> None:
        self.top_level = [self._span(stmt) for stmt in node.body]
        self._push(node, "<module>", "module")

    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self._push(node, node.name.value, "function")

    def leave_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()
        if not any(scope.kind == "function" for scope in self.scopes):
            self.outer_function = None

    def visit_ClassDef_body(self, node: cst.ClassDef) -> None:
        self._push(node, node.name.value, "class")

    def leave_ClassDef_body(self, node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_Annotation(self, node: cst.Annotation) -> bool:
        return False  # type annotations are not behaviour

    # -- operators

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self._token("arithmetic", node.operator, _ARITH)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._token("arithmetic", node.operator, _ARITH)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        for target in node.comparisons:
            self._token("comparison", target.operator, _COMPARE)

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        self._token("logical", node.operator, _LOGICAL)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in ("True", "False"):
            new = "False" if node.value == "True" else "True"
            self._add("boolean", self._span(node), new, f"{node.value} replaced by {new}")

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        if isinstance(node.operator, cst.Not):
            start, end = self._span(node.operator)
            while end < len(self.source) and self.source[end] in " \t":
                end += 1  # `not x` → `x`, keeping any parentheses of x
            self._add("boolean", (start, end), "", "`not` removed: is the negated case tested?")

    def visit_Integer(self, node: cst.Integer) -> None:
        self._number(node, ast.literal_eval(node.value))

    def visit_Float(self, node: cst.Float) -> None:
        self._number(node, ast.literal_eval(node.value))

    def _number(self, node: cst.CSTNode, value: float) -> None:
        new = value + 1
        if isinstance(new, float) and not math.isfinite(new):
            return
        self._add("number", self._span(node), repr(new), f"{value!r} replaced by {new!r}: is this constant checked?")

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        raw = node.raw_value
        new = f"{node.prefix}{node.quote}{'XX' + raw + 'XX' if raw else 'XX'}{node.quote}"
        self._add("string", self._span(node), new, "string literal altered: do the tests check this text?")

    def visit_Expr(self, node: cst.Expr) -> bool:
        value = node.value
        if isinstance(value, cst.SimpleString | cst.ConcatenatedString | cst.FormattedString):
            return False  # a docstring, or a bare string that does nothing: never mutated
        if isinstance(value, cst.Call) or (isinstance(value, cst.Await) and isinstance(value.expression, cst.Call)):
            self._add("call_removal", self._span(value), "None", "call removed: is its effect observed?")
        return True

    def visit_Return(self, node: cst.Return) -> None:
        value = node.value
        if value is not None and not (isinstance(value, cst.Name) and value.value == "None"):
            self._add("return_value", self._span(value), "None", "returns None instead: is the result checked?")

    def visit_Break(self, node: cst.Break) -> None:
        self._add("loop_control", self._span(node), "continue", "break replaced by continue")

    def visit_Continue(self, node: cst.Continue) -> None:
        self._add("loop_control", self._span(node), "break", "continue replaced by break")


def _first_difference(source: str, written: str) -> int:
    """The line of `source` where `written` first differs from it."""
    differing = (i for i, (a, b) in enumerate(zip(source, written, strict=False)) if a != b)
    at = next(differing, min(len(source), len(written)))
    return position(line_starts(source), at)[0]


def _compiles(source: str, filename: str) -> bool:
    try:
        compiles_quietly(source, filename)
    except (SyntaxError, ValueError):
        return False
    return True


def _site_compiles(source: str, site: _Site, filename: str) -> bool:
    """Compile just the outermost function (or top-level statement) around the site: compiling the
    whole file per mutant dominated generation time. A failure is confirmed on the whole file,
    since a lone function can fail for reasons of context (a `nonlocal` of an outer scope)."""
    lo, hi = site.chunk
    chunk = source[lo : site.start] + site.replacement + source[site.end : hi]
    if chunk[:1] in (" ", "\t"):
        chunk = "if 1:\n" + chunk  # an indented method compiles as the body of a block
    if _compiles(chunk, filename):
        return True
    return _compiles(source[: site.start] + site.replacement + source[site.end :], filename)


def generate_mutants(
    path: Path,
    source: str,
    rel: str,
    operators: Collection[str] | None = None,
    *,
    include_invalid: bool = False,
) -> list[Mutant]:
    """Every mutant of one Python file, in source order.

    Mutants whose source does not compile are dropped, or with `include_invalid` kept with
    `valid=False` (to be recorded as CompileError). Lines carrying `# pragma: no mutate` give none.
    """
    ops = check_operators(operators, OPERATORS)
    try:
        compiles_quietly(source, str(path))
    except (SyntaxError, ValueError) as exc:
        where = f"{rel}:{exc.lineno}" if isinstance(exc, SyntaxError) else rel
        raise UsageProblem(
            f"does not compile with this Python ({exc}), so none of its mutants could be tested",
            where=where,
            fix="fix the file, run the sweep with the project's Python, or leave this file out",
        ) from exc
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise UsageProblem(
            f"libcst cannot parse it: {exc.message}",
            where=f"{rel}:{exc.raw_line}",
            fix="leave this file out of the mutation paths (or upgrade libcst for newer syntax)",
        ) from exc
    written = module.code  # what the spans index; libcst drops a lone `\r` ending the file, nothing else may differ
    if not (source.startswith(written) and not source[len(written) :].strip()):
        line = _first_difference(source, written)
        raise UsageProblem(
            "libcst does not reproduce this file exactly (it drops a form feed at the start of a line, "
            "for one), so its mutants' positions would be wrong",
            where=f"{rel}:{line}", fix="remove the form feed (or other character) there, or leave this file out",
        )  # fmt: skip
    collector = _Collector(module, source, ops)
    MetadataWrapper(module, unsafe_skip_copy=True).visit(collector)
    starts = collector.starts
    lines = split_lines(source)
    pragma = {i + 1 for i, text in enumerate(lines) if "pragma" in text and PRAGMA.search(text)}
    mutants: list[Mutant] = []
    for site in sorted(collector.sites, key=lambda s: (s.start, s.end)):
        first, last = position(starts, site.start)[0], position(starts, max(site.start, site.end - 1))[0]
        if any(n in pragma for n in range(first, last + 1)):
            continue
        valid = _site_compiles(source, site, str(path))
        if not valid and not include_invalid:
            continue
        mutants.append(
            build_mutant(
                source, starts, rel, site.scope, site.fault, site.ordinal, (site.start, site.end),
                site.replacement, site.rationale, language="python", valid=valid,
            )
        )
    return mutants

