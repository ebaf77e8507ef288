"""`launcher clean [RUN] [--all]`: remove the worktrees and branches a run left behind."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from launcher.app import clean_artifacts
from launcher.app.context import STATE_DIR, open_journal
from launcher.app.land.kept_branches import branches_to_keep
from launcher.app.mutation import sweep_leftovers
from launcher.app.mutation.judge_leftovers import remove_judge_leftovers
from launcher.app.run.contract_dir import remove_leftovers
from launcher.app.run.export import remove_run_partials
from launcher.app.takeover import save_uncommitted, take_over
from launcher.engine import site_installs
from launcher.engine.tree_guard import drop_ended_snapshots
from launcher.errors import UsageProblem
from launcher.gates.judge_lock import reap_dead_judges
from launcher.git import run_leftovers, target_tree, tree_trash, warm_pool, worktrees
from launcher.git.repo import GitRepo
from launcher.git.unsaved_work import kept_line, unsaved_work
from launcher.models.config import load_repo_config
from launcher.models.states import RunStatus, TaskState
from launcher.store.journal import Journal, RunRow, TaskRow, run_ids_in
from launcher.store.mutants import MutantStore
from launcher.store.run_claim import Claim, RunBusy


async def clean(cwd: Path, run_id: str | None, *, all_runs: bool, force: bool = False,
                older_than: float | None = None) -> list[str]:
    """What was removed (and kept: approved work not on the target survives unless `force`).
    `older_than` (days): also the artifacts of settled runs that old (app/clean_artifacts.py)."""
    if run_id and all_runs:  # --all would drop RUN, and --force delete every run's kept work
        raise UsageProblem(f"give a run id or --all, not both (--all cleans every run, not only {run_id})",
                           fix=f"`launcher clean {run_id}` for that run, or `launcher clean --all` for every run",
                           error_key="usage:run_and_all")
    repo = await GitRepo.discover(cwd)
    journal = open_journal(repo)
    configured = load_repo_config(repo.root).worktree_root
    root = worktrees.default_worktree_root(repo, configured)
    held = await _held(repo, root) if all_runs else None
    if held is not None:
        run_ids: list[str] = []  # once the dead workflow runners are reaped, below
    else:  # a named run, else the latest, as `status` and `resume` do
        run_id = run_id or journal.latest_run_id()
        if run_id is None:
            # A repository only swept (no run): a killed sweep's processes and installs all the same
            if swept := await _sweep_leftovers(repo, root / "mutation", remove_trees=False):
                return swept
            raise UsageProblem("there is no run to clean", fix="`launcher clean --all` also removes leftovers "
                               "no run records (sweep worktrees, the warm pool)")
        run_ids = [journal.run(run_id).id]
    removed: list[str] = []
    # Imported here: the workflow engine is not needed by every command importing this module
    # (and imports it itself, for `workflow cancel`).
    from launcher.app.workflow.leftovers import reap_dead_runners

    removed += await reap_dead_runners(repo.root, None if all_runs else set(run_ids))
    known = {r.id: r for r in journal.runs(ALL)} if held is not None else {rid: journal.run(rid) for rid in run_ids}
    elsewhere = _other_checkouts_runs(repo, held.trees) if held is not None else {}
    if held is not None:
        run_ids = sorted(set(known) | held.branch_runs)
    for rid in run_ids:
        run = known.get(rid)
        if held is not None and run is not None and not _needs_visit(journal, run, held):
            if run.settings.get("export"):  # a killed export's files: not git's
                removed += remove_run_partials(journal, rid)
            if older_than is not None:  # it holds nothing in git: `held` says so
                removed += await _trim_if_old(repo, journal, root, run, older_than, None)
            continue
        if run is None and rid in elsewhere:
            removed.append(f"skipped {rid}: a run of the checkout {elsewhere[rid]} "
                           "(`launcher clean` there removes it)")
            continue
        if run is None:  # branches and trees no journal row records
            keep = {} if force else await branches_to_keep(repo, journal, rid)
            trees = {} if force else await _trees_to_keep(repo, root / rid)
            removed += await run_leftovers.remove_run_leftovers(repo, root, rid, keep, trees)
            continue
        try:  # claimed while its trees go: a `resume` or `land` started now is refused
            claim = journal.claim_run(rid, "clean")
        except RunBusy:
            if run_id:
                raise  # the run asked for by name: refused, naming its live launcher
            removed.append(f"skipped {rid}: still running (launcher pid {journal.run(rid).launcher_pid})")
            continue
        try:
            removed += await _clean_claimed(repo, journal, root, claim, force=force)
            if older_than is not None:
                removed += await _trim_if_old(repo, journal, root, run, older_than, claim)
        finally:
            journal.release_run(claim)
    if all_runs:
        for kind in ("mutation-runs", "calibration"):  # a killed `mutation judge`'s judge CLI
            removed += reap_dead_judges(repo.root / STATE_DIR / kind)
        removed += await _sweep_leftovers(repo, root / "mutation", remove_trees=True)
        removed += await remove_judge_leftovers(repo, root)  # a killed judge's checkout
        removed += await warm_pool.drain(repo, root, save=not force)  # an edit made there by hand is kept
        async with repo.lock.hold():  # a scratch tree is added there under the lock
            removed += _remove_empty_scratch_roots(root)
    else:  # a killed sweep's processes and the installs it re-pointed; its trees stay for a resume
        removed += await _sweep_leftovers(repo, root / "mutation", remove_trees=False)
    removed += await worktrees.reconcile(repo, root)
    removed += await drop_ended_snapshots(repo)  # a killed launcher's copy of the main checkout's files
    if not configured:  # the repository's own `<repo>-<hash8>/` under the cache, left empty
        async with repo.lock.hold():  # a run creates its directory there under the lock
            with contextlib.suppress(OSError):
                root.rmdir()
    return removed


async def _clean_claimed(repo: GitRepo, journal: Journal, root: Path, claim: Claim, *, force: bool) -> list[str]:
    """One run's leftovers, this process holding its claim: what its dead launcher left running
    is killed first (as `resume` does), and without `force` the uncommitted work in its
    worktrees (an agent's, finished after its launcher died) is saved under a ref that is kept."""
    rid = claim.run_id
    done = await take_over(repo, journal, root, claim, save=False)
    # What its commands re-pointed into its worktrees (a launcher killed mid-check never put it
    # back) goes back before the worktrees go, as `resume` puts it back (engine/site_installs.py)
    record = repo.root / STATE_DIR / "runs" / rid / site_installs.RECORD
    done += [f"{line} (a command of run {rid} installed the project there from one of its worktrees)"
             for line in await site_installs.put_back_left(root / rid, record)]
    done += remove_run_partials(journal, rid)  # a killed shard export's half-written bundle
    done += remove_leftovers(journal, rid)  # an agent attempt's private contract directory
    if not force:  # a settled run's too: an edit made there by hand
        done += await save_uncommitted(repo, root, journal, rid)
    keep = {} if force else await branches_to_keep(repo, journal, rid)
    trees = {} if force else await _trees_to_keep(repo, root / rid)  # what could not be saved
    done += await run_leftovers.remove_run_leftovers(repo, root, rid, keep, trees)
    done += await _forget_removed(repo, journal, rid)
    return done


async def _trim_if_old(repo: GitRepo, journal: Journal, root: Path, run: RunRow, older_than: float,
                       claim: Claim | None) -> list[str]:
    """`--older-than`: the run's artifacts, when they are that old and the run is settled and
    holds nothing any more (app/clean_artifacts.py). `claim`: the caller's, after its clean
    (None: the run held nothing to clean; it is claimed here before its folder goes)."""
    folder = clean_artifacts.old_folder(repo.root, run, older_than)
    if folder is None:
        return []
    if claim is not None:  # what the clean just kept is still there
        prefix = worktrees.BRANCH_PREFIX
        listed = await repo.git("for-each-ref", "--count=1", "--format=%(refname)",
                                f"refs/heads/{prefix}/{run.id}/", f"refs/{prefix}/{run.id}/")
        if listed.out.strip() or (root / run.id).is_dir():
            return [clean_artifacts.kept_line(run.id, folder, "the run still holds branches, refs or worktrees "
                                              f"(`launcher clean {run.id} --force` removes them)")]
        why = clean_artifacts.why_kept(journal, run.id, claim.previous_status, folder)
        return [clean_artifacts.kept_line(run.id, folder, why) if why else clean_artifacts.trim(folder, run.id)]
    if why := clean_artifacts.why_kept(journal, run.id, run.status, folder):  # read only: no claim needed
        return [clean_artifacts.kept_line(run.id, folder, why)]
    try:
        mine = journal.claim_run(run.id, "clean")
    except RunBusy:
        return [f"skipped {run.id}: still running (launcher pid {journal.run(run.id).launcher_pid})"]
    try:
        return await _trim_if_old(repo, journal, root, run, older_than, mine)
    finally:
        journal.release_run(mine)


async def _trees_to_keep(repo: GitRepo, run_dir: Path) -> dict[Path, str]:
    """The run's worktrees holding work no commit holds (git/unsaved_work.py): path -> why kept."""
    if not run_dir.is_dir():
        return {}
    kept = {}
    # `_integration`, `_grading`: the launcher's own scratch trees (task ids start with [a-z0-9]),
    # checks of commits that exist elsewhere; no one's work is there to keep
    for tree in sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.is_symlink()
                       and not p.name.startswith("_")):
        if why := await unsaved_work(repo, tree):
            kept[tree] = kept_line(tree, why)
    return kept


