"""Whether a supervised agent is stuck at an interactive prompt it will never get an answer to.

An agent's stdin is /dev/null, so a CLI that stops at a question ("Overwrite? [y/N] ") never
proceeds. Output that merely MENTIONS a prompt (a model's prose, a command's output, a JSON
event quoting one) is not that: the agent is judged stuck only on evidence that it is waiting:

- the prompt is the last thing it printed, on a line with no newline after it (a program that
  asks a question leaves the cursor after it; every event line of a JSON-streaming CLI ends
  with a newline);
- since then it has printed nothing for `grace_s` seconds; and
- its process group has used no CPU over those `grace_s` seconds (a process reading stdin or
  waiting for a keypress uses none; one running tests or compiling does). Where the group's CPU
  time cannot be read (no Linux /proc of this pid namespace) there is no such evidence, and
  only the configured inactivity timeout ends a silent agent.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# Default seconds of silence and CPU idleness after a prompt before the agent is killed.
PROMPT_GRACE_S = 5.0
# CPU the group may use over the grace and still count as idle (clock ticks are 10 ms; a waiting
# Node or Python process may wake for a timer or a GC).
IDLE_CPU_S = 0.05
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float | None:
    """CPU time (user + system, with that of reaped children) of the processes in group `pgid`;
    None where /proc cannot tell (not Linux, or /proc of another pid namespace)."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return None
        entries = os.listdir("/proc")
    except OSError:
        return None
    ticks = 0
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        # utime stime cutime cstime ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 14 and fields[2] == str(pgid).encode():
            try:
                ticks += sum(int(f) for f in fields[11:15])
            except ValueError:
                continue
    return ticks / _TICKS


class PromptWatch:
    """Decides, tick by tick, whether a supervised group is stuck at a prompt (see the module).

    `detector(text)` names the prompt that `text` (the end of the stream written last) ends
    with, unanswered, or returns None. `cpu(pgid)` measures the group (`group_cpu_seconds`)."""

    def __init__(
        self,
        pgid: int,
        detector: Callable[[str], str | None],
        grace_s: float = PROMPT_GRACE_S,
        cpu: Callable[[int], float | None] = group_cpu_seconds,
    ) -> None:
        self.pgid = pgid
        self.detector = detector
        self.grace_s = grace_s
        self.cpu = cpu
        self._seen: float | None = None  # the output (its last activity time) already examined
        self._prompt: str | None = None
        self._since = 0.0  # when the CPU sample was taken
        self._cpu: float | None = None

    def needs_text(self, last_output: float) -> bool:
        """Whether the output changed since it was last examined (then `check` wants its text)."""
        return last_output != self._seen

    def check(self, now: float, last_output: float, text: str | None) -> str | None:
        """The prompt the group is stuck at, once the evidence is complete; else None.

        `last_output`: when the agent last printed (monotonic); `text`: the end of the stream it
        printed to last, needed only when `needs_text` says so."""
        if last_output != self._seen:
            self._seen, self._cpu = last_output, None
            self._prompt = self.detector(text) if text is not None else None
        if self._prompt is None:
            return None
        if self._cpu is None:  # first look at this prompt: the CPU baseline
            self._since, self._cpu = now, self.cpu(self.pgid)
            if self._cpu is None:  # no evidence to be had: never judged stuck on this prompt
                self._prompt = None
            return None
        if now - self._since < self.grace_s or now - last_output < self.grace_s:
            return None
        used = self.cpu(self.pgid)
        if used is None:
            self._prompt = None
            return None
        if used - self._cpu > IDLE_CPU_S:  # working (a test run, a build): look again later
            self._since, self._cpu = now, used
            return None
        return self._prompt
