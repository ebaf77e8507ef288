"""The fork executor on a fixture package with a deliberately weak suite (tests/data/mutation/forkpkg).

Ground truth for a mutant: apply it to a copy of the package on disk and run the whole suite in a
fresh `python -m pytest`. The fork executor must give that status on every mutant it accepts (and,
through its fresh-interpreter fallback, on the others too); what it must not fork (import-time
code, cached functions) it refuses; a mutant that loops forever is a Timeout and the worker goes on;
stopping it leaves no process behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from conftest import repo_from

from launcher import process
from launcher.mutation.discover import read_source
from launcher.mutation.executor import MutantJob, MutantResult
from launcher.mutation.executor_fork import ForkExecutor, fork_can_handle, fork_refusal, needs_confirmation
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.python_ops import generate_mutants

FIXTURE = Path(__file__).parent / "data" / "mutation" / "forkpkg"
FILES = ("calc/core.py", "calc/lazy.py")
JOB_TIMEOUT_S = 1.5
GROUND_TRUTH_TIMEOUT_S = 4.0
GENERIC_TIMEOUT_S = 3.0  # a whole fresh pytest process per mutant
PY = sys.executable
T = TypeVar("T")


def run_async(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    return anyio.run(fn, *args)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture package in a git repository (the generic executor needs one)."""
    root = tmp_path_factory.mktemp("fork") / "proj"
    repo_from(FIXTURE, root, "fixture")
    return root


@pytest.fixture(scope="module")
def pyc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bytecode cache for all executors here, as a sweep shares one across its workers."""
    return tmp_path_factory.mktemp("pyc")


@pytest.fixture(scope="module")
def mutants(project: Path) -> list[Mutant]:
    found: list[Mutant] = []
    for rel in FILES:
        found += generate_mutants(project / rel, read_source(project / rel), rel)
    assert len(found) > 40
    return found


def by(mutants: list[Mutant], function: str, replacement: str | None = None) -> list[Mutant]:
    chosen = [m for m in mutants if m.function == function and replacement in (None, m.replacement)]
    assert chosen, (function, replacement)
    return chosen


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_CORE_", "COVERAGE_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _truth_status(done: process.Completed) -> MutantStatus:
    if done.timed_out:
        return MutantStatus.TIMEOUT
    if done.returncode == 0:
        return MutantStatus.SURVIVED
    if done.returncode in (1, 2) or done.returncode < 0:
        return MutantStatus.KILLED
    return MutantStatus.RUNTIME_ERROR


async def _ground_truth(project: Path, mutants: list[Mutant]) -> dict[str, MutantStatus]:
    statuses: dict[str, MutantStatus] = {}
    limiter = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
    base = project.parent / "ground-truth"

    async def one(i: int, mutant: Mutant) -> None:
        async with limiter:
            copy = base / str(i)
            shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".git", "__pycache__"))
            path = copy / mutant.target
            path.write_text(mutant.apply(read_source(path)), encoding="utf-8")
            argv = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            done = await process.run(argv, cwd=copy, env=_env(), timeout=GROUND_TRUTH_TIMEOUT_S)
            statuses[mutant.id] = _truth_status(done)
            shutil.rmtree(copy, ignore_errors=True)

    async with anyio.create_task_group() as tg:
        for i, mutant in enumerate(mutants):
            tg.start_soon(one, i, mutant)
    return statuses


@pytest.fixture(scope="module")
def truth(project: Path, mutants: list[Mutant]) -> dict[str, MutantStatus]:
    return run_async(_ground_truth, project, mutants)


async def _run_all(
    executor: ForkExecutor, mutants: list[Mutant], timeout: float = JOB_TIMEOUT_S
) -> dict[str, MutantResult]:
    results: dict[str, MutantResult] = {}
    await executor.start()
    try:
        for mutant in mutants:
            results[mutant.id] = await executor.run(MutantJob(mutant, [], timeout))
    finally:
        await executor.stop()
    return results


@pytest.fixture(scope="module")
def fork_results(project: Path, pyc: Path, mutants: list[Mutant]) -> dict[str, MutantResult]:
    """Every mutant through the fork executor, accepted or not (those run in a fresh interpreter)."""
    executor = ForkExecutor(project, None, [], PY, recheck_timeouts=False, pycache_dir=pyc)
    return run_async(_run_all, executor, mutants)


def forked(result: MutantResult) -> bool:
    return "not forked" not in result.output_tail and "fresh interpreter" not in result.output_tail


# ----------------------------------------------------------------------------- what it may fork


def test_fork_can_handle_refuses_import_time_and_cached_code(project: Path, mutants: list[Mutant]) -> None:
    refused = {m.function for m in mutants if not fork_can_handle(m, project)}
    accepted = {m.function for m in mutants if fork_can_handle(m, project)}
    # Import time: module body (SCALE, TRIPLED_7 = tripled(7)), class body and a default argument.
    assert {"<module>", "Counter"} <= refused
    assert all(not fork_can_handle(m, project) for m in mutants if m.import_time)
    assert "tripled" in refused  # lru_cache: cached results outlive the swap
    assert "square" in refused  # writes a module-level memo dict
    assert "lru_cache" in (fork_refusal(by(mutants, "tripled")[0], project) or "")
    # Plain functions, a method, a property, a nested function, a module imported lazily.
    assert {"add", "clamp", "Counter.bump", "Counter.doubled", "outer.<locals>.inner", "double"} <= accepted
    # Without the tree holding the file, it cannot check, so it refuses.
    assert not fork_can_handle(by(mutants, "add")[0], project / "nowhere")


def test_static_check_catches_state_writes_and_decorators(tmp_path: Path) -> None:
    source = """\
