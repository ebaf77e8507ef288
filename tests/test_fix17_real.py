"""Review 17 (real projects): what launcher's own helpers do on the shapes real code has.

- The built-in test writer (`mutation fix`'s default agent) meets classes, `@lru_cache`d and other
  wrapped functions and generators: it writes a test that passes on the original and fails on the
  mutant, or reports the mutant missed; never a traceback, never a test asserting an object's repr.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CALC = '''import functools


class Box:
    def __init__(self, w=1):
        self.w = w

    def double(self):
        return self.w * 2


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
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "."})
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


def test_a_survivor_in_a_class_is_reported_missed_and_one_behind_lru_cache_gets_a_killing_test(tmp_path: Path) -> None:
    tree = project(tmp_path)
    in_class = mutant("box", "Box", "w=1", "w=2")
    cached = mutant("scale", "scale", "k=3", "k=4")
    done, contract = run_writer(tree, [in_class, cached])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert contract["blockers"] == ["no input found that tells mutant box apart"]
    assert contract["tests_added"] == ["tests/test_kill_scale.py"]
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
