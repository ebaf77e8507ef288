"""What every workflow action shares: the repository, its config and templates, the workflow
store (in the journal's database) and the mirror of each state in `.launcher/workflows/<id>/`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from launcher.app.context import open_journal, state_dir
from launcher.app.own_worktree import launcher_worktree_problem
from launcher.app.workflow.templates import get_template, load_templates
from launcher.concurrency import file_lock
from launcher.errors import RunNotFound
from launcher.git import worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import RepoConfig, load_repo_config
from launcher.models.states import RunStatus
from launcher.models.workflow import WorkflowState, WorkflowTemplate
from launcher.store.files import atomic_write_json
from launcher.store.journal import Journal
from launcher.store.workflows import WorkflowStore

CLAIM_LOCK = "claim.lock"


@dataclass
class WorkflowSession:
    repo: GitRepo
    store: WorkflowStore
    _journal: Journal | None = None
    _config: RepoConfig | None = None

    @property
    def config(self) -> RepoConfig:
        """launcher.toml, read when an action first needs it (`start`, `next`, `resume`, `plan`):
        watching a workflow (`status`, `list`) and cancelling it never read it, so a launcher.toml
        mid-edit (or one a phase's agent landed) that does not parse never blocks them."""
        if self._config is None:
            self._config = load_repo_config(self.repo.root)
        return self._config

    @classmethod
    async def open(cls, cwd: Path) -> WorkflowSession:
        """The session of the repository `cwd` is in. In one of the launcher's own worktrees (a
        task's: an agent calling the MCP tool from its worktree), every action is refused with
        the main checkout named, as every command that keeps state there is (app/context.py
        `writable_state_dir`): no workflow state is created there, and none is read from there."""
        repo = await GitRepo.discover(cwd)
        if (problem := launcher_worktree_problem(repo)) is not None:
            raise problem
        await repo.ensure_excluded("/.launcher/")
        return cls(repo, WorkflowStore(state_dir(repo) / "launcher.db"))

    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = open_journal(self.repo)
        return self._journal

    def store_run_status(self, run_id: str) -> RunStatus | None:
        try:
            return self.journal().run(run_id).status
        except RunNotFound:
            return None

    def scratch_root(self, workflow_id: str) -> Path:
        """Throwaway worktrees for the test and coverage runs, beside the runs' worktrees."""
        return worktrees.default_worktree_root(self.repo, self.config.worktree_root) / workflow_id

    def folder(self, workflow_id: str) -> Path:
        return state_dir(self.repo) / "workflows" / workflow_id

    def insert(self, state: WorkflowState) -> None:
        """A new workflow's first state: journal first (the truth), then the mirror."""
        self.store.insert(state, self._mirror)

    def update(self, workflow_id: str, change: Callable[[WorkflowState], bool | None]) -> WorkflowState:
        """The only way to change a workflow's state: `change` applied to the state as it is
        now, under the database's write lock, then written (journal, then mirror) before the
        lock is released. Every writer (a runner, `pause`, `checkpoint`, `cancel`, `status`
        noticing a dead runner) goes through here, so none overwrites another's change with a
        stale copy. `change` returns False when there is nothing to write; it must not touch the
        journal. Returns the state as written."""
        return self.store.update(workflow_id, change, self._mirror)

    def _mirror(self, state: WorkflowState) -> None:
        """`.launcher/workflows/<id>/state.json`, written atomically (never half-written)."""
        atomic_write_json(self.folder(state.id) / "state.json", state.model_dump(mode="json"))

    def load(self, workflow_id: str) -> WorkflowState:
        return self.store.load(workflow_id)

    @contextlib.asynccontextmanager
    async def claim(self, workflow_id: str) -> AsyncIterator[None]:
        """The workflow's claim lock (fcntl, across processes): held from "may a runner start
        now?" until the runner is recorded, so two `next` (CLI, MCP) never both run a phase."""
        self.load(workflow_id)  # an unknown workflow is refused before its folder is made
        async with file_lock(self.folder(workflow_id) / CLAIM_LOCK):
            yield

    def templates(self) -> dict[str, WorkflowTemplate]:
        return load_templates(self.repo.root)

    def template_of(self, state: WorkflowState) -> WorkflowTemplate:
        """The template as it was at `start` (kept in the state): editing, renaming or removing
        its file, or another TOML file landing in `workflows/`, never changes a running workflow."""
        stored = state.options.get("template") or state.options.get("custom_template")
        if isinstance(stored, dict):
            return WorkflowTemplate.model_validate(stored)
        return get_template(self.repo.root, state.template)  # a workflow started before templates were kept
