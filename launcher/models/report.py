"""The machine-readable run report (`--json` of run, resume and status)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class RoundReport(BaseModel):
    iteration: int
    verdict: str | None = None
    audit: str | None = None
    error_key: str | None = None


class UsageReport(BaseModel):
    """Spend of one role (agent, grader, judge): cost in USD (None: no process reported one)
    and tokens by kind, summed over every process of that role."""

    cost_usd: float | None = None
    tokens: dict[str, int] = Field(default_factory=dict)


def empty_usage() -> dict[str, UsageReport]:
    return {role: UsageReport() for role in ("agent", "grader", "judge")}


class TaskReport(BaseModel):
    id: str
    title: str = ""
    role: str = ""
    agent: str = ""
    state: str
    branch: str | None = None
    worktree: str | None = None
    head_sha: str | None = None
    merged: bool = False
    cost_usd: float | None = None
    duration_s: float | None = None
    files: list[str] = Field(default_factory=list)
    message: str = ""
    contract: dict[str, Any] | None = None
    qa_gate: str = "qa-pending"
    rubric_gate: str | None = None
    rounds: list[RoundReport] = Field(default_factory=list)
    # Set (by `status`) on an approved task whose branch changed after its approval: it will
    # not land until it is re-graded at the new head.
    approval_withdrawn: str | None = None
    # Set (by `status`) on a task whose merge commit the target already holds while the landing
    # that put it there was left unfinished (a killed launcher): not `merged` until it is finished.
    landing_unfinished: str | None = None
    usage: dict[str, UsageReport] = Field(default_factory=empty_usage)  # by role
    # Where the completion contract and the real diff disagree (claimed vs changed files).
    claimed_not_changed: list[str] = Field(default_factory=list)
    changed_not_claimed: list[str] = Field(default_factory=list)


class EpicReport(BaseModel):
    id: str
    decision: str  # pass | defer | block | pending
    tasks: list[str]
    shared_files: dict[str, list[str]] = Field(default_factory=dict)  # file -> tasks touching it


class ConflictReport(BaseModel):
    """One pair of the conflict matrix: `conflict` (git merge-tree of two approved branches
    does not merge cleanly) or `predicted` (a task still at work touches the same files)."""

    a: str
    b: str
    kind: str
    files: list[str] = Field(default_factory=list)


class QueueReport(BaseModel):
    """What the merge queue did (all landing passes of the run)."""

    batches: int = 0
    check_runs: int = 0  # integration checks run (a verdict read back from the journal is not)
    bisections: int = 0
    culprits: list[str] = Field(default_factory=list)
    returned: list[str] = Field(default_factory=list)  # sent back to their agents, in order


class NoteReport(BaseModel):
    """Something the run did or saw besides its tasks' states: work it set aside or kept, refs it
    put back, a change it could not blame on one task."""

    task: str | None = None
    at: float
    message: str


class RunReport(BaseModel):
    run_id: str
    status: str
    repo: str
    base_sha: str
    target: str
    integration_branch: str | None = None
    landed_on: str | None = None
    message: str = ""
    # `interrupted` by an error, not a signal: the exit code its command ended with (the one
    # `status --exit-status` exits with); null otherwise
    error_exit_code: int | None = None
    artifacts: str = ""
    tasks: list[TaskReport] = Field(default_factory=list)
    epics: list[EpicReport] = Field(default_factory=list)
    conflicts: list[ConflictReport] = Field(default_factory=list)
    queue: QueueReport = Field(default_factory=QueueReport)
    usage: dict[str, UsageReport] = Field(default_factory=empty_usage)  # the run's, by role
    notes: list[NoteReport] = Field(default_factory=list)
