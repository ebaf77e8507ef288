"""The zygote: the generic executor's pytest runs fork a process that imported pytest and nothing of
the project, and must behave as a fresh `python -m pytest` on the files on disk.

Checked on a package whose suite also observes the code the way a warm process cannot fake: one
test imports the module in a subprocess, one reads the source file. Each mutant gets the same
status through the zygote as through a new interpreter; a zygote that imported the mutated file
itself refuses the run; a looping child is killed at the limit while the zygote lives on; and
stopping leaves no process behind.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import anyio
import pytest
from conftest import git, write_files

from launcher import process
from launcher.git.repo import GitRepo
from launcher.mutation.discover import read_source
from launcher.mutation.executor import MutantJob, MutantResult
from launcher.mutation.executor_generic import GenericExecutor, TestCommand
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.python_ops import generate_mutants
from launcher.mutation.run_env import child_env
from launcher.mutation.zygote import Zygote

CODE = """\
LIMIT = 10
NAME = "box"


def scale(x):
    return x * 3


def spin(n):
    while n > 0:
        n -= 1
    return n
"""

TESTS = """\
import pathlib
import subprocess
import sys

from box.core import scale, spin


def test_scale():
    assert scale(2) >= 5


def test_limit_in_a_subprocess():
    out = subprocess.run([sys.executable, "-c", "import box.core; print(box.core.LIMIT)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "10"


def test_the_source_names_the_box():
    assert 'NAME = "box"' in (pathlib.Path(__file__).parent.parent / "box" / "core.py").read_text()


def test_spin():
    assert spin(3) == 0
"""


@pytest.fixture
def box(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "box", {"box/__init__.py": "", "box/core.py": CODE, "tests/test_core.py": TESTS})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "box")
    return root


def _mutants(root: Path) -> list[Mutant]:
    return generate_mutants(root / "box/core.py", read_source(root / "box/core.py"), "box/core.py")


async def _run(root: Path, jobs: list[MutantJob], zygote: bool) -> tuple[list[MutantResult], int | None]:
    repo = await GitRepo.discover(root)
    executor = GenericExecutor(repo, root.parent / f"tree-{zygote}", await repo.rev_parse("HEAD"),
                               TestCommand(sys.executable), pycache_dir=root.parent / "pyc", zygote=zygote)  # fmt: skip
    await executor.start()
    try:
        results = [await executor.run(job) for job in jobs]
        pid = executor.zygote.pid if executor.zygote is not None else None
        return results, pid
    finally:
        await executor.stop()


def test_the_zygote_gives_a_fresh_interpreters_status_on_every_mutant(box: Path) -> None:
    mutants = [m for m in _mutants(box) if m.function != "spin"]
    # The suite sees LIMIT only in a subprocess, and NAME only in the file.
    assert {m.function for m in mutants} >= {"<module>", "scale"}
    jobs = [MutantJob(m, [], 30) for m in mutants]
    fresh, _ = anyio.run(_run, box, jobs, False)
    forked, zygote_pid = anyio.run(_run, box, jobs, True)
    assert zygote_pid is not None  # the zygote ran them
    assert [r.status for r in forked] == [r.status for r in fresh]
    by_fault = {(m.function, m.replacement): r.status for m, r in zip(mutants, forked, strict=True)}
    assert by_fault[("<module>", "11")] is MutantStatus.KILLED  # LIMIT = 11, seen by the subprocess
    assert by_fault[("<module>", '"XXboxXX"')] is MutantStatus.KILLED  # only the test reading the file sees it
    assert by_fault[("scale", "/")] is MutantStatus.KILLED
    assert by_fault[("scale", "4")] is MutantStatus.SURVIVED  # 2 * 4 >= 5: the weak test lets it through
    assert all(r.killed_by for m, r in zip(mutants, forked, strict=True) if r.status is MutantStatus.KILLED)
    assert not process._LIVE_GROUPS or zygote_pid not in process._LIVE_GROUPS  # stopped with the executor


def test_a_looping_mutant_is_killed_at_the_limit_and_the_zygote_goes_on(box: Path) -> None:
    spin = next(m for m in _mutants(box) if m.function == "spin" and m.replacement == "+=")
    scale = next(m for m in _mutants(box) if m.function == "scale" and m.replacement == "/")
    jobs = [MutantJob(spin, ["tests/test_core.py::test_spin"], 1.0), MutantJob(scale, [], 30)]
    (looping, after), _ = anyio.run(_run, box, jobs, True)
    assert looping.status is MutantStatus.TIMEOUT and "timed out twice" in looping.output_tail
    assert after.status is MutantStatus.KILLED
    assert (box.parent / "tree-True").exists() is False  # the worktree was removed on stop


def test_a_file_the_zygote_imported_itself_is_refused(box: Path) -> None:
    async def scenario() -> tuple[process.Completed | None, process.Completed | None, int | None]:
        zygote = Zygote(box, sys.executable, child_env())
        try:
            assert await zygote.start()  # on the clean tree: it never starts by itself
            imported = await zygote.run_tests(["-q"], 30, mutated=Path(json.__file__))  # the worker imports json
            plain = await zygote.run_tests(["-q", "tests/test_core.py::test_scale"], 30, mutated=box / "box/core.py")
            return imported, plain, zygote.pid
        finally:
            await zygote.stop()

    imported, plain, pid = anyio.run(scenario)
    assert imported is None  # the caller starts a real interpreter instead
    assert plain is not None and plain.returncode == 0 and "1 passed" in plain.out
    assert pid is not None and not process.group_alive(pid)


def test_a_zygote_that_cannot_start_says_why_and_the_runs_fall_back(box: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-python")

    async def scenario() -> tuple[bool, process.Completed | None, str]:
        zygote = Zygote(box, missing, child_env())
        try:
            return await zygote.start(), await zygote.run_tests(["-q"], 30), zygote.failure
        finally:
            await zygote.stop()

    started, done, failure = anyio.run(scenario)
    assert started is False and done is None  # the caller runs a new interpreter instead
    assert missing in failure


def test_a_zygote_killed_between_runs_is_bypassed_and_the_run_still_counts(box: Path) -> None:
    scale = next(m for m in _mutants(box) if m.function == "scale" and m.replacement == "/")

    async def scenario() -> tuple[MutantResult, str, bool]:
        repo = await GitRepo.discover(box)
        executor = GenericExecutor(repo, box.parent / "tree", await repo.rev_parse("HEAD"), TestCommand(sys.executable),
                                   zygote=True)  # fmt: skip
        await executor.start()
        try:
            assert executor.zygote is not None
            assert (await executor.run_clean([], 30)).ok  # the zygote runs it
            pid = executor.zygote.pid
            assert pid is not None
            process.signal_group(pid, signal.SIGKILL)  # gone, as an OOM kill would leave it
            result = await executor.run(MutantJob(scale, [], 30))
            return result, executor.zygote.failure, process.group_alive(pid)
        finally:
            await executor.stop()

    result, failure, alive = anyio.run(scenario)
    assert result.status is MutantStatus.KILLED and result.killed_by  # a new interpreter ran it
    assert "exited" in failure and not alive
