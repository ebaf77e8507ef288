"""Where a landed change came from, written into its landing commit and read back from history.

`land --from` lands a shard's exported task as a task of its own new run, so its landing
commit's `Launcher-Run` trailer names the land, not the export. `Launcher-Origin: <shard run
id>/<task id>` (and `Launcher-Origin-Head: <exported head>`) tie it back to the export, so a
final job run again (a CI re-run after the push succeeded) finds the task already landed on the
target (even when someone reverted it there since) instead of landing it a second time.
`Launcher-Origin-Plan: <plan digest>/<task id>` ties it to the plan's task whichever shard run
did it: a shard job run again (a new run id: "Re-run failed jobs") exports the plan's tasks anew,
and a task of that plan already on the target is not landed a second time either.

Only lines the launcher wrote are believed: an agent's commit message is the agent's text, and an
agent knows its run id and its siblings' task ids, so a `Launcher-Origin` line in it could claim
that a sibling that never landed is on the target. The landing commits are on the target's
first-parent chain (an agent's own commits come in through a merge's second parent), and the
rebase strategy, which replays an agent's commits onto that chain, drops these lines from the
messages it replays (`reserved_lines_dropped`): so only the landing commits carry them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from launcher.app.context import RunContext
from launcher.git.commits import ORIGIN, ORIGIN_HEAD, ORIGIN_PLAN
from launcher.git.repo import GitRepo


def origin_of(export_run_id: str, task_id: str) -> str:
    return f"{export_run_id}/{task_id}"


def plan_task_of(plan_digest: str, task_id: str) -> str:
    """The plan's task, whichever shard run did it: `<plan digest>/<task id>`."""
    return f"{plan_digest}/{task_id}"


@dataclass(frozen=True)
class Landed:
    """What the target's first-parent chain says `land --from` landed since the export's base."""

    # `<shard run id>/<task id>` -> the landing commit
    origins: dict[str, str] = field(default_factory=dict)
    # `<plan digest>/<task id>` -> (the landing commit, the `<shard run id>/<task id>` it landed)
    plan_tasks: dict[str, tuple[str, str]] = field(default_factory=dict)
    # `<shard run id>/<task id>` -> the exported head its latest landing landed (its
    # `Launcher-Origin-Head`); absent when that commit does not name one per origin
    heads: dict[str, str] = field(default_factory=dict)

    def landing_of(self, origin: str, head: str) -> str | None:
        """The latest landing commit of `origin`, when it landed that very `head` (or does not
        say which head it landed); None when the origin never landed, or landed another head."""
        commit = self.origins.get(origin)
        if commit is None:
            return None
        landed_head = self.heads.get(origin)
        return commit if landed_head is None or landed_head == head else None


def origin_trailers(ctx: RunContext, task_id: str) -> dict[str, str]:
    """The trailers naming the export a task of this run was imported from (none for a task
    that ran here): recorded in the run's settings by `land --from`."""
    origin = ctx.journal.run(ctx.run_id).settings.get("origins", {}).get(task_id)
    if not isinstance(origin, dict):
        return {}
    trailers = {ORIGIN: str(origin.get("origin", "")), ORIGIN_HEAD: str(origin.get("head", ""))}
    if origin.get("plan"):  # absent in a run an older launcher journaled
        trailers[ORIGIN_PLAN] = str(origin["plan"])
    return trailers


async def landed_origins(repo: GitRepo, base: str, target: str, tip: str | None = None) -> Landed:
    """The landing commits on `target` (after `base`, where any landing of the export is) whose
    trailers say they landed an exported task, by origin and by plan task. Only the first-parent
    chain is read: the commits a landing merged in are an agent's, and what their messages say is
    not believed. `tip`: read from that commit of the target (a landing pass's), not its branch."""
    listed = await repo.git(
        "log", "--no-show-signature", "--first-parent", f"--grep={ORIGIN}: ", "-F",
        f"--format=%H%x00%(trailers:key={ORIGIN},valueonly,separator=%x01)%x00"
        f"%(trailers:key={ORIGIN_PLAN},valueonly,separator=%x01)%x00"
        f"%(trailers:key={ORIGIN_HEAD},valueonly,separator=%x01)%x00",
        f"{base}..{tip or f'refs/heads/{target}'}", "--", check=False)
    found = Landed()
    if not listed.ok:
        return found
    fields = listed.out.split("\0")
    for commit, origins, plans, heads in zip(fields[0::4], fields[1::4], fields[2::4], fields[3::4], strict=False):
        commit = commit.strip()
        by_task: dict[str, str] = {}
        named, landed_heads = _values(origins), _values(heads)
        for index, value in enumerate(named):
            if value not in found.origins and len(landed_heads) == len(named):
                found.heads[value] = landed_heads[index]  # the head this (latest) landing landed
            found.origins.setdefault(value, commit)  # newest first: the latest landing
            by_task.setdefault(value.rpartition("/")[2], value)
        for value in _values(plans):
            origin = by_task.get(value.rpartition("/")[2])
            if origin is not None:  # a plan task this commit landed from a named export
                found.plan_tasks.setdefault(value, (commit, origin))
    return found


