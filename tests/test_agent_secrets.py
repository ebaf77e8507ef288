"""An agent gets the parent's secrets only when its config names them.

The parent environment reaches an agent through a small allowlist plus the variables its config
names in `env`. A single-vendor CLI (Claude Code, Codex, Gemini) also gets its own vendor's login
variables. aider and opencode, which talk to any provider, get the API key of the provider of the
agent's `model` only (`anthropic/...` -> ANTHROPIC_API_KEY), none without a model. GITHUB_TOKEN,
cloud secrets and other providers' keys never reach an agent unless named.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport

FAKES = Path(__file__).parent / "fakes"
SECRETS = {
    "GITHUB_TOKEN": "ghp_usersecret", "AWS_SECRET_ACCESS_KEY": "aws-secret", "UNRELATED_SECRET": "nope",
    "ANTHROPIC_API_KEY": "sk-ant", "OPENAI_API_KEY": "sk-openai", "OPENROUTER_API_KEY": "sk-or",
    "GROQ_API_KEY": "gsk",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _parent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def received(repo: Path, tmp_path: Path, agents: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """The secrets (of SECRETS) each task's agent process was started with (task id = agent name)."""
    log = tmp_path / "argv.jsonl"
    for config in agents.values():
        config["set_env"] = {"FAKE_ARGV_LOG": str(log)}
    tasks = [{"id": name, "agent": name, "prompt": "p"} for name in agents]
    plan = validate_plan({"agents": agents, "task": tasks}, "test plan")
    report: RunReport = anyio.run(start_run, repo, plan, RunOptions(merge=False), lambda _e: None)
    assert all(t.state != "failed" for t in report.tasks), [(t.id, t.message) for t in report.tasks]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return {call["env"]["LAUNCHER_TASK_ID"]: {k for k in call["env"] if k in SECRETS} for call in calls}


def test_opencode_and_aider_get_only_the_key_of_their_models_provider(repo: Path, tmp_path: Path) -> None:
    agents: dict[str, dict[str, Any]] = {
        "oc-anthropic": {"adapter": "opencode", "model": "anthropic/claude-sonnet-4-5"},
        "oc-no-model": {"adapter": "opencode"},
        "ai-openrouter": {"adapter": "aider", "model": "openrouter/anthropic/claude-sonnet-4"},
        "ai-alias": {"adapter": "aider", "model": "sonnet"},
    }
    assert received(repo, tmp_path, agents) == {
        "oc-anthropic": {"ANTHROPIC_API_KEY"},
        "oc-no-model": set(),
        "ai-openrouter": {"OPENROUTER_API_KEY"},
        "ai-alias": {"ANTHROPIC_API_KEY"},
    }


@pytest.mark.parametrize(
    ("model", "key"),
    [
        *[(alias, "OPENAI_API_KEY") for alias in ("4", "4o", "4-turbo", "35turbo", "35-turbo", "3")],
        *[(alias, "ANTHROPIC_API_KEY") for alias in ("sonnet", "haiku", "opus")],
        *[(alias, "OPENROUTER_API_KEY") for alias in ("quasar", "optimus")],
    ],
)
def test_aider_gets_the_key_of_the_provider_of_its_own_model_aliases(
    repo: Path, tmp_path: Path, model: str, key: str
) -> None:
    # aider's MODEL_ALIASES: "4-turbo" is gpt-4-1106-preview, "quasar" openrouter/openrouter/quasar-alpha.
    assert received(repo, tmp_path, {"ai": {"adapter": "aider", "model": model}}) == {"ai": {key}}


def test_every_alias_aider_defines_names_a_provider() -> None:
    from launcher.agents.provider_keys import provider_of

    providers = {alias: provider_of(alias) for alias in (
        "sonnet", "haiku", "opus", "4", "4o", "4-turbo", "35turbo", "35-turbo", "3", "deepseek", "flash",
        "flash-lite", "quasar", "r1", "gemini-2.5-pro", "gemini-3-pro-preview", "gemini", "gemini-exp", "grok3",
        "optimus")}  # fmt: skip
    assert {alias: p for alias, p in providers.items() if p is None} == {}
    assert (providers["grok3"], providers["r1"], providers["flash-lite"]) == ("xai", "deepseek", "gemini")


def test_a_secret_reaches_an_agent_when_its_config_names_it(repo: Path, tmp_path: Path) -> None:
    agents: dict[str, dict[str, Any]] = {
        "oc": {"adapter": "opencode", "model": "groq/llama-3.3-70b", "env": ["GITHUB_TOKEN", "OPENAI_API_KEY"]},
    }
    assert received(repo, tmp_path, agents) == {"oc": {"GROQ_API_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"}}
