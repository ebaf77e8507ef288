"""`launcher mutation sweep`: discover, check, measure, mutate in parallel, store, report.

Flow: repo and defaults (the source packages, pytest when the repo has tests) → mutants
(--since, --shard, --max-mutants, --operators) → the sweep row (sweep_options.py: resumed when an unfinished
sweep of the same base and options exists, or `--resume ID`) → worker 1's worktree: the clean
suite under coverage (sanity 1, per-test coverage, baselines) → a resumed sweep's verdicts whose
result key is still the current one → forced-fail and no-op probes
(sanity 2, 3) → each mutant settled statically (CompileError, NoCoverage), from the cache, or
by a worker → results stored as they come → `.launcher/mutation-runs/<sweep>/` files.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import anyio

from launcher.app.context import STATE_DIR
from launcher.app.mutation.history import planned
from launcher.app.mutation.key_basis import KeyBasis, read_bases, record_basis, stale_notes
from launcher.app.mutation.phases import FINAL_WHEN_LIMITED, CoverageRun, Scope, overlapped, seconds
from launcher.app.mutation.prefilter import prefilter_records
from launcher.app.mutation.progress import LineListener, SweepListener
from launcher.app.mutation.setup import (
    configured,
    custom_command_cost,
    discover,
    generate,
    has_tests,
    unittest_hooks_note,
)
from launcher.app.mutation.snapshot import SNAPSHOT_DIR, Snapshot
from launcher.app.mutation.sweep_end import finish, stopped_by_disk
from launcher.app.mutation.sweep_guard import TreeGuard
from launcher.app.mutation.sweep_keys import SweepKeys
from launcher.app.mutation.sweep_options import SweepOptions, SweepOutcome, open_sweep, resume_options
from launcher.app.run.inputs import prepare_worktree_root
from launcher.engine import reaper, site_installs
from launcher.errors import LauncherError, UsageProblem
from launcher.git.repo import GitRepo
from launcher.git.worktrees import default_worktree_root
from launcher.models.config import load_repo_config
from launcher.mutation import sanity
from launcher.mutation.cache_readers import CacheReaders
from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.discover import PYTHON_SUFFIXES, Collected
from launcher.mutation.executor import MutantJob, MutantResult
from launcher.mutation.executor_generic import GenericExecutor, TestCommand
from launcher.mutation.interpreter import resolve_python
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.result_key import TestDigest, TreeFiles
from launcher.mutation.results import (
    MutantRecord,
    SweepMeta,
    counts,
    fail_under_passes,
    score_of,
    summary_text,
)
from launcher.mutation.run_env import child_env, import_roots, plugin_overrides, sweep_bytecode_cache
from launcher.mutation.run_identity import interpreter_identity
from launcher.mutation.sweep import (
    BYTECODE_DIR,
    CACHEABLE,
    ForkSupport,
    Worker,
    dispatch,
    note_of,
)
from launcher.mutation.test_order import TestOrder
from launcher.mutation.unclassified import unclassified_notes
from launcher.store import mutants as store_mod
from launcher.store.mutants import MutantStore


async def _git_list(repo: GitRepo, *args: str) -> list[str]:
    return [p for p in (await repo.git(*args)).out.split("\0") if p]


class _Sweep(SweepKeys):
    """One sweep's state while it runs."""

    def __init__(self, repo: GitRepo, options: SweepOptions, listener: SweepListener, sweep_id: str,
                 base_sha: str, store: MutantStore, total: int) -> None:  # fmt: skip
        self.repo, self.options, self.listener, self.sweep_id = repo, options, listener, sweep_id
        self.base_sha, self.store, self.total = base_sha, store, total
        self.command = TestCommand(options.python or sys.executable, options.test_cmd, tuple(options.pytest_args))
        self.records: dict[str, MutantRecord] = {}
        self.durations: dict[str, float] = {}
        self.notes: list[str] = []
        self._meta: dict[str, tuple[list[str], bool, str]] = {}  # mutant id -> (covering, import_time, key)
        self.pycache_dir: Path | None = None
        self.roots: list[str] = []  # import roots of the targets (a src layout's `src`)
        self.overlay: list[str] = []  # files whose main-tree state the worker trees copy
        self.snapshot: Snapshot | None = None  # the one state of the checkout the sweep reads (`snapshot`)
        self.ignored_key = ""  # the content of the git-ignored files copied (a mutant cache-key part)
        self.identity = ""  # what the interpreter is (`run_identity`): a cache-key part
        self.env = child_env()  # the tests' environment (its keyed variables: `run_identity`)
        self.classes: dict[str, str] = {}  # mutant id -> the equivalence pre-filter's class
        self.first: GenericExecutor | None = None  # worker 1 (the coverage run's tree)
        self.coverage: CoverageRun | None = None
        self.scope: Scope | None = None  # the coverage map (pytest), once measured
        self.measured: list[str] = []  # the Python files under coverage
        self.tracked: list[str] = []  # the repository's files (tracked or not, never ignored)
        self.tree_root = Path()
        self._tree_files: TreeFiles | None = None  # worker 1's files, read once (the result keys)
        self._digests: dict[int, TestDigest] = {}  # id(coverage map) -> its result-key ingredients
        self.order = TestOrder() if self.command.is_pytest else None  # likely killers first (`test_order`)
        self.began = time.time()  # this attempt's verdicts are stored after it (`key_basis`)
        self._fork: tuple[ForkSupport | None] | None = None  # the fast executor, once looked up
        self.site_guard = TreeGuard()  # what the test command installs from a worker tree is put back

    def settle(self, record: MutantRecord, *, store: bool = True) -> None:
        record.equivalence = record.equivalence or self.classes.get(record.mutant.id, "")
        self.records[record.mutant.id] = record
        if store and not (self.scope is not None and self.scope.limited and record.status not in FINAL_WHEN_LIMITED):
            cache = record.source == "run" and record.status in CACHEABLE
            row = record.row()
            if record.status is MutantStatus.TIMEOUT and row.cache_key and record.source == "run":
                row.cache_key = self.timeout_key(row.cache_key)  # found only under the same limits
            self.store.record(self.sweep_id, row, cache=cache)
        self.listener.settled(len(self.records), self.total, record)

    async def open_trees(self, files: list[str]) -> None:
        """What every worker shares (the overlay, bytecode cache, pytest flags, import roots) and
        worker 1, whose tree the coverage run uses."""
        config = load_repo_config(self.repo.root)
        await prepare_worktree_root(self.repo, config.worktree_root)
        self.tree_root = default_worktree_root(self.repo, config.worktree_root) / "mutation" / self.sweep_id
        state = self.repo.root / STATE_DIR
        # Not in the sweep's run dir: that dir is the reports' (a sweep that stops before any report
        # leaves none; a full disk there names a report), and the guard's copy of the venvs is none.
        await self.site_guard.enter(self.tree_root, state / "mutation-guards" / self.sweep_id / site_installs.RECORD,
                                    self.command.python, state)  # fmt: skip
        self.tracked = await _git_list(self.repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        self.snapshot = await Snapshot.take(self.repo, self.base_sha, self.tree_root / SNAPSHOT_DIR)
        self.notes += self.snapshot.notes
        self.ignored_key, self.overlay = self.snapshot.ignored_key, self.snapshot.overlay
        self.pycache_dir = sweep_bytecode_cache(self.tree_root / BYTECODE_DIR)
        if self.command.is_pytest:
            flags = await plugin_overrides(self.command.python, self.repo.root)
            self.command = replace(self.command, extra=(*self.command.extra, *flags))
        self.identity = await interpreter_identity(self.command.python, self.repo.root, self.env)
        self.roots = import_roots(files, self.repo.root)
        self.measured = [f for f in files if f.endswith(PYTHON_SUFFIXES)]
        self.first = self._generic(self.tree_root / "w1", self.overlay)
        await self.first.start_tree()  # before any mutant runs there: the sources' clean text
        self.snapshot.add_sources(self.first.root, files)
        self.tracked = [f for f in self.tracked if os.path.lexists(self.first.root / f)]  # as the snapshot has them
        self.coverage = CoverageRun(self.repo, self.first, self.command, self.base_sha, self.overlay, self.roots,
                                    self.pycache_dir, self.options.use_cache, self.listener, self.notes,
                                    user_args=tuple(self.options.pytest_args), identity=self.identity,
                                    env=self.env)  # fmt: skip

    async def measure_coverage(self) -> None:
        """The clean suite under coverage (pytest only); runs while the mutants are generated."""
        if self.coverage is None or not self.command.is_pytest:
            return
        self.scope = await self.coverage.measure(self.measured, self.tracked, since=bool(self.options.since))
        self.durations = self.scope.cov.run.durations
        if self.order is not None:
            self.order.learn(self.scope.cov)

    async def close(self) -> None:
        if self.first is not None:
            await self.first.stop()
            with anyio.CancelScope(shield=True):  # the coverage run's leftovers
                await anyio.to_thread.run_sync(reaper.reap_marked, self.first.marker)
        if self.pycache_dir is not None:
            shutil.rmtree(self.pycache_dir, ignore_errors=True)
        if self.snapshot is not None:
            self.snapshot.remove()
        with anyio.CancelScope(shield=True):
            self.notes += await self.site_guard.close()

    async def execute(self, pending: list[Mutant]) -> None:
        assert self.first is not None, "open_trees first"
        workers = max(1, min(self.options.workers or os.cpu_count() or 1, len(pending)))
        generics = [self.first] + [self._generic(self.tree_root / f"w{k}", self.overlay) for k in range(2, workers + 1)]
        source = self.source_root  # the mutants' source: the snapshot, never the live main tree
        fork = self._fork_support()
        check = self._check()  # shared: each selection's clean run is asked once per sweep
        pool = [Worker(g, fork, self.command.python, source, self.pycache_dir, reaper.reap_marked, check=check)
                for g in generics]  # fmt: skip
        try:
            jobs = await self._prepare(self.first, pending)
            self.listener.running(len(jobs), max(1, min(len(pool), len(jobs))))
            await dispatch(jobs, pool[: max(1, min(len(pool), len(jobs)))], self._finished)
            await self._confirm(pending, pool)
        finally:
            for worker in pool:
                await worker.stop()
                self.notes += worker.notes
            self.notes += self.order.notes if self.order is not None else []

    async def _confirm(self, pending: list[Mutant], pool: list[Worker]) -> None:
        """A limited (`--since`) coverage run's verdicts other than Killed, settled again with the
        whole suite's coverage: a test it did not run may cover or kill the mutant."""
        if self.scope is None or not self.scope.limited or self.coverage is None:
            return
        again = [m for m in pending if self.records[m.id].status not in FINAL_WHEN_LIMITED]
        if not again:
            self.notes.append("--since: the limited coverage run killed every mutant: no whole-suite run needed")
            return
        self.scope = Scope(await self.coverage.confirm(self.measured))
        self.durations = self.scope.cov.run.durations
        if self.order is not None:
            self.order.learn(self.scope.cov)
        check = self._check()
        for worker in pool:
            worker.check = check
        jobs = self._plan(again, self.scope.cov, self.scope.cov.run.wall_s)
        await dispatch(jobs, pool[: max(1, min(len(pool), len(jobs)))], self._finished)

    def _generic(self, tree: Path, dirty: list[str]) -> GenericExecutor:
        return GenericExecutor(self.repo, tree, self.base_sha, self.command, overlay=dirty, roots=self.roots,
                               overlay_source=self.source_root, pycache_dir=self.pycache_dir,
                               zygote=self.options.use_fork, order=self.order)  # fmt: skip

    async def _prepare(self, first: GenericExecutor, pending: list[Mutant]) -> list[MutantJob]:
        """Sanity checks and baselines in worker 1's tree, then one job per mutant to run."""
        opts = self.options
        await first.start()
        where = str(self.repo.root)
        targets = sorted({m.target for m in pending})
        cov = self.scope.cov if self.scope is not None else None
        if cov is not None:
            probes = sanity.covered_probes(cov, targets)
            suite_s = cov.run.wall_s
        else:
            sanity.check_program(opts.test_cmd or "", first.root, self.repo.root)
            self.listener.phase(f"baseline: the test command on the clean tree: {opts.test_cmd}")
            clean = await first.run_clean([], timeout=3600)
            sanity.check_command(clean, opts.test_cmd or "", where, first.root)
            suite_s = clean.duration_s
            cost = custom_command_cost(opts.test_cmd or "", suite_s, len(pending), opts.workers)
            self.listener.phase(cost)
            self.notes.append(cost)
            probes = sanity.import_probes(first.root, targets)
        if probes is None:
            self.notes.append("no covered statement to probe: forced-fail and no-op checks skipped")
        else:
            self.listener.phase("sanity: a forced-fail mutant must be killed, a no-op mutant survive")
            base = cov.baseline(probes.tests) if cov and probes.tests else suite_s
            await sanity.check_probes(first, probes, opts.timeout_factor * base + opts.timeout_min_s,
                                      opts.timeout_factor * suite_s + opts.timeout_min_s)
        return self._plan(pending, cov, suite_s)

    def resume(self, mutants: list[Mutant], previous: dict[str, store_mod.ResultRow], bases: list[KeyBasis]) -> None:
        """A resumed sweep's earlier verdicts that still stand: those whose key is the current
        one (nothing they depend on changed since, committed or not, nor the launcher's keying).
        The others are settled again, a note saying why (`bases`: the earlier attempts'); static
        ones (NoCoverage, CompileError) always are, from the current coverage."""
        cov = self.scope.cov if self.scope is not None else None
        readers = CacheReaders(cov.root) if cov is not None else None
        stale: list[float] = []
        for m in mutants:
            row = previous.get(m.id)
            if row is None or m.id in self.records or row.cache_key is None:
                continue
            picked = self._selection(m, cov, readers) if m.valid else None
            keys = self._keys(m, picked[0], cov, self._in_child(m, cov)) if picked is not None else []
            if row.cache_key not in self.stored_under(keys):
                stale.append(row.at)
                continue
            self.settle(MutantRecord(m, MutantStatus(row.status), row.executor, row.duration_s, row.killed_by,
                                     row.tests, m.import_time, "resumed", row.note, row.cache_key),
                        store=False)  # fmt: skip
        self.notes += stale_notes(self.sweep_id, stale, bases, self.basis()) if stale else []

    def _plan(self, pending: list[Mutant], cov: CoverageMap | None, suite_s: float) -> list[MutantJob]:
        """One job per mutant to run; the others settled statically or from the cache."""
        opts = self.options
        jobs: list[MutantJob] = []
        readers = CacheReaders(cov.root) if cov is not None else None
        for m in pending:
            picked = self._selection(m, cov, readers)
            if picked is None:
                self.settle(MutantRecord(m, MutantStatus.NO_COVERAGE, "none", source="static",
                                         note="no test executes this line"))  # fmt: skip
                continue
            tests, covering, import_time = picked
            if not m.valid:
                self.settle(MutantRecord(m, MutantStatus.COMPILE_ERROR, "none", source="static",
                                         note="the mutated source does not compile"))  # fmt: skip
                continue
            in_child = self._in_child(m, cov)
            keys = self._keys(m, tests, cov, in_child)
            key = keys[0]
            # A Timeout is found only under its limits' key (one under a plain key: an earlier
            # launcher's, limits not known)
            hit = next((found for key in keys for found in (self.store.cached(self.timeout_key(key)),
                                                              self.store.cached(key))
                        if found is not None and (found.status == MutantStatus.TIMEOUT.value) == (
                            found.cache_key != key)), None) if opts.use_cache else None
            if hit is not None:
                status = MutantStatus(hit.status)
                self.settle(MutantRecord(m, status, hit.executor, hit.duration_s, hit.killed_by, covering,
                                         import_time, "cached", "cached from an earlier sweep",
                                         hit.cache_key))  # fmt: skip
                continue
            base = cov.baseline(tests) if cov is not None and tests else suite_s
            # A fork starts nothing: it gets 1 s of the start-up allowance, a fresh process all of it.
            job = MutantJob(m, tests, opts.timeout_factor * base + opts.timeout_min_s,
                            startup_s=max(0.0, opts.timeout_min_s - 1.0),
                            suite_timeout_s=opts.timeout_factor * suite_s + opts.timeout_min_s,
                            in_child=in_child)
            self._meta[m.id] = (covering, import_time, key)
            jobs.append(job)
        # Longest first (whole-suite runs before single tests): the last jobs are short, so no
        # worker idles at the end waiting for one that drew a long job late.
        jobs.sort(key=lambda job: job.timeout_s, reverse=True)
        return jobs

    def _finished(self, job: MutantJob, result: MutantResult) -> None:
        tests, import_time, key = self._meta[job.mutant.id]
        check = self._check()
        if result.decided_by is not None:  # stored under the key of the run that decided it
            decided = check.normal(result.decided_by) if check is not None else result.decided_by
            key = self._key(job.mutant, job.tests, self.scope.cov if self.scope else None, job.in_child, decided)
        self.settle(MutantRecord(job.mutant, result.status, result.executor, result.duration_s, result.killed_by,
                                 tests, import_time, "run", note_of(result), key))  # fmt: skip


async def _generation(root: Path, options: SweepOptions, files: list[str], changed: dict[str, set[int]] | None,
                      listener: SweepListener) -> tuple[Collected, list[Mutant]]:  # fmt: skip
    started = time.monotonic()
    listener.phase(f"generation: started ({len(files)} file(s))")
    collected, mutants = await generate(root, options, files, changed)
    touched = len({m.target for m in mutants})
    listener.phase(f"generation: {len(mutants)} mutants in {touched} file(s), generated in {seconds(started)}")
    return collected, mutants


async def run_sweep(cwd: Path, options: SweepOptions, emit: Callable[[str], None],
                    listener: SweepListener | None = None) -> SweepOutcome:  # fmt: skip
    """Run a sweep; `listener` hears the phases and every mutant (default: `emit` gets one line
    per settled mutant)."""
    started = time.monotonic()
    listener = listener or LineListener(emit)
    repo = await GitRepo.discover(cwd)
    options = replace(options, python=resolve_python(options.python, cwd))
    reaper.become_subreaper()  # what a test run starts in a session of its own comes back to us, to be killed
    await repo.ensure_excluded("/.launcher/")
    store = MutantStore(repo.root / STATE_DIR / "launcher.db")
    try:
        if options.resume:
            options = resume_options(store, options)
        options = configured(repo.root, options)
        if options.test_cmd is None and not await has_tests(repo):
            raise UsageProblem("found no tests to run", where=str(repo.root),
                               fix="add tests pytest finds (test_*.py files, a tests/ directory), "
                                   "or pass --test-cmd CMD")  # fmt: skip
        base_sha = await repo.rev_parse("HEAD")
        sources, changed, unnamed = await discover(repo, options)  # bad options fail here, before anything is written
        sweep_id, resumed = open_sweep(store, repo, base_sha, options)
        out_dir = repo.root / STATE_DIR / "mutation-runs" / sweep_id
        store.set_sweep(sweep_id, status=store_mod.RUNNING, out_dir=str(out_dir))
        sweep = _Sweep(repo, options, listener, sweep_id, base_sha, store, 0)
        try:
            await sweep.open_trees(sources)
            collected, mutants = await overlapped(lambda: _generation(sweep.source_root, options, sources, changed,
                                                                     listener),
                                                  sweep.measure_coverage)  # fmt: skip
            sweep.total = len(mutants)
            planned(out_dir, len(mutants))  # `mutation list` shows an unfinished sweep as settled/total
            skipped = {**unnamed, **collected.skipped}
            sweep.notes += [f"skipped {path}: {why}" for path, why in skipped.items()]
            if sweep.command.is_pytest and (hooks := await unittest_hooks_note(repo)) is not None:
                listener.phase(hooks)
                sweep.notes.append(hooks)
            filtered, sweep.classes, said = await prefilter_records(sweep.source_root, mutants, sweep.command)
            for line in [said] if said else []:
                listener.phase(line)
                sweep.notes.append(line)
            for record in filtered:
                sweep.settle(record)
            if resumed:  # only the verdicts nothing has changed under since (`_Sweep.resume`)
                gone = store.keep_only(sweep_id, {m.id for m in mutants})
                if gone:
                    sweep.notes.append(f"resumed sweep {sweep_id}: {gone} mutant(s) from before the interruption "
                                       "no longer exist in the code: dropped from its results")
                sweep.resume(mutants, store.results(sweep_id), read_bases(out_dir))
            record_basis(out_dir, sweep.basis())  # before this attempt stores a keyed verdict
            pending = [m for m in mutants if m.id not in sweep.records]
            listener.started(sweep_id, len(mutants), len(mutants) - len(pending), resumed)
            if pending:
                await sweep.execute(pending)
        except LauncherError:
            store.set_sweep(sweep_id, status=store_mod.FAILED)
            raise
        except BaseException as exc:
            store.set_sweep(sweep_id, status=store_mod.INTERRUPTED)
            if isinstance(exc, Exception) and (disk := stopped_by_disk(exc, sweep_id)) is not None:
                raise disk from exc
            raise
        finally:
            await sweep.close()
        records = sorted(sweep.records.values(), key=lambda r: r.mutant.index)
        sweep.notes += unclassified_notes(records)
        meta = SweepMeta(sweep_id, base_sha, repo.root, options.test_cmd, time.monotonic() - started, sweep.notes,
                         options.shaping(), options.shard)  # fmt: skip
        files = await finish(store, repo.root, out_dir, meta, records, sweep.durations)  # then `done`
    finally:
        store.close()
    score = score_of(records)
    # a change to a file skipped for its name was not tested: not "nothing to mutate since"
    passed, why = fail_under_passes(score, len(records), None if unnamed else options.since, options.fail_under)
    sweep.notes += [why] if why else []
    return SweepOutcome(sweep_id, out_dir, counts(records), score, passed, records, base_sha, resumed,
                        sweep.notes, files, summary_text(meta, records, head_only=True))  # fmt: skip


__all__ = ["SweepOptions", "SweepOutcome", "run_sweep"]
