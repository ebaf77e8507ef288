"""Workflow templates (data files) and a workflow's state (journal row, mirrored to state.json)."""

from __future__ import annotations

import enum
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from launcher.models.bounds import Pid, Stored
from launcher.models.plan import Strict

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,29}")
# what _ID takes, as an error says it (a leading '-' would read as an option in a branch name or argv)
_ID_RULE = "must be 1 to 30 lowercase letters, digits and '-', starting with a letter or digit"
_ARTIFACT = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\.(md|json|txt)")
# What the workflow's folder (`.launcher/workflows/<id>/`) holds beside the artifacts: an artifact
# of one of these names would overwrite it (or be overwritten by it). `<phase>/error.json` too.
RESERVED_ARTIFACTS = frozenset({"state.json", "runner.log", "claim.lock", "cancelling"})


class Parameter(Strict):
    description: str = ""
    required: bool = False
    default: str | None = None


class RoleSpec(Strict):
    role: str
    prompt: str  # a template: {param} for the workflow's parameters, {artifacts} for earlier ones

    @field_validator("role")
    @classmethod
    def _role_id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(f"role {value!r} {_ID_RULE}")
        return value


class ArtifactSpec(Strict):
    path: str  # relative to the workflow's folder, e.g. "review/security.md"
    role: str | None = None  # a document written from this role's work only

    @field_validator("path")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        if not _ARTIFACT.fullmatch(value):
            raise ValueError(f"artifact {value!r} must be a relative path of [A-Za-z0-9_-] parts ending .md/.json/.txt")
        return value


class Phase(Strict):
    id: str
    name: str = ""
    description: str = ""
    primary: list[RoleSpec] = Field(min_length=1)
    supporting: list[RoleSpec] = Field(default_factory=list)
    sequential: bool = False  # roles one after another instead of in parallel
    parallel_with: list[str] = Field(default_factory=list)
    checkpoint: bool = False  # an operator signal is needed before the next phase
    checks: list[str] = Field(default_factory=list)  # commands; {test_command} etc. are filled in
    artifacts: list[ArtifactSpec] = Field(default_factory=list)

    @field_validator("artifacts", mode="before")
    @classmethod
    def _artifact_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"path": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("checks")
    @classmethod
    def _checks_runnable(cls, value: list[str]) -> list[str]:
        for index, check in enumerate(value):
            if "\0" in check:
                raise ValueError(f"check {index} holds a NUL character (\\u0000), which no command can carry; "
                                 "remove it")
        return value

    @field_validator("id")
    @classmethod
    def _phase_id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(f"phase id {value!r} {_ID_RULE}")
        return value

    @property
    def roles(self) -> list[RoleSpec]:
        return [*self.primary, *self.supporting]

    def task_id(self, role: str) -> str:
        """The id of the task a step's run makes for one of this phase's roles."""
        return f"{self.id}-{role}"

    def task_ids(self) -> set[str]:
        """The ids of the tasks a step's run makes for this phase (no other phase's, even when
        their ids share a prefix: phases `a` and `a-b`)."""
        return {self.task_id(spec.role) for spec in self.roles}

    @property
    def title(self) -> str:
        return self.name or self.id.replace("-", " ").title()


