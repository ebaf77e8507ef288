"""A project whose packages live under `lib/`, declared the way its build backend reads it.

setuptools' setup.cfg (`[options] package_dir = =lib`), poetry (`packages = [{include, from}]`)
and hatch (`packages = ["lib/pkg"]`) declare the package root as surely as pyproject.toml's
`[tool.setuptools] package-dir` does. An editable install of the main checkout puts `<main>/lib`
on sys.path (after PYTHONPATH); a command run in a worktree must import the worktree's `lib/`
instead, so the worktree's `lib` goes first on the PYTHONPATH every check gets. When the launcher
does not know the root, the import audit's message names that cause, not a PYTHONPATH the user
never set.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from launcher.engine.command_env import command_env
from launcher.engine.import_audit import outside_import_message
from launcher.git.import_roots import tree_import_roots

SETUP_CFG = "[metadata]\nname = pkg\n\n[options]\npackage_dir =\n    = lib\npackages = find:\n"
SETUP_CFG_WHERE = "[metadata]\nname = pkg\n\n[options]\npackages = find:\n\n[options.packages.find]\nwhere = lib\n"
POETRY = '[tool.poetry]\nname = "pkg"\npackages = [{ include = "pkg", from = "lib" }]\n'
HATCH = '[tool.hatch.build.targets.wheel]\npackages = ["lib/pkg"]\n'
LAYOUTS = {
    "setup.cfg package_dir": ("setup.cfg", SETUP_CFG),
    "setup.cfg packages.find where": ("setup.cfg", SETUP_CFG_WHERE),
    "poetry packages from": ("pyproject.toml", POETRY),
    "hatch wheel packages": ("pyproject.toml", HATCH),
}


def _project(root: Path, config: tuple[str, str], value: str) -> Path:
    (root / "lib/pkg").mkdir(parents=True)
    (root / "lib/pkg/__init__.py").write_text(f"VALUE = {value}\n")
    name, text = config
    (root / name).write_text(text)
    return root


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_declared_package_directory_is_an_import_root(tmp_path: Path, layout: str) -> None:
    tree = _project(tmp_path, LAYOUTS[layout], "1")

    assert tree_import_roots(tree) == ["lib", "."]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_check_in_the_worktree_imports_the_worktrees_lib_not_the_editable_install_of_main(
    tmp_path: Path, layout: str
) -> None:
    main = _project(tmp_path / "main", LAYOUTS[layout], "1")
    tree = _project(tmp_path / "wt", LAYOUTS[layout], "2")
    env = command_env(tree, main_root=main, run_id="r", task_id="t", parent={"PATH": "/usr/bin:/bin"})
    # What an editable install's .pth does: the main checkout's lib/ on sys.path, after PYTHONPATH.
    code = f"import sys; sys.path.append({str(main / 'lib')!r}); import pkg; print(pkg.VALUE, pkg.__file__)"

    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, text=True, capture_output=True,
                          timeout=60)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", str(tree / "lib/pkg/__init__.py")]


def test_an_undeclared_package_directory_is_named_as_the_cause_with_a_fix(tmp_path: Path) -> None:
    main = tmp_path / "main"
    (main / "lib/pkg").mkdir(parents=True)
    (main / "lib/pkg/__init__.py").write_text("")
    (main / "setup.py").write_text("from setuptools import setup\nsetup(package_dir={'': 'lib'})\n")

    message = outside_import_message(["lib/pkg/__init__.py"], main)

    assert "imported lib/pkg/__init__.py from the main checkout" in message
    assert "lib/ is not an import root the launcher found" in message
    assert "`pip install -e .`" in message
    assert "setup.cfg `[options] package_dir = =lib`" in message
    assert "PYTHONPATH=lib:$PYTHONPATH" in message
    assert "no sys.path or PYTHONPATH entry into the main checkout" not in message


def test_a_known_import_root_still_imported_from_main_keeps_the_sys_path_advice(tmp_path: Path) -> None:
    main = tmp_path / "main"
    (main / "src/pkg").mkdir(parents=True)
    (main / "src/pkg/__init__.py").write_text("")

    message = outside_import_message(["src/pkg/__init__.py"], main)

    assert "no sys.path or PYTHONPATH entry into the main checkout" in message
    assert "not an import root" not in message
