"""Repository defaults: `launcher.toml`, or `[tool.launcher]` in `pyproject.toml`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from launcher.errors import ConfigError
from launcher.models.plan import AgentConfig, Strict


class GradingConfig(Strict):
    iteration_cap: int = Field(default=3, ge=1)
    grader: str | None = None


class MergeConfig(Strict):
    strategy: Literal["merge", "squash", "rebase"] = "merge"
    integration_check: str | None = None
    # The merge queue (README "Merge queue"): candidates folded per integration check (None:
    # all that are ready), and what a conflicting task gets ("agent": a resolution round).
    batch: int | None = Field(default=None, ge=1)
    on_conflict: Literal["agent", "keep"] = "keep"


class MutationConfig(Strict):
    judge: str | None = None  # the agent `launcher mutation judge` asks (else --agent)
    judge_batch: int = Field(default=25, ge=1)  # survivors per judge call
    # `launcher mutation sweep` defaults (its flags win): extra pytest arguments that keep the
    # fast path, the interpreter, a custom test command
    pytest_args: list[str] = Field(default_factory=list)
    python: str | None = None
    test_cmd: str | None = None


class RepoConfig(Strict):
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    default_agent: str | None = None  # the agent of `launcher run --task` without --agent
    worktree_root: str | None = None
    setup: str | None = None
    include_file: str = ".worktreeinclude"
    log_cap_mb: float = Field(default=8.0, gt=0)
    grading: GradingConfig = Field(default_factory=GradingConfig)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    mutation: MutationConfig = Field(default_factory=MutationConfig)


def load_repo_config(root: Path) -> RepoConfig:
    """Read launcher.toml (preferred) or pyproject's [tool.launcher]; defaults if neither."""
    for path, section in ((root / "launcher.toml", None), (root / "pyproject.toml", "launcher")):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", where=str(path), fix="fix the syntax") from None
        if section is not None:
            data = data.get("tool", {}).get(section)
            if data is None:
                continue
        try:
            return RepoConfig.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                first["msg"], where=f"{path}: {key}", fix="see README, 'Repository config'"
            ) from None
    return RepoConfig()
