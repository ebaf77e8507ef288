"""A cached or resumed verdict stands only if nothing that could change it changed.

Real git repositories, real pytest runs, the sweep's own store: a verdict from an earlier sweep
(the result cache) or from before an interruption (a resumed sweep) is reused only for the very
same code, tests and configuration; an unchanged re-run still comes from the cache, and an edit
of one test module re-runs only the mutants its tests cover.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.model import MutantStatus
from launcher.store.mutants import MutantStore


def sweep(root: Path, emit: Callable[[str], None] | None = None, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("python", sys.executable)
    return anyio.run(run_sweep, root, SweepOptions(**options), emit or (lambda _line: None))


def project(root: Path, files: dict[str, str]) -> Path:
    write_files(root, {".gitignore": ".launcher/\n", **files})
    git(root, "init", "-q", "-b", "main")
    commit(root, "init")
    return root


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def verdict(outcome: SweepOutcome, returned: str) -> tuple[MutantStatus, str]:
    """(status, source) of the one mutant whose line reads `return <returned>`."""
    (found,) = [r for r in outcome.results if r.mutant.mut == f"return {returned}"]
    return found.status, found.source


HELPER_API = {
    "mod.py": "def helper(x):\n    return x * 2\n\n\ndef api(x):\n    return helper(x) > 0\n",
    "test_mod.py": "from mod import api\n\n\ndef test_api():\n    assert api(3)\n",
}


def test_a_cached_survivor_is_run_again_after_another_function_changed(tmp_path: Path) -> None:
    root = project(tmp_path / "p", HELPER_API)
    first = sweep(root, paths=["mod.py"])
    assert verdict(first, "x / 2") == (MutantStatus.SURVIVED, "run")  # true: api(3) only checks > 0
    mod = root / "mod.py"
    mod.write_text(mod.read_text().replace("return helper(x) > 0", "return helper(x) == 6"))
    commit(root, "api checks the value")  # helper() itself is unchanged: its mutants keep their ids
    again = sweep(root, paths=["mod.py"])
    assert verdict(again, "x / 2") == (MutantStatus.KILLED, "run")  # 1.5 == 6 is False: test_api fails
    assert verdict(again, "x * 3") == (MutantStatus.KILLED, "run")
    assert again.score == 100.0


def test_a_cached_kill_is_run_again_after_a_test_helper_module_was_weakened(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {
        "mod.py": "def f(x):\n    return x * 2\n",
        "tests/helpers.py": "def check(value, expected):\n    assert value == expected\n",
        "tests/test_mod.py": "from helpers import check\nfrom mod import f\n\n\ndef test_f():\n    check(f(3), 6)\n",
        "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = [".", "tests"]\n',
    })  # fmt: skip
    first = sweep(root, paths=["mod.py"], fail_under=100.0)
    assert verdict(first, "x / 2") == (MutantStatus.KILLED, "run") and first.passed_fail_under
    (root / "tests/helpers.py").write_text("def check(value, expected):\n    assert value is not None\n")
    commit(root, "weaker helper")
    again = sweep(root, paths=["mod.py"], fail_under=100.0)
    assert verdict(again, "x / 2") == (MutantStatus.SURVIVED, "run")  # the whole suite passes on it
    assert not again.passed_fail_under and again.exit_code == 1


def test_a_cached_verdict_is_run_again_after_the_pytest_configuration_changed(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {
        "mod.py": "def f(x):\n    return x * 2\n",
        "tests/test_mod.py": "from mod import f\n\n\ndef test_f():\n    assert f(3) == 6\n",
        "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
    })  # fmt: skip
    assert verdict(sweep(root, paths=["mod.py"]), "x / 2") == (MutantStatus.KILLED, "run")
    config = root / "pyproject.toml"
    config.write_text(config.read_text() + 'addopts = "-p no:randomly"\n')  # uncommitted
    assert verdict(sweep(root, paths=["mod.py"]), "x / 2") == (MutantStatus.KILLED, "run")


TWO_MODULES = {
    "mod_a.py": "def f(x):\n    return x * 2\n",
    "mod_b.py": "def g(x):\n    return x + 1\n",
    "tests/test_a.py": "from mod_a import f\n\n\ndef test_f():\n    assert f(3) == 6\n",
    "tests/test_b.py": "from mod_b import g\n\n\ndef test_g():\n    assert g(1) is not None\n",
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
}


def sources(outcome: SweepOutcome, target: str) -> set[str]:
    return {r.source for r in outcome.results if r.mutant.target == target and r.source != "static"}


def test_unchanged_mutants_come_from_the_cache_and_a_test_edit_reruns_only_what_its_tests_cover(
    tmp_path: Path,
) -> None:
    root = project(tmp_path / "p", TWO_MODULES)
    first = sweep(root, paths=["mod_a.py", "mod_b.py"])
    assert verdict(first, "x - 1") == (MutantStatus.SURVIVED, "run")
    again = sweep(root, paths=["mod_a.py", "mod_b.py"])  # nothing changed: everything from the cache
    assert sources(again, "mod_a.py") == sources(again, "mod_b.py") == {"cached"}
    assert "cached 0" not in again.headline
    test_b = root / "tests/test_b.py"
    test_b.write_text(test_b.read_text().replace("is not None", "== 2")
                      + "\n\ndef test_g_more():\n    assert g(2) == 3\n")  # fmt: skip
    edited = sweep(root, paths=["mod_a.py", "mod_b.py"])  # uncommitted: the sweep reads the work tree
    assert sources(edited, "mod_a.py") == {"cached"}  # test_a.py's mutants: nothing they depend on changed
    assert sources(edited, "mod_b.py") == {"run"}
    assert verdict(edited, "x - 1") == (MutantStatus.KILLED, "run")


class Interrupt(Exception):
    pass


def stop_after(runs: int, status: str = "") -> Callable[[str], None]:
    """A progress sink that interrupts the sweep (as Ctrl-C would) once `runs` mutants were run
    (of `status`, if given)."""
    seen: list[str] = []

    def emit(line: str) -> None:
        seen.append(line)
        ran = [s for s in seen if not s.endswith(("(not run)", "(resumed)", "(cached)")) and status in s]
        if len(ran) >= runs:
            raise Interrupt

    return emit


def test_the_same_command_after_an_uncommitted_test_edit_does_not_resume_stale_verdicts(tmp_path: Path) -> None:
    files = {"mod.py": "def f(x):\n    return x * 2\n",
             "test_mod.py": "import mod\n\n\ndef test_f():\n    assert mod.f(3) is not None\n"}  # fmt: skip
    for i in range(1, 9):
        files["mod.py"] += f"\n\ndef g{i}(x):\n    return x + {i}\n"
        files["test_mod.py"] += f"\n\ndef test_g{i}():\n    assert mod.g{i}(1) == {i + 1}\n"
    root = project(tmp_path / "p", files)
    options: dict[str, Any] = {"paths": ["mod.py"], "use_cache": False}
    with pytest.raises(Interrupt):
        sweep(root, stop_after(1, "Survived"), **options)  # once one of f's mutants survived
    store = MutantStore(root / ".launcher" / "launcher.db")
    (interrupted,) = store.sweeps()
    before = store.results(interrupted.id)
    survived = [row for row in before.values() if row.status == MutantStatus.SURVIVED.value]
    assert survived, "the weak test_f lets f's mutants survive before the edit"
    test = root / "test_mod.py"
    test.write_text(test.read_text().replace("assert mod.f(3) is not None", "assert mod.f(3) == 6"))  # uncommitted
    lines: list[str] = []
    resumed = sweep(root, lines.append, **options)
    assert resumed.sweep_id == interrupted.id and resumed.resumed  # the same command resumes it...
    by_id = {r.mutant.id: r for r in resumed.results}
    for row in survived:  # ...but no verdict from before the edit stands
        assert (by_id[row.mutant_id].status, by_id[row.mutant_id].source) == (MutantStatus.KILLED, "run")
    assert not [r for r in resumed.results if r.source == "resumed"]
    assert "resumed 0" in resumed.headline
    assert any("changed since: settled again, not reused" in note for note in resumed.notes)
    assert resumed.score == 100.0


def test_an_interrupted_sweep_of_unchanged_code_resumes_its_verdicts(tmp_path: Path) -> None:
    root = project(tmp_path / "p", TWO_MODULES)
    options: dict[str, Any] = {"paths": ["mod_a.py", "mod_b.py"], "use_cache": False}
    with pytest.raises(Interrupt):
        sweep(root, stop_after(2), **options)
    store = MutantStore(root / ".launcher" / "launcher.db")
    (interrupted,) = store.sweeps()
    ran = {m for m, row in store.results(interrupted.id).items() if row.cache_key}
    assert len(ran) >= 2
    resumed = sweep(root, **options)
    assert resumed.sweep_id == interrupted.id
    assert {r.mutant.id for r in resumed.results if r.source == "resumed"} == ran
    assert not any("not reused" in note for note in resumed.notes)


def test_a_sweep_resumed_over_code_edited_since_counts_only_the_mutants_that_exist(tmp_path: Path) -> None:
    files = {"mod.py": "", "test_mod.py": "import mod\n"}
    for i in range(1, 9):
        files["mod.py"] += f"\n\ndef g{i}(x):\n    return x + {i}\n"
        files["test_mod.py"] += f"\n\ndef test_g{i}():\n    assert mod.g{i}(1) is not None\n"  # weak: survivors
    root = project(tmp_path / "p", files)
    options: dict[str, Any] = {"paths": ["mod.py"], "use_cache": False}
    with pytest.raises(Interrupt):
        sweep(root, stop_after(3), **options)
    store = MutantStore(root / ".launcher" / "launcher.db")
    (interrupted,) = store.sweeps()
    assert len(store.results(interrupted.id)) >= 3
    source = root / "mod.py"  # uncommitted: the same command resumes; g1..g4 are gone
    source.write_text("".join(f"\n\ndef g{i}(x):\n    return x + {i}\n" for i in range(5, 9)))
    (root / "test_mod.py").write_text("import mod\n" + "".join(
        f"\n\ndef test_g{i}():\n    assert mod.g{i}(1) is not None\n" for i in range(5, 9)))
    resumed = sweep(root, **options)
    assert resumed.sweep_id == interrupted.id
    counted = sum(store.status_counts(interrupted.id).values())
    assert counted == len(resumed.results), "`mutation list` would count mutants that no longer exist"
