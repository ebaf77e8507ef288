"""The manifest of a shard's export (`launcher-export.json`, written by `run --export`, read by
`land --from`): every field typed and checked before the land journals or fetches anything.

A manifest is input like any other: a damaged or edited one is refused as a whole, naming the
field (exit 2), never half-imported into the journal where a later `status` would trip on it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from launcher.models.bounds import Round, RoundCount
from launcher.models.contract import CompletionContract
from launcher.models.ids import is_run_id, task_id_problem
from launcher.models.refname import branch_name_problem

SCHEMA = "launcher-export/2"
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 repositories
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _object_id(value: str) -> str:
    if not _OBJECT_ID.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not a full commit id (40 or 64 lowercase hex digits)")
    return value


def _sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not a SHA-256 digest (64 lowercase hex digits)")
    return value


def _task_id(value: str) -> str:
    problem = task_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _branch(value: str) -> str:
    problem = branch_name_problem(value)
    if problem:
        raise ValueError(f"{value[:80]!r}: {problem}")
    return value


def _run_id(value: str) -> str:
    if not is_run_id(value):
        raise ValueError(f"{value[:80]!r} is not a launcher run id (r-YYYYMMDD-HHMMSS-xxxx)")
    return value


def _file_name(value: str) -> str:
    if not value or "/" in value or "\\" in value or "\0" in value or value in (".", ".."):
        raise ValueError(f"{value[:80]!r} is not a file name in the export directory")
    return value


def _contract(value: dict[str, Any]) -> dict[str, Any]:
    """A completion contract as the shard's journal recorded it (the agent's, checked, or one
    the launcher derived), kept as written. Unchecked, an edited one (`files_changed: 5`) was
    landed into the journal and the `--json` report, for `grade` and `status` to read."""
    try:
        CompletionContract.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"not a completion contract ({where + ': ' if where else ''}{first['msg']})") from None
    return value


def _repo_path(value: str) -> str:
    """A path as git names a file of the repository (the landing reads the include files it
    names under the clone's root): never absolute, never out of the tree, no NUL."""
    parts = value.removesuffix("/").split("/")
    if not value or "\0" in value or value.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{value[:80]!r} is not a path inside the repository")
    return value


ObjectId = Annotated[str, AfterValidator(_object_id)]
RepoPath = Annotated[str, AfterValidator(_repo_path)]
Digest = Annotated[str, AfterValidator(_sha256)]
TaskId = Annotated[str, AfterValidator(_task_id)]
BranchName = Annotated[str, AfterValidator(_branch)]
RunId = Annotated[str, AfterValidator(_run_id)]


class _Strict(BaseModel):
    # strict: "5" is no count and 1 no text. Keys a later writer of the same schema may add are
    # ignored (the launcher never reads them).
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ExportBundle(_Strict):
    file: Annotated[str, AfterValidator(_file_name)]
    sha256: Digest


class ExportedRound(_Strict):
    """A grading round of the task in its shard, as its journal recorded it."""

    iteration: Round
    verdict: str | None = None
    audit: str | None = None
    error_key: str | None = None


class _ExportedWork(_Strict):
    id: TaskId
    branch: BranchName
    head: ObjectId
    start: ObjectId | None = None
    contract: Annotated[dict[str, Any], AfterValidator(_contract)] | None = None
    files: list[RepoPath] = Field(default_factory=list)
    included: list[RepoPath] = Field(default_factory=list)
    included_blobs: dict[ObjectId, RepoPath] = Field(default_factory=dict)  # blob id -> path
    iteration: Round = 1
    round_base: RoundCount = 0
    rounds: list[ExportedRound] = Field(default_factory=list)  # absent from an older launcher's export


class ExportedTask(_ExportedWork):
    approval_hash: str = Field(min_length=1)


def _launcher_ref(value: str) -> str:
    if not value.startswith(("refs/launcher/", "refs/heads/launcher/")) or ".." in value or value.endswith("/"):
        raise ValueError(f"{value[:80]!r} is not a launcher ref (refs/launcher/... or refs/heads/launcher/...)")
    return value


class ExportedSpare(_ExportedWork):
    """A best-of-N attempt approved but not selected: bundled under `ref` (its commits kept), so
    that `land --from` lands it as its task (`task`) when the selected attempt cannot land. Or
    (`state` "escalated") one that waited at the iteration cap when the selection set it aside:
    no approval yet, so when no approved attempt can land the task is escalated with it, and
    `launcher choose` decides, as in a local run."""

    task: TaskId
    ref: Annotated[str, AfterValidator(_launcher_ref)]
    state: Literal["approved", "escalated"] = "approved"  # absent from an older launcher's export
    approval_hash: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _approved_has_its_hash(self) -> ExportedSpare:
        if self.state == "approved" and self.approval_hash is None:
            raise ValueError(f"spare {self.id!r}: an approved attempt without its approval_hash")
        return self


class ExportManifest(_Strict):
    schema_: Literal["launcher-export/2"] = Field(alias="schema")
    run_id: RunId
    shard: str
    plan_digest: Digest
    plan_order: list[TaskId]
    base_sha: ObjectId
    target: BranchName
    plan: dict[str, Any]
    bundle: ExportBundle | None = None
    tasks: list[ExportedTask]
    not_exported: dict[TaskId, str]
    # approved best-of-N attempts the selection set aside (also listed in `not_exported`): absent
    # from an older launcher's export, which `land --from` then lands without them
    spares: list[ExportedSpare] = Field(default_factory=list)
