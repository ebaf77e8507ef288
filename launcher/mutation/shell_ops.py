"""Shell mutation operators for `*.sh` files: the seed's eight classes, line-based (DESIGN 11).

There is no shell parser to lean on, so a small scanner does the minimum that keeps the regexes
honest: it masks quoted text (so `"a | b"` is no pipeline), cuts comments, skips heredoc bodies
and tracks which function each line belongs to. Operators then match on the masked line, whose
columns equal the real line's.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from launcher import process
from launcher.errors import UsageProblem
from launcher.mutation.ids import shell_scope_hash
from launcher.mutation.model import Mutant, Scope, ScopeKind, build_mutant, check_operators, line_starts
from launcher.mutation.python_ops import PRAGMA

OPERATORS = (
    "condition_negation",
    "guard_deletion",
    "exit_code_swallow",
    "default_removal",
    "pipeline_drop",
    "off_by_one",
    "sentinel_typo",
    "arithmetic",
)
MASK = "\x01"
_FUNC = re.compile(r"^\s*(?:function\s+([\w.:-]+)\s*(?:\(\s*\))?|([\w.:-]+)\s*\(\s*\))\s*(?:\{|$)")
_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)\s*(['\"]?)([A-Za-z_]\w*)\2")
_KEYWORD = re.compile(r"(?:^\s*|[;&|]\s*|\b(?:then|do|else)\s+)(?:if|elif|while|until)\s+(?![\s!])")
_TEST_REGION = re.compile(r"(?<![\w$\[])\[\[?\s.*?\s\]\]?(?!\])|\btest\s[^;&|]*")
_SWAPS = {"-eq": "-ne", "-ne": "-eq", "==": "!=", "!=": "==", "=": "!=", "-z": "-n", "-n": "-z"}
_BOUNDS = {"-lt": "-le", "-le": "-lt", "-gt": "-ge", "-ge": "-gt", "<": "<=", "<=": "<", ">": ">=", ">=": ">"}
_SIGNS = {"++": "--", "--": "++", "+=": "-=", "-=": "+=", "+": "-", "-": "+"}


@dataclass
class _Line:
    number: int
    offset: int  # of the line's first character in the source
    text: str
    code: str  # the line up to its comment
    masked: str  # `code` with the contents of all quotes masked
    dq_live: str  # `code` with only single-quoted contents masked ("$((...))" still counts)
    quotes: list[tuple[int, int]] = field(default_factory=list)  # contents of one-line quotes
    scope: str = "<script>"
    skip: bool = False
    heredoc: bool = False  # a heredoc body: data, not code


def _scan(source: str) -> list[_Line]:
    lines: list[_Line] = []
    offset, quote = 0, ""
    heredocs: list[tuple[str, bool]] = []  # pending: (terminator, strip leading tabs)
    in_heredoc: tuple[str, bool] | None = None
    for number, text in enumerate(source.split("\n"), 1):
        line_offset, offset = offset, offset + len(text) + 1
        if in_heredoc is not None:
            term, strip = in_heredoc
            if (text.lstrip("\t") if strip else text).rstrip("\r") == term:
                in_heredoc = heredocs.pop(0) if heredocs else None
            lines.append(_Line(number, line_offset, text, "", "", "", skip=True, heredoc=True))
            continue
        masked, dq_live, quotes = list(text), list(text), []
        code_end, opened, i = len(text), (-1 if quote else 0), 0
        while i < len(text):
            c = text[i]
            if quote:
                if c == quote:
                    quote = ""
                    if opened >= 0:
                        quotes.append((opened, i))
                else:
                    if c == "\\" and quote == '"' and i + 1 < len(text):
                        masked[i] = MASK
                        i += 1
                    masked[i] = MASK
                    if quote == "'":
                        dq_live[i] = MASK
            elif c == "\\":
                i += 1
            elif c in "'\"":
                quote, opened = c, i + 1
            elif c == "#" and (i == 0 or text[i - 1] in " \t;&|()"):
                code_end = i
                break
            i += 1
        if quote:
            opened = -1  # a quote running onto the next line: not a one-line sentinel
        code = text[:code_end]
        line = _Line(number, line_offset, text, code, "".join(masked[:code_end]), "".join(dq_live[:code_end]))
        line.quotes = quotes
        line.skip = not code.strip() or bool(PRAGMA.search(text))
        for m in _HEREDOC.finditer(code):
            if line.masked[m.start()] != MASK and not _inside(m.start(), _arith_regions(line.dq_live)):
                heredocs.append((m.group(3), m.group(1) == "-"))
        if heredocs and in_heredoc is None:
            in_heredoc = heredocs.pop(0)
        lines.append(line)
    return lines


def _assign_scopes(lines: list[_Line]) -> None:
    """Name each line's enclosing function by counting braces (quotes already masked)."""
    stack: list[tuple[str, int]] = []  # (function, brace depth outside it)
    depth, seen, pending = 0, dict[str, int](), ""
    for line in lines:
        if line.skip and not line.code.strip():
            line.scope = stack[-1][0] if stack else "<script>"
            continue
        header = _FUNC.match(line.masked)
        if header:
            name = header.group(1) or header.group(2)
            seen[name] = seen.get(name, 0) + 1
            pending = name if seen[name] == 1 else f"{name}#{seen[name]}"
        for ch in line.masked:
            if ch == "{":
                if pending:
                    stack.append((pending, depth))
                    pending = ""
                depth += 1
            elif ch == "}":
                depth -= 1
                # The closing line still belongs to the function; pop after assigning it below.
        line.scope = stack[-1][0] if stack else (pending or "<script>")
        while stack and depth <= stack[-1][1]:
            stack.pop()


