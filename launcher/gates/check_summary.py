"""The one line of a failed check's output that explains it.

The last line of a test run is its tally (`1 error in 0.11s`, jest's `Ran all test suites.`,
cargo's `error: test failed, to rerun pass --lib`, make's `make: *** [test] Error 1`), which says
that it failed, not why; the why is the first error line: pytest's `E   ImportError: ...`, a
traceback's last line, an assertion (jest's `● test` block, a Rust panic's message, a TAP
`not ok` test's `error:`, C's `Assertion ... failed.`), or a compiler's `error:` line. We show
that line, falling back to the last one.

A line is an error line by its shape, never because the word "error" appears somewhere in it: a
tool that echoes a path (`Compiling crate (/.../fix-error-page)`) does not name an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# In order of preference: the launcher's own finding about the check ("[launcher] it imported
# the main checkout..."), pytest's "E   SomeError: ..." line, then the assertions of other test
# runners, a traceback's last line ("SomeError: ..."), a test marked FAILED/ERROR, then a
# compiler's or linter's error line.
_LAUNCHER = re.compile(r"^\[launcher\] ")
_PYTEST_E = re.compile(r"^E\s+(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit)\b|assert\b)")
_C_ASSERT = re.compile(r"\bAssertion [`'].*' failed\.?$")  # glibc: `t: t.c:3: main: Assertion `x' failed.`
_GO_TEST = re.compile(r"^\S+_test\.go:\d+: ")  # `go test`: `add_test.go:8: got 2, want 3`
_TRACEBACK = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception)(?: \[[A-Z_]+\])?(?::|$)")
_MARKED = re.compile(r"^(?:FAILED|ERROR)\s+\S+")
_COMPILER = (
    # `error: ...`, rustc's `error[E0425]: ...`, gcc/clang `file.c:3:5: error: ...`, node's `Error: ...`
    re.compile(r"^(?:\S+?:\d+(?::\d+)?:\s*)?(?:fatal )?error(?:\[\w+\])?:\s", re.IGNORECASE),
    re.compile(r"(?:^|[\s:)])error TS\d+:"),  # tsc: `src/a.ts(3,5): error TS2322: ...`
    re.compile(r"^\d+:\d+\s+error\s"),  # eslint: `  3:5  error  'x' is not defined  no-undef`
    re.compile(r"^\[ERROR\]\s"),  # maven
    re.compile(r"\bundefined reference to\b"),  # the linker
)
_LOOSE = (
    re.compile(r"^not ok \d+"),  # TAP
    re.compile(r"^--- FAIL: \S+"),  # go test
    re.compile(r"^FAIL\s+\S+"),  # jest's file line, go's package line
)
# Closing summaries, never "the" error line: pytest's, jest's, cargo's and make's tallies.
_TALLY = (
    re.compile(r"^=*\s*\d+ (?:passed|failed|errors?|skipped|deselected)\b.*\bin [\d.]+s\b"),
    re.compile(r"^error: (?:test failed, to rerun|\d+ targets? failed|aborting due to)"),
    re.compile(r"^(?:g?make)(?:\[\d+\])?: \*\*\* "),
    re.compile(r"^(?:Test Suites|Tests|Snapshots|Time):\s"),
    re.compile(r"^npm (?:ERR!|error)\s"),
)


def failure_line(output: str, limit: int = 1000) -> str:
    """The first meaningful error line of `output` (else its last non-empty line)."""
    raw = output.splitlines()
    lines = [line.strip() for line in raw if line.strip()]
    if not lines:
        return ""
    for find in _FINDERS:
        found = find(raw)
        if found:
            return _shorten(found, limit)
    return _shorten(lines[-1], limit)


def _tally(line: str) -> bool:
    return any(pattern.search(line.strip("= ")) for pattern in _TALLY)


def _first(*patterns: re.Pattern[str]) -> Callable[[list[str]], str | None]:
    def find(raw: list[str]) -> str | None:
        for pattern in patterns:
            for line in raw:
                line = line.strip()
                if line and pattern.search(line) and not _tally(line):
                    return re.sub(r"^E\s+", "", line)
        return None
    return find


def _jest(raw: list[str]) -> str | None:
    """jest: `● suite › test` then its message (`expect(received).toBe(expected)`, `Expected: 3`,
    `Received: 2`, or the error thrown): one line of the first failing test."""
    for index, line in enumerate(raw):
        head = line.strip()
        if not head.startswith("● ") or head.startswith("● Console"):
            continue
        said: list[str] = []
        for following in raw[index + 1:]:
            text = following.strip()
            if text.startswith("● ") or _tally(text) or re.match(r"^(?:>?\s*\d+ \||at )", text):
                break  # the next test, the tally, or the code frame and stack
            if text and (not said or text.startswith(("Expected", "Received"))):
                said.append(text)
        return f"{head}: {'; '.join(said)}" if said else head
    return None


def _rust_panic(raw: list[str]) -> str | None:
    """A Rust panic: `thread 't::sums' panicked at src/lib.rs:5:17:` then the message line
    (Rust 1.73+), or `... panicked at 'message', src/lib.rs:5:17` on one line (older)."""
    for index, line in enumerate(raw):
        match = re.search(r"panicked at (.*)$", line.strip())
        if match is None:
            continue
        where = match[1]
        if where.endswith(":"):
            message = next((text.strip() for text in raw[index + 1:] if text.strip()), "")
            return f"{message} (at {where.rstrip(':')})" if message else line.strip()
        return line.strip()
    return None


def _tap(raw: list[str]) -> str | None:
    """TAP (`node --test` on a pipe): `not ok 1 - sum`, then its YAML block's `error:` value,
    inline or as an indented `|-` block."""
    for index, line in enumerate(raw):
        failed = re.match(r"^\s*not ok \d+\b", line)
        if failed is None:
            continue
        for position in range(index + 1, len(raw)):
            text = raw[position]
            if re.match(r"^\s*(?:not )?ok \d+", text) or text.strip() == "...":
                break
            key = re.match(r"^(\s*)error: ?(.*)$", text)
            if key is None:
                continue
            value = key[2].strip()
            if value in ("|-", "|", ">-", ">"):
                indent = len(key[1])
                block = []
                for more in raw[position + 1:]:
                    if more.strip() and len(more) - len(more.lstrip()) <= indent:
                        break
                    if more.strip():
                        block.append(more.strip())
                value = " ".join(block)
            value = value.strip("'\"")
            if value:
                return f"{line.strip()}: {value}"
            break
    return None


_FINDERS: tuple[Callable[[list[str]], str | None], ...] = (
    _first(_LAUNCHER),
    _first(_PYTEST_E),
    _jest,
    _rust_panic,
    _tap,
    _first(_C_ASSERT, _GO_TEST),
    _first(_TRACEBACK),
    _first(_MARKED),
    _first(*_COMPILER),
    _first(*_LOOSE),
)


def _shorten(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
