"""A cached mutation verdict (and the cached coverage map) is reused only when nothing that could
change it changed (review17 mutruth 01-06, 09):

  * the pytest flags of the sweep (`--pytest-args`) are part of the result key;
  * so is the environment the tests read: the variables the clean coverage run saw the code and
    tests read (and a fixed list that changes Python's or pytest's behaviour); the coverage map is
    measured again when one of them changed. A variable only tested for presence is keyed on its
    presence. The same environment still reuses everything;
  * the interpreter counts by what it is, not by its path (a venv rebuilt at the same path);
  * a submodule's files and what a tracked symlink resolves to count by their content;
  * the README names the result-key schema the code uses.

Real repositories, real sweeps in this process (their tests in real subprocesses)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git
from swept import project, sweep
from swept import record as the_record

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.model import MutantStatus
from launcher.mutation.result_key import SCHEMA
from launcher.mutation.run_identity import env_digest

README = Path(__file__).resolve().parent.parent / "README.md"


def _sweep(root: Path, paths: list[str], operators: list[str], **options: Any) -> SweepOutcome:
    return sweep(root, paths, operators, **options)  # the cache on: that is what is under test


def _sweep_with(python: Path, root: Path, paths: list[str], operators: list[str]) -> SweepOutcome:
    opts = SweepOptions(paths=paths, operators=operators, workers=1, python=str(python), timeout_min_s=20.0)
    return anyio.run(run_sweep, root, opts, lambda _line: None, None)


def _verdict(outcome: SweepOutcome, mutated: str) -> tuple[MutantStatus, str]:
    found = the_record(outcome, mutated)
    return found.status, found.source


WARNS = {
    "src/app.py": "import warnings\n\n\ndef f(x):\n    if x > 10:\n        warnings.warn('big', UserWarning)\n"
                  "    return x * 2\n",
    "tests/test_app.py": "import sys\nsys.path.insert(0, 'src')\nfrom app import f\n\n\n"
                         "def test_f():\n    assert f(10) == 20\n    assert f(3) == 6\n",
}  # fmt: skip


def test_a_verdict_cached_without_pytest_args_is_not_reused_by_a_sweep_with_them(tmp_path: Path) -> None:
    root = project(tmp_path / "p", WARNS)
    assert _verdict(_sweep(root, ["src/app.py"], ["comparison"]), "x >= 10") == (MutantStatus.SURVIVED, "run")
    # With warnings as errors, `x >= 10` warns for f(10): the suite fails on the mutant.
    outcome = _sweep(root, ["src/app.py"], ["comparison"], pytest_args=["-W", "error::UserWarning"])
    assert _verdict(outcome, "x >= 10") == (MutantStatus.KILLED, "run")


STRICT = {
    "src/app.py": "def f(x):\n    return x * 2\n\n\ndef g(x):\n    return x + 1\n",
    "tests/test_app.py": "import os\nimport sys\nimport pytest\nsys.path.insert(0, 'src')\nfrom app import f, g\n\n\n"
                         "def test_f():\n    r = f(10)\n    if os.environ.get('STRICT'):\n        assert r == 20\n\n\n"
                         "@pytest.mark.skipif(not os.environ.get('STRICT_G'), reason='strict only')\n"
                         "def test_g():\n    assert g(1) == 2\n",
}  # fmt: skip


def test_a_variable_the_tests_read_keys_the_verdicts_and_the_coverage_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "p", STRICT)
    for name in ("STRICT", "STRICT_G"):
        monkeypatch.delenv(name, raising=False)
    first = _sweep(root, ["src/app.py"], ["arithmetic"])
    assert _verdict(first, "x / 2") == (MutantStatus.SURVIVED, "run")
    assert _verdict(first, "x - 1") == (MutantStatus.NO_COVERAGE, "static")  # test_g skipped

    again = _sweep(root, ["src/app.py"], ["arithmetic"])  # the same environment: everything reused
    assert _verdict(again, "x / 2") == (MutantStatus.SURVIVED, "cached")
    assert any("coverage map reused" in note for note in again.notes)

    monkeypatch.setenv("STRICT", "1")
    strict = _sweep(root, ["src/app.py"], ["arithmetic"])
    assert _verdict(strict, "x / 2") == (MutantStatus.KILLED, "run")

    monkeypatch.setenv("STRICT_G", "1")  # test_g runs now: g's line is covered, and its mutant killed
    covered = _sweep(root, ["src/app.py"], ["arithmetic"])
    assert not any("coverage map reused" in note for note in covered.notes)
    assert _verdict(covered, "x - 1") == (MutantStatus.KILLED, "run")


def test_a_variable_read_for_its_presence_is_keyed_on_presence_and_values_are_never_stored() -> None:
    env = {"CI": "build-1", "HOME": "/h"}
    assert env_digest(env, ["CI?"]) == env_digest({**env, "CI": "build-2"}, ["CI?"])
    assert env_digest(env, ["CI?"]) != env_digest({"HOME": "/h"}, ["CI?"])
    assert env_digest(env, ["CI"]) != env_digest({**env, "CI": "build-2"}, ["CI"])
    assert env_digest(env) == env_digest({**env, "CI": "other"})  # not read, not on the fixed list
    assert env_digest(env) != env_digest({**env, "PYTHONHASHSEED": "0"})  # the fixed list
    assert env_digest(env) != env_digest({**env, "PYTEST_ADDOPTS": "-W error"})
    assert "build-1" not in env_digest(env, ["CI"])


def _wrapper(path: Path, *flags: str) -> None:
    """`path`: an interpreter at a fixed path (as `.venv/bin/python`) that is this Python with `flags`."""
    path.write_text(f'#!/bin/sh\nexec {sys.executable} {" ".join(flags)} "$@"\n')
    path.chmod(0o755)


ASSERTS = {
    "src/app.py": "def half(x):\n    assert x % 2 == 0, 'odd'\n    return x // 2\n",
    "tests/test_app.py": "import sys\nimport pytest\nsys.path.insert(0, 'src')\nfrom app import half\n\n\n"
                         "def test_half():\n    assert half(4) == 2\n    if sys.flags.optimize == 0:\n"
                         "        with pytest.raises(AssertionError):\n            half(3)\n",
}  # fmt: skip


def test_an_interpreter_replaced_at_the_same_path_reuses_no_verdict_nor_coverage(tmp_path: Path) -> None:
    root = project(tmp_path / "p", ASSERTS)
    python = tmp_path / "venv-python"
    _wrapper(python)
    first = _sweep_with(python, root, ["src/app.py"], ["comparison"])
    assert _verdict(first, "x % 2 != 0") == (MutantStatus.KILLED, "run")
    _wrapper(python, "-O")  # the same path, an interpreter that strips asserts
    second = _sweep_with(python, root, ["src/app.py"], ["comparison"])
    assert not any("coverage map reused" in note for note in second.notes)
    # Not the first interpreter's cached Killed: under -O the assert is gone, the mutant equivalent.
    assert _verdict(second, "x % 2 != 0") == (MutantStatus.IGNORED, "static")


def test_an_interpreter_with_other_warning_options_at_the_same_path_reuses_no_verdict(tmp_path: Path) -> None:
    root = project(tmp_path / "p", WARNS)
    python = tmp_path / "venv-python"
    _wrapper(python)
    first = _sweep_with(python, root, ["src/app.py"], ["comparison"])
    assert _verdict(first, "x >= 10") == (MutantStatus.SURVIVED, "run")
    _wrapper(python, "-W", "error::UserWarning")  # `x >= 10` warns for f(10): an error now
    second = _sweep_with(python, root, ["src/app.py"], ["comparison"])
    assert _verdict(second, "x >= 10") == (MutantStatus.KILLED, "run")


LIMIT_TESTS = {
    "src/app.py": "def over(x, limit):\n    return x > limit\n",
    "tests/test_app.py": "import sys\nfrom pathlib import Path\nsys.path.insert(0, 'src')\nfrom app import over\n\n"
                         "LIMIT = int(Path(__file__).parent.parent.joinpath(DATA).read_text())\n\n\n"
                         "def test_over():\n    assert over(LIMIT + 5, LIMIT)\n    assert not over(LIMIT - 5, LIMIT)\n"
                         "    assert not over(10, LIMIT) or LIMIT < 10\n",
}  # fmt: skip


def _limit_project(root: Path, data: str) -> dict[str, str]:
    return {**LIMIT_TESTS, "tests/test_app.py": LIMIT_TESTS["tests/test_app.py"].replace("DATA", repr(data))}


def test_a_submodule_bump_reuses_no_verdict_of_its_old_content(tmp_path: Path) -> None:
    upstream = tmp_path / "fixtures-upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    (upstream / "limit.txt").write_text("10\n")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "limit 10")
    root = project(tmp_path / "p", _limit_project(tmp_path / "p", "fixtures/limit.txt"))
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(upstream), "fixtures")
    git(root, "commit", "-q", "-m", "fixtures")
    assert _verdict(_sweep(root, ["src/app.py"], ["comparison"]), "x >= limit") == (MutantStatus.KILLED, "run")

    (upstream / "limit.txt").write_text("5\n")
    git(upstream, "commit", "-q", "-am", "limit 5")
    git(root / "fixtures", "pull", "-q", "origin", "main")
    git(root, "commit", "-q", "-am", "bump fixtures")
    # with limit 5, over(10, 5) holds either way: the suite passes with `x >= limit`
    assert _verdict(_sweep(root, ["src/app.py"], ["comparison"]), "x >= limit") == (MutantStatus.SURVIVED, "run")


def test_a_symlink_counts_by_what_it_resolves_to(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "limit.txt").write_text("10\n")
    root = tmp_path / "p"
    (root / "tests" / "data").mkdir(parents=True)
    os.symlink(shared / "limit.txt", root / "tests" / "data" / "limit.txt")
    project(root, _limit_project(root, "tests/data/limit.txt"))
    assert _verdict(_sweep(root, ["src/app.py"], ["comparison"]), "x >= limit") == (MutantStatus.KILLED, "run")
    (shared / "limit.txt").write_text("5\n")  # the link text is the same; what it points to is not
    assert _verdict(_sweep(root, ["src/app.py"], ["comparison"]), "x >= limit") == (MutantStatus.SURVIVED, "run")


def test_the_readme_names_the_result_key_schema_of_the_code() -> None:
    named = re.findall(r"result-key schema /(\d+)", README.read_text(encoding="utf-8"))
    assert named, "the README names the result-key schema"
    assert set(named) == {SCHEMA.rsplit("/", 1)[1]}