def _other_checkouts_runs(repo: GitRepo, listed: list[worktrees.WorktreeInfo]) -> dict[str, Path]:
    """Run id -> the other checkout (worktree) of this repository whose journal records it. Each
    checkout keeps its own `.launcher/`, while branches are shared: `clean --all` here leaves the
    branches and worktrees of another checkout's runs (one may be running now) alone."""
    found: dict[str, Path] = {}
    for info in listed:
        if info.bare or info.path.resolve() == repo.root.resolve():
            continue
        for rid in run_ids_in(info.path / STATE_DIR / "launcher.db"):
            found.setdefault(rid, info.path)
    return found


async def _forget_removed(repo: GitRepo, journal: Journal, run_id: str) -> list[str]:
    """The journal no longer names a branch or worktree that is gone: `status` would show them
    as kept for inspection. Except the branch of approved work not on the target (`--force`
    deleted it): its name stays, so `status` and `land` withdraw the approval naming the gone
    branch and its way back (app/run/grading.py); the returned lines say so now."""
    said: list[str] = []
    target = await _target_ref(repo, journal, run_id)
    for row in journal.tasks(run_id):
        gone: dict[str, None] = {}
        if row.worktree and not Path(row.worktree).exists():
            gone["worktree"] = None
        if row.branch and not await repo.branch_exists(row.branch):
            if await _approved_unlanded(repo, row, target):
                said.append(_withdrawn_line(row))
            else:
                gone["branch"] = None
        if gone:
            journal.update_task(run_id, row.task_id, **gone)
    return said


