"""The generic executor, per-test coverage and the worker's fork fallback, on a real package."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import repo_from

from launcher.git.repo import GitRepo
from launcher.mutation import python_ops
from launcher.mutation.coverage_map import IMPORT_CONTEXT, measure, statement_lines
from launcher.mutation.discover import read_source
from launcher.mutation.executor import MutantJob, MutantResult
from launcher.mutation.executor_generic import GenericExecutor, TestCommand, classify, mutated_bytes
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.result_key import TestDigest, TreeFiles, cache_key
from launcher.mutation.run_env import bytecode_files, sweep_bytecode_cache
from launcher.mutation.sweep import ForkSupport, Worker, note_of
from launcher.process import Completed

WEAKPKG = Path(__file__).parent / "data" / "mutation" / "weakpkg"


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    repo_from(WEAKPKG, root, "weak package")
    return root


def mutants_of(root: Path, rel: str, fault: str | None = None, function: str | None = None) -> list[Mutant]:
    found = python_ops.generate_mutants(root / rel, read_source(root / rel), rel)
    return [m for m in found if (fault is None or m.fault == fault) and (function is None or m.function == function)]


async def with_executor(root: Path, body: Any, *, command: TestCommand | None = None, overlay: list[str] | None = None,
                        pycache_dir: Path | None = None) -> Any:  # fmt: skip
    repo = await GitRepo.discover(root)
    sha = await repo.rev_parse("HEAD")
    executor = GenericExecutor(repo, root.parent / "trees" / "w1", sha, command or TestCommand(sys.executable),
                               overlay=overlay or [], pycache_dir=pycache_dir)  # fmt: skip
    await executor.start()
    try:
        return await body(executor)
    finally:
        await executor.stop()
        assert not executor.root.exists()


@pytest.mark.parametrize("cache", ["beside the sources", "the sweep's prefix", "the user's prefix"])
def test_generic_kills_survives_restores_and_names_the_killing_test(
    pkg: Path, monkeypatch: pytest.MonkeyPatch, cache: str
) -> None:
    # The stale-bytecode hazard needs .pyc files: beside the sources (Python's default), under
    # the sweep's cache (when the environment forbids writing bytecode) or under a prefix the
    # user set: the mutant's must go from wherever it went.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    if cache == "the sweep's prefix":
        monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    if cache == "the user's prefix":
        monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(pkg.parent / "users-pyc"))
    pycache_dir = sweep_bytecode_cache(pkg.parent / "pyc")  # as the sweep decides
    assert (pycache_dir is None) == (cache != "the sweep's prefix")
    prefix = {"beside the sources": None, "the sweep's prefix": pycache_dir}.get(cache, pkg.parent / "users-pyc")
    add = mutants_of(pkg, "calc/core.py", "arithmetic", "add")[0]  # a + b -> a - b: same size
    boundary = mutants_of(pkg, "calc/core.py", "comparison", "is_adult")[0]
    test_add = "tests/check_core.py::test_add"

    async def body(ex: GenericExecutor) -> list[MutantResult]:
        clean = await ex.run_clean([test_add], 60)  # writes calc/core.py's bytecode first
        assert clean.ok, clean.out
        killed = await ex.run(MutantJob(add, [test_add], 60))
        # Restored within the same second and the same size as the mutant: its bytecode must go.
        assert (await ex.run_clean([test_add], 60)).ok
        survived = await ex.run(MutantJob(boundary, ["tests/check_core.py::test_is_adult"], 60))
        assert (ex.root / "calc/core.py").read_bytes() == (pkg / "calc/core.py").read_bytes()
        assert not bytecode_files(ex.root / "calc/core.py", prefix)
        assert bytecode_files(ex.root / "tests/check_core.py", prefix)  # the rest is cached
        if prefix is not None:
            assert not (ex.root / "calc/__pycache__").exists()
        return [killed, survived]

    killed, survived = anyio.run(lambda: with_executor(pkg, body, pycache_dir=pycache_dir))
    assert killed.status is MutantStatus.KILLED and killed.executor == "generic"
    assert killed.killed_by == [test_add]
    assert survived.status is MutantStatus.SURVIVED and survived.killed_by == []


def test_a_looping_mutant_times_out_twice_and_the_file_is_restored(pkg: Path) -> None:
    loop = next(m for m in mutants_of(pkg, "calc/loop.py", "arithmetic") if m.replacement == "+=")

    async def body(ex: GenericExecutor) -> MutantResult:
        result = await ex.run(MutantJob(loop, ["tests/check_loop.py::test_countdown"], 1.0))
        assert (ex.root / "calc/loop.py").read_text() == (pkg / "calc/loop.py").read_text()
        return result

    result = anyio.run(lambda: with_executor(pkg, body))
    assert result.status is MutantStatus.TIMEOUT
    assert "twice" in note_of(result) and result.duration_s >= 2.0


def test_custom_command_runs_the_whole_suite_and_static_cases_do_not_run(pkg: Path) -> None:
    add = mutants_of(pkg, "calc/core.py", "arithmetic", "add")[0]
    stale = add.model_copy(update={"replaced": "a * b"})
    broken = add.model_copy(update={"valid": False})
    command = TestCommand(sys.executable, f"{sys.executable} -m pytest -q -p no:cacheprovider")

    async def body(ex: GenericExecutor) -> list[MutantResult]:
        return [await ex.run(MutantJob(m, ["ignored::id"], 60)) for m in (add, stale, broken)]

    killed, stale_result, broken_result = anyio.run(lambda: with_executor(pkg, body, command=command))
    assert killed.status is MutantStatus.KILLED and "exit 1" in note_of(killed)
    assert stale_result.status is MutantStatus.RUNTIME_ERROR and "changed" in note_of(stale_result)
    assert broken_result.status is MutantStatus.COMPILE_ERROR and broken_result.duration_s < 0.5
    assert command.argv(["x"]) == ["/bin/sh", "-c", command.custom]


def test_the_worktree_gets_the_main_tree_s_uncommitted_changes(pkg: Path) -> None:
    (pkg / "calc/core.py").write_text((pkg / "calc/core.py").read_text().replace("age >= 18", "age >= 21"))
    (pkg / "calc/extra.py").write_text("X = 1\n")
    (pkg / "calc/loop.py").unlink()

    async def body(ex: GenericExecutor) -> None:
        assert "age >= 21" in (ex.root / "calc/core.py").read_text()
        assert (ex.root / "calc/extra.py").read_text() == "X = 1\n"
        assert not (ex.root / "calc/loop.py").exists()

    anyio.run(lambda: with_executor(pkg, body, overlay=["calc/core.py", "calc/extra.py", "calc/loop.py"]))


def test_coverage_map_gives_node_ids_import_lines_and_durations(pkg: Path) -> None:
    cov = anyio.run(lambda: measure(pkg, ["calc/core.py", "calc/loop.py"], python=sys.executable))
    assert cov.run.ok and cov.run.exit_code == 0
    assert set(cov.test_ids) == {"tests/check_core.py::test_add", "tests/check_core.py::test_is_adult",
                                 "tests/check_core.py::test_label", "tests/check_loop.py::test_countdown"}  # fmt: skip
    assert cov.contexts("calc/core.py", 5) == {"tests/check_core.py::test_add"}
    assert cov.contexts("calc/core.py", 4) == {IMPORT_CONTEXT}  # the def line runs at import
    assert cov.contexts("calc/core.py", 19) == frozenset()  # unused()
    loop = next(m for m in mutants_of(pkg, "calc/loop.py", "comparison"))
    selection = cov.select(loop)
    assert selection.tests == ("tests/check_loop.py::test_countdown",) and not selection.import_time
    assert not cov.select(mutants_of(pkg, "calc/core.py", function="unused")[0]).covered
    assert cov.baseline([]) == cov.run.wall_s


def test_statement_lines_own_headers_and_whole_simple_statements() -> None:
    source = "def f(x):\n    y = (x +\n         1)\n    if (y >\n            2):\n        return y\n"
    owners = statement_lines(source)
    assert owners[3] == (2, 3) and owners[2] == (2, 3)
    assert owners[5] == (4, 5) and owners[6] == (6, 6) and owners[1] == (1, 1)


def test_classify_maps_pytest_exit_codes() -> None:
    pytest_cmd = TestCommand("python")

    def done(rc: int, out: str = "", timed_out: bool = False) -> Completed:
        return Completed(["x"], rc, out.encode(), b"", 0.1, timed_out)

    summary = "FAILED tests/t.py::test_a - assert 1 == 2\nERROR tests/t.py::test_b\n"
    killed = (MutantStatus.KILLED, ["tests/t.py::test_a", "tests/t.py::test_b"])
    assert classify(done(1, summary), pytest_cmd)[:2] == killed
    collection = "ERROR tests/t.py\n!!!!!!!! Interrupted: 1 error during collection !!!!!!!!\n1 error in 0.1s\n"
    assert classify(done(2, collection), pytest_cmd)[0] is MutantStatus.KILLED
    # Exit 2 is also pytest's KeyboardInterrupt, and a signal may come from outside: no verdict.
    interrupted = "\n!!!!!!!!!! KeyboardInterrupt !!!!!!!!!!\n/x/t.py:4: KeyboardInterrupt\nno tests ran in 2.5s\n"
    assert classify(done(2, interrupted), pytest_cmd)[0] is MutantStatus.RUNTIME_ERROR
    assert classify(done(2), pytest_cmd)[0] is MutantStatus.RUNTIME_ERROR
    assert classify(done(-11), pytest_cmd)[0] is MutantStatus.RUNTIME_ERROR
    assert classify(done(4), pytest_cmd)[0] is MutantStatus.RUNTIME_ERROR
    assert classify(done(5), pytest_cmd)[0] is MutantStatus.RUNTIME_ERROR
    assert classify(done(0), pytest_cmd)[0] is MutantStatus.SURVIVED
    assert classify(done(-9, timed_out=True), pytest_cmd)[0] is MutantStatus.TIMEOUT


def test_mutated_bytes_keep_the_encoding_and_bom(tmp_path: Path) -> None:
    latin = tmp_path / "latin.py"
    original = "# -*- coding: latin-1 -*-\nNAME = 'café'\n".encode("latin-1")
    latin.write_bytes(original)
    text = read_source(latin).replace("NAME", "NOM")
    assert mutated_bytes(latin, original, text) == original.replace(b"NAME", b"NOM")
    bom = tmp_path / "bom.py"
    bom.write_bytes(codecs.BOM_UTF8 + b"X = 1\n")
    assert mutated_bytes(bom, bom.read_bytes(), "X = 2\n") == codecs.BOM_UTF8 + b"X = 2\n"


class FakeFork:
    name = "fork"

    def __init__(self, root: Path, status: MutantStatus = MutantStatus.SURVIVED) -> None:
        self.root, self.status, self.runs = root, status, 0

    async def start(self) -> None:
        assert self.root.is_dir()

    async def run(self, job: MutantJob) -> MutantResult:
        self.runs += 1
        return MutantResult(job.mutant.id, self.status, self.name, 0.01)

    async def stop(self) -> None:
        pass


def test_worker_rechecks_fork_survivors_and_falls_back_when_fork_cannot_start(pkg: Path) -> None:
    add = mutants_of(pkg, "calc/core.py", "arithmetic", "add")[0]
    job = MutantJob(add, ["tests/check_core.py::test_add"], 60)
    made: list[FakeFork] = []

    def factory(root: Path) -> FakeFork:
        made.append(FakeFork(root))
        return made[-1]

    def broken(*, needs_something: str) -> FakeFork:
        raise AssertionError("never called")

    async def body(ex: GenericExecutor) -> list[Any]:
        worker = Worker(ex, ForkSupport(factory, lambda m: True))
        first = await worker.run(job)  # the fake fork says Survived: re-checked for real
        whole_suite = await worker.run(MutantJob(add, [], 60))  # import-time jobs never go to the fork
        fallback = Worker(ex, ForkSupport(broken, lambda m: True))
        third = await fallback.run(job)
        return [first, whole_suite, third, fallback.notes]

    first, whole_suite, third, notes = anyio.run(lambda: with_executor(pkg, body))
    assert first.status is MutantStatus.KILLED and first.executor == "generic"
    assert "fork said Survived" in note_of(first)
    assert made[0].runs == 1 and whole_suite.executor == "generic"
    assert third.status is MutantStatus.KILLED and notes and "unavailable" in notes[0]


def test_cache_key_changes_with_the_covering_tests_content(pkg: Path) -> None:
    add = mutants_of(pkg, "calc/core.py", "arithmetic", "add")[0]
    tests = ["tests/check_core.py::test_add"]

    def digest(test_files: list[str]) -> TestDigest:  # the project's digest is result_key's business
        return TestDigest(TreeFiles(pkg, test_files), test_files, "project")

    key = cache_key(add, tests, "pytest", digest(["tests/check_core.py", "tests/check_loop.py"]), "generic")
    assert key == cache_key(add, tests, "pytest", digest(["tests/check_core.py"]), "generic")
    (pkg / "tests/check_loop.py").write_text("# unrelated\n")
    assert key == cache_key(add, tests, "pytest", digest([]), "generic")
    (pkg / "tests/check_core.py").write_text((pkg / "tests/check_core.py").read_text() + "\n# edited\n")
    assert key != cache_key(add, tests, "pytest", digest([]), "generic")
    assert key != cache_key(add, tests, "other", digest([]), "generic")
    assert key != cache_key(add, tests, "pytest", digest([]), "fork")  # the executor the job goes to
