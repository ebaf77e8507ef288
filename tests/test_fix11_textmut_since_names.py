"""`mutation sweep --since REF` mutates the changed lines of every changed file, whatever its name
holds (a space, which makes git end the diff header with a tab; a tab, quote, backslash or newline,
which make git C-quote it; non-ASCII in either normalisation), whatever
the changed text holds (a line starting `++ `), and whatever the user's git config or attributes
say about diffs (diff.interHunkContext joining hunks, a `-diff` attribute)."""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path
from typing import Any

import anyio
from conftest import git, write_files
from helpers import launcher_cli

from launcher.mutation.discover import Collected, collect_mutants

BEFORE = "def f(a):\n    return a + 1\n\n\ndef g(b):\n    return b - 1\n"
AFTER = BEFORE.replace("a + 1", "a * 2")  # only line 2 changes: f's mutants, none of g's

NAMES = [
    "my mod.py", " lead.py", "trail .py", "tab\tname.py", 'quote"name.py', "back\\slash.py", "new\nline.py",
    "caf\u00e9 au lait.py", unicodedata.normalize("NFD", "cafe\u0301.py"), "\u00fc \u00df.py",
]  # fmt: skip


def _collect(root: Path, **kw: Any) -> Collected:
    return anyio.run(functools.partial(collect_mutants, root, ["pkg"], **kw))


def _committed(root: Path, files: dict[str, str]) -> Path:
    write_files(root, {".gitignore": ".launcher/\n", "pkg/__init__.py": "", **files})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def test_every_changed_file_is_mutated_on_its_changed_line_whatever_its_name(tmp_path: Path) -> None:
    root = _committed(tmp_path / "p", {f"pkg/{name}": BEFORE for name in NAMES})
    for name in NAMES:
        (root / "pkg" / name).write_text(AFTER)
    git(root, "commit", "-qam", "change f everywhere")
    mutants = _collect(root, since="HEAD~1").mutants
    by_file: dict[str, set[tuple[str, int]]] = {}
    for m in mutants:
        by_file.setdefault(m.target, set()).add((m.function, m.line))
    assert by_file == {f"pkg/{name}": {("f", 2)} for name in NAMES}


def test_the_cli_names_the_file_with_a_space_among_the_mutated(tmp_path: Path) -> None:
    root = _committed(tmp_path / "p", {"pkg/my mod.py": BEFORE, "pkg/mod.py": BEFORE})
    for name in ("my mod.py", "mod.py"):
        (root / "pkg" / name).write_text(AFTER)
    git(root, "commit", "-qam", "change")
    done = launcher_cli(root, "mutation", "sweep", "--dry-run", "--since", "HEAD~1", "pkg")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "in 2 file(s)" in done.stdout and "pkg/my mod.py" in done.stdout, done.stdout


def test_an_added_line_starting_with_plus_signs_is_a_changed_line_not_a_file_header(tmp_path: Path) -> None:
    # In the -U0 diff the docstring's new line reads `+++ b/elsewhere.py`: the text of an added line.
    module = 'def f(a):\n    """Doc."""\n    return a + 1\n\n\ndef g(b):\n    return b - 1\n'
    root = _committed(tmp_path / "p", {"pkg/mod.py": module})
    changed = module.replace('"""Doc."""', '"""Doc.\n++ b/elsewhere.py\n"""').replace("b - 1", "b - 2")
    (root / "pkg" / "mod.py").write_text(changed)
    mutants = _collect(root, since="HEAD").mutants
    assert {(m.target, m.function, m.line) for m in mutants} == {("pkg/mod.py", "g", 9)}


def test_unchanged_lines_between_hunks_git_joined_are_not_changed_lines(tmp_path: Path) -> None:
    module = "def f(a):\n    return a + 1\n\n\ndef g(b):\n    return b - 1\n\n\ndef h(c):\n    return c * 3\n"
    root = _committed(tmp_path / "p", {"pkg/mod.py": module})
    git(root, "config", "diff.interHunkContext", "10")  # the user's: git prints lines 3-9 between the hunks
    (root / "pkg" / "mod.py").write_text(module.replace("a + 1", "a + 2").replace("c * 3", "c * 4"))
    mutants = _collect(root, since="HEAD").mutants
    assert {(m.function, m.line) for m in mutants} == {("f", 2), ("h", 10)}


def test_a_file_whose_attributes_hide_its_diff_still_has_its_changed_lines(tmp_path: Path) -> None:
    root = _committed(tmp_path / "p", {"pkg/mod.py": BEFORE, ".gitattributes": "*.py -diff\n"})
    (root / "pkg" / "mod.py").write_text(AFTER)
    mutants = _collect(root, since="HEAD").mutants
    assert mutants and {(m.function, m.line) for m in mutants} == {("f", 2)}
