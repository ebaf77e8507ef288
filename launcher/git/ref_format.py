"""Which ref storage a repository uses: the launcher works with git's "files" backend only.

git 2.45 and later can keep refs and reflogs in the "reftable" backend (`git init
--ref-format=reftable`, `git refs migrate`; git 3.0 makes it the default of new repositories).
The launcher reads some of them as files of the git directory: the main checkout's `HEAD` (the
watch on it, git/ref_guard.py, app/own_worktree.py), reflogs under `logs/` (who made a commit a
ref moved to: app/run/ref_owner.py, gates/judge_guard.py; a rebase that finished) and when a ref
last changed. In a reftable repository `HEAD` always reads `ref: refs/heads/.invalid` and there
are no such files: an agent's switch of the main checkout, or its fast-forward of the target
branch, would go unseen or be taken for the user's. Such a repository is refused up front, with
the way to convert it (and back), rather than watched wrongly.
"""

from __future__ import annotations

from pathlib import Path

from launcher.errors import EnvironmentProblem

REFTABLE_DIR = "reftable"  # git's reftable backend keeps its tables here, in the common git dir


def uses_reftable(common_dir: Path) -> bool:
    return (common_dir / REFTABLE_DIR).is_dir()


def refuse_reftable(common_dir: Path, root: Path) -> None:
    """Raise EnvironmentProblem (exit 3) when the repository keeps its refs in reftable."""
    if not uses_reftable(common_dir):
        return
    raise EnvironmentProblem(
        f"the repository at {root} keeps its refs in git's reftable format ({common_dir / REFTABLE_DIR}); "
        "the launcher supports only the files format (it reads HEAD, reflogs and loose refs of the git "
        "directory to tell an agent's moves of your branches from yours)",
        fix=f"convert it with `git -C {root} refs migrate --ref-format=files` (git 2.46 or newer, in a "
            "repository without linked worktrees; `--ref-format=reftable` converts it back), or run the "
            "launcher in a clone made with `git clone --ref-format=files`",
        error_key="reftable_refs",
    )
