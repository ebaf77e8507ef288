"""The mutant: what changes where, how to apply it, and the seed's survivor shape (DESIGN 7.4)."""

from __future__ import annotations

import bisect
import enum
import re
import textwrap
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from launcher.errors import UsageProblem
from launcher.mutation.ids import stable_id

PRAGMA = re.compile(r"#.*\bpragma:\s*no\s+mutate\b")  # a line that must not be mutated
SURVIVOR_KEYS = ("id", "fault", "target", "line", "rationale", "orig", "mut", "status")
ScopeKind = Literal["function", "class", "module", "script"]
Language = Literal["python", "shell"]
# Where a line ends, for each language's own reader. Python (its tokenizer, so `ast`, tracebacks,
# coverage.py and libcst) ends one at `\r\n`, a lone `\r` or `\n`; bash only at `\n` (a `\r`
# is a character of the line). git numbers lines by `\n` alone (see `diff_lines`).
LINE_END: dict[Language, re.Pattern[str]] = {"python": re.compile(r"\r\n|\r|\n"), "shell": re.compile(r"\n")}


class MutantStatus(enum.StrEnum):
    """A mutant's outcome. Values are the Stryker schema's names, so reports need no mapping."""

    KILLED = "Killed"
    SURVIVED = "Survived"
    NO_COVERAGE = "NoCoverage"
    TIMEOUT = "Timeout"
    COMPILE_ERROR = "CompileError"
    RUNTIME_ERROR = "RuntimeError"
    IGNORED = "Ignored"

    @property
    def seed(self) -> str:
        """The seed plugin's spelling ("SURVIVED", "NO_COVERAGE", ...)."""
        return self.name

    @property
    def detected(self) -> bool:
        return self in (MutantStatus.KILLED, MutantStatus.TIMEOUT)

    @property
    def undetected(self) -> bool:
        return self in (MutantStatus.SURVIVED, MutantStatus.NO_COVERAGE)


def mutation_score(statuses: Iterable[MutantStatus]) -> float | None:
    """Stryker's score in percent: detected / (detected + undetected). Invalid (compile or runtime
    error) and ignored mutants count in neither; None when nothing valid was tested."""
    detected = undetected = 0
    for status in statuses:
        detected += status.detected
        undetected += status.undetected
    total = detected + undetected
    return None if total == 0 else 100.0 * detected / total


class MutantStale(ValueError):
    """The source no longer holds the text this mutant replaces."""


class Mutant(BaseModel):
    """One mutation of one source file.

    Positions: `line`/`end_line` are 1-based, numbered as the language numbers lines (`LINE_END`);
    `col`/`end_col` are 1-based characters, end exclusive (as in the Stryker schema). `start`/`end`
    are character offsets into the original source: replacing `source[start:end]` (which equals
    `replaced`) by `replacement` gives the mutated source.
    """

    id: str
    index: int = 0  # numeric id for the seed's survivor format; assigned per sweep
    fault: str
    language: Language = "python"
    target: str  # repo-relative path, forward slashes
    line: int
    col: int
    end_line: int
    end_col: int
    function: str  # qualified name ("Cls.meth", "f.<locals>.g"), "<module>" or "<script>"
    scope_kind: ScopeKind = "function"
    scope_hash: str  # normalized source hash of the enclosing scope (cache key part)
    scope_lines: tuple[int, int]  # first and last line of the enclosing scope
    rationale: str
    orig: str  # the original line(s), indentation stripped
    mut: str  # the same line(s) mutated
    start: int
    end: int
    replaced: str
    replacement: str
    valid: bool = True  # False: the mutated source does not compile (a CompileError mutant)

    @property
    def import_time(self) -> bool:
        """Runs when the module is imported (module or class body, decorators, defaults): an
        executor that keeps an imported module alive cannot test it by swapping code."""
        return self.scope_kind != "function"

    def apply(self, source: str) -> str:
        if source[self.start : self.end] != self.replaced:
            raise MutantStale(
                f"{self.target}:{self.line}: expected {self.replaced!r} at offset {self.start}; "
                "the file changed since the mutants were generated"
            )
        return source[: self.start] + self.replacement + source[self.end :]

    def to_survivor(self, status: str = "SURVIVED") -> dict[str, Any]:
        """The seed survivor record (DESIGN 7.4), exactly these keys in this order."""
        return {
            "id": self.index,
            "fault": self.fault,
            "target": self.target,
            "line": self.line,
            "rationale": self.rationale,
            "orig": self.orig,
            "mut": self.mut,
            "status": status,
        }


