"""Which values of the launcher's environment went to an agent or a check, for masking them
wherever their output is reported (`launcher.models.redact`).

`round_secrets`: what one round's process got from the launcher's environment beyond the
allowlist (the agent's `env` names, its CLI's login variables, a provider key), exactly as
given. `plan_secrets`: for a report made later from the journal (the summary, `--json`, the
export manifest), the names the plan passes (every `env` and `check_env`) and the credentials
the adapters pass without being told (their names hold KEY, TOKEN, SECRET, PASSWORD or HEADERS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from launcher.agents import aider, claude, codex, gemini, opencode
from launcher.agents.base import ENV_ALLOWLIST
from launcher.agents.provider_keys import PROVIDER_VARIABLES
from launcher.models.redact import plan_passed_names, secret_values

_CREDENTIAL_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "HEADERS")
ADAPTER_CREDENTIALS = frozenset(
    name for names in (*PROVIDER_VARIABLES.values(), aider.PASSTHROUGH, claude.PASSTHROUGH, codex.PASSTHROUGH,
                       gemini.PASSTHROUGH, opencode.PASSTHROUGH)
    for name in names if any(word in name for word in _CREDENTIAL_WORDS)
)  # fmt: skip


def round_secrets(env: Mapping[str, str], parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """value -> name of what `env` (a round's environment) took from `parent` (the launcher's)
    beyond the allowlist: those values are the agent's secrets, masked in what is reported."""
    parent = os.environ if parent is None else parent
    names = [name for name, value in env.items()
             if name not in ENV_ALLOWLIST and not name.startswith(("LC_", "LAUNCHER_"))
             and parent.get(name) == value]  # fmt: skip
    return secret_values(names, parent)


def plan_secrets(plan: Any, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """value -> name of the variables a plan's agents and checks get from `parent`."""
    parent = os.environ if parent is None else parent
    return secret_values(sorted(plan_passed_names(plan) | ADAPTER_CREDENTIALS), parent)
