"""The `aider` adapter: `aider --message PROMPT --yes-always --no-auto-commits [--model M]`.

Facts about the real CLI this adapter is built on (aider 0.8x):

- `--message` runs one message and exits; aider has no JSON output, so success is exit code 0,
  and the completion contract comes from `$LAUNCHER_CONTRACT` or the final message (stdout).
- aider prints everything, its errors included, on stdout, and **exits 0 after an API error**:
  `--message` returns normally once litellm's exception was reported. Its own texts
  ("The API provider is not able to authenticate you. Check your API key.", the
  `litellm.AuthenticationError: ...` line, "No model specified and no API key found or
  configured.") are therefore looked for at the start of its lines whatever the exit code.
- aider retries a transient provider error itself (aider/exceptions.py marks RateLimitError,
  APIConnectionError, InternalServerError, ServiceUnavailableError, Timeout... as retryable):
  it prints the error, its description and "Retrying in N seconds...", and carries on. So only
  an error printed AFTER the model's last answer (its `Tokens: ...` usage line, an `Applied edit
  to` line) is the run's outcome: one before it was recovered from, as is such text in a reply
  or a diff the model printed before its usage line. Every `litellm.<Name>Error` counts (aider
  prints the exception's own text, and many kinds have no description of aider's).
- aider also exits 0 when it gave up on the message: an edit block that never applied, or lint
  errors it could not fix, after 3 "reflections" ("Only 3 reflections allowed, stopping."), the
  model's token limit ("Model M has hit a token limit!"), an empty answer (aider_stops.py):
  such a round fails (`edit_failed`, `context_exceeded`, `api_error`) in aider's words, so
  the work it left half done is never merged, nor the same prompt sent again.
- Without any API key and without `--model`, recent versions print "No LLM model was specified
  and no API keys were provided." and start OpenRouter's browser login: `--yes-always` answers
  its question silently, then 0.86 prints "Please open this URL in your browser to connect Aider
  with OpenRouter:" and "Waiting up to 5 minutes for you to finish in the browser..." (older ones:
  "Please open the following URL in your web browser to authorize Aider with OpenRouter"). A
  headless run can never finish that login: the round ends as soon as it is seen (`give_up`),
  reported naming the prompt and the fix (a key and a model).
- With `--yes-always` aider answers yes to every question; shell commands it proposes still need
  an explicit yes, so it never runs them here. Usage lines look like
  `Tokens: 2.4k sent, 1.1k cache hit, 102 received. Cost: $0.0087 message, $0.0087 session.`;
  a reply that both wrote and read the prompt cache has its `Cost: ...` on the next line. "sent"
  already holds the cache write, which is booked once, under `cache_write`.
- Headless extras: `--no-pretty --no-stream` (plain text), `--no-gitignore` (otherwise it adds
  `.aider*` to the task's `.gitignore`), `--no-dirty-commits`, `--no-check-update`,
  `--no-show-release-notes`, `--no-analytics`, and the chat/input history files go to the task's
  artifact directory. aider also keeps a tag cache (`.aider.tags.cache.v4/`) in the work tree:
  `.aider*` is added to the repository's `info/exclude` so the launcher never commits it.
"""

from __future__ import annotations

import math
import os
import re

from launcher.agents.aider_stops import AiderStops
from launcher.agents.auth_hints import provider_key_fix, with_login_hint
from launcher.agents.base import AgentOutcome, AgentRequest, Invocation, RoundLines
from launcher.agents.cli_common import answer_instructions, cli_env, command_prefix, finish, round_prompt
from launcher.agents.cli_options import with_option_hint
from launcher.agents.git_exclude import exclude_from_git
from launcher.agents.packet_access import packet_inside
from launcher.agents.provider_keys import model_provider_keys
from launcher.process import Supervised

BINARY = "aider"
INSTALL_HINT = "python -m pip install aider-install && aider-install"
EXCLUDE_PATTERN = ".aider*"
# aider's model settings and the providers' endpoints (not secrets), passed on when set. Of the
# provider keys aider (through litellm) reads, only the one of the agent's `model` (or the
# parent's AIDER_MODEL) is (provider_keys); any other must be named in the agent's `env`.
PASSTHROUGH = (
    "AIDER_MODEL", "AIDER_WEAK_MODEL", "AIDER_EDITOR_MODEL", "OPENAI_API_BASE", "OPENAI_BASE_URL",
    "AZURE_API_BASE", "AZURE_API_VERSION", "OLLAMA_API_BASE",
)
FINAL = (
    "aider cannot write outside the repository, so put that JSON object at the very end of your "
    "final reply, after any edits."
)

