"""Interactive prompts in what an agent printed: a DIAGNOSIS of a killed agent, never a reason
to kill one.

An agent's stdin is /dev/null, so a CLI stopped at a question ("Overwrite? [y/N] ") never goes
on: it ends at the wall-clock or the inactivity timeout like any silent agent, and the reason
then names the prompt its output ended with. The prompt alone is no evidence that the agent still
waits: a program reading /dev/null gets EOF at once and may go on with a default answer, then
work silently (a download, a build in another process group), so it is never killed for it.
"""

from __future__ import annotations

import re

from launcher.process import Supervised

# Interactive prompts an agent CLI can block on when it should not (a folder-trust question, a
# login flow, a tool approval).
_PROMPTS = (
    r"Do you trust the files in this folder\?",
    r"Do you trust this folder\?",
    r"trust (?:this|the) (?:folder|directory|workspace)",
    r"Allow (?:this )?command\??",
    r"Do you want to (?:proceed|allow|make this edit|create)[^\n]*\?",
    r"Waiting for (?:user )?(?:approval|confirmation|authentication)[^\n]*",
    r"Press (?:Enter|any key)[^\n]*",
    r"\(y/n\)|\[y/N\]|\[Y/n\]",
    r"Please visit the following URL[^\n]*",
    r"Enter the authorization code[^\n]*",
    r"Select (?:an option|a theme|login method)[^\n]*",
)
_PROMPT_RE = re.compile("|".join(f"(?:{p})" for p in _PROMPTS), re.IGNORECASE)
# The last line of a menu drawn by a CLI waiting for a key (Claude Code's and Gemini's dialogs).
_KEY_HINT_RE = re.compile(
    r"(?:Enter to (?:confirm|select|continue)|Press (?:Enter|any key)|Esc to (?:exit|cancel))[^\n]*",
    re.IGNORECASE,
)


# A stall names a prompt only if it is in this many last non-empty lines (a menu follows its
# question); a prompt mentioned earlier (prose, a command's output) is not what it waits at.
_RECENT_LINES = 5


def detect_prompt(text: str) -> str | None:
    """The last interactive prompt in `text`, if any."""
    found = None
    for match in _PROMPT_RE.finditer(text[-4096:]):
        found = match.group(0).strip()
    return found


def pending_prompt(text: str) -> str | None:
    """The prompt `text` (the end of what an agent printed) leaves waiting for an answer:

    - a question on its last line with no newline after it, where a program asking one leaves
      the cursor (`Overwrite config? [y/N] `), the prompt ending that line (the line is named); or
    - a menu whose last line is a bare key hint (`Enter to confirm · Esc to exit`): then the
      question in the last few lines is named.

    A prompt followed by more text or a newline (a line of prose, a JSON event quoting one, a
    command's output) is not waiting."""
    text = text[-4096:].rstrip(" \t")
    if not text:
        return None
    if not text.endswith(("\n", "\r")):
        last = text.replace("\r", "\n").rsplit("\n", 1)[-1]
        ends = [m for m in _PROMPT_RE.finditer(last) if not last[m.end() :].strip(" \t:>?»›")]
        return last.strip()[-200:] if ends else None  # the whole question names it best
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]
    if lines and _KEY_HINT_RE.fullmatch(lines[-1]):
        return recent_prompt(text) or lines[-1]
    return None


def recent_prompt(text: str) -> str | None:
    """A prompt in the last few non-empty lines of `text` (a stalled agent's last output)."""
    lines = [line for line in text[-4096:].replace("\r", "\n").split("\n") if line.strip()]
    return detect_prompt("\n".join(lines[-_RECENT_LINES:]))


def prompt_diagnosis(result: Supervised) -> str | None:
    """For an agent killed by a timeout: what to say about the prompt its output ended with
    (`pending_prompt` of the stream it printed to last), or None if it did not end with one."""
    if not (result.timed_out or result.stalled):
        return None
    text = result.stderr if result.last_stream == "stderr" else result.stdout
    prompt = pending_prompt(text)
    if prompt is None:
        return None
    return (
        f"its last output was an interactive prompt: {prompt!r}; stdin is /dev/null, so no "
        "answer ever came: run the CLI by hand once (login, trust the folder) or pass it the "
        "flag that skips the question"
    )
