"""A Python file's line ends do not change its mutants: Python reads `\\n`, `\\r\\n` and a lone `\\r`
alike, so a file with one stray CR (or classic-Mac endings throughout) gets the mutants, lines,
columns, sweep verdicts, `--since` selection and report positions of its LF twin. Bash ends a line
at `\\n` only, and its mutants say so. A file libcst cannot reproduce exactly is refused by name,
never mutated at the wrong offsets."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files
from helpers import launcher_cli

from launcher.app.mutation.sweep import SweepOptions, run_sweep
from launcher.mutation.discover import Collected, collect_mutants
from launcher.mutation.equivalence import _eligible
from launcher.mutation.model import Mutant
from launcher.mutation.report_html import orig_and_mut, render_html
from launcher.mutation.report_stryker import to_stryker

# The code of the review's repro: `g` is called but its result never checked, so two mutants survive.
MODULE = "def f(a, b):\n    x = a + 1 # c{end}    return x * b\n\ndef g(q):\n    return q - 1\n"
TESTS = "from pkg.mod import f, g\n\n\ndef test_f():\n    assert f(1, 2) == 4\n    assert g(3) is not None\n"
ENDINGS = {"LF": "\n", "CR": "\r", "CRLF": "\r\n"}


def _repo(root: Path, module: str) -> Path:
    write_files(root, {"pkg/__init__.py": "", "tests/test_mod.py": TESTS, ".gitignore": ".launcher/\n",
                       "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n'})  # fmt: skip
    (root / "pkg" / "mod.py").write_bytes(module.encode())  # write_text would translate nothing, but be plain
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def _collect(root: Path, *paths: str, **kw: Any) -> Collected:
    return anyio.run(functools.partial(collect_mutants, root, list(paths) or None, **kw))


def _seen(m: Mutant) -> tuple[Any, ...]:
    return (m.id, m.fault, m.line, m.col, m.end_line, m.end_col, m.orig, m.mut, m.replacement, m.valid, m.scope_lines)


@pytest.mark.parametrize("ending", ["CR", "CRLF"])
def test_a_file_with_other_line_ends_has_the_mutants_of_its_lf_twin(tmp_path: Path, ending: str) -> None:
    lf = _collect(_repo(tmp_path / "lf", MODULE.format(end="\n")), "pkg/mod.py", include_invalid=True).mutants
    root = _repo(tmp_path / "other", MODULE.format(end=ENDINGS[ending]))
    other = _collect(root, "pkg/mod.py", include_invalid=True).mutants
    assert [_seen(m) for m in other] == [_seen(m) for m in lf]
    assert len(lf) == 7 and all(m.valid for m in other)  # none of them a bogus CompileError
    source = (root / "pkg" / "mod.py").read_bytes().decode()
    assert all(source[m.start : m.end] == m.replaced and m.replaced.strip() for m in other)
    times = next(m for m in other if m.fault == "arithmetic" and m.line == 3)
    assert (times.orig, times.mut, times.col) == ("return x * b", "return x / b", 14)


def test_classic_mac_line_ends_throughout_are_mutated_not_a_launcher_crash(tmp_path: Path) -> None:
    root = _repo(tmp_path / "p", "def f(a, b):\r    x = a + 1\r    return x * b\n")
    done = launcher_cli(root, "mutation", "sweep", "--dry-run", "pkg/mod.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 mutants in 1 file(s)" in done.stdout + done.stderr


@pytest.mark.parametrize("use_fork", [True, False], ids=["fork", "generic"])
def test_a_stray_cr_does_not_hide_a_survivor_behind_a_false_score(tmp_path: Path, use_fork: bool) -> None:
    root = _repo(tmp_path / "p", MODULE.format(end="\r"))
    options = SweepOptions(paths=["pkg/mod.py"], workers=1, python=sys.executable, use_cache=False, use_fork=use_fork,
                           timeout_min_s=60.0)  # a survivor, never a Timeout of a loaded machine
    outcome = anyio.run(run_sweep, root, options, lambda line: None)
    counts = {k: v for k, v in outcome.counts.items() if v}
    assert counts == {"Killed": 5, "Survived": 2}, counts  # as for the LF file: g's result is never checked
    assert {(r.mutant.line, r.mutant.fault) for r in outcome.results if r.status.value == "Survived"} == {
        (6, "arithmetic"), (6, "number")}  # fmt: skip


def test_since_matches_the_changed_line_of_a_cr_file_as_python_numbers_it(tmp_path: Path) -> None:
    # A stray CR: git's line 1 is Python's lines 1-2, so git's line 4 is Python's line 5.
    before = "def f(a):  # c\r    return a + 1\n\ndef g(b):\n    return b - 1\n"
    root = _repo(tmp_path / "p", before)
    (root / "pkg" / "mod.py").write_bytes(before.replace("b - 1", "b - 2").encode())
    mutants = _collect(root, "pkg/mod.py", since="HEAD").mutants
    assert mutants and {(m.function, m.line) for m in mutants} == {("g", 5)}


def test_report_positions_are_the_viewers_for_every_line_end(tmp_path: Path) -> None:
    # The Stryker viewer ends a line at CR, CRLF, LF, U+2028 and U+2029 and counts columns in
    # UTF-16 units; the report places each mutant from its offsets, the plain page reads it back.
    source = "s = '\u2028'\rdef f(a):\r\n    return '\U0001f600' + a * 2\n"
    root = _repo(tmp_path / "p", source)
    (root / "run.sh").write_bytes(b"x=1\r echo $((x + 1))\n")
    git(root, "add", "run.sh")
    mutants = _collect(root, "pkg/mod.py", "run.sh", operators=["arithmetic"]).mutants
    python, shell = (next(m for m in mutants if m.target == t) for t in ("pkg/mod.py", "run.sh"))
    assert (python.line, python.col, shell.line, shell.col) == (3, 16, 1, 16)  # the languages' own numbering
    data = {"mutants": [{"mutant": m.model_dump(mode="json"), "result": {"status": "Survived"}} for m in mutants]}
    report = to_stryker(data, {"pkg/mod.py": source, "run.sh": "x=1\r echo $((x + 1))\n"})
    located = {rel: f["mutants"][0]["location"] for rel, f in report["files"].items()}
    assert located["pkg/mod.py"] == {"start": {"line": 4, "column": 17}, "end": {"line": 4, "column": 18}}
    assert located["run.sh"] == {"start": {"line": 2, "column": 12}, "end": {"line": 2, "column": 13}}
    lines = source.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").split("\n")
    assert orig_and_mut(lines, report["files"]["pkg/mod.py"]["mutants"][0]) == (
        "    return '\U0001f600' + a * 2", "    return '\U0001f600' - a * 2")
    page = render_html(report)
    assert '<mark class="s-Survived">+</mark>' in page and '<mark class="s-Survived">+</mark> 1))' in page


def test_a_file_libcst_cannot_reproduce_is_refused_by_line_not_mutated_at_wrong_offsets(tmp_path: Path) -> None:
    # libcst drops a form feed that starts a dedented line: its offsets after it would be one off.
    root = _repo(tmp_path / "p", "if 1:\n    x = 1\n\x0cy = 2 + 3\n")
    collected = _collect(root, "pkg/mod.py")
    assert collected.mutants == []
    assert "pkg/mod.py:3" in collected.skipped["pkg/mod.py"] and "libcst" in collected.skipped["pkg/mod.py"]


@pytest.mark.parametrize("ending", ["LF", "CR", "CRLF"])
def test_a_mutant_that_joins_lines_is_never_proven_equivalent_whatever_the_line_ends(
    tmp_path: Path, ending: str
) -> None:
    # The pre-filter compares code without line tables: only a mutant that moves no later line may
    # be settled by it. Joining a two-line return value into `None` moves them, with a CR as with LF.
    end = ENDINGS[ending]
    root = _repo(tmp_path / "p", f"def f(a):{end}    return (a +{end}            1){end}{end}def g():{end}    pass\n")
    joined = next(m for m in _collect(root, "pkg/mod.py").mutants if m.fault == "return_value")
    assert joined.replaced == f"a +{end}            1"
    assert not _eligible(joined)
    one_line = next(m for m in _collect(root, "pkg/mod.py").mutants if m.fault == "arithmetic")
    assert _eligible(one_line)