HEADLESS_FLAGS = (
    "--yes-always",
    "--no-auto-commits",
    "--no-dirty-commits",
    "--no-gitignore",
    "--no-pretty",
    "--no-stream",
    "--no-check-update",
    "--no-show-release-notes",
    "--no-analytics",
)

# aider's own texts for provider failures (aider/exceptions.py, aider/onboarding.py), each at the
# start of a line as aider prints them: never indented code or a diff line that mentions one.
_API_PATTERNS = tuple(re.compile(p, re.MULTILINE) for p in (
    # Every litellm exception's text starts "litellm.<Name>: " (litellm/exceptions.py), and aider
    # prints each one it gave up on (aider/exceptions.py lists all of litellm's, and refuses to
    # start when litellm has one it does not know): the class, not a list of names.
    r"^litellm\.[A-Za-z]+(?:Error|Timeout|Exception)\b.*",
    r"^The API provider is not able to authenticate you\..*",
    r"^The API provider has rate limited you\..*",
    r"^The API provider's servers are down or overloaded\..*",
    r"^The API provider timed out without returning a response\..*",
    r"^The API provider has refused the request due to a safety policy.*",
    r"^The API provider was unable to fetch one or more images\..*",
    r"^Permission was denied\. Check your API key.*",
    r"^No model specified and no API key found or configured\..*",
    r"^OpenRouter authentication did not complete successfully\..*",
))
# What aider prints once the model has answered: an error printed before it was recovered from.
_PROGRESS = re.compile(r"^(?:Tokens: .* sent, .* received\.|Applied edit to )", re.MULTILINE)
# aider's browser login (aider/onboarding.py), 0.86's wording first, then older ones.
_OAUTH_PROMPT = re.compile(
    r"^(Please open this URL in your browser to connect Aider with OpenRouter.*|"
    r"Waiting up to \d+ minutes for you to finish in the browser.*|"
    r"Login to OpenRouter or create a free account\?.*|"
    r"Authenticate with OpenRouter via browser.*|"
    r"Please open the following URL in your web browser to authorize Aider with OpenRouter.*|"
    r"No LLM model was specified and no API keys were provided.*)",
    re.MULTILINE,
)
_MISSING_ENV = re.compile(r"Missing these environment variables:\s*\n((?:\s*-\s*\S+\s*\n?)+)")

_NUM = r"[\d.]+[kKmM]?"
_USAGE = re.compile(
    rf"^Tokens: (?P<sent>{_NUM}) sent"
    rf"(?:, (?P<cache_write>{_NUM}) cache write)?"
    rf"(?:, (?P<cache_read>{_NUM}) cache hit)?"
    rf", (?P<received>{_NUM}) received\."
    r"(?: Cost: \$(?P<message>[\d.]+) message, \$(?P<session>[\d.]+) session\.)?",
    re.MULTILINE,
)
# aider prints the cost on a line of its own when a reply both wrote and read the prompt cache
# (base_coder.py calculate_and_show_tokens_and_cost, l.2063-2068: `sep = "\n"` when
# cache_hit_tokens and cache_write_tokens, else " "), the normal case with Anthropic's caching.
_COST = re.compile(r"^Cost: \$(?P<message>[\d.]+) message, \$(?P<session>[\d.]+) session\.")
# Lines of aider's own chatter, not of the model's reply.
_NOISE = re.compile(
    r"^(Aider v\d|Main model:|Weak model:|Editor model:|Model:|Git repo:|Repo-map:|"
    r"Tokens: |Cost: \$|Applied edit to |Commit [0-9a-f]{7}|Added .* to the chat|Use /help|"
    r"Cur working dir:|Git working dir:|Note: in-chat filenames|Warning: |"
    r"https://aider\.chat/HISTORY\.html|Retrying in |Only \d+ reflections allowed)"
)


def _count(text: str | None) -> int:
    if not text:
        return 0
    scale = 1
    if text[-1] in "kK":
        scale, text = 1000, text[:-1]
    elif text[-1] in "mM":
        scale, text = 1_000_000, text[:-1]
    try:
        value = float(text) * scale
    except ValueError:
        return 0
    return round(value) if math.isfinite(value) else 0  # 400 digits of 9s: not a count


