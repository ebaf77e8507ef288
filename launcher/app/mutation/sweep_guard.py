"""The site-install guard of a sweep's worker trees (engine/site_installs.py).

The sweep runs the user's test command in worker trees under `<worktree root>/mutation/<sweep>`:
a suite (or a custom `--test-cmd`) that `pip install -e .`s the project there re-points the
user's shared venv into a worker tree, which goes when the sweep ends, and the user's checkout no
longer imports its own code. As for the judge and a workflow's test command, the environments
the test command's `python`/`pip` write to are kept before the first test runs (in
`.launcher/mutation-guards/<sweep>/`, where a killed sweep leaves them for the next guarded
command, which looks in every `.launcher/<kind>/<id>/`) and every install pointing into the worker
trees is put back once the trees are done with; the record (and its folders, once empty) then goes.
"""

from __future__ import annotations

import contextlib
import os
from contextlib import AsyncExitStack
from pathlib import Path

from launcher.engine import site_installs
from launcher.mutation.run_env import child_env


def test_env(python: str) -> dict[str, str]:
    """What the test command gets, with the sweep's Python first on PATH: its `pip` and site
    directories are those the guard watches, also when `--python` names one off PATH."""
    env = child_env()
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', os.defpath)}"
    return env


class TreeGuard:
    """Entered once the worker trees' folder is known, left after they are gone (`close`)."""

    def __init__(self) -> None:
        self._stack: AsyncExitStack | None = None
        self._lines: list[str] = []
        self._record: Path | None = None

    async def enter(self, tree_root: Path, record: Path, python: str, state_dir: Path) -> None:
        stack = AsyncExitStack()
        self._lines = await stack.enter_async_context(
            site_installs.guarded(tree_root, record, test_env(python), state_dir=state_dir))
        self._stack, self._record = stack, record

    async def close(self) -> list[str]:
        """Put back what the test command installed from the trees: the sweep's notes about it."""
        if self._stack is None:
            return []
        stack, self._stack = self._stack, None
        await stack.aclose()
        if self._record is not None:  # settled: nothing left for another guard to learn from it
            self._record.unlink(missing_ok=True)
            for folder in (self._record.parent, self._record.parent.parent):
                with contextlib.suppress(OSError):  # another sweep's record still there: stays
                    folder.rmdir()
        if not self._lines:
            return []
        return [f"the test command installed the project into a shared Python environment from a worker tree "
                f"(removed after the sweep); put back: {'; '.join(self._lines)}. A test suite should not install "
                "the project itself: the sweep already imports each worker tree's code"]  # fmt: skip
