"""`land --from`: the approved best-of-N attempts a shard's selection set aside ("spares").

A shard exports each best-of-N task as its selected attempt, and beside it the approved attempts
the selection did not pick, their commits in the bundle under the ref they were kept under. The
land journals each as the shard's journal had it (skipped: not selected, approved), its commits
kept under this land's own `refs/launcher/<run>/<attempt>/not-selected`: so when the selected
attempt breaks the integration check or conflicts, the next best lands as the task here too
(`best_of.runner_up`), as in a local landing. A spare that cannot be brought over (an older
export without them, a ref missing from the bundle) stays as the shard reported it, the report
saying its commits are not in this repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.app.run.best_of import NOT_SELECTED
from launcher.git.repo import GitRepo
from launcher.models.states import TaskState
from launcher.store.journal import BEST_OF_N, Journal


async def import_spares(repo: GitRepo, journal: Journal, run_id: str, directory: Path,
                        data: dict[str, Any], bundle: Path | None) -> list[str]:
    """Bring the export's spares over into run `run_id`; returns those brought."""
    spares = data.get("spares") or []
    if not spares or bundle is None:
        return []
    listed = await repo.git("bundle", "list-heads", str(bundle), check=False)
    heads = {ref: sha for sha, _, ref in (line.partition(" ") for line in listed.out.splitlines())}
    brought = []
    landed = {row.task_id for row in journal.tasks(run_id) if row.state is TaskState.MERGED}
    for spec in spares:
        row = journal.task(run_id, spec["id"])
        if spec.get("task") in landed:
            continue  # its task is on the target already (an earlier land): nothing falls back to it
        if (row.state is not TaskState.SKIPPED or not row.message.startswith(BEST_OF_N)
                or heads.get(spec["ref"]) != spec["head"]
                or not spec["branch"].startswith(f"launcher/{data['run_id']}/")
                or await repo.branch_exists(spec["branch"])):
            continue
        kept = f"refs/launcher/{run_id}/{spec['id']}/{NOT_SELECTED}"
        async with repo.lock.hold():
            fetched = await repo.git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(bundle),
                                     f"{spec['ref']}:{kept}", check=False)
        at = await repo.git("rev-parse", "--verify", "--quiet", kept, check=False)
        if not fetched.ok or at.out.strip() != spec["head"]:
            continue
        for graded in spec["rounds"]:
            journal.record_round(run_id, spec["id"], graded["iteration"], verdict=graded["verdict"],
                                 audit=graded["audit"], error_key=graded["error_key"])
        state = spec.get("state") or TaskState.APPROVED.value  # an older export's: approved ones only
        journal.transition(
            run_id, spec["id"], TaskState.SKIPPED,
            f"{BEST_OF_N} not selected ({state}) in shard {data['shard']} (run "
            f"{data['run_id']}), imported from {directory}; its commits kept as {kept}",
            branch=spec["branch"], head_sha=spec["head"], start_sha=spec["start"] or data["base_sha"],
            approval_hash=spec.get("approval_hash"), contract=spec["contract"], files=spec["files"],
            included=spec["included"], included_blobs=spec["included_blobs"],
            iteration=spec["iteration"], round_base=spec["round_base"])
        brought.append(spec["id"])
    return brought
