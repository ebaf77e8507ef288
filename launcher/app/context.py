"""What every step of a run shares: repo, journal, plan, settings, and the event sink."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import anyio

from launcher.agents.passed_env import plan_secrets
from launcher.app.own_worktree import launcher_worktree_problem
from launcher.engine.idle_trees import IdleTrees
from launcher.engine.site_installs import SiteGuard
from launcher.engine.tree_guard import MainTreeSnapshot
from launcher.git.guard import GitDirSnapshot
from launcher.git.index_entries import StagedEntries
from launcher.git.index_guard import IndexGuard
from launcher.git.ref_guard import RefState
from launcher.git.repo import GitRepo
from launcher.models.config import RepoConfig, Settings, settings_of
from launcher.models.events import Event
from launcher.models.plan import AgentConfig, Plan, Task
from launcher.models.states import TaskState
from launcher.store.files import RunFiles
from launcher.store.journal import Journal
from launcher.store.ports import claim_block
from launcher.store.usage import UsageLedger

STATE_DIR = ".launcher"
STATE_EXCLUDE = f"/{STATE_DIR}/"
DEFAULT_TIMEOUT_S = 1800.0

EventSink = Callable[[Event], None]


def state_dir(repo: GitRepo) -> Path:
    """Where the launcher's state is (`.launcher/`), to look at; `writable_state_dir` to write."""
    return repo.root / STATE_DIR


def writable_state_dir(repo: GitRepo) -> Path:
    """The launcher's state dir, kept out of git: every command that writes there (and so may
    create it: a first `launcher runs` or `status` creates the journal) adds `/.launcher/` to
    info/exclude first, so a `git add -A` never commits it. In one of the launcher's own
    worktrees (a task's: `cd "$(launcher path RUN TASK)"`), it is refused with the main
    checkout named, and nothing is created there."""
    if (problem := launcher_worktree_problem(repo)) is not None:
        raise problem
    repo.exclude(STATE_EXCLUDE)
    return repo.root / STATE_DIR


def open_journal(repo: GitRepo) -> Journal:
    """The repository's journal, which keeps what a run passed to its agents and checks masked."""
    return Journal(writable_state_dir(repo) / "launcher.db", passed=plan_secrets)


@dataclass
class RunContext:
    repo: GitRepo
    journal: Journal
    run_id: str
    plan: Plan
    config: RepoConfig
    base_sha: str
    target: str
    worktree_root: Path
    emit: EventSink
    include_paths: list[str] = field(default_factory=list)
    main_snapshot: set[str] = field(default_factory=set)
    reported_intrusions: set[str] = field(default_factory=set)
    merge: bool = True
    main_scan: tuple[float, list[str]] | None = None  # (time.monotonic(), `git status` of the main tree)
    scan_lock: anyio.Lock = field(default_factory=anyio.Lock)
    # What agents must not change (app/run/containment.py): the shared git dir's hooks and config,
    # the main checkout's dirty/untracked/ignored files by content, and idle worktrees.
    git_dir_snapshot: GitDirSnapshot | None = None
    main_index: IndexGuard | None = None  # the main checkout's index, last seen readable
    main_staged: StagedEntries | None = None  # ... and its entries (git/index_entries.py)
    main_contents: MainTreeSnapshot | None = None
    idle_trees: IdleTrees = field(default_factory=IdleTrees)
    intruders: dict[str, str] = field(default_factory=dict)  # task -> what it wrote where
    # The shared repository's refs as last checked (git/ref_guard.py), the tasks whose agent
    # runs now, and those that ran at some time since that check.
    ref_state: RefState | None = None
    refs_at_start: frozenset[str] = frozenset()  # watched refs when the run started (or resumed)
    ref_read_started: float = 0.0  # monotonic start of the ref check's last read (containment.py)
    ref_movers: dict[str, str] = field(default_factory=dict)  # task -> the refs its agent moved
    user_commits: set[str] = field(default_factory=set)  # brought by the user's own ref moves (ref_owner.py)
    reflog_sizes: dict[str, dict[Path, int]] = field(default_factory=dict)  # task -> its reflogs kept (ref_owner.py)
    agents_running: set[str] = field(default_factory=set)
    agents_seen: set[str] = field(default_factory=set)
    intrusions_left: dict[str, str] = field(default_factory=dict)  # main-checkout path -> task
    # What the main checkout's files changed since the run's start held when a task's round (or
    # its grading) started: its put-back restores that (app/run/round_copy.py; task -> BeforeCheck)
    window_copies: dict[str, Any] = field(default_factory=dict)
    # Files the integration check took as the user's edits -> their (ctime, mtime) then: a later
    # write there is found again, the edit as it was left is never blamed on anyone
    users_edits: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)  # task -> first port of its claimed block
    # The shared Python environments' editable installs before the first setup (engine/site_installs.py).
    site_guard: SiteGuard = field(default_factory=SiteGuard)

    async def main_status(self, not_before: float) -> list[str]:
        """The main tree's status, taken at or after `not_before` (a `time.monotonic()` value:
        keyed on the wall clock, a scan taken before the clock stepped back counted as taken after
        every later round, for as long as the step, and nothing written meanwhile was seen);
        agents that finish together share one scan instead of each walking the whole tree."""
        async with self.scan_lock:
            if self.main_scan is None or self.main_scan[0] < not_before:
                taken = time.monotonic()
                self.main_scan = (taken, await self.repo.status_porcelain())
            return self.main_scan[1]

    @cached_property
    def usage(self) -> UsageLedger:
        """What each task's agents and graders cost, process by process (beside the journal)."""
        return UsageLedger(self.journal.path)

    @property
    def settings(self) -> Settings:
        """The settings the plan's `[run]` and launcher.toml both may set, resolved."""
        return settings_of(self.plan, self.config)

    @property
    def files(self) -> RunFiles:
        return RunFiles(state_dir(self.repo), self.run_id)

    def worktree_path(self, task_id: str) -> Path:
        return self.worktree_root / self.run_id / task_id

    def agent_config(self, task: Task) -> AgentConfig:
        if task.agent in self.plan.agents:
            return self.plan.agents[task.agent]
        if task.agent in self.config.agents:
            return self.config.agents[task.agent]
        return self.plan.agent_config(task.agent)

    def port_base(self, task_id: str) -> int:
        """The task's block of ports, claimed per machine: concurrent runs never share one."""
        if task_id not in self.ports:
            self.ports[task_id] = claim_block(self.run_id, task_id)
        return self.ports[task_id]

    def transition(self, task_id: str, state: TaskState, message: str = "", **fields: Any) -> None:
        """Journal first, then tell the UI: the row is the source of truth. Both get the message
        with what the run passed to its agents and checks masked (a check's output tail)."""
        self.journal.transition(self.run_id, task_id, state, message, **fields)
        message = self.journal.masked(self.run_id, message, commands=True)
        data = {k: v for k, v in fields.items() if k in ("iteration", "cost_usd", "files")}
        self.emit(Event(self.run_id, task_id, "state", state, message, data))

    def note(self, task_id: str | None, message: str, *, keep: bool = True) -> None:
        """Tell the user; `keep`: also in the run's report (what is not recorded elsewhere)."""
        if keep:
            self.journal.add_note(self.run_id, task_id, message)
        message = self.journal.masked(self.run_id, message, commands=True)
        self.emit(Event(self.run_id, task_id, "note", None, message))
