"""A small shell scanner for the line-based shell operators.

There is no shell parser to lean on, so this does the minimum that keeps the operators' regexes
honest: it masks quoted text (so `"a | b"` is no pipeline), cuts comments, skips heredoc bodies
and names the function each line belongs to. A masked line has the real line's columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from launcher.mutation.model import PRAGMA

MASK = "\x01"
_FUNC = re.compile(r"^\s*(?:function\s+([\w.:-]+)\s*(?:\(\s*\))?|([\w.:-]+)\s*\(\s*\))\s*(?:\{|$)")
_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)\s*(['\"]?)([A-Za-z_]\w*)\2")


@dataclass
class Line:
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
    continues: bool = False  # ends inside a quote or parenthesis, or with a backslash


def _mask(text: str, stack: list[tuple[str, int]]) -> tuple[int, str, str, list[tuple[int, int]]]:
    """Mask one line's quoted text. `stack` holds the open quotes and parentheses, each with the
    column its content starts at (-1: an earlier line), and carries over to the next line. Inside
    "...", `$(...)` is code again, with quotes of its own.
    Returns (where the comment starts, masked line, line with only '...' masked, one-line quotes)."""
    masked, live, quotes = list(text), list(text), []
    stack[:] = [(kind, -1) for kind, _ in stack]
    i = 0
    while i < len(text):
        c, top = text[i], (stack[-1][0] if stack else "")
        if top in ("'", '"') and c == top:
            opened = stack.pop()[1]
            if opened >= 0:
                quotes.append((opened, i))
        elif top == "'":
            masked[i] = live[i] = MASK
        elif top == '"':
            if c == "$" and text[i + 1 : i + 2] == "(":
                stack.append(("(", i + 2))
                i += 1
            else:
                masked[i] = MASK
                if c == "\\" and i + 1 < len(text):
                    i += 1
                    masked[i] = MASK
        elif c == "\\":
            i += 1
        elif c in "'\"":
            stack.append((c, i + 1))
        elif c == "(":
            stack.append(("(", i + 1))
        elif c == ")" and top == "(":
            stack.pop()
        elif c == "#" and (i == 0 or text[i - 1] in " \t;&|()"):
            return i, "".join(masked[:i]), "".join(live[:i]), quotes
        i += 1
    return len(text), "".join(masked), "".join(live), quotes


def scan(source: str) -> list[Line]:
    """The script's lines, masked, with heredoc bodies and comment-only lines marked `skip`
    and each line's enclosing function in `scope`."""
    lines: list[Line] = []
    offset, stack = 0, list[tuple[str, int]]()
    heredocs: list[tuple[str, bool]] = []  # pending: (terminator, strip leading tabs)
    in_heredoc: tuple[str, bool] | None = None
    for number, text in enumerate(source.split("\n"), 1):
        line_offset, offset = offset, offset + len(text) + 1
        if in_heredoc is not None:
            term, strip = in_heredoc
            if (text.lstrip("\t") if strip else text).rstrip("\r") == term:
                in_heredoc = heredocs.pop(0) if heredocs else None
            lines.append(Line(number, line_offset, text, "", "", "", skip=True, heredoc=True))
            continue
        code_end, masked, dq_live, quotes = _mask(text, stack)
        code = text[:code_end]
        line = Line(number, line_offset, text, code, masked, dq_live)
        line.quotes = quotes
        line.continues = bool(stack) or masked.rstrip().endswith("\\")
        line.skip = not code.strip() or bool(PRAGMA.search(text))
        for m in _HEREDOC.finditer(code):
            if line.masked[m.start()] != MASK and not inside(m.start(), arith_regions(line.dq_live)):
                heredocs.append((m.group(3), m.group(1) == "-"))
        if heredocs and in_heredoc is None:
            in_heredoc = heredocs.pop(0)
        lines.append(line)
    _assign_scopes(lines)
    return lines


def _assign_scopes(lines: list[Line]) -> None:
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


def arith_regions(text: str) -> list[tuple[int, int]]:
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


def brace_regions(text: str) -> list[tuple[int, int]]:
    """`${...}` expansions, nested ones included: (start of `${`, index of its `}`)."""
    regions, open_at = [], []
    for i, ch in enumerate(text):
        if ch == "{" and i > 0 and text[i - 1] == "$":
            open_at.append(i - 1)
        elif ch == "}" and open_at:
            regions.append((open_at.pop(), i))
    return regions


def inside(pos: int, regions: list[tuple[int, int]]) -> bool:
    return any(lo <= pos < hi for lo, hi in regions)
