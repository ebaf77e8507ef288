"""Adapter lookup by name. One module per adapter; this maps names to them."""

from __future__ import annotations

from launcher.agents.base import AgentAdapter
from launcher.agents.command import CommandAdapter
from launcher.agents.scripted import ScriptedAdapter
from launcher.errors import EnvironmentProblem

_ADAPTERS: dict[str, type] = {"command": CommandAdapter, "scripted": ScriptedAdapter}


def get_adapter(name: str) -> AgentAdapter:
    try:
        return _ADAPTERS[name]()
    except KeyError:
        raise EnvironmentProblem(
            f"the {name!r} adapter is not available in this version",
            fix="use the command adapter with the CLI's argv, or the scripted agent",
        ) from None