def number_mutants(mutants: Iterable[Mutant]) -> list[Mutant]:
    """Sort by place and give each a 1-based `index` (the seed's numeric survivor id)."""
    ordered = sorted(mutants, key=lambda m: (m.target, m.start, m.end, m.fault, m.id))
    return [m.model_copy(update={"index": i}) for i, m in enumerate(ordered, 1)]


def line_starts(source: str, language: Language = "python") -> list[int]:
    """Offset of each line's first character (index 0 is line 1), lines numbered as the language
    itself numbers them (`LINE_END`), so that a mutant's line is the one its tracebacks, coverage
    and `ast` name."""
    return [0, *(m.end() for m in LINE_END[language].finditer(source))]


def split_lines(text: str, language: Language = "python") -> list[str]:
    """The lines of `text` without their line ends (as `line_starts` numbers them)."""
    return LINE_END[language].split(text)


def excerpt(
    source: str, starts: list[int], start: int, end: int, replacement: str, language: Language = "python"
) -> tuple[str, str]:
    """The whole lines touched by `source[start:end]`, before and after replacing it (line ends
    written `\n`)."""
    first = position(starts, start)[0]
    last = position(starts, max(start, end - 1))[0]
    lo = starts[first - 1]
    hi = starts[last] if last < len(starts) else len(source)
    before = source[lo:hi]
    after = source[lo:start] + replacement + source[end:hi]
    return _tidy(before, language), _tidy(after, language)


def _tidy(text: str, language: Language) -> str:
    return textwrap.dedent("\n".join(split_lines(text, language))).strip()


def position(starts: list[int], offset: int) -> tuple[int, int]:
    """(1-based line, 1-based column) of a character offset."""
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def check_operators(operators: Collection[str] | None, known: Sequence[str]) -> frozenset[str]:
    """The operators to use; unknown names are a usage error (they would silently mutate nothing)."""
    if not operators:
        return frozenset(known)
    unknown = sorted(set(operators) - set(known))
    if unknown:
        raise UsageProblem(
            f"unknown mutation operator(s): {', '.join(unknown)}",
            where="--operators",
            fix=f"choose from: {', '.join(known)}",
        )
    return frozenset(operators)


@dataclass
class Scope:
    """The enclosing function (or class, module, script) of a mutation site."""

    qualname: str
    kind: ScopeKind
    hash: str  # normalized source hash
    lines: tuple[int, int]
    counters: Counter[str] = field(default_factory=Counter)  # sites seen so far, per operator

    def next_ordinal(self, fault: str) -> int:
        ordinal = self.counters[fault]
        self.counters[fault] += 1
        return ordinal


def build_mutant(
    source: str,
    starts: list[int],
    rel: str,
    scope: Scope,
    fault: str,
    ordinal: int,
    span: tuple[int, int],
    replacement: str,
    rationale: str,
    *,
    language: Language,
    valid: bool = True,
) -> Mutant:
    """`starts`: the source's `line_starts` for `language`."""
    start, end = span
    (line, col), (end_line, end_col) = position(starts, start), position(starts, end)
    orig, mut = excerpt(source, starts, start, end, replacement, language)
    return Mutant(
        id=stable_id(rel, scope.qualname, scope.hash, fault, ordinal),
        fault=fault,
        language=language,
        target=rel,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
        function=scope.qualname,
        scope_kind=scope.kind,
        scope_hash=scope.hash,
        scope_lines=scope.lines,
        rationale=rationale,
        orig=orig,
        mut=mut,
        start=start,
        end=end,
        replaced=source[start:end],
        replacement=replacement,
        valid=valid,
    )
