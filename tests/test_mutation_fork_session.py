"""The fork worker collects once and runs each mutant's tests from that session's items.

A conftest records every collection and every session-fixture setup and teardown in a file: the
warm worker must collect exactly once however many mutants it runs, while each forked child sets
up and tears down the session's fixtures as a run of its own would (so a mutant that breaks a
teardown is still caught), and honours `-x`, without ending a session per child (its plugins'
session-end work would cost every fork).
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from conftest import write_files

from launcher.mutation.discover import read_source
from launcher.mutation.executor import MutantJob, MutantResult
from launcher.mutation.executor_fork import ForkExecutor
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.python_ops import generate_mutants

CODE = """\
def double(x):
    return x * 2


def close(log):
    log.write("teardown\\n")
"""

CONFTEST = """\
import os

import pytest

from shop.core import close

LOG = os.path.join(os.path.dirname(__file__), "events.log")


def pytest_collection_finish(session):
    with open(LOG, "a") as fh:
        fh.write("collected\\n")


def pytest_sessionfinish(session):
    with open(LOG, "a") as fh:
        fh.write("finished\\n")


@pytest.fixture(scope="session")
def log():
    fh = open(LOG, "a")
    fh.write("setup\\n")
    yield fh
    close(fh)
    fh.close()
"""

TESTS = """\
from shop.core import double


def test_double(log):
    assert double(2) == 4


def test_double_zero(log):
    assert double(0) == 0


def test_teardown_runs(log):
    pass
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    files = {"shop/__init__.py": "", "shop/core.py": CODE, "tests/conftest.py": CONFTEST, "tests/test_core.py": TESTS}
    return write_files(tmp_path / "shop", files)


def _mutants(root: Path) -> list[Mutant]:
    return generate_mutants(root / "shop/core.py", read_source(root / "shop/core.py"), "shop/core.py")


def test_one_collection_serves_every_mutant_and_each_child_runs_its_own_session(shop: Path, tmp_path: Path) -> None:
    mutants = _mutants(shop)
    times = next(m for m in mutants if m.function == "double" and m.replacement == "/")  # x / 2
    teardown = next(m for m in mutants if m.function == "close" and m.fault == "call_removal")
    tests = ["tests/test_core.py::test_double", "tests/test_core.py::test_double_zero"]

    async def scenario() -> list[MutantResult]:
        ex = ForkExecutor(shop, None, [], sys.executable, pycache_dir=tmp_path / "pyc")
        try:
            return [
                await ex.run(MutantJob(times, tests, 30)),
                await ex.run(MutantJob(times, list(reversed(tests)), 30)),
                await ex.run(MutantJob(teardown, ["tests/test_core.py::test_teardown_runs"], 30)),
            ]
        finally:
            await ex.stop()

    first, second, third = anyio.run(scenario)
    events = (shop / "tests" / "events.log").read_text().split()
    assert all(r.executor == "fork" and "fresh interpreter" not in r.output_tail for r in (first, second, third))
    # x / 2 fails test_double, and -x stops the child there: test_double_zero never runs.
    assert first.status is MutantStatus.KILLED and first.killed_by == [tests[0]]
    # The other order: test_double_zero passes (0 / 2 == 0), then test_double fails.
    assert second.status is MutantStatus.KILLED and second.killed_by == [tests[0]]
    # Dropping the teardown's write is invisible to the tests: it survives (the fork only proposes).
    assert third.status is MutantStatus.SURVIVED
    assert events.count("collected") == 1  # the warm worker's one collection
    # Each child set the session fixture up: the three mutants' and, for each killed selection
    # (two: the same tests in two orders), one without the mutant (a fork's kill counts only when
    # its selection passes in a fork unmutated: `ForkExecutor.forks_clean`).
    assert events.count("setup") == 3 + 2
    assert events.count("teardown") == 2 + 2  # and tore it down, but for the mutant that removed it
    assert events.count("finished") <= 1  # only the worker's own session ends: a child's does not