def _money(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:  # "1.2.3": not a number aider printed
        return None
    return value if math.isfinite(value) else None


class AiderOutput:
    """What aider printed, read one stdout line at a time (every line as it streams, or the
    lines of the kept tail): usage summed over every message, the last `session` cost, its
    reports of provider failures since the model last answered (those before were recovered
    from) and the files it edited (the first EDITS_KEPT), bounded."""

    def __init__(self) -> None:
        self.tokens = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
        self.cost: float | None = None
        self.usage_seen = False
        self.api_lines: list[str] = []
        self.edits: list[str] = []
        self.login: str | None = None  # its OpenRouter browser login's first line, before any answer
        self._cost_next = False  # the last line was a Tokens line without its cost
        self.stops = AiderStops()  # a message it ended unfinished (a failed edit, a token limit)

    def line(self, raw: bytes | str) -> None:
        text = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).rstrip("\r")
        match = _USAGE.match(text)
        if match:
            self.api_lines.clear()  # the model answered: what failed before was retried
            self.usage_seen = True
            self.stops.answered(_count(match["received"]))
            # aider's "sent" already holds the cache write (base_coder.py l.2011-2012 adds
            # cache_write_tokens to message_tokens_sent): booked once, under cache_write.
            written = _count(match["cache_write"])
            self.tokens["input"] += max(0, _count(match["sent"]) - written)
            self.tokens["output"] += _count(match["received"])
            self.tokens["cache_read"] += _count(match["cache_read"])
            self.tokens["cache_write"] += written
            self.cost = _money(match["session"]) if match["session"] else self.cost
            self._cost_next = not match["session"]
            return
        cost = _COST.match(text) if self._cost_next else None
        self._cost_next = False
        if cost:  # the Tokens line's own cost, on the line right after it
            self.cost = _money(cost["session"])
            return
        self.stops.line(text)
        if self.login is None and not self.usage_seen and (login := _OAUTH_PROMPT.match(text)):
            self.login = login.group(0).strip()
        edit = _EDIT.match(text)
        if edit:
            self.api_lines.clear()
            if len(self.edits) < EDITS_KEPT:
                self.edits.append(edit.group(1))
        if len(self.api_lines) < API_LINES_KEPT:
            for pattern in _API_PATTERNS:
                found = pattern.search(text)
                if found and found.group(0).strip() not in self.api_lines:
                    self.api_lines.append(found.group(0).strip())

    def usage(self) -> tuple[dict[str, int] | None, float | None]:
        return (dict(self.tokens) if self.usage_seen else None), self.cost


EDITS_KEPT = 1000
API_LINES_KEPT = 20
_EDIT = re.compile(r"Applied edit to (.+)$")


def read_output(stdout: str) -> AiderOutput:
    """The lines of a whole text (the kept tail of stdout, when the adapter was not fed)."""
    seen = AiderOutput()
    for line in stdout.split("\n"):
        seen.line(line)
    return seen


def parse_usage(stdout: str) -> tuple[dict[str, int] | None, float | None]:
    """Tokens summed over every message of the run; cost = the last `session` total."""
    return read_output(stdout).usage()


def reply_text(stdout: str) -> str:
    """The model's reply: aider's output minus its banner, usage and edit bookkeeping lines."""
    kept = [line for line in stdout.splitlines() if not _NOISE.match(line.strip())]
    return "\n".join(kept).strip()


def api_error(output: str, earlier: list[str] | None = None) -> str | None:
    """aider's report of a provider failure (auth, quota, outage) it did not recover from, in
    its own words: one printed after the model's last answer (`_PROGRESS`), for aider retries
    transient errors itself (`earlier`: those the stdout lines read as they streamed left)."""
    answered = [match.end() for match in _PROGRESS.finditer(output)]
    recent = output[answered[-1] :] if answered else output
    found: list[str] = list(earlier or [])
    for pattern in _API_PATTERNS:
        for match in pattern.finditer(recent):
            line = match.group(0).strip()
            if line not in found:
                found.append(line)
    missing = _MISSING_ENV.search(output)
    if missing and not found and not _USAGE.search(output):
        names = [n.strip().lstrip("-").strip() for n in missing.group(1).splitlines() if n.strip()]
        found.append("Missing these environment variables: " + ", ".join(names))
    if not found:
        return None
    return " | ".join(found)[:1500]


def _login_prompt(output: str) -> str | None:
    """The line of aider's browser login that names it best: the URL prompt, else any other."""
    found = [m.group(0).strip() for m in _OAUTH_PROMPT.finditer(output)]
    urls = [line for line in found if "URL" in line]
    return (urls or found)[0] if found else None