class WorkflowTemplate(Strict):
    name: str
    description: str = ""
    category: str = "development"
    keywords: list[str] = Field(default_factory=list)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    pause_on_failure: bool = True
    phases: list[Phase] = Field(min_length=1, alias="phase")
    source: str = Field(default="", exclude=True)  # where it was loaded from (set by the loader)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _phases_consistent(self) -> WorkflowTemplate:
        ids = [p.id for p in self.phases]
        if len(set(ids)) != len(ids):
            raise ValueError(f"phase ids repeat: {ids}")
        for phase in self.phases:
            for other in phase.parallel_with:
                if other not in ids or other == phase.id:
                    raise ValueError(f"phase {phase.id!r}: parallel_with names {other!r}, not another phase")
        step_of = {p.id: number for number, step in enumerate(self.steps()) for p in step}
        for phase in self.phases:
            for other in phase.parallel_with:
                if step_of[other] != step_of[phase.id]:
                    raise ValueError(f"phase {phase.id!r}: parallel_with names {other!r}, which does not come next to "
                                     "it: phases that run side by side must follow each other in the list (move "
                                     f"{other!r} next to {phase.id!r}, or drop it from parallel_with)")
        made: dict[str, str] = {}  # task id -> the phase and role that make it
        for phase in self.phases:
            for spec in phase.roles:
                task = phase.task_id(spec.role)
                if task in made:
                    raise ValueError(f"task id {task!r} repeats: phase {phase.id!r} role {spec.role!r} makes the "
                                     f"same task id as {made[task]} (a task id is PHASE-ROLE); rename a phase or "
                                     "a role")
                made[task] = f"phase {phase.id!r} role {spec.role!r}"
        self._artifacts_apart(ids)
        return self

    def _artifacts_apart(self, ids: list[str]) -> None:
        """Each artifact a file of its own in the workflow's folder: not one the workflow keeps
        there itself (its state, a phase's error record), not one another phase (or the same
        phase twice) writes too, and a `role` naming a role of its phase (else it documents
        nothing). Raised with `phase.N.artifacts.M` (the loader names the file)."""
        reserved = RESERVED_ARTIFACTS | {f"{pid}/error.json" for pid in ids}
        written: dict[str, str] = {}  # artifact path -> where it was first named
        for number, phase in enumerate(self.phases):
            roles = [spec.role for spec in phase.roles]
            for index, spec in enumerate(phase.artifacts):
                where = f"phase.{number}.artifacts.{index}"
                if spec.path in reserved:
                    raise ValueError(f"{where}: phase {phase.id!r}: artifact {spec.path!r} is a file the workflow "
                                     "keeps in its folder itself (its state, runner log or a phase's error "
                                     "record), which it would overwrite; give the artifact another name "
                                     f"(e.g. {phase.id}/{spec.path.replace('/', '-')})")
                if spec.path in written:
                    raise ValueError(f"{where}: phase {phase.id!r}: artifact {spec.path!r} is already written by "
                                     f"{written[spec.path]}: one would replace the other; give each phase's "
                                     f"artifact its own path (e.g. {phase.id}/{PurePosixPath(spec.path).name})")
                written[spec.path] = f"phase {phase.id!r} ({where})"
                if spec.role is not None and spec.role not in roles:
                    raise ValueError(f"{where}: phase {phase.id!r}: artifact {spec.path!r} is written from role "
                                     f"{spec.role!r}, which is not a role of this phase (its roles: "
                                     f"{', '.join(roles)}); name one of them, or drop `role` to document "
                                     "every task of the phase")

    def steps(self) -> list[list[Phase]]:
        """Phases grouped into steps: a phase joins the step before it when either names the
        other in `parallel_with`; each step is one launcher run."""
        steps: list[list[Phase]] = []
        for phase in self.phases:
            if steps and any(phase.id in p.parallel_with or p.id in phase.parallel_with for p in steps[-1]):
                steps[-1].append(phase)
            else:
                steps.append([phase])
        return steps


class WorkflowStatus(enum.StrEnum):
    READY = "ready"  # the next phase may start (`next`)
    RUNNING = "running"
    WAITING_CHECKPOINT = "waiting_checkpoint"  # an operator signal releases the next phase
    PAUSED = "paused"  # by the operator, or on a failed phase (retry, skip or cancel)
    FAILED = "failed"  # a phase failed and the template does not pause on failure
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (WorkflowStatus.FAILED, WorkflowStatus.COMPLETED, WorkflowStatus.CANCELLED)


class PhaseStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class PhaseState(BaseModel):
    id: str
    name: str
    status: PhaseStatus = PhaseStatus.PENDING
    run_id: str | None = None
    start_sha: str | None = None
    landed_sha: str | None = None
    error: str | None = None
    artifacts: list[str] = Field(default_factory=list)
    tasks: list[dict[str, Any]] = Field(default_factory=list)  # id, role, agent, state
    notes: list[str] = Field(default_factory=list)  # its run's notes on its own tasks or on no task
    started_at: float | None = None
    finished_at: float | None = None


class WorkflowState(BaseModel):
    id: str
    template: str
    status: WorkflowStatus = WorkflowStatus.READY
    params: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    target: str = ""
    base_sha: str = ""
    pause_on_failure: bool = True
    phases: list[PhaseState] = Field(default_factory=list)
    checkpoints: list[dict[str, Any]] = Field(default_factory=list)  # phase, signal, at
    paused_on: str | None = None  # the failed phase a paused workflow offers retry/skip/cancel for
    pause_requested: bool = False
    resume_to: WorkflowStatus | None = None  # the status an operator's pause interrupted
    runner_pid: Pid | None = None
    runner_started: Stored | None = None  # the runner's start time (/proc), so a reused pid is not it
    message: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0

    def phase(self, phase_id: str) -> PhaseState:
        for phase in self.phases:
            if phase.id == phase_id:
                return phase
        raise KeyError(phase_id)
