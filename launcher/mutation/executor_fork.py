"""The fast executor for pytest: a warm worker forks per mutant and swaps code in memory (DESIGN 11).

`start()` launches `fork_worker` in the worktree; it starts one pytest session and collects the
suite once, so conftests, test modules and the code under test are imported. For each mutant the
worker compiles the mutated module, takes the code object of the outermost function around the
mutant, forks, and in the child assigns it to the live function's `__code__` (every reference to
the function sees it) and runs the selected tests' collected items (`fork_session`). A fork costs
milliseconds where a fresh pytest process costs an interpreter start, imports and collection.

Why this is not mutmut's flaw (issue 5): a process that imported the code before the mutant was
swapped in keeps whatever the unmutated code computed at that time. So:
  * `fork_can_handle` refuses, statically, what cannot be swapped or may be cached: import-time
    code (module and class bodies, decorators, defaults), functions under a caching decorator
    (`lru_cache`, `cache`, memoizers), and functions that write module-level or class state
    (`global`, `CACHE[k] = v`, `REGISTRY.append(...)`, `cls.x = ...`). The sweep gives those to
    the generic executor.
  * The worker refuses, dynamically, any function that ran during import or collection (it records
    them all while warming up), a function it cannot find in the loaded module (as itself or
    inside a decorator's wrapper, closure or partial), and a mutant that changes a closure. Those
    `run()` itself tests in a fresh test process that imports the mutated module from the start
    (nothing is written to disk): ground truth. That is a fork of the worker's zygote (pytest
    imported, the project not) when the sweep gives one, else a new interpreter.
  * A fork's survivor is only a candidate: `needs_confirmation(result)` is True for it, and the
    sweep re-runs it on the generic executor before recording Survived (a test that starts a
    subprocess, or reads the file, sees the unmutated code).
A fork that times out is re-checked once in a fresh test process (`recheck_timeouts`).
A fork's kill counts only when the same selection passes in a fork without the mutant (asked
once per selection, `forks_clean`): code that refuses to run after a fork (a connection pool
that keeps its pid from import time) fails every forked run, whatever the mutant. A selection
that does not pass there runs its mutants in a fresh test process instead.

The sweep uses one `ForkExecutor` per worker, only for the default pytest command; it and that
worker's generic executor must not run at the same time in the same worktree (the generic one
writes the mutant to disk, which the worker reads the source from).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from launcher import process
from launcher.errors import EnvironmentProblem
from launcher.mutation import fork_child, fork_worker
from launcher.mutation.executor import MutantJob, MutantResult
from launcher.mutation.executor_generic import NOTE, PYTEST_FLAGS, TestCommand, classify
from launcher.mutation.fork_client import BOOTSTRAP, TAIL, WORKER_SCRIPT, WorkerClient, WorkerGone, shut_down
from launcher.mutation.fork_refusal import fork_can_handle, fork_refusal
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.run_env import child_env, sweep_bytecode_cache
from launcher.mutation.tree_leftovers import TreeLeftovers
from launcher.mutation.zygote import Zygote


def needs_confirmation(result: MutantResult) -> bool:
    """A fork's survivor must be re-run on the generic executor before Survived is recorded: a
    test may observe the code other than through the swapped function (a subprocess, the file)."""
    return result.executor == ForkExecutor.name and result.status is MutantStatus.SURVIVED


# --------------------------------------------------------------------------- the executor

_NOT_IN_FORK = "not forked: the selected tests fail in a fork without the mutant too"


@dataclass
class _Outcome:
    status: MutantStatus
    killed_by: list[str]
    note: str
    tail: str


class ForkExecutor:
    """The fast pytest executor (see the module docstring). One job at a time."""

    name = "fork"

    def __init__(
        self,
        repo_root: Path,
        worktree: Path | None,
        test_args: list[str],
        python: str = sys.executable,
        *,
        env: Mapping[str, str] | None = None,
        recheck_timeouts: bool = True,
        startup_timeout_s: float = 600.0,
        pycache_dir: Path | None = None,
        zygote: Zygote | None = None,
        pytest_args: Sequence[str] = (),
        leftovers: TreeLeftovers | None = None,
    ) -> None:
        self.repo_root = repo_root
        self.root = (worktree or repo_root).absolute()
        # For the warm-up collection and for jobs that name no tests ([] = the whole suite); jobs
        # with node ids run just those, as with the generic executor.
        self.test_args = list(test_args)
        self.flags = [*PYTEST_FLAGS, *pytest_args]  # for every run (`plugin_overrides`)
        self.python = python
        self.recheck_timeouts = recheck_timeouts
        self.startup_timeout_s = startup_timeout_s
        self.warmup_s = 0.0
        self.info: dict[str, Any] = {}  # the worker's "ready" message
        self._extra_env = dict(env or {})
        # Bytecode cache for the worker and fresh interpreters (default: beside the sources, or
        # private to this executor where the environment forbids writing bytecode). Executors of
        # one sweep may share one: it only ever holds unmutated code.
        self.pycache_dir = pycache_dir
        # Fresh runs fork this (the sweep's worker owns it, and shares it with its generic
        # executor); without one, or when it cannot run a job, a new interpreter starts.
        self.zygote = zygote
        self._tmp: Path | None = None
        self._client: WorkerClient | None = None
        self._lock = anyio.Lock()
        # Per selection (node ids, () = every test): whether it passes in a fork without a mutant.
        self._forks_clean: dict[tuple[str, ...], bool] = {}
        # The worker tree's files as set up (its generic executor's): what an earlier run wrote
        # there is removed before each run. Without one, the tree is not the sweep's: left alone.
        self.leftovers = leftovers if leftovers is not None else TreeLeftovers(self.root, active=False)

    # -- lifecycle

    @property
    def worker_pid(self) -> int | None:
        return self._client.pid if self._client is not None else None

    @property
    def child_pid(self) -> int | None:
        return self._client.child_pid if self._client is not None else None

    def can_handle(self, mutant: Mutant) -> bool:
        return fork_can_handle(mutant, self.root)

    def _env(self) -> dict[str, str]:
        assert self._tmp is not None
        # A bytecode cache under a prefix: a stale .pyc next to a source (of a mutant the generic
        # executor wrote) is never read, and this executor never writes a mutant's (the worker
        # compiles mutants itself, and serves them from memory).
        return child_env(extra=self._extra_env, pycache_dir=self.pycache_dir or sweep_bytecode_cache(self._tmp / "pyc"))

    def _workdir(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="launcher-fork-"))
        return self._tmp

    async def start(self) -> None:
        if self._client is not None:
            return
        tmp = self._workdir()
        client = WorkerClient(self.root, self.python, self._env(), tmp / "worker.log")
        hello = {"op": "init", "args": [*self.flags, *self.test_args], "tmp": str(tmp)}
        await self.leftovers.clear()
        ready = await client.start(hello, self.startup_timeout_s)
        self.leftovers.adopt()  # what collecting wrote (a conftest's generated file) the forks expect
        if ready.get("ev") != "ready" or ready.get("rc") not in (0, 5):  # 5: no tests collected
            await client.kill()
            why = ready.get("reason") or f"collecting the tests failed (pytest exit {ready.get('rc')})"
            raise EnvironmentProblem(
                f"the fork executor's worker did not start: {why}\n{client.log_tail()}",
                where=str(self.root),
                fix="check that `python -m pytest` collects the suite there, or use the generic executor",
            )
        self._client = client
        self.info = ready
        self.warmup_s = float(ready.get("warmup_s", 0.0))

    async def stop(self) -> None:
        """Kill the worker and any fork; safe to call at any time, twice, after a failed start."""
        client, self._client, work_dir, self._tmp = self._client, None, self._tmp, None
        await shut_down(client, work_dir)

    # -- jobs

    def _args(self, tests: Sequence[str]) -> list[str]:
        return [*self.flags, *(tests or self.test_args)]

    def _spec(self, mutant: Mutant) -> dict[str, Any]:
        return {
            "path": str(self.root / mutant.target),
            "start": mutant.start,
            "end": mutant.end,
            "replaced": mutant.replaced,
            "replacement": mutant.replacement,
            "function": mutant.function,
            "line": mutant.line,
        }

    async def run(self, job: MutantJob) -> MutantResult:
        mutant = job.mutant
        started = time.monotonic()
        if mutant.language != "python":
            raise ValueError(f"{mutant.id}: the fork executor runs Python mutants only")
        if not mutant.valid:
            outcome = _Outcome(MutantStatus.COMPILE_ERROR, [], "the mutated source does not compile", "")
        else:
            async with self._lock:
                refusal = fork_refusal(mutant, self.root)
                if refusal is not None:
                    outcome = await self._run_fresh(job, f"not forked: {refusal}")
                else:
                    outcome = await self._run_forked(job)
        text = (NOTE + outcome.note + "\n" if outcome.note else "") + outcome.tail[-TAIL:]
        return MutantResult(mutant.id, outcome.status, self.name, time.monotonic() - started, outcome.killed_by, text)

    async def _run_forked(self, job: MutantJob) -> _Outcome:
        if self._client is None:
            try:
                await self.start()  # first job, or the previous worker died
            except EnvironmentProblem as exc:
                return await self._run_fresh(job, f"no fork worker ({exc.what.splitlines()[0]})")
        assert self._client is not None
        if self._forks_clean.get(tuple(job.tests)) is False:
            return await self._run_fresh(job, _NOT_IN_FORK)
        limit = job.warm_timeout_s
        request = {"op": "run", **self._spec(job.mutant), "tests": list(job.tests), "args": self._args(job.tests),
                   "timeout": limit}  # fmt: skip
        await self.leftovers.clear()
        try:
            answer = await self._client.request(request, limit)
        except (WorkerGone, TimeoutError) as exc:
            why = "stopped answering" if isinstance(exc, TimeoutError) else "exited"
            tail = self._client.log_tail()
            await self._client.kill()
            self._client = None
            outcome = await self._run_fresh(job, f"the fork worker {why}; ran in a fresh interpreter instead")
            outcome.tail = outcome.tail or tail
            return outcome
        return await self._answered(job, answer)

    async def forks_clean(self, job: MutantJob) -> bool:
        """Whether the job's selection passes in a fork of the warm worker on the unmutated code
        (asked once per selection; a failure, a timeout or a worker gone all say no)."""
        key = tuple(job.tests)
        if key not in self._forks_clean:
            passed = False
            if self._client is not None:
                request = {"op": "clean", "tests": list(job.tests), "args": self._args(job.tests),
                           "timeout": job.warm_timeout_s}  # fmt: skip
                await self.leftovers.clear()
                try:
                    answer = await self._client.request(request, job.warm_timeout_s)
                    passed = answer.get("ev") == "done" and answer.get("rc") == 0 and not answer.get("timed_out")
                except (WorkerGone, TimeoutError):
                    await self._client.kill()
                    self._client = None  # started again by the next job
            self._forks_clean[key] = passed
        return self._forks_clean[key]

    async def _answered(self, job: MutantJob, answer: Mapping[str, Any]) -> _Outcome:
        ev = answer["ev"]
        if ev == "unsupported":
            return await self._run_fresh(job, f"not forked: {answer['reason']}")
        if ev == "compile_error":
            return _Outcome(MutantStatus.COMPILE_ERROR, [], answer["reason"], "")
        if ev != "done":
            return _Outcome(MutantStatus.RUNTIME_ERROR, [], str(answer.get("reason", answer))[-TAIL:], "")
        rc = int(answer["rc"])
        if rc == fork_child.EXIT_HARNESS:
            return await self._run_fresh(job, "the fork failed before running the tests; ran in a fresh interpreter")
        outcome = self._classify(
            job, rc, bool(answer["timed_out"]), answer["tail"], answer["failed"], answer["duration_s"]
        )
        if outcome.status is MutantStatus.KILLED and not await self.forks_clean(job):
            # The selection fails in a fork whatever the mutant (code that refuses to run after a
            # fork: a pid kept at import, a lock or loop of the warm process): the fork's failure
            # is no kill. A fresh test process decides.
            return await self._run_fresh(job, _NOT_IN_FORK)
        if outcome.status is MutantStatus.TIMEOUT and self.recheck_timeouts:
            # A loaded machine can stall a healthy run: a timeout must repeat to count.
            again = await self._run_fresh(job, "")
            if again.status is MutantStatus.TIMEOUT:
                again.note = "timed out in the fork and again in a fresh interpreter"
            else:
                again.note = f"timed out in the fork but not in a fresh interpreter ({again.note or again.status})"
            return again
        return outcome

    def _classify(
        self, job: MutantJob, rc: int, timed_out: bool, output: str, failed: list[str], duration: float
    ) -> _Outcome:
        """The generic executor's mapping of pytest exits, so both give the same status."""
        argv = [self.python, "-m", "pytest", *self._args(job.tests)]
        done = process.Completed(argv, rc, output.encode(), b"", duration, timed_out)
        status, killed_by, note = classify(done, TestCommand(self.python), job.mutant.target)
        return _Outcome(status, failed or killed_by, note, output)

    async def _run_fresh(self, job: MutantJob, note: str) -> _Outcome:
        """Ground truth without touching the tree: a fresh test process (a fork of the zygote, or
        a new interpreter) imports the mutated module, served from memory by an import hook."""
        failed: list[str] = []
        done = None
        await self.leftovers.clear()
        if self.zygote is not None:
            # No interpreter start and no pytest import to allow for; collecting is (as measured
            # when the worker warmed up).
            limit = job.warm_timeout_s + self.warmup_s + 1.0
            done = await self.zygote.run_mutant(self._spec(job.mutant), self._args(job.tests), limit)
        if done is None:
            done, failed = await self._run_interpreter(job)
        tail = (done.text + done.err)[-TAIL * 4 :]
        joined = "; ".join(filter(None, [note, "fresh interpreter"]))
        if not done.timed_out and done.returncode == fork_worker.EXIT_COMPILE:
            return _Outcome(MutantStatus.COMPILE_ERROR, [], joined, tail)
        if not done.timed_out and done.returncode in (fork_worker.EXIT_STALE, fork_worker.EXIT_PREIMPORTED):
            return _Outcome(MutantStatus.RUNTIME_ERROR, [], joined, tail)
        outcome = self._classify(job, done.returncode, done.timed_out, tail, failed, done.duration_s)
        outcome.note = "; ".join(filter(None, [note, outcome.note]))
        return outcome

    async def _run_interpreter(self, job: MutantJob) -> tuple[process.Completed, list[str]]:
        """`fork_worker --fresh`: a new interpreter whose import hook serves the mutant."""
        tmp = self._workdir()
        spec_path, result_path = tmp / "fresh.json", tmp / "fresh-result.json"
        result_path.unlink(missing_ok=True)
        spec = {**self._spec(job.mutant), "args": self._args(job.tests), "result": str(result_path)}
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        argv = [self.python, "-c", BOOTSTRAP, str(WORKER_SCRIPT), "--fresh", str(spec_path)]
        # The job's timeout is for the tests; a fresh interpreter also starts, imports and collects
        # first, which warming the worker up measured (not measured yet: allow a few seconds).
        limit = job.timeout_s + (2 * self.warmup_s + 1.0 if self.warmup_s else 5.0)
        done = await process.run(argv, cwd=self.root, env=self._env(), timeout=limit)
        failed: list[str] = []
        with contextlib.suppress(OSError, ValueError):
            failed = list(json.loads(result_path.read_text(encoding="utf-8")).get("failed", []))
        if done.returncode == 0 and not done.timed_out and not result_path.exists():
            done = dataclasses.replace(done, returncode=fork_child.EXIT_UNFINISHED)
        return done, failed
