"""The sweep engine: plan each mutant's job, spread the jobs over a pool of workers, collect.

Each worker owns one generic executor (its own worktree) and, when the fast pytest executor is
available, one fork executor beside it. A mutant goes to the fork executor only if that one says
it can handle it and the mutant runs only inside tests (never at import time) and never in a
test's child process that imports the file from disk (`MutantJob.in_child`); a Survived from
the fork executor is re-checked by the generic one in a fresh process before it
counts, so a module-state artefact of forking can never produce a false survivor (the fork
executor re-checks its own timeouts in a fresh interpreter).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from launcher.mutation.executor import Executor, MutantJob, MutantResult
from launcher.mutation.executor_generic import NOTE, GenericExecutor
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.selection_check import SelectionCheck, describe
from launcher.mutation.unclassified import UNCLASSIFIED, needs_broader_run, runner_error, whole_suite

FORK_MODULE = "launcher.mutation.executor_fork"
BYTECODE_DIR = "pyc"  # beside a sweep's worker trees: its test runs' bytecode cache
CACHEABLE = frozenset({MutantStatus.KILLED, MutantStatus.SURVIVED, MutantStatus.TIMEOUT})


@dataclass
class ForkSupport:
    factory: Callable[..., Any]
    can_handle: Callable[[Mutant], bool]


def fork_support(root: Path) -> ForkSupport | None:
    """The fast executor, if its module exists (it is optional: everything works without it).
    `root` is the tree the mutants were generated from (`fork_can_handle` reads the source)."""
    try:
        module = importlib.import_module(FORK_MODULE)
    except ImportError:
        return None
    factory, can_handle = getattr(module, "ForkExecutor", None), getattr(module, "fork_can_handle", None)
    if factory is None or can_handle is None:
        return None
    if len(inspect.signature(can_handle).parameters) > 1:
        can_handle = functools.partial(can_handle, root=root)
    return ForkSupport(factory, can_handle)


def executor_route(fork: ForkSupport | None, mutant: Mutant, tests: Sequence[str], in_child: bool) -> str:
    """The executor a mutant's job is meant for: "fork" (in memory, its Survived re-checked by the
    generic one) or "generic" (the mutant on disk). Part of the mutant's result key: a verdict is
    reused only where the job goes the same way (one made in memory for a test whose child
    process imports the file from disk, the child running the unmutated code, is no verdict for
    the mutant on disk)."""
    if fork is None or not mutant.valid or not tests or mutant.import_time or in_child:
        return "generic"  # (in_child: a child process imports the file from disk, unmutated by a fork)
    return "fork" if fork.can_handle(mutant) else "generic"


def build_fork(factory: Callable[..., Any], **candidates: Any) -> Executor | None:
    """Construct the fork executor from the keyword arguments its signature asks for
    (repo_root, worktree, test_args, python); None if it needs one we cannot give."""
    kwargs: dict[str, Any] = {}
    for name, param in inspect.signature(factory).parameters.items():
        if name in candidates:
            kwargs[name] = candidates[name]
        elif param.default is param.empty and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return None
    executor: Executor = factory(**kwargs)
    return executor


def note_of(result: MutantResult) -> str:
    first = result.output_tail.split("\n", 1)[0]
    return first.removeprefix(NOTE) if first.startswith(NOTE) else ""


@dataclass
class Worker:
    """One generic executor and, optionally, a fork executor running in the same worktree."""

    generic: GenericExecutor
    fork: ForkSupport | None = None
    python: str = ""
    source_root: Path | None = None  # the tree the mutants came from (the main work tree)
    pycache_dir: Path | None = None  # the sweep's bytecode cache, shared by its executors
    # Kills what this worker's finished runs left behind, given its marker (a mapping) and the pids
    # of its own live processes; the app passes the reaper (`engine/reaper.reap_marked`).
    reap: Callable[..., object] | None = None
    notes: list[str] = field(default_factory=list)
    check: SelectionCheck | None = None  # narrowed verdicts checked against the suite (`selection_check`)
    _fork: Executor | None = None
    _fork_failed: bool = False

    async def _fork_for(self, job: MutantJob) -> Executor | None:
        if self.fork is None or self._fork_failed:
            return None
        if executor_route(self.fork, job.mutant, job.tests, job.in_child) != "fork":
            return None
        if self._fork is None:
            root = self.generic.root
            try:
                made = build_fork(self.fork.factory, repo_root=self.source_root or root, worktree=root, root=root,
                                  test_args=[], python=self.python, pycache_dir=self.pycache_dir,
                                  zygote=self.generic.zygote, pytest_args=self.generic.command.extra,
                                  env=self.generic.import_env, leftovers=self.generic.leftovers)  # fmt: skip
                if made is None:
                    raise TypeError("unsupported ForkExecutor signature")
                await made.start()
            except Exception as exc:  # the fast path is optional: fall back, say so once
                self._fork_failed = True
                self.notes.append(f"fork executor unavailable, generic used instead: {exc}")
                return None
            self._fork = made
        return self._fork

    async def run(self, job: MutantJob) -> MutantResult:
        try:
            result = await self._run(job)
            if self.check is not None and job.tests and job.mutant.valid:
                result = await self._checked(job, result)
            if needs_broader_run(result.status, job, result.executor):
                result = await self._whole_suite(job, result)
        finally:
            await self.reap_leftovers()
        if self.generic.order is not None and result.status is MutantStatus.KILLED:
            self.generic.order.record(job.mutant, result.killed_by)  # the likely killers of its neighbours
        return result

    async def _checked(self, job: MutantJob, result: MutantResult) -> MutantResult:
        """A narrowed selection's verdict checked against the suite around it (`selection_check`):
        a kill whose selection fails without the mutant too runs again with the tests before it;
        a timeout whose selection does not finish in time without the mutant either, with the
        whole suite; a survivor runs again, in a fresh process, with every test from its first one on."""
        assert self.check is not None
        said: list[str] = []
        for _ in range(6):  # each step widens; the last possible one is the whole suite
            if not job.tests:
                break
            if result.status is MutantStatus.KILLED:
                clean = await self.check.passes_clean(self.generic, job)
                if self.check.only_flaky(result.killed_by):
                    said.append(f"failed only in {', '.join(result.killed_by)}, flaky without the mutant: no kill")
                    result.status, result.killed_by = MutantStatus.SURVIVED, []
                    if result.executor == self.generic.name or self.check.after(job.tests) is not None:
                        continue  # confirmed as any survivor is
                    again = await self.generic.run(job)  # a fork's survivor: re-checked in a fresh process
                if clean:
                    break
                wider = self.check.before(job.tests)
                up_to = " the suite runs up to them" if wider else ""
                said.append(f"the {describe(job.tests)} selected fail without the mutant too: "
                            f"re-run with {describe(wider)}{up_to}")
                job = self.check.job(job, wider)
                again = await self._run(job)
            elif result.status is MutantStatus.TIMEOUT:
                if await self.check.passes_clean(self.generic, job, in_time=True):
                    break
                said.append(f"the {describe(job.tests)} selected do not finish within "
                            f"{job.timeout_s:.0f} s without the mutant either: re-run with the whole suite")
                job = self.check.job(job, [])
                again = await self.generic.run(job)
            elif result.status is MutantStatus.SURVIVED:
                later = self.check.after(job.tests)
                if later is None:
                    break
                said.append(f"{result.executor} said Survived with {describe(job.tests)}; confirmed in a fresh "
                            f"process with the {describe(later)} the suite runs from the first of them on")
                job = self.check.job(job, later)
                again = await self.generic.run(job)
            else:
                break
            again.duration_s += result.duration_s
            result = again
        result.decided_by = list(job.tests)
        if said:
            first, _, rest = result.output_tail.partition("\n")
            note, tail = (first.removeprefix(NOTE), rest) if first.startswith(NOTE) else ("", result.output_tail)
            result.output_tail = NOTE + "; ".join(filter(None, [*said, note])) + "\n" + tail
        return result

    async def _whole_suite(self, job: MutantJob, first: MutantResult) -> MutantResult:
        """An unclassified result, retried with the whole suite in a fresh process (`unclassified`)."""
        again = await self.generic.run(whole_suite(job))
        if again.status in UNCLASSIFIED:
            error = runner_error(again.output_tail)
            why = f"{note_of(first) or 'the runner failed'}; re-run with the whole suite: {error}"
        else:
            said = note_of(first) or runner_error(first.output_tail)
            why = "; ".join(filter(None, [f"{first.executor} run failed ({said}); re-run with the whole suite",
                                          note_of(again)]))  # fmt: skip
        again.output_tail = NOTE + why + "\n" + again.output_tail
        again.duration_s += first.duration_s
        again.decided_by = []
        return again

    async def _run(self, job: MutantJob) -> MutantResult:
        await self.generic.start()
        fork = await self._fork_for(job) if job.mutant.valid else None
        if fork is None:
            return await self.generic.run(job)
        try:
            result = await fork.run(job)
        except Exception as exc:
            self.notes.append(f"fork executor failed on {job.mutant.id} ({exc}); generic used")
            return await self.generic.run(job)
        if result.status is MutantStatus.SURVIVED and self.check is not None and self.check.after(job.tests):
            return result  # confirmed in a fresh process with the later tests too (`_checked`)
        if result.status is MutantStatus.SURVIVED:  # (a fork's Timeout it re-checks itself)
            fresh = await self.generic.run(job)
            why = f"{fork.name} said {result.status.value}; re-checked in a fresh process"
            tail = fresh.output_tail  # the fresh run's own reason, if any, stays on the note's line
            fresh.output_tail = NOTE + why + ("; " + tail[len(NOTE):] if tail.startswith(NOTE) else "\n" + tail)
            return fresh
        return result

    async def reap_leftovers(self) -> None:
        """Kill the processes this worker's runs started that outlived them: a test's child in a
        session of its own (`setsid`, `start_new_session`), orphaned when a timed-out run was
        killed, would loop on; the sweep is a child subreaper, so they come back to it."""
        if self.reap is None:
            return
        own = {pid for pid in (self.generic.zygote.pid if self.generic.zygote else None,
                               getattr(self._fork, "worker_pid", None)) if isinstance(pid, int)}  # fmt: skip
        reap, marker = self.reap, self.generic.marker
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: reap(marker, own))

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._fork is not None:
                try:
                    await self._fork.stop()
                finally:
                    self._fork = None
            zygote = self.generic.zygote
            if zygote is not None and zygote.failure:  # it worked, only slower: say why
                why = zygote.failure.splitlines()[0]
                self.notes.append(f"zygote unavailable, new interpreters used instead: {why}")
            if self.generic.unrecorded and self.generic.unrecorded not in self.notes:
                self.notes.append(self.generic.unrecorded)
            await self.generic.stop()
            await self.reap_leftovers()  # (its own processes have ended: nothing is kept)


async def dispatch(
    jobs: Sequence[MutantJob], workers: Sequence[Worker], on_result: Callable[[MutantJob, MutantResult], None]
) -> None:
    """Run every job on the first free worker; `on_result` sees each result as it comes."""
    if not jobs:
        return
    send, receive = anyio.create_memory_object_stream[MutantJob](max_buffer_size=len(jobs))
    with send:
        for job in jobs:
            send.send_nowait(job)

    async def work(worker: Worker, queue: Any) -> None:
        async with queue:
            async for job in queue:
                on_result(job, await worker.run(job))

    try:
        async with receive, anyio.create_task_group() as tg:
            for worker in workers:
                tg.start_soon(work, worker, receive.clone())
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1:  # one worker failed (the others were cancelled): raise it plainly
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found