def _tail_lines(text: str, n: int = 15) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-n:])


class AiderAdapter:
    name = "aider"
    binary = BINARY
    install_hint = INSTALL_HINT

    def __init__(self) -> None:
        self._lines = RoundLines(AiderOutput)

    def stdout_line(self, line: bytes) -> None:
        """Every stdout line as it streams (base.StreamingAdapter): the usage of every message
        is summed however long the output grows."""
        self._lines.feed(line)

    def give_up(self) -> str | None:
        """aider started OpenRouter's browser login (base.GivingUpAdapter): no headless run can
        finish it, so the round ends now instead of at a timeout (the wait is 5 minutes)."""
        return self._lines.peek().login

    def invocation(self, request: AgentRequest) -> Invocation:
        self._lines.fresh()
        request = packet_inside(request)
        config = request.config
        prompt = round_prompt(request, resumed=False) + "\n\n" + answer_instructions(request, final=FINAL)
        if prompt.lstrip()[:1] in ("/", "!"):
            # aider would run a leading /command or !shell line instead of sending it.
            prompt = "Task:\n" + prompt
        # The prompt always holds spaces, so argparse never takes it for an option.
        argv = [*command_prefix(request, BINARY), "--message", prompt, *HEADLESS_FLAGS]
        argv += [
            "--chat-history-file", str(request.artifacts / "aider.chat.history.md"),
            "--input-history-file", str(request.artifacts / "aider.input.history"),
        ]
        if request.packet_path is not None:
            # aider has no tool to open a file: a reviewer's packet is handed to it read-only.
            argv += ["--read", str(request.packet_path)]
        if config.model:
            argv += ["--model", config.model]
        argv += config.extra_args
        exclude_from_git(request.worktree, EXCLUDE_PATTERN)
        model = config.model or os.environ.get("AIDER_MODEL")
        passthrough = (*PASSTHROUGH, *model_provider_keys(model))
        return Invocation(argv, cli_env(request, passthrough=passthrough))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        return with_option_hint(self._outcome(request, result), request, "aider", result.stderr, result.stdout)

    def _outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        stdout, stderr = result.stdout, result.stderr
        output = stdout + "\n" + stderr
        seen = self._lines.read(lambda: read_output(stdout))
        tokens, cost = seen.usage()
        if result.timed_out or result.stalled or result.gave_up:
            prompt = _login_prompt(output)
            if prompt:
                return AgentOutcome(
                    False, "api_error",
                    f"aider found no API key and waited at OpenRouter's browser login "
                    f"({prompt!r}); set your provider's key (e.g. "
                    f"ANTHROPIC_API_KEY) in the launcher's environment and model = \"...\" in "
                    f"[agents.{request.agent_name}]",
                    tokens=tokens, cost_usd=cost,
                )
            return finish(AgentOutcome(False, tokens=tokens, cost_usd=cost), result)
        stopped = seen.stops.ended()
        if stopped and stopped[0] == "context_exceeded":  # the run's end: whatever was printed before
            return AgentOutcome(
                False, stopped[0], stopped[1], final_text=reply_text(stdout), tokens=tokens, cost_usd=cost,
                extra={"applied_edits": seen.edits},
            )
        problem = api_error(output, seen.api_lines)
        if problem:
            model = request.config.model or os.environ.get("AIDER_MODEL")
            return AgentOutcome(
                False, "api_error", with_login_hint(f"aider: {problem}", provider_key_fix(request.agent_name, model)),
                final_text=reply_text(stdout),
                tokens=tokens, cost_usd=cost,
            )
        if result.returncode != 0:
            tail = _tail_lines(stderr) or _tail_lines(stdout)
            return AgentOutcome(
                False, "crashed", f"aider exited with code {result.returncode}: {tail}".rstrip(": "),
                final_text=reply_text(stdout), tokens=tokens, cost_usd=cost,
            )
        if stopped:  # it gave up on an edit or fix, or the provider answered nothing: exit 0 still
            return AgentOutcome(
                False, stopped[0], stopped[1], final_text=reply_text(stdout), tokens=tokens, cost_usd=cost,
                extra={"applied_edits": seen.edits},
            )
        return AgentOutcome(
            True, message="aider finished (exit code 0)", final_text=reply_text(stdout),
            tokens=tokens, cost_usd=cost, extra={"applied_edits": seen.edits},
        )
