"""The generic executor: a pooled worker worktree; apply the mutant, run the test command, restore.

Works for any test command and language, and is the ground truth the fast executor is checked
against: every run is a fresh process on a real file. The worktree is detached at the sweep's
base commit, then overlaid with the main tree's uncommitted changes, so it holds exactly the code
the mutants were generated from.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import anyio

from launcher import process
from launcher.git import submodules, worktrees
from launcher.git.import_roots import python_path
from launcher.git.repo import GitRepo
from launcher.mutation import session_record
from launcher.mutation.discover import PYTHON_SUFFIXES, read_source
from launcher.mutation.executor import MutantJob, MutantResult
from launcher.mutation.fork_child import EXIT_UNFINISHED
from launcher.mutation.model import MutantStale, MutantStatus
from launcher.mutation.narrow_stage import ran_alone
from launcher.mutation.no_verdict import (
    Death,
    clean_failed,
    death,
    no_verdict,
    not_reproduced,
    own_doing,
)
from launcher.mutation.run_env import WORKER_MARKER_ENV, bytecode_files, bytecode_prefix, child_env
from launcher.mutation.runner_crash import crash_in_mutated_file, internal_error
from launcher.mutation.source_text import mutated_bytes
from launcher.mutation.test_ids import unresolved, widened_note, wider_selections
from launcher.mutation.test_order import PLUGIN_NAME, OrderFile, TestOrder
from launcher.mutation.tree_leftovers import TreeLeftovers, put_back
from launcher.mutation.zygote import Zygote

NOTE = "[launcher] "  # first line of output_tail carrying the reason for a status
_SUMMARY = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)
# Both executors run pytest with these. `--tb=line`: a killed mutant's traceback is never shown
# (its killing tests are), and formatting it cost 40 ms per killed mutant on toolz, as much as
# running its tests.
PYTEST_FLAGS = ("-x", "-q", "-rfE", "--tb=line", "-p", "no:cacheprovider")


@dataclass(frozen=True)
class TestCommand:
    """`python -m pytest ... <node ids>` (selection honoured), or a custom shell command (whole
    suite every time; test ids mean nothing to it)."""

    python: str
    custom: str | None = None
    extra: tuple[str, ...] = ()  # pytest flags of this project's run (`plugin_overrides`)

    __test__ = False  # not a pytest test class

    @property
    def is_pytest(self) -> bool:
        return self.custom is None

    @property
    def is_custom(self) -> bool:
        return self.custom is not None

    def argv(self, tests: Sequence[str]) -> list[str]:
        if self.custom is not None:
            return ["/bin/sh", "-c", self.custom]
        return [self.python, "-m", "pytest", *self.pytest_args(tests)]

    def pytest_args(self, tests: Sequence[str]) -> list[str]:
        """What follows `python -m pytest` (a zygote takes just these)."""
        return [*PYTEST_FLAGS, *self.extra, *tests]


def drop_bytecode(path: Path, pycache_dir: Path | None = None) -> None:
    """Delete the file's cached bytecode. Python trusts a .pyc whose recorded source mtime (whole
    seconds) and size match: a same-size mutant written within the second would run the
    original's bytecode (`+` -> `-`), or the next run the mutant's."""
    if path.suffix in PYTHON_SUFFIXES:
        for pyc in bytecode_files(path, pycache_dir):
            with contextlib.suppress(OSError):
                pyc.unlink()


_NO_COLLECTORS = "found no collectors for"
_CONFTEST_BROKEN = "while loading conftest"  # pytest: "ImportError while loading conftest '...'"
_ERROR_LINE = re.compile(r"^E\s+(\S.*)$", re.MULTILINE)
# pytest's exit 2 is also a KeyboardInterrupt's (`no_verdict`): a kill only with these.
_COLLECTION_ERRORS = re.compile(r"Interrupted: \d+ errors? during collection")
_PYTEST_EXIT = re.compile(r"^!+ (_pytest\.outcomes\.Exit: .*?) !+\s*$", re.MULTILINE)


def _first_error(text: str) -> str:
    found = _ERROR_LINE.search(text)
    return f": {found.group(1).strip()[:200]}" if found else ""


def classify(
    done: process.Completed, command: TestCommand, target: str = ""
) -> tuple[MutantStatus, list[str], str]:
    """Status, failing test ids and a note from a finished test command.

    The import rule (the same on both executors, which both classify here): a mutant that makes
    the code fail to import -- a test module that no longer collects, selected tests whose module
    is gone, a conftest that no longer loads -- is Killed, as with a custom test command, whose
    non-zero exit is a kill: the suite detected it. RuntimeError is left for the runner itself
    failing (a usage or internal error), and for a run that died (`no_verdict`: a signal, a
    KeyboardInterrupt, exit 126/127 of a custom command), which alone says nothing about the
    mutant (`GenericExecutor._whose_death` finds out whose doing it was)."""
    if done.timed_out:
        return MutantStatus.TIMEOUT, [], "exceeded the time limit"
    rc = done.returncode
    if rc == 0:
        return MutantStatus.SURVIVED, [], ""
    if rc == EXIT_UNFINISHED:
        return MutantStatus.KILLED, [], session_record.note(done.err, done.text + done.err)
    if (why := no_verdict(done, shell=command.is_custom)) is not None:
        return MutantStatus.RUNTIME_ERROR, [], why  # the mutant's doing or the world's: not known from one run
    if command.custom is not None:
        return MutantStatus.KILLED, [], f"test command exit {rc}"
    output = done.text + done.err
    killed_by = list(dict.fromkeys(_SUMMARY.findall(done.text)))
    if rc == 1:
        return MutantStatus.KILLED, killed_by, ""
    if rc == 2 and _COLLECTION_ERRORS.search(output):
        # Collection errors: the mutant broke importing a test module; the suite detects it.
        return MutantStatus.KILLED, killed_by, f"breaks import: errors during collection{_first_error(output)}"
    if rc == 2 and (stopped := _PYTEST_EXIT.search(output)):
        # A test or conftest ended the run (`pytest.exit`), which it did not on the clean tree.
        return MutantStatus.KILLED, killed_by, f"a test stopped the run: {stopped.group(1)[:200]}"
    if rc == 4 and _NO_COLLECTORS in output:
        # Node ids were given and their module no longer imports (the mutant broke an import-time
        # path): pytest calls that a usage error, but the suite would fail to collect it.
        why = "the selected tests' module no longer collects"
        return MutantStatus.KILLED, killed_by, f"breaks import: {why}{_first_error(output)}"
    if rc == 4 and _CONFTEST_BROKEN in output:
        # A conftest imports the mutated code and it raised: no test can run, the suite fails.
        return MutantStatus.KILLED, killed_by, f"breaks import: a conftest no longer loads{_first_error(output)}"
    if rc == 3 and (crash := crash_in_mutated_file(output, target)):
        return MutantStatus.KILLED, killed_by, f"crashes pytest: {crash}"
    return MutantStatus.RUNTIME_ERROR, killed_by, f"pytest exit {rc}: the runner itself failed"


class GenericExecutor:
    name = "generic"

    def __init__(
        self,
        repo: GitRepo,
        path: Path,
        base_sha: str,
        command: TestCommand,
        *,
        overlay: Sequence[str] = (),
        overlay_source: Path | None = None,
        recheck_timeouts: bool = True,
        pycache_dir: Path | None = None,
        zygote: bool = False,
        roots: Sequence[str] = (),
        order: TestOrder | None = None,
    ) -> None:
        self.repo = repo
        self.root = path.absolute()
        self.base_sha = base_sha
        self.command = command
        self.overlay = list(overlay)  # paths whose main-tree state differs from base_sha
        # Where the overlay files are read: a sweep's snapshot of them (one state for all its
        # workers), else the main tree.
        self.overlay_source = overlay_source or repo.root
        self.recheck_timeouts = recheck_timeouts
        # The tree's import roots (`import_roots`) ahead of any path into the main tree, and the
        # marker of everything this worker starts (`reap_marked` after each mutant).
        self.marker = {WORKER_MARKER_ENV: str(self.root)}
        self.import_env = {**(python_path(self.root, roots) if roots else {}), **self.marker}
        self.env = child_env(self.import_env, pycache_dir=pycache_dir)  # the sweep's bytecode cache, if any
        self.pycache_dir = bytecode_prefix(self.env)  # where a mutant's .pyc must be deleted too
        # pytest runs put the likely killers first (`test_order`): the plugin must be importable
        # and its file named before the zygote starts.
        self.order = order if command.is_pytest else None
        # Its plugin keeps the session record (`session_record`); a custom command's pytest loads it too.
        self.order_file = OrderFile(self.root) if self.order is not None or command.is_custom else None
        self.plain_env, self.unrecorded = self.env, ""  # (`unrecorded`: why runs are not checked, a sweep note)
        if self.order_file is not None:
            self.env = self.order_file.env(self.env, autoload=command.is_custom)
        # pytest runs fork a zygote (pytest imported, the project not) instead of starting an
        # interpreter: the same fresh run, on the same files, without the start-up.
        self.zygote = Zygote(self.root, command.python, self.env) if zygote and command.is_pytest else None
        self._started = False
        self.zygote_started = False
        self._lock = anyio.Lock()  # one mutant at a time per worktree
        # Each run on the tree as set up (`tree_leftovers`): what runs changed is put back from here.
        self.leftovers = TreeLeftovers(self.root, restore=put_back(repo, self.root, self.overlay, self.overlay_source))

    async def start(self) -> None:
        await self.start_tree()
        if self.zygote is not None and not self.zygote_started:
            # Now, on the unmutated tree: what it imports (pytest's plugins, maybe the project's
            # own modules) stays loaded in every run it forks. Started later, inside a run, it
            # would keep that run's mutant loaded for all the runs after it.
            self.zygote_started = True
            await self.leftovers.clear()
            await self.zygote.start()
            self.leftovers.adopt()

    async def start_tree(self) -> None:
        """The worktree at base_sha with the overlay copied in (no process started yet)."""
        if self._started:
            return
        if self.root.exists():
            await worktrees.remove_worktree(self.repo, self.root)  # a leftover of a killed sweep
        self.root.parent.mkdir(parents=True, exist_ok=True)
        async with self.repo.lock.hold():
            await worktrees.add(self.repo, "--detach", "--quiet", path=self.root, start=self.base_sha)
        await submodules.check_out(self.repo, self.root)  # the suite may need them (a failure shows there)
        self._started = True
        if self.order_file is not None:
            self.order_file.install()
        for rel in self.overlay:
            src, dst = self.overlay_source / rel, self.root / rel
            if src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
            elif dst.is_file() or dst.is_symlink():
                dst.unlink()
        self.leftovers.adopt()

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):
            if self.zygote is not None:
                await self.zygote.stop()
            if self._started or self.root.exists():
                await worktrees.remove_worktree(self.repo, self.root)
            if self.order_file is not None:
                self.order_file.remove()
            self._started = self.zygote_started = False

    async def run_clean(self, tests: Sequence[str], timeout: float | None) -> process.Completed:
        """The test command on the unmutated tree (sanity, baseline of a custom command), its exit
        status as it is: a suite that stops itself has a baseline too (see `_clean_ends`)."""
        return await self._run_command(tests, timeout, record=False)

    async def run_unmutated(self, tests: Sequence[str], timeout: float) -> process.Completed:
        """The tests on the unmutated tree in the suite's order, between two mutants (`selection_check`)."""
        async with self._lock:
            if self.order_file is not None:
                self.order_file.write([])
            return await self._run_command(tests, timeout)

    async def _run_command(self, tests: Sequence[str], timeout: float | None, mutated: Path | None = None,
                           record: bool = True) -> process.Completed:  # fmt: skip
        command = self.command
        await self.leftovers.clear(mutated)
        if self.order_file is not None:
            command = replace(command, extra=(*command.extra, *self.order_file.args))
            self.order_file.clear_record()
        done = None
        if self.zygote is not None and timeout is not None:
            done = await self.zygote.run_tests(command.pytest_args(tests), timeout, mutated)
        if done is None:
            done = await process.run(command.argv(tests), cwd=self.root, env=self.env, timeout=timeout)
            if command.is_custom and not done.ok and session_record.unloadable(done.text + done.err, PLUGIN_NAME):
                done = await self._without_record(tests, timeout)
        return self._finished(done) if record else done

    async def _without_record(self, tests: Sequence[str], timeout: float | None) -> process.Completed:
        """The command's pytest cannot import the plugin (it sets PYTHONPATH): run it as written from now on."""
        self.env, self.unrecorded = self.plain_env, session_record.UNRECORDED.format(plugin=PLUGIN_NAME)
        return await process.run(self.command.argv(tests), cwd=self.root, env=self.env, timeout=timeout)

    def _finished(self, done: process.Completed) -> process.Completed:
        """`done`, or, when it exited 0 without running its tests to the end (`session_record`), the
        same run with the status of one that did not finish (`EXIT_UNFINISHED`): no "all passed"."""
        if done.returncode != 0 or done.timed_out or self.order_file is None:
            return done
        why = self.order_file.unfinished()
        if why is None:
            return done
        return replace(done, returncode=EXIT_UNFINISHED, stderr=done.stderr + session_record.marked(why))

    async def _run_selection(self, job: MutantJob, path: Path) -> tuple[process.Completed, list[str], float]:
        """Run the job's tests; a selection pytest cannot resolve (`test_ids.unresolved`) is widened
        to the tests' functions, their files, then the whole suite, never reported as an error.
        Returns the run, the selection it used and its time limit."""
        tests, limit = list(job.tests), job.timeout_s
        done = await self._run_command(tests, limit, path)
        for wider in wider_selections(tests) if self.command.is_pytest else []:
            if done.returncode != 4 or not unresolved(done.text + done.err):
                break
            tests, limit = wider, max(limit, job.suite_timeout_s)
            done = await self._run_command(tests, limit, path)
        return done, tests, limit

    async def _attempt(self, job: MutantJob, path: Path, original: bytes, text: str, priority: list[str],
                       recheck: bool = True, stop_after: str | None = None
                       ) -> tuple[process.Completed, list[str], float]:  # fmt: skip
        """Put the mutant on disk, run its tests (`priority` first, none after `stop_after`), restore the file."""
        if self.order_file is not None:
            self.order_file.write(priority, stop_after=stop_after)
        try:
            path.write_bytes(mutated_bytes(path, original, text))
            drop_bytecode(path, self.pycache_dir)
            done, tests, limit = await self._run_selection(job, path)
            if done.timed_out and self.recheck_timeouts and recheck:
                # A loaded machine can stall a healthy run: a timeout must repeat to count.
                done = await self._run_command(tests, limit, path)
        finally:
            with contextlib.suppress(OSError):  # always restore, even when cancelled
                path.write_bytes(original)
                drop_bytecode(path, self.pycache_dir)
                self.leftovers.settle(path)
        return done, tests, limit

    async def _order_artefact(self, done: process.Completed, tests: list[str], limit: float, priority: list[str]
                              ) -> bool:  # fmt: skip
        """Whether a kill in kill-likelihood order may come from the order, not the mutant. The
        first kill by each test is checked once: the same order on the unmutated tree, up to that
        test, must pass; if it fails, ordering is turned off for the sweep (`TestOrder.disable`).
        A killer that ran alone needs no check only when the whole suite also runs it first: any
        other test may depend on what earlier tests leave behind (semver's docs doctests do)."""
        assert self.order is not None and self.order_file is not None
        killers = _SUMMARY.findall(done.text)
        if done.returncode != 1 or not killers or "::" not in killers[0]:
            return False
        if ran_alone(done.text) and self.order.first_in_suite(killers[0]):
            return False
        killer = killers[0]
        if self.order.disabled:
            return True  # turned off meanwhile by another worker: run again in pytest's order
        if not self.order.needs_check(killer):
            return False
        self.order_file.write(priority, stop_after=killer)
        clean = await self._run_command(tests, limit)
        self.order_file.write([])
        if clean.returncode == 0 and not clean.timed_out:
            self.order.trust(killer)
            return False
        self.order.disable(killer)
        return True

    async def _narrow_stage(self, job: MutantJob, path: Path, original: bytes, text: str, priority: list[str],
                            files: list[str]) -> tuple[process.Completed | None, bool]:  # fmt: skip
        """A whole-suite job's first stage on its narrow test files (`narrow_stage`): the run that
        killed the mutant (None when the whole suite must run: never a survivor from here), and
        whether it timed out."""
        if not files or not priority or self.order is None or not self.order.narrow.worth_trying(job.mutant.target):
            return None, False
        allowance = job.startup_s + 1.0  # (the sweep's timeout_min_s: see `MutantJob`)
        narrow = replace(job, tests=files, timeout_s=self.order.narrow.time_limit(files, job.timeout_s, allowance))
        done, tests, limit = await self._attempt(narrow, path, original, text, priority, recheck=False)
        status, _, _ = classify(done, self.command)
        if status is not MutantStatus.KILLED or done.returncode not in (1, 2, 4) or tests != files:
            return None, done.timed_out
        if await self._order_artefact(done, files, limit, priority):
            return None, False
        # Confirmed by the whole suite: its collection imports every test file, and one may set up
        # at import what the mutated module holds (`app.CONFIG["strict"] = True`), which the narrow
        # files alone never do. Same order, nothing after the killer: the kill stands only when
        # the killer is what fails there; otherwise the whole suite runs as without the stage.
        killer = _SUMMARY.findall(done.text)[:1]
        if not killer or "::" not in killer[0]:  # a narrow file failing to collect: the whole suite decides
            return None, False
        whole, tests, _ = await self._attempt(job, path, original, text, priority, recheck=False,
                                              stop_after=killer[0])  # fmt: skip
        status, _, _ = classify(whole, self.command)
        if status is not MutantStatus.KILLED or tests != job.tests or _SUMMARY.findall(whole.text)[:1] != killer:
            return None, whole.timed_out
        return whole, False

    def _death(self, done: process.Completed) -> Death | None:
        """A run that alone says nothing about the mutant, decided by the runs around it: a death
        (`no_verdict`), pytest's own crash (`runner_crash.internal_error`), or an exit status
        other than the one pytest finished with (`session_record.after_session`)."""
        found = death(done, shell=self.command.is_custom)
        if found is not None or not self.command.is_pytest:
            return found
        record = self.order_file.record if self.order_file is not None else None
        return internal_error(done) or (session_record.after_session(record, done) if record else None)

    async def _whose_death(
        self, first: Death, job: MutantJob, tests: list[str], limit: float, path: Path, original: bytes, text: str
    ) -> tuple[process.Completed, MutantStatus, list[str], str]:
        """A run that died (`no_verdict.death`): the unmutated tree runs the same tests, then the
        mutant runs again. The clean tree failing too is the world's doing (no verdict); the same
        death again is the mutant's (Killed); another end is the re-run's own verdict, if any."""
        shell = self.command.is_custom
        if self.order_file is not None:
            self.order_file.write([])
        clean = await self._run_command(tests, limit)
        if not clean.ok:
            return clean, MutantStatus.RUNTIME_ERROR, [], clean_failed(first, clean, shell=shell)
        again, _, _ = await self._attempt(replace(job, tests=tests, timeout_s=limit), path, original, text, [])
        if (second := self._death(again)) is not None and second.key == first.key:
            return again, MutantStatus.KILLED, [], own_doing(first)
        status, killed_by, note = classify(again, self.command, job.mutant.target)
        verdict = status is not MutantStatus.RUNTIME_ERROR
        return again, status, killed_by, not_reproduced(first, again, note, verdict=verdict, shell=shell)

    async def _clean_ends(self, tests: list[str], limit: float) -> str:
        """How the unmutated tree's run of these tests ended (its `classify` note)."""
        if self.order_file is not None:
            self.order_file.write([])
        return classify(await self._run_command(tests, limit), self.command)[2]

    async def run(self, job: MutantJob) -> MutantResult:
        mutant = job.mutant
        started = time.monotonic()

        def result(
            status: MutantStatus, killed: list[str] | None = None, note: str = "", tail: str = ""
        ) -> MutantResult:
            text = (NOTE + note + "\n" if note else "") + tail
            return MutantResult(mutant.id, status, self.name, time.monotonic() - started, killed or [], text)

        if not mutant.valid:
            return result(MutantStatus.COMPILE_ERROR, note="the mutated source does not compile")
        async with self._lock:
            path = self.root / mutant.target
            original = path.read_bytes()
            try:
                text = mutant.apply(read_source(path))
            except MutantStale as exc:
                return result(MutantStatus.RUNTIME_ERROR, note=str(exc))
            # Only whole-suite runs are reordered: a selection runs in the suite's order
            # (`test_ids.in_suite_order`), as its order-dependent tests need.
            priority = self.order.priority(mutant) if self.order is not None and not job.tests else []
            narrow = self.order.narrow.candidate(self.order.likely(mutant)) if self.order and not job.tests else []
            staged, hung = await self._narrow_stage(job, path, original, text, priority, narrow)
            if staged is not None:
                done, tests, limit = staged, job.tests, job.timeout_s
            else:
                priority = priority if self.order is not None and not self.order.disabled and not hung else []
                done, tests, limit = await self._attempt(job, path, original, text, priority, recheck=not priority)
                # A test that hangs under the mutant, moved before one that fails, would turn a
                # kill into a timeout: an ordered run's timeout is decided in pytest's order.
                if priority and (done.timed_out or await self._order_artefact(done, tests, limit, priority)):
                    done, tests, limit = await self._attempt(job, path, original, text, [])
            status, killed_by, note = classify(done, self.command, mutant.target)
            if status is MutantStatus.TIMEOUT and self.recheck_timeouts:
                note = "timed out twice (re-checked in a fresh process)"
            if status is MutantStatus.RUNTIME_ERROR and (died := self._death(done)):
                done, status, killed_by, note = await self._whose_death(died, job, tests, limit, path, original, text)
            if done.returncode == EXIT_UNFINISHED and await self._clean_ends(tests, limit) == note:
                # The suite stops itself the same way: the mutant's run is as complete as it ever is.
                status, killed_by, note = MutantStatus.SURVIVED, [], f"{note}, as on the unmutated tree"
        if narrow and self.order is not None:  # (whether its narrow files killed it: `NarrowStage`)
            self.order.narrow.record(mutant.target, narrow, killed_by if status is MutantStatus.KILLED else [])
        if tests != job.tests:  # pytest could not resolve the selection (see `_run_selection`)
            note = "; ".join(filter(None, [note, widened_note(tests)]))
        return result(status, killed_by, note, (done.text + done.err)[-2000:])