def _values(listed: str) -> list[str]:
    return [value.strip() for value in listed.split("\x01") if value.strip()]


@dataclass(frozen=True)
class Earlier:
    """An earlier landing of an exported task: its landing commit, and the `<shard run id>/<task
    id>` it landed (this export's own, or another shard run's of the same plan task)."""

    commit: str
    origin: str


def earlier_landing(landed: Landed, data: dict[str, Any], spec: dict[str, Any]) -> Earlier | None:
    """The landing on the target of this export's task `spec`, or of the same plan's task from
    another run of its shard (a CI job run again after the land job landed its first run's)."""
    own = origin_of(data["run_id"], spec["id"])
    if (commit := landed.landing_of(own, spec["head"])) is not None:
        return Earlier(commit, own)
    if own in landed.origins:
        return None  # landed at another head: `grade` approved a newer one since (`regraded_since`)
    hit = landed.plan_tasks.get(plan_task_of(data["plan_digest"], spec["id"]))
    return Earlier(*hit) if hit else None


async def regraded_since(repo: GitRepo, landed: Landed, origin: str, head: str, target: str) -> str | None:
    """Why a task whose earlier landing landed another head of it than `head` (its shard's `grade`
    approved a newer head since, and wrote the export again) is not landed; None when it is not
    such a task, or when `head` is built on the head that landed: then what it adds lands now,
    and only that (the rest is on the target already)."""
    landed_head = landed.heads.get(origin)
    if origin not in landed.origins or landed_head is None or landed_head == head:
        return None
    if await repo.is_ancestor(landed_head, head):
        return None
    commit = landed.origins[origin]
    return (f"not landed: an earlier land put this task on {target} at head {landed_head[:12]} (by "
            f"{commit[:12]}), and it is now approved at {head[:12]}, which does not contain that head "
            "(its branch was rewritten since): landing it would land the task a second time, in "
            f"another version. To bring in what changed, `git diff {landed_head[:12]} {head[:12]}` and "
            f"commit that onto {target}, or run the task again on {target}")


def already_message(target: str, earlier: Earlier, data: dict[str, Any], spec: dict[str, Any]) -> str:
    """Why an exported task is reported merged and not landed again."""
    if earlier.origin == origin_of(data["run_id"], spec["id"]):
        return (f"already landed on {target} by {earlier.commit[:12]} (an earlier land of shard "
                f"{data['shard']}'s export, run {data['run_id']}); not landed again")
    return (f"already landed on {target} by {earlier.commit[:12]} (an earlier land of this plan's task "
            f"{spec['id']!r} from run {earlier.origin.rpartition('/')[0]}'s export); not landed again: "
            f"shard {data['shard']}'s run {data['run_id']} did it a second time (head {spec['head'][:12]}), "
            "and that version is left out")


async def built_on_redone(repo: GitRepo, redone: list[tuple[dict[str, Any], Earlier]],
                          spec: dict[str, Any]) -> str | None:
    """Why an exported task built on a task its shard did a second time, while the first version
    landed already, is not landed: its branch holds that second version too, so landing it would
    land the plan's task twice. None when it holds no such task's work."""
    for other, earlier in redone:
        if other is spec or not await repo.is_ancestor(other["head"], spec["head"]):
            continue
        return (f"not landed: its exported work is built on task {other['id']!r} as its shard's run did it "
                f"a second time (head {other['head'][:12]}), but task {other['id']!r} of this plan already "
                f"landed by {earlier.commit[:12]} (from run {earlier.origin.rpartition('/')[0]}'s export): "
                f"landing it would land {other['id']!r} a second time. To land only its own commits, "
                f"`git cherry-pick {other['head'][:12]}..{spec['head'][:12]}` onto the target (its branch "
                f"{spec['branch']} is kept), or run task {spec['id']!r} again on the target")
    return None


def landed_before_rerun(target: str, landed: Landed, data: dict[str, Any], task_id: str,
                        reason: str) -> tuple[str, str] | None:
    """(landing commit, message) for a task its shard did not export (`reason`: failed, say)
    whose plan's task an earlier land put on the target from another run's export: a re-run
    shard job that did it again and failed does not make the plan's work on the target `failed`.
    None when no earlier land of the plan's task is on the target."""
    hit = landed.plan_tasks.get(plan_task_of(data["plan_digest"], task_id))
    if hit is None or hit[1] == origin_of(data["run_id"], task_id):
        return None
    commit, origin = hit
    return commit, (f"already landed on {target} by {commit[:12]} (an earlier land of this plan's task "
                    f"{task_id!r} from run {origin.rpartition('/')[0]}'s export); not landed again: shard "
                    f"{data['shard']}'s run {data['run_id']} did it a second time and did not export it ({reason})")
