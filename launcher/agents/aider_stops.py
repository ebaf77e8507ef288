"""How an aider run that still exits 0 ended without finishing its message, read from its stdout.

aider (Aider-AI/aider @5dc9490, aider/coders/base_coder.py) prints these after the model's
usage line (`show_usage_report`, printed before the reply is applied) and then returns from
`--message`, so the process exits 0 however the message ended:

- `run_one` (l.924-944): each reply that leaves a follow-up (`reflected_message`: an edit block
  that did not apply, lint or test errors it was told to fix, files the model asked for) is sent
  again, at most `max_reflections` (3) times; past that it prints
  `Only 3 reflections allowed, stopping.` and returns with the follow-up undone.
- `apply_updates` (l.2296-2325): `The LLM did not conform to the edit format.` and the error
  text, which for SEARCH/REPLACE is `# 1 SEARCH/REPLACE block failed to match!` and
  `## SearchReplaceNoExactMatch: This SEARCH block failed to exactly match lines in PATH`
  (editblock_coder.py l.84-92; the blocks that matched ARE written). Lint errors
  (`lint_edited`, l.1598-1608) end with `Attempt to fix lint errors?`, test errors with
  `Attempt to fix test errors?`.
- `send_message` (l.1461-1547): litellm's `ContextWindowExceededError`, or a reply cut at the
  output limit for a model without assistant prefill, is not printed itself:
  `show_exhausted_error` (l.1628-1679) prints `Model M has hit a token limit!` and
  `Input tokens: ~N of M ...`, `Output tokens: ...`, `Total tokens: ...` and the run ends.
- `show_send_output_stream` (l.1974-1975): `Empty response received from LLM. Check your
  provider account?` when the provider sent nothing: the reply it stands for is empty, so it is
  the last line before that reply's usage line (l.1530-1532: a blank line, then the usage),
  and that usage line says `0 received`.
- `show_send_output` (l.1879-1880) raises `No data found in LLM response!`, which `send_message`
  (l.1504-1510) prints and returns on: no usage line follows it.

Every trigger is judged by where it stands relative to the run's end, read from the usage
lines: only what follows the last usage line counts (a failure before it was followed by another
reply, the reflection, and text the model wrote in its reply comes before its usage line), and
the empty answer, the one trigger printed before its usage line, counts only as the very line
before the last usage line, and only when that usage line says the model sent back nothing: a
reply that quotes aider's message has more lines after it, or tokens received.
"""

from __future__ import annotations

import re

_EDIT_FAILED = re.compile(
    r"^(The LLM did not conform to the edit format\.|# \d+ SEARCH/REPLACE blocks? failed to match!|"
    r"## SearchReplaceNoExactMatch: .*|Exception while updating files:.*)$"
)
_FIX_ASKED = re.compile(r"^Attempt to fix (?P<what>lint|test) errors\?")
_LINT_LINE = re.compile(r"^[^\s:][^:]*:\d+(?::\d+)?: .+")  # flake8 style: path:line:col: message
_GAVE_UP = re.compile(r"^Only \d+ reflections allowed, stopping\.")
_TOKEN_LIMIT = re.compile(r"^Model .+ has hit a token limit!")
_TOKEN_COUNTS = re.compile(r"^(Input|Output|Total) tokens: ~[\d,]+ of [\d,]+.*")
_EMPTY = re.compile(r"^Empty response received from LLM\.")
_NO_DATA = re.compile(r"^No data found in LLM response!")
KEPT = 6


class AiderStops:
    """What aider printed since the model's last usage line about a message it did not finish."""

    def __init__(self) -> None:
        self.problems: list[str] = []  # an edit that did not apply, lint/test errors to fix
        self.gave_up: str | None = None  # "Only 3 reflections allowed, stopping."
        self.token_limit: list[str] = []  # "Model M has hit a token limit!" and its counts
        self.empty: str | None = None  # the provider's empty answer, of the last reply
        self.no_data: str | None = None  # "No data found in LLM response!" (no usage line follows)
        self._empty_pending: str | None = None  # an empty-answer line no other line has followed

    def answered(self, received: int | None = None) -> None:
        """A usage line: the model answered (again); what was pending before was sent back.
        `received`: the tokens that line says the model sent back (None: not read)."""
        self.problems.clear()
        self.gave_up = None
        self.token_limit.clear()
        self.no_data = None
        self.empty = self._empty_pending if received == 0 else None
        self._empty_pending = None

    def line(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        self._empty_pending = None  # a line came after it: it was not the reply's last
        if _EMPTY.match(text):
            self._empty_pending = text
        elif _NO_DATA.match(text):
            self.no_data = text
        elif _TOKEN_LIMIT.match(text):
            self.token_limit = [text]
        elif self.token_limit and _TOKEN_COUNTS.match(text) and len(self.token_limit) < 4:
            self.token_limit.append(text)
        elif _GAVE_UP.match(text):
            self.gave_up = text
        elif (_EDIT_FAILED.match(text) or _FIX_ASKED.match(text) or _LINT_LINE.match(text)) \
                and len(self.problems) < KEPT and text not in self.problems:
            self.problems.append(text[:300])

    def ended(self) -> tuple[str, str] | None:
        """(error kind, message) when the run ended with its message unfinished, else None."""
        if self.token_limit:
            said = " ".join(self.token_limit)
            if "exceeded output limit" in said and "exhausted context window" not in said:
                fix = ("the model's reply outgrew its output limit; ask for smaller changes per task, "
                       "or use a model with a larger output limit")
            else:
                fix = ("the task's prompt and the files it needs do not fit the model's context "
                       "window; split the task into smaller ones (fewer or smaller files), or use a "
                       "model with a larger context window")
            return "context_exceeded", f"aider stopped: {said} -- {fix} (model = \"...\" of the agent)"
        if self.gave_up:
            said = "; ".join(self.problems) or "the model's last reply left a follow-up undone"
            return "edit_failed", (
                f"aider gave up on its edit ({self.gave_up!r}) after: {said}; what it did apply is "
                "left on the task's branch, unmerged. Retry the task, or make it smaller"
            )
        empty = self.empty or self.no_data
        if empty:
            return "api_error", f"aider: {empty} (the provider sent an empty answer: check your account's credits)"
        return None
