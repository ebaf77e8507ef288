"""The plan's schema: tasks, named agent configs and run settings, with strict types.

Strict: `max_parallel = "4"` or `true` and `merge = "yes"` are errors, not coercions; numbers
are finite, and timeouts, budgets and sizes positive, so nothing is silently disabled (a NaN
timeout) or turned against the user (a negative one kills at once).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from launcher.models.agent_keys import permission_mode_problem
from launcher.models.bounds import Round
from launcher.models.ids import task_id_problem
from launcher.models.ignore_patterns import first_problem
from launcher.models.refname import branch_name_problem

AdapterName = Literal[
    "command", "scripted", "scripted-grader", "scripted-judge", "claude", "codex", "gemini", "aider", "opencode",
    "acp",
]
BUILTIN_ADAPTERS: tuple[str, ...] = get_args(AdapterName)
MAX_SECONDS = 366 * 24 * 3600  # a year: longer is a typo, and larger values overflow timers

Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]
Dollars = Annotated[float, Field(gt=0)]
StepSeconds = Annotated[float, Field(ge=0, le=MAX_SECONDS)]
Iterations = Annotated[int, Field(ge=1, le=1000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_names(names: list[str]) -> list[str]:
    """A list of environment variable names a plan passes through: names only, never GIT_*
    (they would point a command's git at the main repository) or LAUNCHER_* (set by us)."""
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name (letters, digits, _)")
        if name.startswith(("GIT_", "LAUNCHER_")):
            raise ValueError(f"{name!r} cannot be passed through: GIT_* and LAUNCHER_* are never inherited")
    return names


class AgentConfig(Strict):
    adapter: AdapterName = "command"
    command: list[str] | None = None
    model: str | None = None
    extra_args: list[str] = Field(default_factory=list)
    env: list[str] = Field(default_factory=list, description="parent variables to pass through")
    set_env: dict[str, str] = Field(default_factory=dict, description="variables to set")
    permission_mode: str | None = None
    max_turns: Iterations | None = None
    budget_usd: Dollars | None = None
    timeout_s: Seconds | None = None
    inactivity_timeout_s: Seconds | None = None

    @field_validator("permission_mode")
    @classmethod
    def _known_mode(cls, mode: str | None, info: ValidationInfo) -> str | None:
        adapter = info.data.get("adapter")
        if adapter == "command" and info.data.get("command") is None:
            # No program and maybe no adapter given (`[agents.claude] permission_mode = ...`): the
            # entry's check (plan_checks.command_problems) says which key is missing, by its name.
            return mode
        if mode is not None and isinstance(adapter, str) and (problem := permission_mode_problem(adapter, mode)):
            raise ValueError(problem)
        return mode

    @field_validator("command")
    @classmethod
    def _runnable(cls, argv: list[str] | None) -> list[str] | None:
        if argv is not None and (not argv or not argv[0].strip()):
            raise ValueError('the command needs a program: command = ["program", "arg", "{prompt}"]')
        return argv


ACTIONS = (
    "write", "append", "replace", "delete", "sleep", "spawn_sleeper", "flood_mb",
    "exit", "say", "commit", "run", "contract", "no_contract", "raw_contract",
)


class ScriptStep(Strict):
    """One action of the built-in scripted agent. Exactly one action key per step."""

    write: str | None = None  # path; with `content`
    append: str | None = None  # path; with `content`
    replace: str | None = None  # path; with `old` and `new`
    delete: str | None = None  # path
    content: str | None = None
    old: str | None = None
    new: str | None = None
    sleep: StepSeconds | None = None
    spawn_sleeper: StepSeconds | None = None  # starts a grandchild that sleeps (tests kill paths)
    flood_mb: Annotated[float, Field(ge=0, le=1024)] | None = None  # prints this many MiB to stdout
    exit: Annotated[int, Field(ge=0, le=255)] | None = None
    say: str | None = None  # prints a line
    commit: str | None = None  # commits everything with this message
    run: Annotated[list[str], Field(min_length=1)] | None = None  # argv in the worktree (no shell)
    contract: dict[str, Any] | None = None  # fields merged into the written contract
    no_contract: bool | None = None  # write no contract at all
    raw_contract: str | None = None  # write this exact text as the contract
    rounds: list[Round] | None = None  # only on these iterations (1-based)
    attempts: list[Round] | None = None  # only on these process attempts

    @field_validator("write", "append", "replace", "delete")
    @classmethod
    def _a_path(cls, path: str | None) -> str | None:
        if path is not None and (not path.strip() or "\0" in path):
            raise ValueError("a step's file path must be a non-empty path without a NUL character (\\u0000)")
        return path

    @field_validator("run")
    @classmethod
    def _an_argv(cls, argv: list[str] | None) -> list[str] | None:
        if argv is not None and any("\0" in arg for arg in argv):
            raise ValueError("a `run` step's arguments cannot hold a NUL character (\\u0000)")
        return argv

    def action(self) -> str:
        keys = [k for k in ACTIONS if getattr(self, k) is not None]
        if len(keys) != 1:
            raise ValueError(f"a script step needs exactly one action, got {keys or 'none'}")
        return keys[0]

    @model_validator(mode="after")
    def _complete(self) -> ScriptStep:
        if self.action() == "replace" and self.old is None:
            raise ValueError("a `replace` step needs `old` (the text to replace) and `new`")
        return self


class Task(Strict):
    id: str
    title: str = ""
    role: str = "general"
    agent: str = "scripted"
    prompt: str = ""
    depends_on: list[str] = Field(default_factory=list)
    rubrics: list[str] = Field(default_factory=list)
    scope: list[str] = Field(default_factory=list)
    timeout_s: Seconds | None = None
    inactivity_timeout_s: Seconds | None = None
    budget_usd: Dollars | None = None
    checks: list[str] = Field(default_factory=list)
    check_env: list[str] = Field(default_factory=list)  # parent variables its checks/setup see
    setup: str | None = None
    script: list[ScriptStep] = Field(default_factory=list)
    epic: str | None = None
    attempts: int = Field(default=1, ge=1, le=16)  # best-of-N: K attempts in parallel worktrees
    attempt_agents: list[str] = Field(default_factory=list)  # agent per attempt (cycled)
    select_from: list[str] = Field(default_factory=list)  # set by expansion: the attempts to pick from
    kind: Literal["feature", "bug", "chore"] = "feature"  # "bug" adds the bugfix rubric

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        problem = task_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("scope")
    @classmethod
    def _scope_patterns(cls, patterns: list[str]) -> list[str]:
        found = first_problem(patterns)
        if found:  # refused here, not as an internal error once the agent has run
            raise ValueError(f"scope entry {found[0]}: {found[1]}; write it as in .gitignore, e.g. \"src/\"")
        return patterns

    _check_env = field_validator("check_env")(env_names)


class RunSettings(Strict):
    base: str = "HEAD"
    into: str | None = None
    max_parallel: int = Field(default=4, ge=1, le=256)
    # Never set by a plan (models/plan.py refuses `[run] merge`: `launcher run --no-merge` decides
    # whether a run lands); kept so the plans earlier launchers journaled and exported, which
    # hold it, read back with the same digest.
    merge: bool = True
    # None = not set here: [merge] of launcher.toml, then the default, decides
    # (`models.config.settings_of`, the one place that resolves plan > config > default).
    strategy: Literal["merge", "squash", "rebase"] | None = None
    integration_check: str | None = None
    integration_check_timeout_s: Seconds | None = None  # overrides [merge] integration_check_timeout_s
    batch: Annotated[int, Field(ge=1, le=10_000)] | None = None  # overrides [merge] batch of launcher.toml
    on_conflict: Literal["agent", "keep"] | None = None  # overrides [merge] on_conflict
    setup: str | None = None
    warm_pool: Annotated[int, Field(ge=0, le=256)] = 0  # worktrees kept ready for the next run
    # Parent variables that checks, setup, rubric checks and the integration check may see,
    # besides the agents' allowlist (PATH, HOME, ...).
    check_env: list[str] = Field(default_factory=list)
    timeout_s: Seconds | None = None
    inactivity_timeout_s: Seconds | None = None
    budget_usd: Annotated[float, Field(ge=0)] | None = None  # run-wide: no new task once spent
    grader: str | None = None  # an agent name; overrides [grading] grader of launcher.toml
    iteration_cap: Iterations | None = None
    on_cap: Literal["approve", "tech-debt", "defer"] | None = None  # decide escalations unattended

    _check_env = field_validator("check_env")(env_names)

    @field_validator("into")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        problem = branch_name_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"{problem} (git's branch-name rules)")
        return value

    @field_validator("base")
    @classmethod
    def _commit(cls, value: str) -> str:
        if not value.strip() or value.startswith("-"):
            raise ValueError("`base` must name a commit, e.g. \"HEAD\" or \"main\"")
        return value


class Plan(Strict):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, populate_by_name=True)

    run: RunSettings = Field(default_factory=RunSettings)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    tasks: list[Task] = Field(default_factory=list, alias="task")

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    def agent_config(self, name: str) -> AgentConfig:
        if name in self.agents:
            return self.agents[name]
        return AgentConfig(adapter=name)  # type: ignore[arg-type]