def _regions(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _arith_regions(text: str) -> list[tuple[int, int]]:
    """Insides of `$(( ))` and `(( ))`."""
    regions, i = [], text.find("((")
    while i >= 0:
        depth, j = 0, i
        while j < len(text):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        regions.append((i + 2, max(i + 2, j - 1)))
        i = text.find("((", j + 1)
    return regions


def _brace_regions(text: str) -> list[tuple[int, int]]:
    """`${...}` expansions, nested ones included: (start of `${`, index of its `}`)."""
    regions, open_at = [], []
    for i, ch in enumerate(text):
        if ch == "{" and i > 0 and text[i - 1] == "$":
            open_at.append(i - 1)
        elif ch == "}" and open_at:
            regions.append((open_at.pop(), i))
    return regions


def _inside(pos: int, regions: list[tuple[int, int]]) -> bool:
    return any(lo <= pos < hi for lo, hi in regions)


def _redirect(text: str, j: int) -> bool:
    """`2>&1`, `<&3`, `&>log`: an `&` that is part of a redirection, not a separator."""
    return text[j] == "&" and (text[j - 1 : j] in ("<", ">") or text[j + 1 : j + 2] == ">")


def _typo(text: str) -> str:
    return text[:1] + "X" + text[1:]


_Hit = tuple[str, int, int, str, str]  # fault, start col, end col, replacement, rationale


def _line_sites(line: _Line) -> Iterator[_Hit]:
    code, masked, live = line.code, line.masked, line.dq_live
    tests = _regions(_TEST_REGION, masked)
    ariths, braces = _arith_regions(live), _brace_regions(live)
    for m in _KEYWORD.finditer(masked):
        yield "condition_negation", m.end(), m.end(), "! ", "condition negated: is the other branch tested?"
    for m in re.finditer(r"(?<=\s)(-eq|-ne|==|!=|=|-z|-n)(?=\s)", masked):
        if _inside(m.start(), tests) or (m.group() in ("==", "!=") and _inside(m.start(), ariths)):
            new = _SWAPS[m.group()]
            yield "condition_negation", *m.span(), new, f"test {m.group()} flipped to {new}"
    for m in re.finditer(r"\s*\|\|\s*(?:\{[^}]*\b(?:exit|return)\b[^}]*\}|(?:exit|return)\b[^;&|)}]*)", masked):
        yield "guard_deletion", *m.span(), "", "`|| exit` guard deleted: is the failure path tested?"
    errexit = re.match(r"\s*set\s+(?:[-+][a-zA-Z]+\s+)*?(-[a-zA-Z]*e[a-zA-Z]*)\b", masked)
    if errexit:
        flag = errexit.group(1)
        new = "+e" if flag == "-e" else flag.replace("e", "", 1)
        yield "guard_deletion", *errexit.span(1), new, "errexit (set -e) disabled: do failures still stop the script?"
    for m in re.finditer(r"\bset\s+(-o)\s+(errexit|pipefail)\b", masked):
        yield "guard_deletion", *m.span(1), "+o", f"set -o {m.group(2)} disabled"
    for m in re.finditer(r"\b(?:exit|return)\s+(\"?\$\{?[\w?]+\}?\"?|[1-9]\d*)", live):
        if masked[m.start()] != MASK:
            yield "exit_code_swallow", *m.span(1), "0", "failure status swallowed: is the exit code checked?"
    for m in re.finditer(r"\$\{(\w+)(:?[-=])", live):
        close = next((hi for lo, hi in braces if lo == m.start()), None)
        if close is not None:
            yield "default_removal", m.start(2), close, "", f"default of ${{{m.group(1)}}} removed"
    yield from _pipeline_drops(masked, tests, ariths, braces)
    for m in re.finditer(r"(?<=\s)(-lt|-le|-gt|-ge)(?=\s)", masked):
        if _inside(m.start(), tests):
            yield "off_by_one", *m.span(), _BOUNDS[m.group()], f"bound {m.group()} → {_BOUNDS[m.group()]}"
    for m in re.finditer(r"(?<![<>])(<=|>=|<|>)(?![<>=])", live):
        if _inside(m.start(), ariths) and not _inside(m.start(), braces):
            yield "off_by_one", *m.span(), _BOUNDS[m.group()], f"bound {m.group()} → {_BOUNDS[m.group()]}"
    for m in re.finditer(r"(?<![\w$#.])\d+(?![\w#.])", live):
        in_test = _inside(m.start(), tests) and re.search(r"-(eq|ne|lt|le|gt|ge)\s+$", masked[: m.start()])
        if (_inside(m.start(), ariths) and not _inside(m.start(), braces)) or in_test:
            yield "off_by_one", *m.span(), str(int(m.group()) + 1), f"{m.group()} → {int(m.group()) + 1}"
    for lo, hi in line.quotes:
        content = code[lo:hi]
        if "$" in content or "`" in content:
            continue
        compared = _inside(lo, tests) and (
            re.search(r"(==|!=|=)\s*$", masked[: lo - 1]) or re.match(r"\s*(==|!=|=)\s", masked[hi + 1 :])
        )
        grepped = re.search(r"\bgrep(\s+-[\w-]+)*\s+$", masked[: lo - 1])
        if compared or grepped:
            yield "sentinel_typo", lo, hi, _typo(content), f"sentinel {content!r} misspelt: is it matched exactly?"
    for m in re.finditer(r"\+\+|--|\+=|-=|[+-]", live):
        if _inside(m.start(), ariths) and not _inside(m.start(), braces):
            yield "arithmetic", *m.span(), _SIGNS[m.group()], f"arithmetic {m.group()} → {_SIGNS[m.group()]}"


def _pipeline_drops(
    masked: str, tests: list[tuple[int, int]], ariths: list[tuple[int, int]], braces: list[tuple[int, int]]
) -> Iterator[_Hit]:
    """Drop the last stage of each pipeline (`a | b` → `a`)."""
    for m in re.finditer(r"(?<!\|)\|&?(?!\|)", masked):
        i = m.start()
        if _inside(i, tests) or _inside(i, ariths) or _inside(i, braces):
            continue
        depth, j, end = 0, m.end(), None
        while j < len(masked):
            ch = masked[j]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    end = j
                    break
            elif depth == 0 and ch in ";&|" and not _redirect(masked, j):
                end = j
                break
            j += 1
        end = len(masked) if end is None else end
        if end < len(masked) and masked[end] == ")" and masked[:i].count("(") <= masked[:i].count(")"):
            continue  # a case pattern `a|b)`, not a pipeline
        if end < len(masked) and masked[end] == "|" and masked[end : end + 2] != "||":
            continue  # not the last stage
        stage = masked[m.end() : end]
        if not stage.strip():
            continue
        start = len(masked[:i].rstrip())
        yield "pipeline_drop", start, m.end() + len(stage.rstrip()), "", "last pipeline stage dropped"


def generate_mutants(path: Path, source: str, rel: str, operators: Collection[str] | None = None) -> list[Mutant]:
    """Every mutant of one shell script, in source order (`path` is unused; kept for symmetry)."""
    ops = check_operators(operators, OPERATORS)
    lines = _scan(source)
    _assign_scopes(lines)
    scopes: dict[str, Scope] = {}
    for name in dict.fromkeys(line.scope for line in lines):
        own = [line for line in lines if line.scope == name]
        hashed = shell_scope_hash(line.text if line.heredoc else line.code for line in own)
        kind: ScopeKind = "script" if name == "<script>" else "function"
        scopes[name] = Scope(name, kind, hashed, (own[0].number, own[-1].number))
    starts = line_starts(source)
    mutants: list[Mutant] = []
    for line in lines:
        if line.skip:
            continue
        scope = scopes[line.scope]
        for fault, lo, hi, replacement, rationale in sorted(_line_sites(line), key=lambda h: (h[1], h[2], h[0])):
            if fault not in ops:
                continue
            span = (line.offset + lo, line.offset + hi)
            ordinal = scope.next_ordinal(fault)
            mutant = build_mutant(
                source, starts, rel, scope, fault, ordinal, span, replacement, rationale, language="shell"
            )
            mutants.append(mutant)
    return mutants


async def check_syntax(mutants: list[Mutant], source: str, shell: str = "bash", limit: int = 8) -> list[Mutant]:
    """Mark mutants whose script `shell -n` rejects as invalid (CompileError)."""
    with tempfile.TemporaryDirectory(prefix="launcher-sh-") as tmp:
        original = Path(tmp, "original.sh")
        original.write_text(source)
        if not (await process.run([shell, "-n", str(original)], timeout=30)).ok:
            raise UsageProblem(
                f"{shell} -n rejects the unmutated script", where=mutants[0].target if mutants else None,
                fix="fix the script's syntax, or leave it out of the mutation paths",
            )
        verdicts: dict[str, bool] = {}
        limiter = anyio.CapacityLimiter(limit)

        async def check(m: Mutant) -> None:
            async with limiter:
                script = Path(tmp, f"{m.id}.sh")
                script.write_text(m.apply(source))
                verdicts[m.id] = (await process.run([shell, "-n", str(script)], timeout=30)).ok

        async with anyio.create_task_group() as tg:
            for m in mutants:
                tg.start_soon(check, m)
    return [m if verdicts[m.id] else m.model_copy(update={"valid": False}) for m in mutants]
