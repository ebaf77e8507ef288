"""A shard's task whose work is on the target already is reported merged ("already landed ...;
not landed again"), never blocked or failed, whichever land put it there and in whatever order
or overlap: `launcher land --from DIR` run twice at once (a CI land job re-run while the first
still lands), or `launcher land RUN` of the shard run in the clone that ran it beside or before a
`land --from` of its export.

The two lands share the shard run's branch names (`launcher/<shard run>/<task>`), and the one
that lands first deletes them: a decision taken once before the landing (`land --from` reads the
target before it fetches) is stale by the time the other one lands. So each landing pass decides
it again against the very commit its compare-and-swap expects (`OnTarget`): if another land
moves the target after that, the swap fails and the pass is made again, deciding anew.

What is believed: the `Launcher-Origin` trailers of the target's first-parent chain (written
only by the launcher: `app/land/origin.py`), this clone's own journal (the shard run's task
recorded merged by a commit in the target's history), and the task's own commits being in the
target's history already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from launcher.app.context import RunContext
from launcher.app.land.origin import Landed, landed_origins, regraded_since
from launcher.git.repo import GitRepo
from launcher.models.states import TaskState
from launcher.store.journal import Journal, TaskRow


@dataclass(frozen=True)
class Already:
    """The commit of the target's history that holds the task's work, and why it is said so."""

    commit: str
    message: str


class OnTarget:
    """What one landing pass finds on the target at `tip` (the commit its swap expects), for a
    run that lands a shard's tasks: a `land --from` run, or a shard run that exported them."""

    def __init__(self, ctx: RunContext, tip: str, origins: dict[str, Any]) -> None:
        self.ctx = ctx
        self.tip = tip
        self.origins = origins  # a `land --from` run's task -> the export it came from
        self._landed: Landed | None = None

    @classmethod
    def of(cls, ctx: RunContext, tip: str) -> OnTarget | None:
        settings = ctx.journal.run(ctx.run_id).settings
        origins = settings.get("origins")
        if isinstance(origins, dict) and origins:
            return cls(ctx, tip, origins)
        if settings.get("export"):  # a shard run: `land --from` of its export may land its tasks
            return cls(ctx, tip, {})
        return None

    async def landed(self) -> Landed:
        if self._landed is None:
            self._landed = await landed_origins(self.ctx.repo, self.ctx.base_sha, self.ctx.target, tip=self.tip)
        return self._landed

    async def find(self, row: TaskRow) -> Already | None:
        """Where the approved task `row` is on the target already; None: it is not."""
        ctx, target = self.ctx, self.ctx.target
        imported = self.origins.get(row.task_id)
        if imported is not None and not isinstance(imported, dict):
            return None
        origin = str(imported["origin"]) if imported else f"{ctx.run_id}/{row.task_id}"
        shard_run = origin.rpartition("/")[0]
        # The head its landing commit names (`Launcher-Origin-Head`) is the exported one: this
        # run's, or (a shard run) the head its task is approved at now.
        head = str(imported.get("head") or "") if imported else (row.head_sha or "")
        landed = await self.landed()
        if commit := landed.landing_of(origin, head):
            return Already(
                commit,
                f"already landed on {target} by {commit[:12]} (a `launcher land --from` of "
                f"run {shard_run}'s export, which landed it first); not landed again",
            )
        if origin in landed.origins:  # it landed at another head: what this one adds lands now
            return None
        plan_task = str(imported.get("plan") or "") if imported else ""
        if plan_task and (hit := landed.plan_tasks.get(plan_task)):
            commit, other = hit
            return Already(
                commit,
                f"already landed on {target} by {commit[:12]} (a land of this plan's task "
                f"{row.task_id!r} from run {other.rpartition('/')[0]}'s export); not landed "
                f"again: run {shard_run} did it a second time, and that version is left out",
            )
        if imported and (commit := await landed_by_shard_run(ctx.repo, ctx.journal, shard_run, row.task_id, self.tip)):
            return Already(
                commit,
                f"already landed on {target} by {commit[:12]} (`launcher land {shard_run}` "
                "in this clone); not landed again",
            )
        if head and head != row.start_sha and await ctx.repo.is_ancestor(head, self.tip):
            return Already(
                self.tip,
                f"already on {target}: its work (head {head[:12]}) is in {target}'s history "
                f"({self.tip[:12]}), put there by another land or by hand; not landed again",
            )
        return None

    async def refusal(self, row: TaskRow) -> str | None:
        """Why the approved task `row`, which an earlier land put on the target at another head
        (its shard run's `grade` approved a newer one since), is not landed: its head is not
        built on the landed one. None: it lands (or `find` found it on the target)."""
        imported = self.origins.get(row.task_id)
        if imported is not None and not isinstance(imported, dict):
            return None
        origin = str(imported["origin"]) if imported else f"{self.ctx.run_id}/{row.task_id}"
        head = str(imported.get("head") or "") if imported else (row.head_sha or "")
        return await regraded_since(self.ctx.repo, await self.landed(), origin, head, self.ctx.target)


async def landed_by_shard_run(repo: GitRepo, journal: Journal, shard_run: str, task_id: str, tip: str) -> str | None:
    """The landing commit this clone's journal records for the shard run's task, when that commit
    is in the history of `tip` (a `launcher land RUN` of the shard run here); None otherwise (a
    clone that did not run the shard, a task not landed)."""
    if not shard_run:
        return None
    row = next((r for r in journal.tasks(shard_run) if r.task_id == task_id), None)
    if row is None or row.state is not TaskState.MERGED or not row.merged or not row.merge_commit:
        return None
    return row.merge_commit if await repo.is_ancestor(row.merge_commit, tip) else None


async def not_exported_landed(
    repo: GitRepo, journal: Journal, shard_run: str, task_id: str, target: str, reason: str
) -> tuple[TaskState, str, str] | None:
    """A task its shard did not export because it landed already (`launcher land RUN` of the shard
    run in this clone, which writes the export again): reported merged when this clone's journal
    records that landing and it is on the target; None otherwise (the reason alone, the
    shard's word, is not believed)."""
    if not reason.startswith(f"{TaskState.MERGED.value}:"):
        return None
    tip = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{target}", check=False)
    if not tip.ok or not (commit := await landed_by_shard_run(repo, journal, shard_run, task_id, tip.out.strip())):
        return None
    return (
        TaskState.MERGED,
        (f"already landed on {target} by {commit[:12]} (`launcher land {shard_run}` in this clone); not landed again"),
        commit,
    )
