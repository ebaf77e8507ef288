"""What opencode logs on stderr with `--print-logs --log-level ERROR` (the opencode adapter).

opencode (1.18) puts the cause of most failures only in its log, never on stdout in
`--format json`: a missing key or an unknown model gives an `UnknownError` event ("Unexpected
server error. Check server logs for details.", `data.ref` = the log line's `ref=`), and an API it
cannot reach prints no event at all while it retries forever. Its log lines look like

    timestamp=2026-12-07T05:51:39.703Z level=ERROR run=e595d82d message=failed ref=err_8fbf2e3d
      error="ProviderModelNotFoundError: Model not found: ..."
    timestamp=... level=ERROR run=fe24edf7 message="stream error" providerID=opencode ...
      error.error="AI_APICallError: Cannot connect to API: Unable to connect. Is the computer ..."

(each one line).

The flags are global options of opencode's CLI (yargs `print-logs`, `log-level`) since its early
versions, so every `run` accepts them.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field

LOG_FLAGS = ("--print-logs", "--log-level", "ERROR")
# Where opencode keeps its log without --print-logs (named when nothing better is known).
LOG_DIR = "~/.local/share/opencode/log/"
# Connection errors in a row (no JSON event between them) and the seconds they must span before
# the round gives up: opencode retries with a growing backoff (about 2, 4, 10, 16 s...), so an
# unreachable API ends the round after a minute or so instead of at `timeout_s`.
CONNECT_ERRORS_GIVE_UP = 5
CONNECT_SPAN_S = 60.0
ERRORS_KEPT = 20
_LINE_KEPT = 600

_LEVEL_ERROR = re.compile(r"(?:\blevel=ERROR\b|^ERROR\b)")
_REF = re.compile(r"\bref=(\S+)")
# The most telling field of a line first: the error itself, then its cause, then the message.
_FIELDS = tuple(re.compile(rf'\b{name}="((?:[^"\\]|\\.)*)"') for name in (r"error\.error", "error", "cause", "message"))
_CONNECT = re.compile(
    r"(Cannot connect to API|Unable to connect|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|"
    r"fetch failed|ConnectionRefused|getaddrinfo|Transport error)",
    re.IGNORECASE,
)


def _cause(line: str) -> str:
    for pattern in _FIELDS:
        found = pattern.search(line)
        if found:
            return found.group(1).replace('\\"', '"')[:_LINE_KEPT]
    return line[:_LINE_KEPT]


@dataclass
class OpencodeLog:
    """opencode's ERROR log lines, read one stderr line at a time, bounded: the last
    ERRORS_KEPT causes (with their `ref=`), and the current run of connection errors."""

    errors: deque[tuple[str | None, str]] = field(default_factory=lambda: deque(maxlen=ERRORS_KEPT))
    connect: str | None = None  # the last connection error of the current run of them
    connects: int = 0
    connect_since: float | None = None

    def line(self, raw: bytes | str) -> None:
        text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
        if not text or not _LEVEL_ERROR.search(text):
            return
        ref = _REF.search(text)
        cause = _cause(text)
        self.errors.append((ref.group(1) if ref else None, cause))
        if _CONNECT.search(cause):
            if not self.connects:
                self.connect_since = time.monotonic()
            self.connects += 1
            self.connect = cause

    def progress(self) -> None:
        """opencode printed an event: whatever failed before was recovered from."""
        self.connect, self.connects, self.connect_since = None, 0, None

    def cause_of(self, ref: str | None) -> str | None:
        """The logged cause of the error event with this `ref`, else the last one logged."""
        for logged_ref, cause in reversed(self.errors):
            if ref is not None and logged_ref == ref:
                return cause
        return self.errors[-1][1] if self.errors else None

    def network_trouble(self) -> str | None:
        if not self.connect:
            return None
        return (f"opencode cannot reach its API: {self.connect} "
                f"({self.connects} connection error(s) in its log in a row)")

    def hopeless(self, now: float) -> bool:
        return (self.connects >= CONNECT_ERRORS_GIVE_UP and self.connect_since is not None
                and now - self.connect_since >= CONNECT_SPAN_S)


def parse_log(stderr: str) -> OpencodeLog:
    """The log lines of a whole text (the kept tail of stderr, when the adapter was not fed)."""
    log = OpencodeLog()
    for line in stderr.split("\n"):
        log.line(line)
    return log