import functools
REGISTRY = []
CACHE = {}

def plain(x):
    y = {}
    y[x] = x + 1
    return y

def appends(x):
    REGISTRY.append(x + 1)

def uses_global(x):
    global CACHE
    CACHE = {x: x + 1}

def nested_write(x):
    def inner():
        CACHE[x] = x + 1
    inner()

class K:
    count = 0

    @classmethod
    def bump(cls, n):
        cls.count = n + 1

    def via_class(self, n):
        self.__class__.count = n + 1

    def own(self, n):
        self.count = n + 1

    @staticmethod
    def static(n):
        return n + 1

@functools.wraps(plain)
def wrapped(x):
    return x + 1

@functools.lru_cache(maxsize=None)
def cached(x):
    return x + 1
"""
    (tmp_path / "m.py").write_text(source)
    found = generate_mutants(tmp_path / "m.py", source, "m.py", ["arithmetic"])
    verdict = {m.function: fork_refusal(m, tmp_path) for m in found}
    assert verdict["plain"] is None
    assert verdict["K.own"] is None
    assert verdict["K.static"] is None
    assert "module-level state" in (verdict["appends"] or "")
    assert "global" in (verdict["uses_global"] or "")
    assert "module-level state" in (verdict["nested_write.<locals>.inner"] or "")
    assert "class" in (verdict["K.bump"] or "")
    assert "class" in (verdict["K.via_class"] or "")
    assert verdict["wrapped"] is None  # the worker finds the function inside the wrapper
    assert "cache" in (verdict["cached"] or "")


# ----------------------------------------------------------------------------- agreement


def test_fork_agrees_with_ground_truth(
    project: Path, mutants: list[Mutant], truth: dict[str, MutantStatus], fork_results: dict[str, MutantResult]
) -> None:
    results = fork_results
    accepted = [m for m in mutants if fork_can_handle(m, project)]
    wrong = {
        f"{m.function}:{m.line} {m.replaced!r}->{m.replacement!r}": (results[m.id].status, truth[m.id])
        for m in mutants
        if results[m.id].status != truth[m.id]
    }
    assert not wrong, wrong  # every mutant, accepted ones first of all
    assert all(r.executor == "fork" for r in results.values())
    # The weak suite leaves survivors, and the loop is a timeout: the comparison means something.
    statuses = {truth[m.id] for m in accepted}
    assert {MutantStatus.KILLED, MutantStatus.SURVIVED, MutantStatus.TIMEOUT} <= statuses
    # Accepted mutants really were forked, except the function that ran at import time (`NAMES =
    # names()`), which the worker notices and sends to a fresh interpreter: forking would keep NAMES.
    ran_at_import = {"names", "_logged", "_logged.<locals>.wrapper", "curried.__init__"}  # decorating runs them
    for m in accepted:
        assert forked(results[m.id]) == (m.function not in ran_at_import), (m.function, results[m.id].output_tail)
    # Decorated functions are forked: the worker swaps the code inside the wrapper.
    assert {m.function for m in accepted if forked(results[m.id])} >= {"quadruple", "quintuple", "curried.__call__"}
    assert "ran during import or collection" in results[by(mutants, "names")[0].id].output_tail
    killed = results[by(mutants, "add", "-")[0].id]
    assert killed.status is MutantStatus.KILLED and killed.killed_by == ["tests/check_calc.py::check_add"]
    survivor = results[by(mutants, "clamp", ">=")[0].id]
    assert survivor.status is MutantStatus.SURVIVED and needs_confirmation(survivor)
    assert not needs_confirmation(killed)


def test_fork_and_generic_executors_agree(
    project: Path, mutants: list[Mutant], truth: dict[str, MutantStatus], fork_results: dict[str, MutantResult]
) -> None:
    generic = pytest.importorskip("launcher.mutation.executor_generic")
    from launcher.git.repo import GitRepo

    async def generic_statuses() -> dict[str, MutantStatus]:
        repo = await GitRepo.discover(project)
        sha = await repo.rev_parse("HEAD")
        results: dict[str, MutantStatus] = {}
        chunks = [mutants[0::2], mutants[1::2]]

        async def worker(i: int, chunk: list[Mutant]) -> None:
            command = generic.TestCommand(PY)
            ex = generic.GenericExecutor(repo, project.parent / f"wt{i}", sha, command, recheck_timeouts=False)
            await ex.start()
            try:
                for m in chunk:
                    results[m.id] = (await ex.run(MutantJob(m, [], GENERIC_TIMEOUT_S))).status
            finally:
                await ex.stop()

        async with anyio.create_task_group() as tg:
            for i, chunk in enumerate(chunks):
                tg.start_soon(worker, i, chunk)
        return results

    by_generic = run_async(generic_statuses)
    differ = {
        f"{m.function}:{m.line} {m.replaced!r}->{m.replacement!r}": (fork_results[m.id].status, by_generic[m.id])
        for m in mutants
        if fork_results[m.id].status != by_generic[m.id]
    }
    assert not differ, differ
    # And the generic executor, a fresh process on a real file, is ground truth too.
    assert {k: by_generic[k] for k in truth} == truth


# ----------------------------------------------------------------------------- timeouts, processes


def test_endless_loop_times_out_and_the_worker_carries_on(project: Path, pyc: Path, mutants: list[Mutant]) -> None:
    loop = by(mutants, "spin", "+=")[0]
    after = by(mutants, "add", "-")[0]

    async def scenario() -> tuple[MutantResult, MutantResult, int | None, int | None]:
        ex = ForkExecutor(project, None, [], PY, pycache_dir=pyc)  # re-checks timeouts
        await ex.start()
        try:
            pid = ex.worker_pid
            timed_out = await ex.run(MutantJob(loop, ["tests/check_calc.py::check_spin"], 1.0))
            next_one = await ex.run(MutantJob(after, ["tests/check_calc.py::check_add"], 1.0))
            return timed_out, next_one, pid, ex.worker_pid
        finally:
            await ex.stop()

    started = time.monotonic()
    timed_out, next_one, before, after_pid = run_async(scenario)
    assert timed_out.status is MutantStatus.TIMEOUT
    assert "again in a fresh interpreter" in timed_out.output_tail
    assert next_one.status is MutantStatus.KILLED and forked(next_one)
    assert before == after_pid  # the same warm worker
    assert time.monotonic() - started < 20


def _groups_gone(*pgids: int) -> bool:
    return not any(process.group_alive(p) for p in pgids) and not set(pgids) & process._LIVE_GROUPS


def test_stop_and_cancellation_leave_no_process(project: Path, pyc: Path, mutants: list[Mutant]) -> None:
    loop = by(mutants, "spin", "+=")[0]

    async def scenario() -> None:
        ex = ForkExecutor(project, None, [], PY, pycache_dir=pyc)
        await ex.start()
        worker = ex.worker_pid
        assert worker is not None and process.group_alive(worker) and worker in process._LIVE_GROUPS
        child = 0
        async with anyio.create_task_group() as tg:
            tg.start_soon(ex.run, MutantJob(loop, [], 60.0))
            with anyio.fail_after(10):
                while ex.child_pid is None:
                    await anyio.sleep(0.01)
            child = ex.child_pid
            assert process.group_alive(child) and child in process._LIVE_GROUPS
            tg.cancel_scope.cancel()  # Ctrl-C mid-mutant
        assert _groups_gone(worker, child)
        await ex.stop()
        await ex.stop()  # twice is fine
        # A plain start/stop.
        again = ForkExecutor(project, None, [], PY, pycache_dir=pyc)
        await again.start()
        second = again.worker_pid
        assert second is not None and process.group_alive(second)
        await again.stop()
        assert _groups_gone(second)
        await ForkExecutor(project, None, [], PY).stop()  # never started

    run_async(scenario)


def test_a_dead_worker_is_replaced(project: Path, pyc: Path, mutants: list[Mutant]) -> None:
    first, second = by(mutants, "add", "-")[0], by(mutants, "clamp", ">=")[0]

    async def scenario() -> tuple[MutantResult, MutantResult, int | None, int | None]:
        ex = ForkExecutor(project, None, [], PY, pycache_dir=pyc)
        await ex.start()
        try:
            pid = ex.worker_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            with anyio.fail_after(5):
                while process.group_alive(pid):
                    await anyio.sleep(0.01)
            one = await ex.run(MutantJob(first, [], JOB_TIMEOUT_S))  # in a fresh interpreter
            two = await ex.run(MutantJob(second, [], JOB_TIMEOUT_S))  # a new worker forks again
            return one, two, pid, ex.worker_pid
        finally:
            await ex.stop()

    one, two, old, new = run_async(scenario)
    assert one.status is MutantStatus.KILLED and "fresh interpreter" in one.output_tail
    assert two.status is MutantStatus.SURVIVED and forked(two)
    assert new is not None and new != old


def test_failed_start_is_an_environment_problem(tmp_path: Path) -> None:
    (tmp_path / "check_broken.py").write_text("import no_such_module_anywhere\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = check_*.py\n")
    from launcher.errors import EnvironmentProblem

    async def scenario() -> None:
        ex = ForkExecutor(tmp_path, None, [], PY)
        try:
            with pytest.raises(EnvironmentProblem, match="collecting the tests failed"):
                await ex.start()
            assert ex.worker_pid is None
        finally:
            await ex.stop()

    run_async(scenario)


# ----------------------------------------------------------------------------- speed


def test_fork_is_faster_than_a_fresh_pytest_per_mutant(project: Path, pyc: Path, mutants: list[Mutant]) -> None:
    chosen = [m for m in mutants if fork_can_handle(m, project) and m.function not in ("names", "spin")][:6]
    copy = project.parent / "speed"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".git", "__pycache__"))

    async def fresh() -> float:
        started = time.monotonic()
        for m in chosen:
            path = copy / m.target
            original = path.read_text(encoding="utf-8")
            path.write_text(m.apply(original), encoding="utf-8")
            try:
                argv = [PY, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
                await process.run(argv, cwd=copy, env=_env(), timeout=30)
            finally:
                path.write_text(original, encoding="utf-8")
        return time.monotonic() - started

    async def fork() -> tuple[float, float]:
        ex = ForkExecutor(project, None, [], PY, pycache_dir=pyc)
        started = time.monotonic()
        await ex.start()
        warm = time.monotonic() - started
        try:
            for m in chosen:
                result = await ex.run(MutantJob(m, [], 30))
                assert forked(result)
        finally:
            await ex.stop()
        return time.monotonic() - started - warm, warm

    fresh_s = run_async(fresh)
    fork_s, warm_s = run_async(fork)
    n = len(chosen)
    print(
        f"\n{n} mutants: fresh pytest per mutant {fresh_s:.2f}s ({n / fresh_s:.1f}/s), "
        f"fork {fork_s:.2f}s ({n / fork_s:.1f}/s) after a {warm_s:.2f}s warm-up"
    )
    assert fork_s < 3 * fresh_s  # loose: timing on a shared machine is noisy


def test_a_fork_is_not_given_the_start_up_allowance_of_a_fresh_process(
    project: Path, pyc: Path, mutants: list[Mutant]
) -> None:
    loop = by(mutants, "spin", "+=")[0]
    job = MutantJob(loop, ["tests/check_calc.py::check_spin"], timeout_s=30.0, startup_s=29.0)
    assert job.warm_timeout_s == 1.0 and MutantJob(loop, [], 0.5, startup_s=5.0).warm_timeout_s == 1.0

    async def scenario() -> MutantResult:
        ex = ForkExecutor(project, None, [], PY, recheck_timeouts=False, pycache_dir=pyc)
        try:
            return await ex.run(job)
        finally:
            await ex.stop()

    started = time.monotonic()
    result = run_async(scenario)
    assert result.status is MutantStatus.TIMEOUT and forked(result)
    assert time.monotonic() - started < 15  # the 1 s warm limit, not the 30 s of a fresh process
