"""How long one git command of the launcher may run, and what it says when git is stopped at it.

The limit is there for a git that hangs (a lock, a filter or credential helper waiting on the
network), never for a big repository: git's work on a checkout (checkout, read-tree, status,
worktree remove, clean) grows with the number of tracked files, so the default grows with it.
It is 600 s plus 100 s per MiB of the repository's index (an index holds about 10,000 paths a
MiB: 60,000 files give about 20 minutes). `LAUNCHER_GIT_TIMEOUT` (seconds; `0`: no limit) sets
it instead, for every launcher command, as `LAUNCHER_GIT_NAME` sets the identity.

A git stopped at the limit is no answer: `GitRepo.git` raises GitTimedOut for it, `check` or not
(a killed `merge-base --is-ancestor` is not a "no"), unless the caller handles it
(`timed_out_ok`) and words it with `stopped_words`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from launcher.errors import ConfigError, GitTimedOut

VARIABLE = "LAUNCHER_GIT_TIMEOUT"
BASE_S = 600.0
PER_INDEX_MIB_S = 100.0
HOW_TO_RAISE = (f"if git is working, only slowly (a big checkout, a slow or busy disk), raise the limit: set "
                f"{VARIABLE}=SECONDS (0: no limit) in the environment of the launcher command and run it again "
                "(for a run: `launcher resume RUN`, with `--retry-failed` for the tasks that failed of it); if git "
                "hangs, see what it waits for (a lock, a filter or credential helper)")


def from_environment() -> tuple[bool, float | None]:
    """(whether `LAUNCHER_GIT_TIMEOUT` is set, the limit it sets: seconds, None for 0: no limit)."""
    raw = os.environ.get(VARIABLE, "").strip()
    if not raw:
        return False, None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{VARIABLE}={raw!r} is not a number of seconds", where=f"environment: {VARIABLE}",
                          fix=f"set {VARIABLE} to the seconds one git command may take (0: no limit), or unset it "
                              f"for the default ({BASE_S:g} s plus {PER_INDEX_MIB_S:g} s per MiB of the index)",
                          error_key="config_invalid:git_timeout")
    return True, (None if seconds == 0 else seconds)


def repository_limit(git_dir: Path) -> float | None:
    """The limit for a repository whose index is in `git_dir`: `LAUNCHER_GIT_TIMEOUT`, else the
    default, grown with the size of its index."""
    is_set, chosen = from_environment()
    if is_set:
        return chosen
    try:
        size = (git_dir / "index").stat().st_size
    except OSError:
        size = 0
    return BASE_S + PER_INDEX_MIB_S * size / (1 << 20)


def how_set(own_limit: bool) -> str:
    """Where the limit a git was stopped at comes from, for a message."""
    if own_limit:
        return "the time limit of this command"
    if from_environment()[0]:
        return f"the launcher's time limit for one git command, set by {VARIABLE}"
    return (f"the launcher's time limit for one git command: {BASE_S:g} s plus {PER_INDEX_MIB_S:g} s per MiB "
            f"of the repository's index; {VARIABLE} sets it")


def stopped_words(args: tuple[str, ...] | list[str], limit: float | None, own_limit: bool = False,
                  idle: bool = False) -> str:
    """What a git stopped at its time limit did, in a sentence: "`git read-tree ...` timed out:
    it was stopped after 600 s (...)"; with `idle` (a limit on its silence), "... it printed
    nothing for 600 s ..."."""
    shown = " ".join(args)
    shown = shown if len(shown) <= 200 else shown[:200] + "..."
    how_long = f"printed nothing for {seconds_words(limit or 0)} s and was stopped" if idle else \
        f"was stopped after {seconds_words(limit or 0)} s"
    return f"`git {shown}` timed out: it {how_long} ({how_set(own_limit)})"


def seconds_words(limit: float) -> str:
    """A limit as a person reads it: whole seconds, but a limit under 10 s as set (0.25, not 0)."""
    return f"{limit:.0f}" if limit >= 10 else f"{limit:.3g}"


def timed_out(args: tuple[str, ...] | list[str], limit: float | None, own_limit: bool, where: str,
              idle: bool = False) -> GitTimedOut:
    return GitTimedOut(stopped_words(args, limit, own_limit, idle), where=where,
                       fix="see why it took that long" if own_limit else HOW_TO_RAISE)
