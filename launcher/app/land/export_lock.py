"""One landing at a time per shard run: the lock a `land --from` holds on each export it lands.

A shard run's tasks live, in the clone that lands them, on the shared branches
`launcher/<shard run>/<task>`: the landing moves them (a best-of-N fallback files the selected
attempt's branch away; a conflict's resolution round or a culprit's revision round commits on
it) and deletes them once landed. Two landings of one shard run's work at once (`land --from` of
one export twice, a CI land job re-run while the first still lands, or `launcher land RUN` of the
shard run beside a `land --from` of its export) would each read those branches half-way through
the other's work: a task the other land is landing looked withdrawn ("its branch no longer
exists") or moved ("is no longer at ..."), and was reported blocked or failed although it landed.

So each landing of a shard run's work holds an exclusive `flock` on `<git common dir>/
launcher-landing/<shard run id>.lock` from before it reads the branches (and the target's
trailers) to its end; a second one waits for the first (the wait is named on stderr after a few
seconds: `concurrency.file_lock`), then finds what the first landed on the target ("already
landed on ...; not landed again"). The kernel drops the lock of a launcher killed with -9, so a
killed land never holds the next one up. Several exports are locked in one order (sorted run
ids): two lands of overlapping exports never wait for each other in a circle.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

from launcher.concurrency import file_lock
from launcher.git.repo import GitRepo

LOCK_DIR = "launcher-landing"


@contextlib.asynccontextmanager
async def landing_shard_runs(repo: GitRepo, shard_run_ids: Iterable[str]) -> AsyncIterator[None]:
    """Hold the landing lock of every shard run in `shard_run_ids` (waiting for another landing
    of any of them to end) for the body's duration."""
    async with contextlib.AsyncExitStack() as stack:
        for run_id in sorted(set(shard_run_ids)):
            await stack.enter_async_context(file_lock(repo.common_dir / LOCK_DIR / f"{run_id}.lock"))
        yield


def landed_by(run_id: str, settings: dict[str, object]) -> list[str]:
    """The shard runs whose work a command driving run `run_id` may land: the run itself (a
    shard run landed with `launcher land RUN`), and for a `land --from` run the shard runs its
    tasks were exported from (its settings' origins, `<shard run>/<task>`)."""
    origins = settings.get("origins")
    named = [str(o.get("origin", "")).rpartition("/")[0] for o in origins.values() if isinstance(o, dict)] \
        if isinstance(origins, dict) else []
    return [run_id, *(name for name in named if name)]
