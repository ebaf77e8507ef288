"""Repository defaults: `launcher.toml`, or `[tool.launcher]` in `pyproject.toml`."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator

from launcher.errors import ConfigError
from launcher.models.decoding import read_document, toml_loads
from launcher.models.plan_checks import command_problems
from launcher.models.plan_schema import BUILTIN_ADAPTERS, AgentConfig, Iterations, Plan, RunSettings, Seconds, Strict
from launcher.models.problems import Problem, did_you_mean, problems_of, raise_problems

CONFIG_FIX = "see README, 'Repository config'"
DEFAULT_CHECK_TIMEOUT_S = 1800.0  # one run of the integration check


class GradingConfig(Strict):
    iteration_cap: Iterations = 3
    grader: str | None = None


class MergeConfig(Strict):
    strategy: Literal["merge", "squash", "rebase"] = "merge"
    integration_check: str | None = None
    # The merge queue (README "Merge queue"): candidates folded per integration check (None:
    # all that are ready), and what a conflicting task gets ("agent": a resolution round).
    batch: Annotated[int, Field(ge=1, le=10_000)] | None = None  # as a plan's [run] batch
    on_conflict: Literal["agent", "keep"] = "keep"
    # How long one run of the integration check may take; over it, that run fails (and its
    # batch is bisected as for any failure).
    integration_check_timeout_s: Seconds = DEFAULT_CHECK_TIMEOUT_S


class MutationConfig(Strict):
    judge: str | None = None  # the agent `launcher mutation judge` asks (else --agent)
    judge_batch: int = Field(default=25, ge=1, le=10_000)  # survivors per judge call
    # `launcher mutation sweep` defaults (its flags win): extra pytest arguments that keep the
    # fast path, the interpreter, a custom test command
    pytest_args: list[str] = Field(default_factory=list)
    python: str | None = None
    test_cmd: str | None = None

    # Refused when the file is read: unchecked, a NUL ended a sweep already journaled with an
    # exec error naming no setting, and an empty command (`sh -c ""` passes) with a sanity
    # failure blaming the tests' imports.
    @field_validator("pytest_args", "python", "test_cmd")
    @classmethod
    def _no_nul(cls, value: list[str] | str | None) -> list[str] | str | None:
        for item in [value] if isinstance(value, str) else value or []:
            if "\0" in item:
                raise ValueError(f"{item!r} holds a NUL character (\\u0000), which no command can carry; remove it")
        return value

    @field_validator("test_cmd")
    @classmethod
    def _a_command(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("test_cmd is empty, and an empty command passes whatever the code does: name the "
                             "command that runs the tests, or delete the key (the sweep then runs pytest)")
        return value


class WorkflowConfig(Strict):
    # the project's test command, run on a workflow phase's result (test/results.json)
    test_command: str | None = None


class RepoConfig(Strict):
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    default_agent: str | None = None  # the agent of `launcher run --task` without --agent
    worktree_root: str | None = None
    setup: str | None = None
    include_file: str = ".worktreeinclude"
    # At least 1 KiB (a smaller cap keeps nothing of a log), at most 1 TiB.
    log_cap_mb: Annotated[float, Field(ge=1 / 1024, le=1024 * 1024)] = 8.0
    grading: GradingConfig = Field(default_factory=GradingConfig)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    mutation: MutationConfig = Field(default_factory=MutationConfig)
    # workflow roles -> agent names; "default" serves every role not named
    roles: dict[str, str] = Field(default_factory=dict)
    workflow: WorkflowConfig = Field(default_factory=WorkflowConfig)


def _plan_key_hints() -> dict[str, str]:
    """Where a plan's key written in launcher.toml belongs: a plan's [run] or [[task]], or the
    launcher.toml table that holds the same default (`grader` is `[grading] grader` here)."""
    hints = {"run": "[run] is a table of a plan (one run's settings); launcher.toml holds the defaults of "
                    "every run: [grading], [merge] and top-level keys",
             "task": "tasks belong in a plan file (`launcher run plan.toml`), not in launcher.toml",
             "tasks": "tasks belong in a plan file (`launcher run plan.toml`), not in launcher.toml"}
    for key in RunSettings.model_fields:
        if key in RepoConfig.model_fields:
            continue  # `setup` is valid in both
        tables = [name for name, field in RepoConfig.model_fields.items()
                  if isinstance(field.annotation, type) and issubclass(field.annotation, Strict)
                  and key in field.annotation.model_fields]
        hints[key] = (f"in launcher.toml `{key}` goes in [{tables[0]}]" if tables
                      else f"`{key}` is a plan's [run] setting (launcher.toml has no default for it)")
    return hints


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _section(data: dict[str, Any], path: Path) -> Any:
    """`[tool.launcher]` of a pyproject.toml (None when absent); a `tool` that is not a table is
    an error here, not an AttributeError."""
    tool = data.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise ConfigError(f"`tool` is {type(tool).__name__}, not a table", where=f"{path}: tool",
                          fix="make [tool] a table, e.g. [tool.launcher]", error_key="config_invalid:tool")
    return tool.get("launcher")


def config_file(root: Path) -> str:
    """The file `load_repo_config` reads the settings from, as an error names it."""
    if (root / "launcher.toml").exists() or not (root / "pyproject.toml").exists():
        return str(root / "launcher.toml")
    return f"{root / 'pyproject.toml'} [tool.launcher]"


BOTH_CONFIGS_FIX = ("keep one: move the settings of [tool.launcher] into launcher.toml and delete that table "
                    "from pyproject.toml, or delete launcher.toml")


def _read_config(path: Path, in_pyproject: bool) -> Any:
    """The settings `path` holds (None: a pyproject.toml without [tool.launcher])."""
    if not path.is_file():  # a directory, or a FIFO a read would wait on: never silently skipped
        what = "a directory" if path.is_dir() else "not a regular file"
        raise ConfigError(f"{path.name} is {what}", where=str(path), error_key="config_invalid:unreadable",
                          fix=f"make {path.name} a regular file, or move it aside")  # fmt: skip
    try:
        data: Any = toml_loads(read_document(path))
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", where=str(path),
                          fix="save it as UTF-8 text", error_key="config_invalid:unreadable") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", where=str(path), fix="fix the syntax",
                          error_key="config_invalid:syntax") from None
    return _section(data, path) if in_pyproject else data


def pyproject_configures(root: Path) -> bool:
    """Whether pyproject.toml holds a `[tool.launcher]` table (or one that is not a table): then a
    launcher.toml beside it would hide it. An unreadable pyproject.toml says so by its text."""
    path = root / "pyproject.toml"
    if not path.exists():
        return False
    try:
        return _read_config(path, True) is not None
    except ConfigError:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return re.search(r'^\s*\[+\s*"?tool"?\s*\.\s*"?launcher\b', text, re.MULTILINE) is not None


def refuse_two_configs(root: Path) -> None:
    """launcher.toml and pyproject's [tool.launcher] both holding settings is an error (exit 2), for
    every command that reads the configuration or, as `launcher init`, writes or advises on it."""
    toml_path, pyproject = root / "launcher.toml", root / "pyproject.toml"
    if toml_path.exists() and pyproject_configures(root):
        raise ConfigError("launcher.toml and [tool.launcher] in pyproject.toml both configure the launcher; "
                          "neither is read while both do (one would silently hide the other's settings)",
                          where=f"{toml_path} and {pyproject} [tool.launcher]", fix=BOTH_CONFIGS_FIX,
                          error_key="config_invalid:two_configs")


def load_repo_config(root: Path) -> RepoConfig:
    """Read launcher.toml or pyproject's [tool.launcher]; defaults if neither. Both holding settings is
    an error: one would silently hide the other (its integration check, its agents...)."""
    refuse_two_configs(root)
    toml_path, pyproject = root / "launcher.toml", root / "pyproject.toml"
    for path, in_pyproject in ((toml_path, False), (pyproject, True)):
        if not path.exists():
            continue
        data = _read_config(path, in_pyproject)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError("[tool.launcher] must be a table", where=f"{path}: tool.launcher",
                              fix=CONFIG_FIX, error_key="config_invalid:not_a_table")
        try:
            config = RepoConfig.model_validate(data)
        except ValidationError as exc:
            problems = problems_of(exc, RepoConfig, _where, "config_invalid", _plan_key_hints(),
                                   top="[tool.launcher]" if in_pyproject else "")
            raise_problems(problems, str(path), ConfigError, CONFIG_FIX)
        if problems := command_problems(config.agents, "config_invalid"):
            raise_problems(problems, f"{path} [tool.launcher]" if in_pyproject else str(path), ConfigError,
                           CONFIG_FIX)
        return config
    return RepoConfig()


Strategy = Literal["merge", "squash", "rebase"]
_T = TypeVar("_T")


def pick(mine: _T | None, theirs: _T) -> _T:
    """A plan's value when it sets one (None: not set), else the repository's."""
    return theirs if mine is None else mine


@dataclass(frozen=True)
class Settings:
    """What a run uses of the settings a plan's `[run]` and launcher.toml both may set."""

    strategy: Strategy
    integration_check: str | None
    integration_check_timeout_s: float
    batch: int | None
    on_conflict: Literal["agent", "keep"]
    iteration_cap: int
    grader: str | None
    setup: str | None


