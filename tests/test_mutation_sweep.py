"""Mutation sweeps end to end: real git repositories, real pytest runs, the SQLite store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, repo_from
from rich.console import Console

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.merge import merge_runs
from launcher.mutation.model import SURVIVOR_KEYS, MutantStatus
from launcher.mutation.results import render_table
from launcher.mutation.run_env import import_roots
from launcher.mutation.sanity import SanityFailed
from launcher.store.mutants import MutantStore

WEAKPKG = Path(__file__).parent / "data" / "mutation" / "weakpkg"
CORE = "calc/core.py"
# (function, fault, line) of the mutants the weak suite lets through
SURVIVORS = {("is_adult", "comparison", 9), ("is_adult", "number", 9), ("label", "comparison", 13),
             ("label", "number", 13)}  # fmt: skip


def make_pkg(root: Path) -> Path:
    repo_from(WEAKPKG, root, "weak package")
    return root


def sweep(root: Path, lines: list[str] | None = None, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 2)
    options.setdefault("python", sys.executable)  # the default is the project's: maybe not one with pytest
    sink = lines.append if lines is not None else (lambda _line: None)
    return anyio.run(run_sweep, root, SweepOptions(**options), sink)


def statuses(outcome: SweepOutcome) -> dict[str, MutantStatus]:
    return {r.mutant.id: r.status for r in outcome.results}


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, SweepOutcome, list[str]]]:
    base = tmp_path_factory.mktemp("full")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        root = make_pkg(base / "pkg")
        lines: list[str] = []
        yield root, sweep(root, lines, paths=[CORE]), lines


def test_weak_suite_lets_exactly_the_expected_mutants_survive(full: tuple[Path, SweepOutcome, list[str]]) -> None:
    root, outcome, lines = full
    by_status: dict[MutantStatus, set[tuple[str, str, int]]] = {}
    for r in outcome.results:
        by_status.setdefault(r.status, set()).add((r.mutant.function, r.mutant.fault, r.mutant.line))
    assert by_status[MutantStatus.SURVIVED] == SURVIVORS
    assert {f for f, _, _ in by_status[MutantStatus.NO_COVERAGE]} == {"unused"}
    assert {f for f, _, _ in by_status[MutantStatus.KILLED]} == {"add", "is_adult", "label"}
    assert set(by_status) == {MutantStatus.SURVIVED, MutantStatus.NO_COVERAGE, MutantStatus.KILLED}
    assert {r.executor for r in outcome.results if r.status is MutantStatus.SURVIVED} == {"generic"}  # confirmed
    killed = next(r for r in outcome.results if r.mutant.function == "add" and r.mutant.fault == "arithmetic")
    assert killed.killed_by == ["tests/check_core.py::test_add"] and killed.tests == killed.killed_by
    assert outcome.score == pytest.approx(100 * 7 / 14) and outcome.passed_fail_under
    assert len(lines) == len(outcome.results) and lines[-1].startswith(f"[{len(lines)}/{len(lines)}]")
    assert outcome.out_dir == root / ".launcher" / "mutation-runs" / outcome.sweep_id
    assert not list((root.parent / "cache").rglob("w[0-9]*"))  # worker trees removed
    console = Console(record=True, width=200)
    console.print(render_table(outcome.results))
    table = console.export_text()
    assert table.count("│ Survived") == 4 and "│ Killed" not in table and "│ [x]" not in table


def test_no_coverage_mutants_never_run(full: tuple[Path, SweepOutcome, list[str]]) -> None:
    _, outcome, _ = full
    for r in outcome.results:
        if r.mutant.function == "unused":
            assert (r.status, r.executor, r.source, r.duration_s) == (MutantStatus.NO_COVERAGE, "none", "static", 0.0)


def test_report_files_survivors_and_mutants_json(full: tuple[Path, SweepOutcome, list[str]]) -> None:
    _, outcome, _ = full
    names = sorted(p.name for p in outcome.out_dir.iterdir())
    # The whole set the README lists, written before the sweep is `done` (not by the command after it).
    assert names == ["mutants.json", "mutation-report-plain.html", "mutation-report.html", "mutation-report.json",
                     "report.json", "summary.txt", "survivors.jsonl"]
    survivors = [json.loads(line) for line in (outcome.out_dir / "survivors.jsonl").read_text().splitlines()]
    assert [tuple(s) for s in survivors] == [SURVIVOR_KEYS] * 4
    assert {s["status"] for s in survivors} == {"SURVIVED"}
    assert {(s["target"], s["line"], s["fault"]) for s in survivors} == {(CORE, ln, f) for _, f, ln in SURVIVORS}
    report = json.loads((outcome.out_dir / "report.json").read_text())
    assert report["summary"]["survived"] == 4 and report["summary"]["total"] == 14
    sources = report["summary"]["sources"]  # apart from the statuses: "static" meant "not run" there
    assert sum(sources.values()) == 14 and "static" not in report["summary"] and sources.get("not_run", 0) >= 1
    assert {m["status"] for m in report["mutants"]} == {"KILLED", "SURVIVED", "NO_COVERAGE"}
    full_data = json.loads((outcome.out_dir / "mutants.json").read_text())
    assert full_data["schema"] == "launcher-mutants/1" and CORE in full_data["files"]
    assert "tests/check_core.py::test_add" in full_data["tests"]
    first = full_data["mutants"][0]
    assert set(first) == {"mutant", "result"} and first["result"]["covered_by"]
    assert "Score: 50.0%" in (outcome.out_dir / "summary.txt").read_text()


def test_shards_together_equal_the_full_sweep(full: tuple[Path, SweepOutcome, list[str]]) -> None:
    root, outcome, _ = full
    merged: dict[str, MutantStatus] = {}
    dirs = []
    for i in (1, 2, 3):
        part = sweep(root, paths=[CORE], shard=f"{i}/3", use_cache=False)
        assert not set(merged) & set(statuses(part))
        merged.update(statuses(part))
        dirs.append(part.out_dir)
    assert merged == statuses(outcome)
    joined = json.loads((merge_runs(dirs, root.parent / "merged") / "mutants.json").read_text())  # the merge command
    assert {e["mutant"]["id"]: e["result"]["status"] for e in joined["mutants"]} == {
        k: v.value for k, v in statuses(outcome).items()
    }
    assert [e["mutant"]["index"] for e in joined["mutants"]] == [r.mutant.index for r in outcome.results]


def test_an_unchanged_mutant_comes_from_the_cache(full: tuple[Path, SweepOutcome, list[str]]) -> None:
    root, outcome, _ = full
    again = sweep(root, paths=[CORE])
    assert again.sweep_id != outcome.sweep_id and not again.resumed
    assert statuses(again) == statuses(outcome)
    assert {r.source for r in again.results} == {"cached", "static"}
    core = root / CORE
    original = core.read_text()
    try:  # an edit to add() may change what the tests of the other functions see: all of them run
        core.write_text(original.replace("return a + b", "return b + a"))
        edited = sweep(root, paths=[CORE])
    finally:
        core.write_text(original)
    ran = {r.mutant.function for r in edited.results if r.source == "run"}
    assert ran == {"add", "is_adult", "label"}
    assert "cached 0" in (edited.out_dir / "summary.txt").read_text()


def test_a_failing_clean_suite_stops_the_sweep_naming_the_test(tmp_path: Path) -> None:
    root = make_pkg(tmp_path / "pkg")
    tests = root / "tests" / "check_core.py"
    tests.write_text(tests.read_text() + "\n\ndef test_broken():\n    assert add(1, 1) == 3\n")
    with pytest.raises(SanityFailed, match=r"tests/check_core.py::test_broken") as caught:
        sweep(root, paths=[CORE])
    assert caught.value.error_key == "mutation_sanity:clean_suite_failed" and caught.value.fix
    store = MutantStore(root / ".launcher" / "launcher.db")
    assert [s.status for s in store.sweeps()] == ["failed"]


def test_a_looping_mutant_times_out_and_the_sweep_carries_on(tmp_path: Path) -> None:
    root = make_pkg(tmp_path / "pkg")
    # The generic executor's path (the fork executor's timeouts are its own tests' business).
    outcome = sweep(root, paths=["calc/loop.py"], timeout_min_s=2.0, use_fork=False)
    found = {(r.mutant.fault, r.mutant.replacement): r.status for r in outcome.results}
    assert found[("arithmetic", "+=")] is MutantStatus.TIMEOUT
    assert {s for k, s in found.items() if k != ("arithmetic", "+=")} == {MutantStatus.KILLED}
    assert outcome.counts["Timeout"] == 1 and outcome.score == 100.0


def test_since_mutates_only_the_changed_function(tmp_path: Path) -> None:
    root = make_pkg(tmp_path / "pkg")
    core = root / CORE
    core.write_text(core.read_text().replace("return age >= 18", "return 18 <= age"))  # uncommitted
    outcome = sweep(root, paths=[CORE], since="HEAD", fail_under=90.0)
    assert outcome.results and {r.mutant.function for r in outcome.results} == {"is_adult"}
    found = {r.mutant.fault: r.status for r in outcome.results}
    assert found["comparison"] is MutantStatus.SURVIVED  # 18 < age: still untested at the boundary
    assert found["return_value"] is MutantStatus.KILLED
    assert not outcome.passed_fail_under and outcome.exit_code == 1


class Crash(Exception):
    pass


def test_a_crashed_sweep_resumes_without_redoing_finished_mutants(tmp_path: Path) -> None:
    root = make_pkg(tmp_path / "pkg")
    store = MutantStore(root / ".launcher" / "launcher.db")

    def crash_after(runs: int) -> Any:
        seen: list[str] = []

        def emit(line: str) -> None:
            seen.append(line)
            if sum(not s.endswith(("(not run)", "(resumed)")) for s in seen) == runs:
                raise Crash

        return emit

    with pytest.raises(Crash):  # killed after 3 mutants ran
        anyio.run(run_sweep, root, SweepOptions(paths=[CORE], workers=2, use_fork=False), crash_after(3))
    (crashed,) = store.sweeps()
    assert crashed.status == "interrupted"
    first = set(store.results(crashed.id))
    assert len(first) >= 6  # 3 NoCoverage settled up front, 3 runs
    with pytest.raises(Crash):  # same base and options: resumed automatically, killed again
        anyio.run(run_sweep, root, SweepOptions(paths=[CORE], workers=2, use_fork=False), crash_after(2))
    rows = store.results(crashed.id)
    second = set(rows)
    assert len(store.sweeps()) == 1 and len(second) >= len(first) + 2
    resumed = sweep(root, resume=crashed.id)  # its own options come back from the store
    assert resumed.sweep_id == crashed.id and resumed.resumed
    ran_before = {m for m, row in rows.items() if row.cache_key}  # NoCoverage: settled again from the coverage
    assert {r.mutant.id for r in resumed.results if r.source == "resumed"} == ran_before
    assert {r.mutant.id for r in resumed.results if r.source == "static"} == second - ran_before
    everything = {r.mutant.id for r in resumed.results}
    assert len(everything) == 14
    assert {r.mutant.id for r in resumed.results if r.source == "run"} == everything - second
    assert {(r.mutant.function, r.mutant.fault, r.mutant.line) for r in resumed.results
            if r.status is MutantStatus.SURVIVED} == SURVIVORS  # fmt: skip
    assert store.sweep(crashed.id).status == "done"


def test_a_custom_test_command_runs_the_whole_suite_for_every_mutant(tmp_path: Path) -> None:
    root = make_pkg(tmp_path / "pkg")
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider tests/check_loop.py"
    outcome = sweep(root, paths=["calc/loop.py"], test_cmd=command, max_mutants=2)
    assert [r.mutant.fault for r in outcome.results] == ["comparison", "number"]
    assert {(r.status, r.executor) for r in outcome.results} == {(MutantStatus.KILLED, "generic")}
    assert all(r.tests == [] for r in outcome.results)
    assert json.loads((outcome.out_dir / "report.json").read_text())["test_cmd"] == command


@pytest.mark.parametrize(
    ("command", "key"),
    [
        ("true", "mutation_sanity:forced_fail_survived"),
        ("! grep -q 'pass\\|raise' calc/loop.py", "mutation_sanity:noop_killed"),
    ],
)
def test_probes_catch_a_blind_or_a_flaky_test_command(tmp_path: Path, command: str, key: str) -> None:
    root = make_pkg(tmp_path / "pkg")
    with pytest.raises(SanityFailed) as caught:
        sweep(root, paths=["calc/loop.py"], test_cmd=command, workers=1)
    assert caught.value.error_key == key and caught.value.where == "calc/loop.py:1"


def test_store_resumes_only_sweeps_whose_process_is_gone(tmp_path: Path) -> None:
    store = MutantStore(tmp_path / "launcher.db")
    store.create_sweep(lambda: "m-1", repo="r", base_sha="b", options_key="k", options={})
    assert store.find_resumable(repo="r", base_sha="b", options_key="k") is None  # ours, still running
    dead = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True).stdout.strip()
    store._db.execute("UPDATE mutation_sweeps SET pid=? WHERE id='m-1'", (int(dead),))
    assert store.find_resumable(repo="r", base_sha="b", options_key="k") == "m-1"
    assert store.find_resumable(repo="r", base_sha="b", options_key="other") is None
    store.set_sweep("m-1", status="done")
    assert store.find_resumable(repo="r", base_sha="b", options_key="k") is None


@pytest.mark.parametrize(("plugin", "addopts"), [("pytest_cov", "--cov=calc --cov-report=term"), ("xdist", "-n 2")])
def test_a_cov_or_xdist_option_in_addopts_changes_nothing(tmp_path: Path, plugin: str, addopts: str) -> None:
    """pytest-cov's `--cov` would hide our coverage, xdist's `-n` would run the tests where neither
    our coverage nor a fork reaches: every mutant would be NoCoverage. The sweep turns both off."""
    pytest.importorskip(plugin)  # dev dependencies: present in CI
    root = tmp_path / "pkg"
    shutil.copytree(WEAKPKG, root)
    ini = root / "pytest.ini"
    ini.write_text(ini.read_text() + f"addopts = {addopts}\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"weak package, run with {plugin}")
    outcome = sweep(root, paths=[CORE])
    assert {(r.mutant.function, r.mutant.fault, r.mutant.line) for r in outcome.results
            if r.status is MutantStatus.SURVIVED} == SURVIVORS  # fmt: skip
    assert {r.mutant.function for r in outcome.results if r.status is MutantStatus.NO_COVERAGE} == {"unused"}
    assert any(r.executor == "fork" for r in outcome.results)  # the warm worker ran under the flags too


def test_probes_avoid_a_line_that_also_runs_at_import(tmp_path: Path) -> None:
    """A forced fail in code the package runs at import would break collecting the selected tests
    (toolz's `expand_sig` is such a function); the probe goes to a test-only line instead."""
    root = tmp_path / "pkg"
    (root / "shapes").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "shapes" / "__init__.py").write_text("from shapes.core import table\n\nTABLE = table(3)\n")
    (root / "shapes" / "core.py").write_text(
        "def table(n):\n    rows = list(range(n))\n    return rows\n\n\ndef double(x):\n    return x * 2\n"
    )
    (root / "tests" / "test_core.py").write_text(
        "from shapes import TABLE\nfrom shapes.core import double, table\n\n\n"
        "def test_table():\n    assert table(2) == [0, 1] and TABLE == [0, 1, 2]\n\n\n"
        "def test_double():\n    assert double(2) == 4\n"
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a package that calls its own function at import")
    outcome = sweep(root, paths=["shapes/core.py"])
    assert {r.status for r in outcome.results} == {MutantStatus.KILLED}
    assert {r.mutant.function for r in outcome.results if r.import_time} == {"table"}


def test_selected_tests_that_no_longer_collect_mean_killed() -> None:
    from launcher import process
    from launcher.mutation.executor_generic import TestCommand, classify

    out = b"ERROR: found no collectors for /repo/tests/test_core.py::test_table\n\nno tests ran in 0.05s\n"
    done = process.Completed(["python", "-m", "pytest", "tests/test_core.py::test_table"], 4, out, b"", 0.2)
    status, _, note = classify(done, TestCommand(sys.executable))
    assert status is MutantStatus.KILLED and "no longer collects" in note
    usage = process.Completed(["python", "-m", "pytest", "--bogus"], 4, b"", b"error: unrecognized arguments", 0.1)
    assert classify(usage, TestCommand(sys.executable))[0] is MutantStatus.RUNTIME_ERROR


def test_a_python_without_the_test_tools_is_named_with_the_install_fix(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    root = repo_from(WEAKPKG, tmp_path / "pkg", "weak package")
    with pytest.raises(SanityFailed) as caught:
        sweep(root, paths=[CORE], python=str(bare / "bin" / "python"))
    assert caught.value.error_key == "mutation_sanity:tool_missing"
    assert caught.value.what.startswith(("coverage is not installed", "pytest is not installed"))
    assert "pip install" in str(caught.value.fix)


def test_a_src_layout_imported_from_the_main_tree_is_swept_in_the_worker_trees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editable install (or a PYTHONPATH) points the interpreter at the main tree's `src`: the
    worker trees' mutants would be invisible and every mutant NoCoverage. The sweep puts each
    tree's own `src` first."""
    root = tmp_path / "pkg"
    (root / "src").mkdir(parents=True)
    shutil.copytree(WEAKPKG / "calc", root / "src" / "calc")
    shutil.copytree(WEAKPKG / "tests", root / "tests")
    shutil.copy(WEAKPKG / "pytest.ini", root / "pytest.ini")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "weak package, src layout")
    monkeypatch.setenv("PYTHONPATH", str(root / "src"))  # what an editable install's .pth adds
    assert import_roots(["src/calc/core.py", "src/calc/loop.py", "tools/x.sh"], root) == ["src"]
    assert import_roots(["calc/core.py"], WEAKPKG) == []  # a flat layout: the tree itself
    outcome = sweep(root, paths=["src/calc/core.py"])
    assert {(r.mutant.function, r.mutant.fault, r.mutant.line) for r in outcome.results
            if r.status is MutantStatus.SURVIVED} == SURVIVORS  # fmt: skip
    assert {r.mutant.function for r in outcome.results if r.status is MutantStatus.NO_COVERAGE} == {"unused"}
    assert any(r.executor == "fork" for r in outcome.results)


def test_a_mutant_that_ends_the_test_process_with_status_0_is_killed_not_survived(tmp_path: Path) -> None:
    # Exit status 0 alone reads as "every test passed": a mutant that calls os._exit(0) before
    # its tests finish was a false survivor (the covering test never completed).
    root = tmp_path / "exiter"
    files = {"exiter/__init__.py": "", "exiter/core.py": (
        "import os\n\n\ndef exit_zero(x):\n    if x >= 3:\n        return x\n    os._exit(0)\n"),
        "tests/test_core.py": "from exiter.core import exit_zero\n\n\ndef test_three():\n"
                              "    assert exit_zero(3) == 3\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "exiter")
    outcome = sweep(root, paths=["exiter/core.py"])
    found = {(r.mutant.fault, r.mutant.replacement): r for r in outcome.results}
    ended = found[("comparison", ">")]
    assert ended.status is MutantStatus.KILLED, ended
    assert "before its tests finished" in ended.note, ended.note
