"""Shared by the benchmarks (run as `python bench/<name>.py`, so this directory is on sys.path):
the environment of every command they run, with a fixed git identity and no system git config."""

from __future__ import annotations

import os

GIT_SETTINGS = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}


def bench_env(drop: tuple[str, ...], extra: dict[str, str] | None = None) -> dict[str, str]:
    """Ours, minus the variables starting with one of `drop`, plus the git settings and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(GIT_SETTINGS)
    env.update(extra or {})
    return env
