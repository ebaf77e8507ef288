"""Shell mutation operators for `*.sh` files: the seed's eight classes, line-based (DESIGN 11).

Each operator is a regex over a line masked by `shell_scan` (quoted text hidden, comments cut),
restricted where it matters to test (`[ ]`, `[[ ]]`, `test`) or arithmetic (`$(( ))`) regions.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

from launcher import process
from launcher.concurrency import each
from launcher.errors import UsageProblem
from launcher.mutation.ids import shell_scope_hash
from launcher.mutation.model import Mutant, Scope, ScopeKind, build_mutant, check_operators, line_starts
from launcher.mutation.shell_scan import MASK, Line, arith_regions, brace_regions, inside, scan

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
_KEYWORD = re.compile(r"(?:^\s*|[;&|]\s*|\b(?:then|do|else)\s+)(?:if|elif|while|until)\s+(?![\s!])")
_TEST_REGION = re.compile(r"(?<![\w$\[])\[\[?\s.*?\s\]\]?(?!\])|\btest\s[^;&|]*")
_COMPOUND = re.compile(r"\s*(?:(?:while|until|for|if|case|select)\b|[{(])")
_SWAPS = {"-eq": "-ne", "-ne": "-eq", "==": "!=", "!=": "==", "=": "!=", "-z": "-n", "-n": "-z"}
_BOUNDS = {"-lt": "-le", "-le": "-lt", "-gt": "-ge", "-ge": "-gt", "<": "<=", "<=": "<", ">": ">=", ">=": ">"}
_SIGNS = {"++": "--", "--": "++", "+=": "-=", "-=": "+=", "+": "-", "-": "+"}


def _regions(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _redirect(text: str, j: int) -> bool:
    """`2>&1`, `<&3`, `&>log`: an `&` that is part of a redirection, not a separator."""
    return text[j] == "&" and (text[j - 1 : j] in ("<", ">") or text[j + 1 : j + 2] == ">")


def _typo(text: str) -> str:
    return text[:1] + "X" + text[1:]


_Hit = tuple[str, int, int, str, str]  # fault, start col, end col, replacement, rationale


def _line_sites(line: Line) -> Iterator[_Hit]:
    code, masked, live = line.code, line.masked, line.dq_live
    tests = _regions(_TEST_REGION, masked)
    ariths, braces = arith_regions(live), brace_regions(live)
    for m in _KEYWORD.finditer(masked):
        yield "condition_negation", m.end(), m.end(), "! ", "condition negated: is the other branch tested?"
    for m in re.finditer(r"(?<=\s)(-eq|-ne|==|!=|=|-z|-n)(?=\s)", masked):
        if inside(m.start(), tests) or (m.group() in ("==", "!=") and inside(m.start(), ariths)):
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
    for m in re.finditer(r"\b(?:exit|return)\s+(\"?\$(?:\{[^}\s]+\}|[\w?]+)\"?|[1-9]\d*)(?=[\s;&|)]|$)", live):
        if masked[m.start()] != MASK:
            yield "exit_code_swallow", *m.span(1), "0", "failure status swallowed: is the exit code checked?"
    for m in re.finditer(r"\$\{(\w+)(:?[-=])", live):
        close = next((hi for lo, hi in braces if lo == m.start()), None)
        if close is not None:
            yield "default_removal", m.start(2), close, "", f"default of ${{{m.group(1)}}} removed"
    yield from _pipeline_drops(masked, line.continues, tests + ariths + braces)
    for m in re.finditer(r"(?<=\s)(-lt|-le|-gt|-ge)(?=\s)", masked):
        if inside(m.start(), tests):
            yield "off_by_one", *m.span(), _BOUNDS[m.group()], f"bound {m.group()} → {_BOUNDS[m.group()]}"
    for m in re.finditer(r"(?<![<>])(<=|>=|<|>)(?![<>=])", live):
        if inside(m.start(), ariths) and not inside(m.start(), braces):
            yield "off_by_one", *m.span(), _BOUNDS[m.group()], f"bound {m.group()} → {_BOUNDS[m.group()]}"
    for m in re.finditer(r"(?<![\w$#.])\d+(?![\w#.])", live):
        in_test = inside(m.start(), tests) and re.search(r"-(eq|ne|lt|le|gt|ge)\s+$", masked[: m.start()])
        if (inside(m.start(), ariths) and not inside(m.start(), braces)) or in_test:
            yield "off_by_one", *m.span(), str(int(m.group()) + 1), f"{m.group()} → {int(m.group()) + 1}"
    for lo, hi in line.quotes:
        content = code[lo:hi]
        if "$" in content or "`" in content:
            continue
        compared = inside(lo, tests) and (
            re.search(r"(==|!=|=)\s*$", masked[: lo - 1]) or re.match(r"\s*(==|!=|=)\s", masked[hi + 1 :])
        )
        grepped = re.search(r"\bgrep(\s+-[\w-]+)*\s+$", masked[: lo - 1])
        if compared or grepped:
            yield "sentinel_typo", lo, hi, _typo(content), f"sentinel {content!r} misspelt: is it matched exactly?"
    for m in re.finditer(r"\+\+|--|\+=|-=|[+-]", live):
        if inside(m.start(), ariths) and not inside(m.start(), braces):
            yield "arithmetic", *m.span(), _SIGNS[m.group()], f"arithmetic {m.group()} → {_SIGNS[m.group()]}"


def _pipeline_drops(masked: str, continues: bool, not_pipes: list[tuple[int, int]]) -> Iterator[_Hit]:
    """Drop the last stage of each pipeline (`a | b` → `a`); `|` within `not_pipes` (tests,
    arithmetic, ${...}) is something else."""
    for m in re.finditer(r"(?<!\|)\|&?(?!\|)", masked):
        i = m.start()
        if inside(i, not_pipes):
            continue
        depth, end = 0, m.end()
        while end < len(masked):
            ch = masked[end]
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth < 0 or (depth == 0 and ch in ";&|`" and not _redirect(masked, end)):
                break
            end += 1
        after = masked[end : end + 2]
        if after[:1] == ")" and masked[:i].count("(") <= masked[:i].count(")"):
            continue  # a case pattern `a|b)`, not a pipeline
        if after[:1] == "|" and after != "||":
            continue  # not the last stage
        stage = masked[m.end() : end]
        if not stage.strip() or _COMPOUND.match(stage):
            continue  # nothing to drop, or `| while ...; do` whose body would be orphaned
        if end == len(masked) and continues:
            continue  # the stage goes on past this line
        start = len(masked[:i].rstrip())
        yield "pipeline_drop", start, m.end() + len(stage.rstrip()), "", "last pipeline stage dropped"


def generate_mutants(path: Path, source: str, rel: str, operators: Collection[str] | None = None) -> list[Mutant]:
    """Every mutant of one shell script, in source order (`path` is unused; kept for symmetry)."""
    ops = check_operators(operators, OPERATORS)
    lines = scan(source)
    scopes: dict[str, Scope] = {}
    for name in dict.fromkeys(line.scope for line in lines):
        own = [line for line in lines if line.scope == name]
        hashed = shell_scope_hash(line.text if line.heredoc else line.code for line in own)
        kind: ScopeKind = "script" if name == "<script>" else "function"
        scopes[name] = Scope(name, kind, hashed, (own[0].number, own[-1].number))
    starts = line_starts(source, "shell")
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

        async def check(m: Mutant) -> None:
            script = Path(tmp, f"{m.id}.sh")
            script.write_text(m.apply(source))
            verdicts[m.id] = (await process.run([shell, "-n", str(script)], timeout=30)).ok

        await each(mutants, check, limit)
    return [m if verdicts[m.id] else m.model_copy(update={"valid": False}) for m in mutants]
