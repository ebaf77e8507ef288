"""Review 17 (real projects): what launcher's own helpers do on the shapes real code has.

- The built-in test writer (`mutation fix`'s default agent) meets classes, `@lru_cache`d and other
  wrapped functions and generators: it writes a test that passes on the original and fails on the
  mutant, or reports the mutant missed; never a traceback, never a test asserting an object's repr.
- New test files go beside the suite's test files, not into the package whose doctests ran.
- A failed task's message leads with its check's reason (README: "its check's first error
  line"), then the command as a user would name it: never launcher's bootstrap argv first.
- A scripted agent's `commit` step without any git identity commits as the launcher's own
  commits do (`launcher <launcher@localhost>`), not with a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git
from helpers import run_plan, swept_project, task

from launcher.app.mutation.fix import FixOptions, fix_survivors
from launcher.app.mutation.fix_plan import scope
from launcher.gates.checks import CheckResult

CALC = '''import functools


class Box:
    def __init__(self, w=1):
        self.w = w

    def double(self):
        return self.w * 2

    def scaled(self, k):
        return self.w * k


@functools.lru_cache(maxsize=None)
def scale(x, k=3):
    return x * k


def evens(n):
    for i in range(n):
        if i % 2 == 0:
            yield i


def same_items(n):
    return (i for i in range(n))


def boxed(n):
    return Box(n)
'''


def mutant(mid: str, function: str, replaced: str, replacement: str, source: str = CALC) -> dict[str, Any]:
    start = source.index(replaced)
    return {"id": mid, "target": "calc.py", "function": function, "start": start, "end": start + len(replaced),
            "replaced": replaced, "replacement": replacement, "orig": replaced, "mut": replacement}


def run_writer(tree: Path, mutants: list[dict[str, Any]]) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    prompt = "Kill these.\n```json\n" + json.dumps({"test_dir": "tests", "mutants": mutants}) + "\n```\n"
    contract = tree.parent / f"{tree.name}-contract.json"
    env = {"PATH": "/usr/bin:/bin", "LAUNCHER_CONTRACT": str(contract), "LAUNCHER_TASK_ID": "t"}
    done = subprocess.run([sys.executable, "-m", "launcher.agents.scripted_test_writer", prompt], cwd=tree,
                          env=env, capture_output=True, text=True, timeout=120)
    return done, json.loads(contract.read_text()) if contract.exists() else {}


def pytest_passes(tree: Path, test: str) -> bool:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=tree,
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ".",
                               "PYTHONDONTWRITEBYTECODE": "1"})  # a same-size mutant in the same second
    return done.returncode == 0


def project(tmp_path: Path, source: str = CALC) -> Path:
    tree = tmp_path / "proj"
    (tree / "tests").mkdir(parents=True)
    (tree / "calc.py").write_text(source)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=tree, check=True)
    return tree


def kills(tree: Path, test: str, m: dict[str, Any]) -> bool:
    """The written test passes on the original and fails with the mutant applied."""
    original = (tree / "calc.py").read_text()
    assert pytest_passes(tree, test), (tree / test).read_text()
    (tree / "calc.py").write_text(original[:m["start"]] + m["replacement"] + original[m["end"]:])
    try:
        return not pytest_passes(tree, test)
    finally:
        (tree / "calc.py").write_text(original)


def test_survivors_in_a_class_and_behind_lru_cache_get_killing_tests_or_are_reported_missed(tmp_path: Path) -> None:
    tree = project(tmp_path)
    in_init = mutant("box", "Box", "w=1", "w=2")  # seen through Box().double()
    in_method_with_args = mutant("scaled", "Box", "self.w * k", "self.w + k")  # no method without arguments shows it
    cached = mutant("scale", "scale", "k=3", "k=4")  # an lru_cache wrapper: no __code__
    done, contract = run_writer(tree, [in_init, in_method_with_args, cached])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert contract["blockers"] == ["no input found that tells mutant scaled apart"]
    assert contract["tests_added"] == ["tests/test_kill_box.py", "tests/test_kill_scale.py"]
    assert "Box().double()" in (tree / "tests/test_kill_box.py").read_text()
    assert kills(tree, "tests/test_kill_box.py", in_init)
    assert kills(tree, "tests/test_kill_scale.py", cached)


def test_a_function_returning_objects_gets_no_test_asserting_their_repr(tmp_path: Path) -> None:
    tree = project(tmp_path)
    done, contract = run_writer(tree, [mutant("obj", "boxed", "Box(n)", "Box(n + 1)")])
    assert done.returncode == 0, done.stderr
    assert contract["status"] == "blocked" and contract["tests_added"] == []


def test_a_generator_is_compared_by_what_it_yields(tmp_path: Path) -> None:
    tree = project(tmp_path)
    changed = mutant("gen", "evens", "i % 2 == 0", "i % 2 == 1")
    equivalent = mutant("same", "same_items", "(i for i in range(n))", "iter(list(range(n)))")
    done, contract = run_writer(tree, [changed, equivalent])
    assert done.returncode == 0, done.stderr
    # Two generator objects always differ by `!=`: the equivalent mutant yields the same items.
    assert contract["blockers"] == ["no input found that tells mutant same apart"]
    assert contract["tests_added"] == ["tests/test_kill_gen.py"]
    assert "itertools.islice(evens(" in (tree / "tests/test_kill_gen.py").read_text()
    assert kills(tree, "tests/test_kill_gen.py", changed)


def test_a_module_the_writer_cannot_run_is_that_mutant_missed_with_its_reason(tmp_path: Path) -> None:
    source = "from .sibling import thing\n\n\ndef f(x):\n    return x + 1\n"
    tree = project(tmp_path, source)
    done, contract = run_writer(tree, [mutant("rel", "f", "x + 1", "x + 2", source)])
    assert done.returncode == 0, done.stderr
    assert contract["status"] == "blocked"
    assert "probing f in calc.py failed (ImportError" in contract["blockers"][0]


WRONG_WRITER = (f'[agents.wrong]\nadapter = "command"\ncommand = ["{sys.executable}", "-m", '
                '"launcher.agents.scripted_test_writer", "{prompt}"]\n'
                'set_env = { LAUNCHER_TEST_WRITER_MODE = "wrong" }\n')  # fmt: skip


def test_a_kill_gate_refusal_is_the_task_message_first_not_the_gate_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    proj = swept_project(tmp_path / "proj", {
        "calc.py": "def is_adult(age):\n    return age >= 18\n",
        "tests/test_calc.py": "from calc import is_adult\n\n\ndef test_it():\n    assert is_adult(30)\n",
        "launcher.toml": WRONG_WRITER,  # asserts the mutant's answer: its test fails on the original
    }, ["calc.py"])
    summary = anyio.run(fix_survivors, proj, FixOptions(python=sys.executable, agent="wrong", all_unjudged=True),
                        lambda _event: None)
    assert summary.exit_code == 1 and summary.refused and not summary.killed

    done = subprocess.run([sys.executable, "-m", "launcher", "status", "--json"], cwd=proj, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    failed = [t for t in json.loads(done.stdout)["tasks"] if t["state"] == "failed"]
    assert failed
    for row in failed:
        assert row["message"].startswith("check failed: [launcher] refused: the new tests fail on the original code")
        assert "runpy" not in row["message"] and "launcher.gates.mutant_kill" in row["message"]


def test_a_failed_check_is_shown_reason_first_with_a_short_command() -> None:
    long = "python -m pytest -q " + " ".join(f"tests/test_module_{n}.py" for n in range(20))
    failed = CheckResult(long, False, 1, 0.5, "E   AssertionError: assert 1 == 2\n1 failed in 0.1s\n")
    assert failed.failure.startswith("AssertionError: assert 1 == 2 (python -m pytest -q tests/")
    assert failed.failure.endswith("…, exit 1)") and len(failed.failure) < 140
    assert CheckResult("test -f x", False, 1, 0.1, "").failure == "test -f x (exit 1)"


def test_a_scripted_agent_commits_without_a_git_identity_as_launcher(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "bare-home"  # no ~/.gitconfig, no user.email anywhere
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in [n for n in os.environ if n.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_", "LAUNCHER_GIT_", "EMAIL"))]:
        monkeypatch.delenv(name)

    report = run_plan(repo, [{"id": "committer", "script": [
        {"write": "a.txt", "content": "a"}, {"commit": "agent: add a"},
    ]}])

    assert task(report, "committer").state == "merged", task(report, "committer").message
    authors = git(repo, "log", "--format=%s|%an <%ae>", "main").splitlines()
    assert "agent: add a|launcher <launcher@localhost>" in authors


def test_new_tests_go_to_the_test_files_directory_when_doctests_of_the_package_ran_too() -> None:
    sweep = {"tests": {  # a sweep with --doctest-modules: the package's modules hold tests too
        "boltons/mathutils.py::boltons.mathutils.clamp": {"file": "boltons/mathutils.py"},
        "tests/test_mathutils.py::test_clamp": {"file": "tests/test_mathutils.py"},
    }}
    assert scope(sweep)[0] == "tests/**"
