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
from conftest import git, write_files

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.model import MutantStatus


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
