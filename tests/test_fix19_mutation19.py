"""Review 19 (mutation sweeps against ground truth: each mutant applied by hand to a clean copy,
the whole suite run fresh with `python -m pytest`).

- A worker tree runs many mutants one after the other. Code that keeps a cache file beside
  itself (written on the first call, read after) found the file an earlier run wrote (the
  coverage run's, the sanity probes', another mutant's) and never computed: every mutant of the
  computation was reported Survived, which the suite kills on a clean copy. Each test run in a
  worker tree now starts from the tree as set up: what earlier runs added is removed first.
  What the fork worker writes while it collects (a conftest generating a data file at import)
  is kept: its forks expect it, as a fresh run would write it again. A tracked file a run
  rewrote (the same cache kept in a committed `state.json`) is put back as committed.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from swept import project, sweep

from launcher.mutation.model import MutantStatus
from launcher.mutation.tree_leftovers import TreeLeftovers

# `cached()` computes once and keeps the value in a git-ignored file beside the module.
CACHE_BESIDE_CODE = {
    ".gitignore": "cache.txt\n__pycache__/\n",
    "pkg/__init__.py": "",
    "pkg/c.py": "from pathlib import Path\n\nCACHE = Path(__file__).parent / 'cache.txt'\n\n\n"
                "def inc(x):\n    return x + 1\n\n\n"
                "def compute():\n    return 6 * 7\n\n\n"
                "def cached():\n    if CACHE.exists():\n        return int(CACHE.read_text())\n"
                "    v = compute()\n    CACHE.write_text(str(v))\n    return v\n",
    "tests/test_c.py": "from pkg.c import cached, inc\n\n\ndef test_inc():\n    assert inc(1) == 2\n\n\n"
                       "def test_cached():\n    assert cached() == 42\n",
}  # fmt: skip

# A conftest that writes a data file when it is imported (collection); the test reads it.
GENERATED_AT_COLLECTION = {
    ".gitignore": "tests/generated.txt\n__pycache__/\n",
    "pkg/__init__.py": "",
    "pkg/m.py": "def double(x):\n    return x * 2\n",
    "tests/conftest.py": "from pathlib import Path\n\n"
                         "(Path(__file__).parent / 'generated.txt').write_text('21')\n",
    "tests/test_m.py": "from pathlib import Path\n\nfrom pkg.m import double\n\n\n"
                       "def test_double():\n    n = int((Path(__file__).parent / 'generated.txt').read_text())\n"
                       "    assert double(n) >= 0\n",
}  # fmt: skip


# The same cache, kept in a committed file that `cached()` rewrites.
CACHE_IN_TRACKED_FILE = {
    ".gitignore": "__pycache__/\n",
    "pkg/__init__.py": "",
    "pkg/state.json": "{}\n",
    "pkg/c.py": "import json\nfrom pathlib import Path\n\nSTATE = Path(__file__).parent / 'state.json'\n\n\n"
                "def inc(x):\n    return x + 1\n\n\n"
                "def compute():\n    return 6 * 7\n\n\n"
                "def cached():\n    d = json.loads(STATE.read_text())\n    if 'answer' not in d:\n"
                "        d['answer'] = compute()\n        STATE.write_text(json.dumps(d))\n    return d['answer']\n",
    "tests/test_c.py": CACHE_BESIDE_CODE["tests/test_c.py"],
}  # fmt: skip


@pytest.mark.parametrize("use_fork", [True, False], ids=["fork", "generic"])
def test_a_mutant_of_code_that_caches_its_result_in_a_file_is_killed_as_on_a_clean_copy(
    tmp_path: Path, use_fork: bool
) -> None:
    root = project(tmp_path / "p", CACHE_BESIDE_CODE)

    outcome = sweep(root, ["pkg/c.py"], ["number", "arithmetic"], use_fork=use_fork)

    of_compute = [r for r in outcome.results if r.mutant.function == "compute"]
    assert len(of_compute) == 3, [r.mutant.mut for r in outcome.results]
    assert all(r.status is MutantStatus.KILLED for r in of_compute), [(r.mutant.mut, r.status, r.note)
                                                                     for r in of_compute]  # fmt: skip
    assert not (root / "pkg" / "cache.txt").exists()  # the user's tree never ran a test


def test_a_tracked_file_a_run_rewrote_is_put_back_before_the_next_run(tmp_path: Path) -> None:
    root = project(tmp_path / "p", CACHE_IN_TRACKED_FILE)

    outcome = sweep(root, ["pkg/c.py"], ["number", "arithmetic"])

    of_compute = [r for r in outcome.results if r.mutant.function == "compute"]
    assert len(of_compute) == 3 and all(r.status is MutantStatus.KILLED for r in of_compute), [
        (r.mutant.mut, r.status, r.note) for r in of_compute]  # fmt: skip
    inc = [r for r in outcome.results if r.mutant.function == "inc"]
    assert inc and all(r.status is MutantStatus.KILLED for r in inc)  # no false kill either
    assert (root / "pkg" / "state.json").read_text() == "{}\n"


def test_a_file_the_conftest_writes_while_collecting_is_kept_for_the_forks(tmp_path: Path) -> None:
    root = project(tmp_path / "p", GENERATED_AT_COLLECTION)

    outcome = sweep(root, ["pkg/m.py"], ["arithmetic", "return_value"])

    statuses = {r.mutant.mut.strip(): r.status for r in outcome.results}
    # x * 2 -> x / 2 keeps 21 / 2 >= 0: a true survivor; `return None` fails the comparison.
    assert statuses == {"return x / 2": MutantStatus.SURVIVED, "return None": MutantStatus.KILLED}, (
        statuses, [r.note for r in outcome.results])  # fmt: skip
    # ...judged in the fork: the file is there for it, no fallback to a fresh process
    assert not any("fail in a fork without the mutant too" in r.note for r in outcome.results), [
        r.note for r in outcome.results]  # fmt: skip


def test_what_runs_add_to_a_tree_is_removed_and_what_it_was_set_up_with_is_kept(tmp_path: Path) -> None:
    tree = tmp_path / "w1"
    (tree / "pkg" / "__pycache__").mkdir(parents=True)
    (tree / "pkg" / "c.py").write_text("x = 1\n")
    (tree / "data.txt").write_text("kept\n")
    put: list[str] = []

    async def restore(rels: list[str]) -> None:
        put.extend(rels)
        (tree / "data.txt").write_text("kept\n")

    leftovers = TreeLeftovers(tree, restore=restore)
    leftovers.adopt()
    (tree / "pkg" / "cache.txt").write_text("49")
    (tree / "out" / "deep").mkdir(parents=True)
    (tree / "out" / "deep" / "f.txt").write_text("x")
    (tree / "pkg" / "__pycache__" / "c.cpython-311.pyc").write_bytes(b"")
    (tree / "data.txt").write_text("changed, and longer\n")
    (tree / "pkg" / "c.py").write_text("x = 2  # a mutant on disk now\n")

    anyio.run(leftovers.clear, tree / "pkg" / "c.py")

    assert not (tree / "pkg" / "cache.txt").exists() and not (tree / "out").exists()
    assert put == ["data.txt"] and (tree / "data.txt").read_text() == "kept\n"
    assert (tree / "pkg" / "c.py").read_text() == "x = 2  # a mutant on disk now\n"
    assert (tree / "pkg" / "__pycache__" / "c.cpython-311.pyc").exists()  # bytecode is the executors' business


def test_a_tree_that_is_not_the_sweeps_own_is_never_cleaned(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("user's work")
    leftovers = TreeLeftovers(tmp_path, active=False)
    leftovers.adopt()
    (tmp_path / "new.txt").write_text("also the user's")

    anyio.run(leftovers.clear)

    assert (tmp_path / "new.txt").read_text() == "also the user's"
