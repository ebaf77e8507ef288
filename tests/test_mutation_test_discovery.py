"""A sweep runs pytest when pytest would find tests: also when they live inside the package
(toolz/tests, src/isodate/tests), found by pytest's own file patterns or its configuration in
setup.cfg or tox.ini; a project with none is told so before anything is mutated."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, launcher_cli

_MOD = "def add(a, b):\n    return a + b\n"
_TEST = "from pkg.mod import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def _project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    git(root, "init", "-q")
    for rel, text in {"pkg/__init__.py": "", "pkg/mod.py": _MOD, ".gitignore": "__pycache__/\n", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return root


@pytest.mark.parametrize("files", [
    {"pkg/tests/__init__.py": "", "pkg/tests/test_mod.py": _TEST},  # found by pytest's pattern
    {"pkg/checks/__init__.py": "", "pkg/checks/mod_check.py": _TEST.replace("test_add", "check_add"),
     "setup.cfg": "[tool:pytest]\ntestpaths = pkg/checks\npython_files = *_check.py\n"
                  "python_functions = check_*\n"},
], ids=["tests-inside-the-package", "setup-cfg-configured"])
def test_tests_inside_the_package_are_swept(tmp_path: Path, files: dict[str, str]) -> None:
    repo = _project(tmp_path / "p", files)

    swept = launcher_cli(repo, "mutation", "sweep", "--workers", "1", timeout=300)

    assert "found no tests to run" not in swept.stdout + swept.stderr
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "Score: 100.0%" in swept.stdout and "Survived 0" in swept.stdout  # the tests ran, and killed


def test_a_project_without_tests_is_told_before_anything_is_mutated(tmp_path: Path) -> None:
    repo = _project(tmp_path / "p", {})

    swept = launcher_cli(repo, "mutation", "sweep", "--workers", "1", timeout=120)

    assert swept.returncode == 2, swept.stdout + swept.stderr
    assert "found no tests to run" in swept.stderr
    assert "--test-cmd CMD" in swept.stderr
    assert not (repo / ".launcher" / "mutation-runs").exists()
