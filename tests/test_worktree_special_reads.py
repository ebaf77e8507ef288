"""Files the launcher reads from an agent's worktree are read as regular files only: a FIFO or a
link to a device left there by the agent never hangs or crashes the launcher."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher.agents.git_exclude import exclude_from_git
from launcher.git.import_roots import _declared_roots
from launcher.git.worktrees import admin_dir


def _finishes(call: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Run `call` in a thread; fail (not hang the suite) if it blocks."""
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.setdefault("value", call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the read blocked on a file the agent left"
    return box.get("value")


def _unblock_later(fifo: Path) -> None:
    """If a reader does block, open the writer side after the test's deadline so it ends."""
    def opener() -> None:
        time.sleep(12)
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    threading.Thread(target=opener, daemon=True).start()


def test_a_fifo_named_pyproject_toml_gives_no_declared_roots_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pyproject.toml")
    _unblock_later(tmp_path / "pyproject.toml")
    assert _finishes(lambda: _declared_roots(tmp_path)) == []


def test_a_pyproject_toml_linked_to_a_device_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").symlink_to("/dev/zero")  # read fully, this never ends
    assert _finishes(lambda: _declared_roots(tmp_path)) == []


def test_a_regular_pyproject_toml_is_still_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools]\npackage-dir = {"" = "src"}\n')
    assert _finishes(lambda: _declared_roots(tmp_path)) == ["src"]


def test_a_fifo_as_a_worktrees_git_file_is_not_followed(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".git")
    _unblock_later(tmp_path / ".git")
    assert _finishes(lambda: admin_dir(tmp_path)) is None
    _finishes(lambda: exclude_from_git(tmp_path, "/.launcher-review/"))  # best effort: no hang