async def _target_ref(repo: GitRepo, journal: Journal, run_id: str) -> str | None:
    target = journal.run(run_id).target
    found = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{target}", check=False) if target else None
    return f"refs/heads/{target}" if found is not None and found.ok else None


async def _approved_unlanded(repo: GitRepo, row: TaskRow, target: str | None) -> bool:
    """An approved task whose approved commit the target does not hold (merged by hand, its
    branch deleted by a plain `clean`, it does): its work can no longer land."""
    if row.state is not TaskState.APPROVED or row.merged or not row.approval_hash or not row.head_sha:
        return False
    held = await repo.git("cat-file", "-e", f"{row.head_sha}^{{commit}}", check=False)
    if not held.ok or target is None:
        return True
    return not await target_tree.adds_nothing(repo, row.head_sha, target)


def _withdrawn_line(row: TaskRow) -> str:
    return (f"withdrawn approval of {row.task_id}: its approved branch {row.branch} was deleted before it "
            f"landed; `git branch {row.branch} {row.head_sha}` puts it back (while git keeps that commit), "
            f"then `launcher grade {row.run_id} {row.task_id}` approves it again")


async def _sweep_leftovers(repo: GitRepo, sweeps_root: Path, *, remove_trees: bool) -> list[str]:
    """What mutation sweeps that were killed and never resumed left, unless that sweep's process
    still runs: the processes its workers started are killed and what its test command installed
    from a worker tree is put back (app/mutation/sweep_leftovers.py), also for a sweep whose trees
    are gone; with `remove_trees` (`--all`), its worker worktrees then go (a resume would reuse them)."""
    state = repo.root / STATE_DIR
    recorded = sweep_leftovers.recorded_sweeps(state)
    if not sweeps_root.is_dir() and not recorded:
        return []
    db = state / "launcher.db"
    store = MutantStore(db) if db.exists() else None
    removed: list[str] = []
    try:
        known = {r.id: r for r in store.sweeps(10_000)} if store else {}
        dirs = {p.name: p for p in sorted(sweeps_root.iterdir()) if p.is_dir()} if sweeps_root.is_dir() else {}
        for sweep_id in sorted(set(dirs) | set(recorded)):
            row = known.get(sweep_id)
            if row and row.running_elsewhere():
                if sweep_id in dirs and remove_trees:
                    removed.append(f"skipped sweep {sweep_id}: still running")
                continue
            sweep_dir = dirs.get(sweep_id)
            # before the trees go (or after they went by hand): nothing may write there any more
            removed += await sweep_leftovers.kill_left_running(sweep_id, sweeps_root / sweep_id)
            removed += await sweep_leftovers.put_back_installs(state, sweep_id, sweep_dir)
            if sweep_dir is not None and remove_trees:
                removed += await _remove_sweep_trees(repo, sweeps_root, sweep_dir)
    finally:
        if store:
            store.close()
    return removed


