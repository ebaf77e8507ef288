"""The environment of every command the launcher runs against a tree's code: a task's checks, its
setup command, rubric `check:` commands and the integration check.

Those commands run code an agent wrote, so they get what an agent gets (the allowlisted parent
environment, plus the names the plan lists in `check_env`), never the launcher's whole
environment, and never GIT_*. They must also test the tree they run in: the tree's import roots go
first on PYTHONPATH (ahead of an editable install of the main checkout), and with an audit file
the import audit (`launcher/data/import_audit/sitecustomize.py`) records every module that was
still imported from the main checkout (see `engine.import_audit`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from launcher.agents.base import ENV_ALLOWLIST
from launcher.git.git_vars import without_git_vars
from launcher.git.import_roots import python_path, tree_import_roots

AUDIT_DIR = Path(__file__).resolve().parent.parent / "data" / "import_audit"


def command_env(
    tree: Path, *, main_root: Path, run_id: str, task_id: str | None,
    pass_names: Sequence[str] = (), audit_file: Path | None = None,
    parent: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a command run in `tree` (a task's worktree or a scratch tree).

    LAUNCHER_RUN_ID and LAUNCHER_TASK_ID are always set: a launcher that restarts after a crash
    finds the processes it must reap by them (in /proc/<pid>/environ)."""
    parent = os.environ if parent is None else parent
    env = {k: parent[k] for k in ENV_ALLOWLIST if k in parent}
    env.update({k: v for k, v in parent.items() if k.startswith("LC_")})
    env.update({k: parent[k] for k in pass_names if k in parent})
    env = without_git_vars(env)
    env.update({"LAUNCHER_RUN_ID": run_id, "LAUNCHER_WORKTREE": str(tree)})
    if task_id is not None:
        env["LAUNCHER_TASK_ID"] = task_id
    first = [str(AUDIT_DIR)] if audit_file is not None else []
    env.pop("PYTHONPATH", None)
    env.update(python_path(tree, tree_import_roots(tree), *first, main_root=main_root,
                           inherited=parent.get("PYTHONPATH", "")))
    if audit_file is not None:
        env["LAUNCHER_IMPORT_AUDIT"] = str(audit_file)
        env["LAUNCHER_MAIN_ROOT"] = str(main_root)
    return env
