"""The launcher runs on every Python from 3.11 on without leaning on an API that a newer Python
deprecated for removal: importing any of its modules raises no DeprecationWarning even when
warnings are errors (on 3.12+ `importlib.abc.Traversable` did; it is gone in 3.14), and clearing
a directory tree (`shutil.rmtree` with `onexc` from 3.12 on, `onerror` before) works and warns
of nothing."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

from launcher.regular_files import clear_path

_IMPORT_EVERY_MODULE = """
import importlib, pkgutil, launcher
names = [m.name for m in pkgutil.walk_packages(launcher.__path__, "launcher.")
         if not m.name.startswith("launcher.data")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_launcher_module_imports_with_deprecation_warnings_as_errors(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-W", "error::PendingDeprecationWarning",
         "-c", _IMPORT_EVERY_MODULE],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) > 100  # the walk really found the package's modules


def test_clearing_a_directory_tree_warns_of_nothing(tmp_path: Path) -> None:
    tree = tmp_path / "contract"
    (tree / "deep" / "er").mkdir(parents=True)
    (tree / "deep" / "er" / "file.txt").write_text("agent output\n")
    (tree / "link").symlink_to(tmp_path)  # never followed: what it points to stays
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        clear_path(tree)
    assert not tree.exists()
    assert tmp_path.is_dir()
