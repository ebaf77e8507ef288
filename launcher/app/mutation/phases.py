"""A sweep's opening phases, overlapped and timed (issue 11, speed).

The clean suite under coverage (a subprocess in worker 1's tree) starts while this process
generates the mutants (CPU work, in a worker thread), and each phase is told as it starts and as
it ends, with its duration. A `--since` sweep runs only the test files that can reach the changed
files under coverage (`since_scope`); the mutants such a limited run does not kill are settled
again once the whole suite's coverage is known (`Scope.confirm`), so the statuses equal a full
sweep's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio

from launcher.app.context import STATE_DIR
from launcher.app.mutation.progress import SweepListener
from launcher.git.repo import GitRepo
from launcher.mutation import coverage_cache, sanity, since_scope
from launcher.mutation.coverage_map import CoverageMap, measure
from launcher.mutation.executor_generic import GenericExecutor, TestCommand
from launcher.mutation.model import MutantStatus
from launcher.mutation.run_identity import env_digest
from launcher.mutation.worker_files import missing_ignored

T = TypeVar("T")
# A limited run's verdicts that stand: a subset of the suite killing it means the suite does.
FINAL_WHEN_LIMITED = frozenset({MutantStatus.KILLED, MutantStatus.COMPILE_ERROR, MutantStatus.IGNORED})


async def overlapped(foreground: Callable[[], Awaitable[T]], background: Callable[[], Coroutine[Any, Any, None]] | None
                     ) -> T:  # fmt: skip
    """`foreground()`'s result, with `background()` running meanwhile; both finish (or the first
    failure cancels the other and is raised as itself, not as a group)."""
    result: list[T] = []

    async def keep() -> None:
        result.append(await foreground())

    try:
        async with anyio.create_task_group() as tg:
            if background is not None:
                tg.start_soon(background)
            tg.start_soon(keep)
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        raise
    return result[0]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


def _conftest(rel: str) -> bool:
    """A file pytest loads for what it is, not as a test module: never kept from collection."""
    return Path(rel).name in (since_scope.CONFTEST, "__init__.py")


def seconds(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"


@dataclass
class Scope:
    """The coverage a sweep plans with: the map, and whether it came from a limited run."""

    cov: CoverageMap
    limited: bool = False  # only some test files ran: verdicts other than FINAL_WHEN_LIMITED are provisional
    selected: list[str] = field(default_factory=list)  # the test files a limited run ran


@dataclass
class CoverageRun:
    """Everything the clean coverage run of a sweep depends on."""

    repo: GitRepo
    first: GenericExecutor  # worker 1: the run happens in its tree
    command: TestCommand
    base_sha: str
    overlay: Sequence[str]  # files whose main-tree state the worker trees copy
    roots: Sequence[str]
    pycache_dir: Path | None
    use_cache: bool
    listener: SweepListener
    notes: list[str]
    tests_key: str = ""  # the suite's tests alone (`coverage_cache.tests_key`), once measured
    user_args: Sequence[str] = ()  # the user's --pytest-args (named first when the clean suite fails)
    identity: str = ""  # what the interpreter is (`run_identity.interpreter_identity`), not only its path
    env: Mapping[str, str] = field(default_factory=dict)  # the tests' environment (`run_env.child_env()`)

    @property
    def cache_dir(self) -> Path:
        return self.repo.root / STATE_DIR / "mutation-cache"

    def _shape(self, measured: Sequence[str]) -> list[str]:
        """The key parts besides the files: the interpreter (path and identity), the fixed list of
        environment variables (`run_identity`; those the run read are checked by `env_key`), the
        pytest flags, the import roots, the measured files."""
        fixed = env_digest(self.env)
        return [self.command.python, self.identity, fixed, *self.command.extra, "|", *self.roots, "|", *measured]

    def env_key(self, read: Sequence[str]) -> str:
        """The digest of the environment for the variables a coverage run read (and the fixed list)."""
        return env_digest(self.env, read)

    async def measure(self, measured: Sequence[str], tracked: Sequence[str], since: bool) -> Scope:
        """The clean suite under coverage (from the cache when the same code and tests ran
        before); with `since`, only the test files that can reach the measured files."""
        await self.first.start()
        started = time.monotonic()
        suite = since_scope.test_files(tracked)
        tests_key = coverage_cache.tests_key(self.first.root, suite, self._shape([]))
        selected = self._selection(measured, tracked, tests_key) if since else None
        what = f"{len(selected)} test file(s) that can reach the changed code" if selected is not None else "the suite"
        self.listener.phase(f"coverage: started ({what} under coverage.py with {self.command.python})")
        self.tests_key = tests_key
        key = coverage_cache.coverage_key(self.first.overlay_source, self.base_sha, self.overlay,
                                          [*self._shape(measured), "|", *(selected or ["<all>"])])  # fmt: skip
        cov, reused = await coverage_cache.measured(
            self.cache_dir, key, self.first.root, use_cache=self.use_cache,
            measure=lambda: measure(self.first.root, measured, python=self.command.python, pycache_dir=self.pycache_dir,
                                    pytest_args=self.command.extra, roots=self.roots, only_tests=selected,
                                    skip_tests=[f for f in suite if f not in (selected or suite) and not _conftest(f)]),
            suite=(tests_key, measured) if selected is None else None, env_key=self.env_key)  # fmt: skip
        missing = await missing_ignored(self.repo, self.first.root) if not cov.run.ok else []
        sanity.check_suite(cov.run, str(self.repo.root), self.command.python, missing, self.user_args)
        if reused:
            self.notes.append("coverage map reused from an earlier sweep of the same code and tests")
        how = "reused from an earlier sweep of the same code and tests" if reused else f"measured in {seconds(started)}"
        self.listener.phase(f"coverage: {len(cov.run.durations)} test(s), {how}")
        return Scope(cov, selected is not None, selected or [])

    def _selection(self, measured: Sequence[str], tracked: Sequence[str], tests_key: str) -> list[str] | None:
        """The test files a `--since` coverage run needs (None: all of them)."""
        if not measured:
            return None
        earlier = coverage_cache.for_tests(self.cache_dir, tests_key, self.first.root, measured, self.env_key)
        chosen = since_scope.from_map(earlier, measured) if earlier is not None and self.use_cache else None
        how = "an earlier coverage map of the same tests"
        if chosen is None:
            chosen = since_scope.from_imports(self.first.root, tracked, measured, self.roots)
            how = "the static import graph"
        suite = since_scope.test_files(tracked)
        if not chosen or len(chosen) >= len([f for f in suite if not f.endswith(since_scope.CONFTEST)]):
            return None  # nothing to gain (or nothing found: the whole suite decides)
        note = f"--since: coverage measured on {len(chosen)} test file(s) found by {how}; " \
               "mutants they do not kill are settled with the whole suite's coverage"  # fmt: skip
        self.notes.append(note)
        return chosen

    async def confirm(self, measured: Sequence[str]) -> CoverageMap:
        """The whole suite's coverage, to settle a limited run's provisional verdicts."""
        started = time.monotonic()
        self.listener.phase("coverage: started (the whole suite, to confirm what the limited run did not kill)")
        key = coverage_cache.coverage_key(self.first.overlay_source, self.base_sha, self.overlay,
                                          [*self._shape(measured), "|", "<all>"])  # fmt: skip
        cov, reused = await coverage_cache.measured(
            self.cache_dir, key, self.first.root, use_cache=self.use_cache,
            measure=lambda: measure(self.first.root, measured, python=self.command.python, pycache_dir=self.pycache_dir,
                                    pytest_args=self.command.extra, roots=self.roots),
            suite=(self.tests_key, measured), env_key=self.env_key)  # fmt: skip
        sanity.check_suite(cov.run, str(self.repo.root), self.command.python, [], self.user_args)
        how = "reused from an earlier sweep" if reused else f"measured in {seconds(started)}"
        self.listener.phase(f"coverage: {len(cov.run.durations)} test(s) of the whole suite, {how}")
        return cov