async def _remove_sweep_trees(repo: GitRepo, sweeps_root: Path, sweep_dir: Path) -> list[str]:
    # Imported here: the mutation engine loads libcst (~1 s), which `launcher clean` at large,
    # and every other command importing this module, does not need.
    from launcher.mutation.sweep import BYTECODE_DIR

    removed: list[str] = []
    trees = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name != BYTECODE_DIR)
    left: list[str] = []
    await worktrees.remove_worktrees(repo, [(tree, None) for tree in trees], left)
    for tree in trees:  # a directory git no longer knows: ours, under the launcher's cache
        if tree.exists() and (problem := tree_trash.remove_dir(tree)) is not None:
            left.append(problem)
    removed += [f"removed sweep worktree {tree}" for tree in trees if not tree.exists()]
    removed += sorted(set(left))  # never said removed: what is left, and how to remove it
    if (sweep_dir / BYTECODE_DIR).is_dir():
        problem = tree_trash.remove_dir(sweep_dir / BYTECODE_DIR)
        removed.append(problem or f"removed sweep bytecode cache {sweep_dir / BYTECODE_DIR}")
    for leftover in (sweep_dir, sweeps_root):
        with contextlib.suppress(OSError):
            leftover.rmdir()
    return removed


# Folders under the worktree root that hold scratch trees only while their commands run: a
# workflow's test and coverage runs (`wf_<id>/`), `mutation fix`'s re-settling (`fix-resettle/`).
_SCRATCH_ROOT = re.compile(r"wf_[0-9a-f]+|fix-resettle")


def _remove_empty_scratch_roots(root: Path) -> list[str]:
    """Such folders left empty (by a finished workflow, or an older launcher's `mutation fix`):
    they would keep the repository's own folder in the cache after `clean --all --force`."""
    removed: list[str] = []
    with contextlib.suppress(OSError):
        for child in sorted(root.iterdir()):
            if _SCRATCH_ROOT.fullmatch(child.name) and child.is_dir() and not child.is_symlink():
                with contextlib.suppress(OSError):  # not empty: in use, or holding a kept tree
                    child.rmdir()
                    removed.append(f"removed empty folder {child}")
    return removed


# `journal.runs(ALL)`: every run the journal records (SQLite reads a negative LIMIT as none).
ALL = -1


@dataclass(frozen=True)
class _Held:
    """What runs hold in the repository and under the worktree root, read once by `clean --all`
    (one `for-each-ref`, one `worktree list`, one directory listing), so that a run holding
    nothing costs no git process: `clean --all` visits the runs that hold something, and its
    time does not grow with the number of runs ever made."""

    runs: set[str]  # run ids holding a branch, a saved ref, a worktree or a directory
    branch_runs: set[str]  # run ids of the `launcher/<run>/*` branches (recorded or not)
    branches: set[str]  # the `launcher/*` branches (short names)
    trees: list[worktrees.WorktreeInfo]


async def _held(repo: GitRepo, root: Path) -> _Held:
    prefix = worktrees.BRANCH_PREFIX
    listed = await repo.git("for-each-ref", "--format=%(refname)", f"refs/heads/{prefix}/", f"refs/{prefix}/")
    branches = {ref.removeprefix("refs/heads/") for ref in listed.out.split() if ref.startswith("refs/heads/")}
    branch_runs = {name.split("/")[1] for name in branches if name.count("/") >= 2}
    saved = {ref.split("/")[2] for ref in listed.out.split()
             if ref.startswith(f"refs/{prefix}/") and ref.count("/") >= 3}
    trees = await worktrees.list_worktrees(repo)
    runs = branch_runs | saved
    for info in trees:
        if info.branch and info.branch.startswith(f"{prefix}/") and info.branch.count("/") >= 2:
            runs.add(info.branch.split("/")[1])
        with contextlib.suppress(ValueError, OSError):
            runs.add(info.path.resolve().relative_to(root.resolve()).parts[0])
    with contextlib.suppress(OSError):
        runs.update(entry.name for entry in root.iterdir())
    return _Held(runs, branch_runs, branches, trees)


def _needs_visit(journal: Journal, run: RunRow, held: _Held) -> bool:
    """Whether `clean --all` has anything to do for a recorded run: it holds a branch, ref,
    worktree or directory; it may be running (or its dead launcher left processes to kill); or
    its journal names a place to forget (a worktree, a branch that is gone) or an agent
    attempt's private contract directory. A gone branch of approved work that never landed is
    no such place: its name stays on purpose (`_forget_removed`)."""
    if run.id in held.runs or run.status is RunStatus.RUNNING or journal.live_processes(run.id):
        return True
    return any(_names_something(row, held.branches) for row in journal.tasks(run.id))


def _names_something(row: TaskRow, branches: set[str]) -> bool:
    if row.contract_dir is not None or row.worktree:
        return True
    if not row.branch:
        return False
    kept_name = (row.state is TaskState.APPROVED and not row.merged and bool(row.approval_hash)
                 and bool(row.head_sha))
    return row.branch in branches or not kept_name
