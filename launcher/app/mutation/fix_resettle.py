"""After `launcher mutation fix` landed tests: the sweep's other mutants those tests also kill.

A task's evidence names only the mutants it claimed. The landed tests may well kill others in
the same files: mutants of the sweep that were NoCoverage (no test ran the line then) or Survived
and were not picked. Left as they were, the rewritten reports would say "no test executes this
line" of a line the new tests execute, and the score "after" would be lower than a fresh sweep's.
So every NoCoverage or Survived mutant of the files the claimed mutants are in is run again with
the landed test files, on a detached checkout of the commit they landed on (the run's journaled
landing: never the main checkout's HEAD, which the user may have moved since), by the kill gate's
own runner (`gates.mutant_kill.kills`: each mutant applied alone to a scratch copy); those the
tests kill become Killed, by those tests. A mutant that no longer fits the landed code is left as
it was. What is not killed keeps its status (coverage is not measured again).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.app.context import open_journal, state_dir
from launcher.app.run.inputs import prepare_worktree_root
from launcher.engine import site_installs
from launcher.engine.command_env import command_env
from launcher.gates.mutant_kill import TEST_TIMEOUT_S, kills
from launcher.gates.relay import add_scratch, remove_scratch
from launcher.git.repo import GitRepo
from launcher.git.worktrees import default_worktree_root
from launcher.models.config import load_repo_config
from launcher.models.plan import plan_from_journal
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.report_stryker import entries

MAX_RESETTLED = 500  # mutants run again at most (each is one run of the landed test files)
RESETTLED = (MutantStatus.NO_COVERAGE.value, MutantStatus.SURVIVED.value)
RESETTLE_TIMEOUT_S = 60.0  # one run of the landed tests with one mutant (a loop it makes: not a kill)


@dataclass
class Resettled:
    killed: dict[str, list[str]] = field(default_factory=dict)  # mutant id -> the landed tests that kill it
    was: dict[str, str] = field(default_factory=dict)  # mutant id -> its status before (NoCoverage, Survived)
    tried: int = 0
    note: str = ""  # why nothing could be re-settled, or what was left out
    put_back: list[str] = field(default_factory=list)  # installs the tests made in the user's venv, put back


def candidates(data: dict[str, Any], claimed: set[str]) -> list[tuple[Mutant, str]]:
    """The NoCoverage and Survived mutants of the files the claimed mutants are in (not those)."""
    pairs = entries(data)
    files = {m.target for m, _ in pairs if m.id in claimed}
    return [(m, str(r["status"])) for m, r in pairs
            if m.target in files and m.id not in claimed and str(r["status"]) in RESETTLED]  # fmt: skip


async def landed_commit(repo: GitRepo, run_id: str) -> str | None:
    """The commit run `run_id` landed its tasks on (its last finished landing), if it still exists."""
    journal = open_journal(repo)
    try:
        record = journal.landing(run_id)
    finally:
        journal.close()
    if record is None or not record.get("done"):
        return None
    return await repo.commit_of(str(record["new_tip"]))  # None: pruned since (its branch deleted)


def tests_env(repo: GitRepo, run_id: str) -> Callable[[Path], dict[str, str]]:
    """The environment the landed tests run with here, as they did as the tasks' check (the
    agent wrote them: DESIGN §14): the allowlisted one (`engine.command_env`) with the variables
    the run's plan names in `check_env`, for the tree they run in; never the launcher's own
    (GITHUB_TOKEN, cloud keys)."""
    journal = open_journal(repo)
    try:
        plan = plan_from_journal(journal.run(run_id).plan, f"run {run_id}")
    finally:
        journal.close()
    names = list(dict.fromkeys([*plan.run.check_env, *(name for task in plan.tasks for name in task.check_env)]))

    def env_of(tree: Path) -> dict[str, str]:
        return command_env(tree, main_root=repo.root, run_id=run_id, task_id=None, pass_names=names)

    return env_of


async def resettle(repo: GitRepo, data: dict[str, Any], claimed: set[str], tests: list[str], python: str,
                   run_id: str) -> Resettled:  # fmt: skip
    """Run the candidates against the landed `tests` on the commit run `run_id` landed them on."""
    found = Resettled()
    picked = candidates(data, claimed)
    if not picked or not tests:
        return found
    landed = await landed_commit(repo, run_id)
    if landed is None:
        found.note = (f"the commit run {run_id} landed its tests on is not recorded (or no longer exists), so the "
                      "sweep's other mutants were not run against them: run `launcher mutation sweep` again for a "
                      "true score")  # fmt: skip
        return found
    if len(picked) > MAX_RESETTLED:
        found.note = (f"only the first {MAX_RESETTLED} of {len(picked)} NoCoverage/Survived mutants of the fixed "
                      "files were run against the landed tests: run `launcher mutation sweep` again for the rest")
        picked = picked[:MAX_RESETTLED]
    env_of = tests_env(repo, run_id)
    configured = load_repo_config(repo.root).worktree_root
    await prepare_worktree_root(repo, configured)
    scratch = default_worktree_root(repo, configured) / "fix-resettle" / run_id
    await add_scratch(repo, scratch, landed)
    # The landed tests run in copies beside the scratch tree; what they install from there into
    # the user's venv (`pip install -e .`) is put back after them (engine/site_installs.py).
    record = scratch.parent / f"{run_id}.{site_installs.RECORD}"
    try:
        async with site_installs.guarded(scratch.parent, record, env_of(scratch),
                                         state_dir=state_dir(repo)) as put_back:
            present = [t for t in tests if (scratch / t).is_file()]
            killed = await kills(scratch, python, present, [m for m, _ in picked], env_of=env_of,
                                 timeout_s=min(TEST_TIMEOUT_S, RESETTLE_TIMEOUT_S),
                                 copies=scratch.parent) if present else None  # fmt: skip
    finally:
        await remove_scratch(repo, scratch)
        async with repo.lock.hold():  # `fix-resettle/` left empty would keep the repository's own
            with contextlib.suppress(OSError):  # folder in the cache after `clean --all --force`
                scratch.parent.rmdir()
    if put_back:
        found.put_back = [f"{line} (the landed tests installed the project from their scratch copy; tests should "
                          "not install into a shared environment)" for line in put_back]
    found.tried = len(picked)
    if killed is None:
        found.note = ("the landed tests did not pass on their own at the landed commit, so the sweep's other "
                      "mutants were not run against them: run `launcher mutation sweep` again for a true score")
        return found
    found.killed = killed
    found.was = {m.id: status for m, status in picked if m.id in killed}
    return found