def settings_of(plan: Plan, config: RepoConfig) -> Settings:
    """The one place that resolves them: the plan's value when it sets one (None is "not set"),
    else launcher.toml's, else the default."""
    run = plan.run
    return Settings(
        strategy=pick(run.strategy, config.merge.strategy),
        integration_check=pick(run.integration_check, config.merge.integration_check) or None,
        integration_check_timeout_s=pick(run.integration_check_timeout_s, config.merge.integration_check_timeout_s),
        batch=pick(run.batch, config.merge.batch),
        on_conflict=pick(run.on_conflict, config.merge.on_conflict),
        iteration_cap=pick(run.iteration_cap, config.grading.iteration_cap),
        grader=pick(run.grader, config.grading.grader),
        setup=pick(run.setup, config.setup) or None,
    )


def grader_problem(plan: Plan, config: RepoConfig) -> Problem | None:
    """An unknown grader, found before any agent runs (and is paid for), not after."""
    name = settings_of(plan, config).grader
    key = "run.grader" if plan.run.grader is not None else "grading.grader"  # the plan's, else launcher.toml's
    known = list(dict.fromkeys([*plan.agents, *config.agents, *BUILTIN_ADAPTERS]))
    if name is None or name in known:
        return None
    hint = did_you_mean(name, known)
    return Problem(key, f"unknown grader agent {name!r}", "config_invalid:unknown_grader",
                   (f"{hint} " if hint else "") + "name an [agents.<name>] entry (plan or launcher.toml) "
                   f"or a built-in adapter such as scripted-grader (known: {', '.join(known)}); "
                   "see README, 'Grading'")


def config_of_run(settings: dict[str, Any], root: Path) -> tuple[RepoConfig, str | None]:
    """The launcher.toml a run started with (the journal keeps it, as it keeps the plan), and a
    note when the file in the checkout says otherwise now: a run under way keeps its agents,
    integration check and grader, so an edit (a weakened check) never applies to work the run's
    own settings were judging. A run journaled before the config was kept reads today's file."""
    stored = settings.get("config")
    if not isinstance(stored, dict):
        return load_repo_config(root), None
    try:
        config = RepoConfig.model_validate(stored)
    except ValidationError:  # written by another launcher version: today's file is all there is
        return load_repo_config(root), None
    try:
        now = load_repo_config(root)
    except ConfigError as exc:  # both launcher.toml and [tool.launcher] now, or a file broken since
        said = f"{exc.where}: {exc.what}" if exc.where else exc.what
        return config, (f"the configuration in the checkout cannot be read now ({said}); the run keeps the "
                        "settings it started with (agents, integration check, grading), but a new run is "
                        f"refused until it is fixed: {exc.fix or 'correct it'}")
    if now == config:
        return config, None
    return config, ("launcher.toml changed since this run started; the run keeps the settings it started "
                    "with (agents, integration check, grading): start a new run to use the new ones")
