"""`launcher agents [--json]`: which adapters exist, which agent CLIs are on PATH, their versions,
and how to install what is missing. No printing here: the CLI renders the list."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

from launcher import process
from launcher.agents.base import ENV_ALLOWLIST
from launcher.git.repo import GitRepo, NoRepositoryHere
from launcher.models.config import load_repo_config
from launcher.models.plan import AgentConfig

VERSION_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CliSpec:
    adapter: str
    binary: str
    install_hint: str


# The agent CLIs the built-in adapters drive, with their vendors' install commands.
CLIS: tuple[CliSpec, ...] = (
    CliSpec("claude", "claude", "npm install -g @anthropic-ai/claude-code"),
    CliSpec("codex", "codex", "npm install -g @openai/codex"),
    CliSpec("gemini", "gemini", "npm install -g @google/gemini-cli"),
    CliSpec("aider", "aider", "python -m pip install aider-install && aider-install"),
    CliSpec("opencode", "opencode", "npm install -g opencode-ai"),
)
_BY_ADAPTER = {spec.adapter: spec for spec in CLIS}
_BY_BINARY = {spec.binary: spec for spec in CLIS}
COMMAND_HINT = 'add [agents.<name>] with adapter = "command" and command = ["program", "{prompt}"]'
ACP_HINT = (
    'add [agents.<name>] with adapter = "acp" and command = [...] naming an agent that speaks '
    'the Agent Client Protocol on stdio, e.g. ["gemini", "--acp"] (gemini before --acp: '
    '"--experimental-acp")'
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class AgentInfo:
    """One row of `launcher agents`."""

    name: str  # the adapter, or a configured agent's name
    adapter: str
    binary: str | None  # the program that is run (None: built in, or not configured)
    found: bool  # whether it can be run here
    path: str | None = None  # where it was found
    version: str | None = None  # first line of `<binary> --version`
    install_hint: str | None = None  # what to do when it is missing
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lookup(binary: str, search_path: str | None) -> str | None:
    if os.sep in binary:
        return binary if os.path.isfile(binary) and os.access(binary, os.X_OK) else None
    return shutil.which(binary, path=search_path)


def _version_env(search_path: str | None) -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_ALLOWLIST if k in os.environ}
    if search_path is not None:
        env["PATH"] = search_path
    env["NO_COLOR"] = "1"
    return {k: v for k, v in env.items() if not k.startswith("GIT_")}


async def _version(info: AgentInfo, search_path: str | None, timeout_s: float) -> None:
    assert info.path is not None
    try:
        done = await process.run(
            [info.path, "--version"], env=_version_env(search_path), timeout=timeout_s,
            max_output=64 * 1024, grace_s=1.0,
        )
    except OSError as exc:
        info.found = False
        info.note = f"cannot run {info.path}: {exc.strerror}"
        return
    if done.timed_out:
        info.note = f"`{info.binary} --version` did not answer within {timeout_s:g}s"
        return
    lines = [_ANSI.sub("", line).strip() for line in (done.text or done.err).splitlines()]
    first = next((line for line in lines if line), "")
    if done.returncode != 0:
        info.note = f"`{info.binary} --version` failed (exit {done.returncode}): {first[:200]}".rstrip(": ")
        return
    info.version = first[:120] or None


def _builtin_rows(search_path: str | None) -> list[AgentInfo]:
    rows = [
        AgentInfo("scripted", "scripted", None, True, note="built in (deterministic, for demos and tests)"),
        AgentInfo("command", "command", None, False, install_hint=COMMAND_HINT,
                  note="any executable; needs a command in the agent's config"),
    ]
    for spec in CLIS:
        path = _lookup(spec.binary, search_path)
        rows.append(AgentInfo(
            spec.adapter, spec.adapter, spec.binary, path is not None, path=path,
            install_hint=None if path else spec.install_hint,
            note="" if path else f"{spec.binary} is not on PATH",
        ))
    rows.append(AgentInfo("acp", "acp", None, False, install_hint=ACP_HINT,
                          note="any Agent Client Protocol agent; needs a command in the agent's config"))
    return rows


def _configured_row(name: str, config: AgentConfig, search_path: str | None) -> AgentInfo:
    adapter = config.adapter
    spec = _BY_ADAPTER.get(adapter)
    if adapter == "scripted":
        return AgentInfo(name, adapter, None, True, note="built in")
    if config.command:
        binary = config.command[0]
    elif spec is not None:
        binary = spec.binary
    else:
        how = ACP_HINT if adapter == "acp" else COMMAND_HINT
        return AgentInfo(name, adapter, None, False, install_hint=how,
                         note=f"agents.{name} has no command")
    path = _lookup(binary, search_path)
    known = spec or _BY_BINARY.get(os.path.basename(binary))
    hint: str | None = None
    if path is None:
        hint = known.install_hint if known else f"install {binary} or fix agents.{name}.command"
    return AgentInfo(name, adapter, binary, path is not None, path=path, install_hint=hint,
                     note="" if path else f"{binary} is not on PATH")


async def describe_agents(
    configs: Mapping[str, AgentConfig] | None = None,
    *,
    search_path: str | None = None,
    version_timeout_s: float = VERSION_TIMEOUT_S,
) -> list[AgentInfo]:
    """Every adapter, then every configured agent (`[agents.<name>]` of the plan or
    launcher.toml), with where its CLI is, its version, and how to install it if it is missing.

    `search_path` replaces $PATH for the lookups (default: the current PATH). Versions are
    asked of the known agent CLIs only (`<binary> --version`, bounded by `version_timeout_s`),
    all at once; an arbitrary configured program is not run.
    """
    rows = _builtin_rows(search_path)
    for name, config in (configs or {}).items():
        rows.append(_configured_row(name, config, search_path))
    probe: dict[str, list[AgentInfo]] = {}
    for row in rows:
        if row.path and row.binary and os.path.basename(row.binary) in _BY_BINARY:
            probe.setdefault(row.path, []).append(row)

    async def ask(rows_for_path: list[AgentInfo]) -> None:
        first = rows_for_path[0]
        await _version(first, search_path, version_timeout_s)
        for other in rows_for_path[1:]:
            other.found, other.version, other.note = first.found, first.version, first.note

    async with anyio.create_task_group() as tg:
        for group in probe.values():
            tg.start_soon(ask, group)
    return rows


async def agents_here(cwd: Path) -> list[AgentInfo]:
    """Built-in adapters plus the agents configured in this repository (if we are in one)."""
    try:
        repo = await GitRepo.discover(cwd)
    except NoRepositoryHere:  # a repository git refuses is reported, never listed without its agents
        return await describe_agents()
    return await describe_agents(load_repo_config(repo.root).agents)
