"""Review 15, upgrade findings 01 and 04: state an earlier launcher left, read by this one.

- 01: a mutant's verdict is reused (from the cache, or by a resumed sweep) only if it was judged
  the way this launcher judges it: the executor its job goes to (in a fork's memory, or with the
  mutant on disk) is part of the result key, and verdicts keyed by launchers before that
  (result-key schema /2) all miss.
- 04: what `workflow resume` (and `cancel`) does to the user's environment when it puts back the
  installs a killed runner's test command left (`put_back_installs`) is told where the user
  looks: the phase's notes, the command's output and `workflow status`.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files

from launcher.app.mutation.progress import LineListener
from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation import result_key
from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.model import MutantStatus
from launcher.mutation.results import MutantRecord
from launcher.store.mutants import MutantStore


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# A test compares a CLI child's output (`python -m pkg.cli`, importing pkg/render.py from disk)
# with the library's result: a mutant of `banner` changes both sides (a true survivor) when it is
# on disk; in a fork's memory only, the sides disagree (a false "Killed").
CLI_PROJECT = {
    "pkg/__init__.py": "",
    "pkg/render.py": 'def banner(name):\n    return "== " + name.upper() + " =="\n',
    "pkg/cli.py": "import sys\n\nfrom pkg.render import banner\n\nif __name__ == '__main__':\n"
                  "    print(banner(sys.argv[1]))\n",
    "tests/test_cli.py": (
        "import subprocess\nimport sys\n\nfrom pkg.render import banner\n\n\n"
        "def test_cli_matches_library():\n"
        "    out = subprocess.run([sys.executable, '-m', 'pkg.cli', 'bob'], capture_output=True, text=True,"
        " check=True)\n"
        "    assert out.stdout.strip() == banner('bob')\n"
    ),
}  # fmt: skip


def cli_project(root: Path) -> Path:
    write_files(root, CLI_PROJECT)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def sweep(root: Path, listener: Any = None, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("python", sys.executable)
    options.setdefault("paths", ["pkg/render.py"])
    options.setdefault("operators", ["string"])
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None, listener)


def judged_in_a_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process's sweeps route the CLI test's mutants as the previous launcher did: into
    the fork executor (it did not know the test's child imports the file from disk)."""
    select = CoverageMap.select
    monkeypatch.setattr(CoverageMap, "select", lambda self, m: dataclasses.replace(select(self, m), in_child=False))


def statuses(records: list[MutantRecord]) -> dict[str, tuple[MutantStatus, str]]:
    return {r.mutant.id: (r.status, r.source) for r in records}


def test_verdicts_keyed_before_the_executor_was_in_the_key_are_not_reused() -> None:
    # Launchers up to schema /2 judged a child-process test's mutants in a fork: their verdicts
    # (cached or in an unfinished sweep) may be false kills, and their keys must all miss.
    assert result_key.SCHEMA != "launcher-result-key/2"


def test_a_verdict_judged_in_a_fork_is_not_reused_for_a_mutant_now_judged_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = cli_project(tmp_path / "p")
    with monkeypatch.context() as patch:
        judged_in_a_fork(patch)
        earlier = sweep(root)
    assert {(r.status, r.executor) for r in earlier.results} == {(MutantStatus.KILLED, "fork")}  # the false kills

    now = sweep(root)  # the cache holds the fork's verdicts: they must not stand for the mutants on disk

    assert {(r.status, r.executor, r.source) for r in now.results} == {(MutantStatus.SURVIVED, "generic", "run")}
    assert now.score == 0.0
    again = sweep(root)  # this launcher's own verdicts are cached and reused
    assert {(r.status, r.source) for r in again.results} == {(MutantStatus.SURVIVED, "cached")}


class _Interrupted(Exception):
    pass


class _StopAfterOne(LineListener):
    """A sweep killed after it settled (and stored) its first mutant."""

    def settled(self, done: int, total: int, record: MutantRecord) -> None:
        super().settled(done, total, record)
        raise _Interrupted


def test_a_resumed_sweep_judges_again_the_mutants_an_earlier_attempt_judged_in_a_fork(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = cli_project(tmp_path / "p")
    with monkeypatch.context() as patch, pytest.raises(_Interrupted):
        judged_in_a_fork(patch)
        sweep(root, _StopAfterOne(lambda _line: None))
    store = MutantStore(root / ".launcher" / "launcher.db")
    try:
        (sweep_id,) = [row.id for row in store.sweeps()]
        earlier = [(r.status, r.executor) for r in store.results(sweep_id).values()]
    finally:
        store.close()
    assert earlier == [("Killed", "fork")]

    resumed = sweep(root, resume=sweep_id)

    assert resumed.resumed
    assert {(r.status, r.executor, r.source) for r in resumed.results} == {(MutantStatus.SURVIVED, "generic", "run")}
    assert any("1 verdict(s) from before the interruption" in n and "settled again, not reused" in n
               for n in resumed.notes), resumed.notes  # fmt: skip
