"""The kill gate of `launcher mutation fix` refuses a task that changed the code under test, whatever
that file is named: git lists the changed names NUL-separated (`-z`), so a name with a tab, a quote
or a backslash, which git C-quotes in a plain listing, is still the file the mutant is in."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from conftest import git, write_files

from launcher.gates.mutant_kill import KillClaims, judge_tree
from launcher.mutation.discover import mutants_for_file


@pytest.mark.parametrize("name", ["pkg/tab\tname.py", 'pkg/quo"te.py', "pkg/back\\slash.py", "pkg/sp ace.py"])
def test_a_changed_code_file_with_an_odd_name_is_refused(tmp_path: Path, name: str) -> None:
    root = write_files(tmp_path / "p", {"pkg/__init__.py": "", name: "def f(a):\n    return a + 1\n"})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    base = git(root, "rev-parse", "HEAD").strip()
    mutant = next(m for m in mutants_for_file(root, name) if m.fault == "arithmetic")
    (root / name).write_text("def f(a):\n    return a + 2\n")  # the task "fixed" the code, not the tests
    claims = KillClaims(base_sha=base, python="python3", evidence=str(tmp_path / "e.json"), mutants=[mutant])
    verdict = anyio.run(judge_tree, root, claims)
    assert not verdict.accepted
    assert verdict.reason.startswith(f"it changed the code under test ({name})"), verdict.reason
