"""Where a landed change came from, written into its landing commit and read back from history.

`land --from` lands a shard's exported task as a task of its own new run, so its landing
commit's `Launcher-Run` trailer names the land, not the export. `Launcher-Origin: <shard run
id>/<task id>` (and `Launcher-Origin-Head: <exported head>`) tie it back to the export, so a
final job run again (a CI re-run after the push succeeded) finds the task already landed on the
target (even when someone reverted it there since) instead of landing it a second time.

Only lines the launcher wrote are believed: an agent's commit message is the agent's text, and an
agent knows its run id and its siblings' task ids, so a `Launcher-Origin` line in it could claim
that a sibling that never landed is on the target. The landing commits are on the target's
first-parent chain (an agent's own commits come in through a merge's second parent), and the
rebase strategy, which replays an agent's commits onto that chain, drops these two lines from
the messages it replays (`reserved_lines_dropped`): so only the landing commits carry them.
"""

from __future__ import annotations

from launcher.app.context import RunContext
from launcher.git.commits import ORIGIN, ORIGIN_HEAD
from launcher.git.repo import GitRepo


def origin_of(export_run_id: str, task_id: str) -> str:
    return f"{export_run_id}/{task_id}"


def origin_trailers(ctx: RunContext, task_id: str) -> dict[str, str]:
    """The trailers naming the export a task of this run was imported from (none for a task
    that ran here): recorded in the run's settings by `land --from`."""
    origin = ctx.journal.run(ctx.run_id).settings.get("origins", {}).get(task_id)
    if not isinstance(origin, dict):
        return {}
    return {ORIGIN: str(origin.get("origin", "")), ORIGIN_HEAD: str(origin.get("head", ""))}


async def landed_origins(repo: GitRepo, base: str, target: str) -> dict[str, str]:
    """origin -> the landing commit on `target` (after `base`, where any landing of the export
    is) whose trailers say it landed that exported task. Only the first-parent chain is read:
    the commits a landing merged in are an agent's, and what their messages say is not believed."""
    listed = await repo.git(
        "log", "--no-show-signature", "--first-parent", f"--grep={ORIGIN}: ", "-F",
        f"--format=%H%x00%(trailers:key={ORIGIN},valueonly,separator=%x01)%x00",
        f"{base}..refs/heads/{target}", "--", check=False)
    found: dict[str, str] = {}
    if not listed.ok:
        return found
    fields = listed.out.split("\0")
    for commit, values in zip(fields[0::2], fields[1::2], strict=False):
        for value in values.split("\x01"):
            if value.strip():
                found.setdefault(value.strip(), commit.strip())  # newest first: the latest landing
    return found
