"""The one line of a failed check's output that explains it.

The last line of a test run is its tally (`1 error in 0.11s`), which says that it failed, not
why; the why is the first error line (`E   ImportError: cannot import name 'x'`), an
assertion, or a compiler's `error:`. We show that line, falling back to the last one.
"""

from __future__ import annotations

import re

# In order of preference: the launcher's own finding about the check ("[launcher] it imported
# the main checkout..."), pytest's "E   SomeError: ..." line, a traceback's last line
# ("SomeError: ..."), a test pytest marks FAILED/ERROR, then any line that says error.
_PATTERNS = (
    re.compile(r"^\[launcher\] "),
    re.compile(r"^E\s+(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit)\b|assert\b)"),
    re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception)(?::|$)"),
    re.compile(r"^(?:FAILED|ERROR)\s+\S+"),
    re.compile(r"\berror\b", re.IGNORECASE),
)
_TALLY = re.compile(r"^=*\s*\d+ (?:passed|failed|errors?|skipped|deselected)\b.*\bin [\d.]+s\b")


def failure_line(output: str, limit: int = 1000) -> str:
    """The first meaningful error line of `output` (else its last non-empty line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return ""
    for pattern in _PATTERNS:
        for line in lines:
            if pattern.search(line) and not _TALLY.search(line.strip("= ")):
                return _shorten(re.sub(r"^E\s+", "", line), limit)
    return _shorten(lines[-1], limit)


def _shorten(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
