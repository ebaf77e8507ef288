"""Whether a checkout is one of the launcher's own worktrees (a task's, the landing's, a warm-pool
or scratch tree), so that a command run there (`cd "$(launcher path RUN TASK)" && launcher
status`) names the main checkout, where the runs' journal is, instead of opening (and creating)
an empty journal of its own in the task's worktree.

Known from files alone (no git call), by what the launcher owns, never by a folder the user
chose: a linked worktree (its git dir is not the common one) whose admin dir holds the mark
every `git worktree add` of the launcher leaves (`guard.OWN_WORKTREE_MARK`), or that is on a
branch `launcher/<run>/<...>`. A worktree an older launcher made before that mark existed is
told by where the launcher alone puts trees: its own cache folder (`$XDG_CACHE_HOME/launcher/
worktrees/`), or, under a configured `worktree_root` (which may well be the folder where the user
keeps their own worktrees), a folder of the launcher's layout directly below it (a run's
`r-YYYYMMDD-HHMMSS-xxxx/`, a workflow's `wf_<hex>/`, `_pool/`, `mutation/`, `judge/`,
`fix-resettle/`). The user's own `git worktree add <worktree_root>/hotfix` is none of these.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from launcher.errors import ConfigError, UsageProblem
from launcher.git import guard, warm_pool, worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import load_repo_config

# The folders the launcher makes directly under a worktree root (`launcher/app/...`): a run's, a
# workflow's scratch trees, the warm pool, a sweep's workers, judges, a fix's re-settling.
_OWN_FOLDER = re.compile(r"r-\d{8}-\d{6}-[0-9a-f]{4}|wf_[0-9a-f]+|" + re.escape(warm_pool.POOL_DIR)
                         + r"|mutation|judge|fix-resettle")  # fmt: skip


def _branch(repo: GitRepo) -> str | None:
    try:
        head = (repo.git_dir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else None


def _main_checkout(repo: GitRepo) -> Path | None:
    """The repository's main work tree, when it has one (not a bare repository's worktrees)."""
    main = repo.common_dir.parent
    if repo.common_dir.name != ".git" or not os.path.samefile(main / ".git", repo.common_dir):
        return None
    return main


def _is_under(path: Path, root: Path) -> bool:
    real, top = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return top in real.parents


def _marked(repo: GitRepo) -> bool:
    """The launcher's `git worktree add` left its mark in this worktree's admin dir."""
    return (repo.git_dir / guard.OWN_WORKTREE_MARK).is_file()


def _in_launcher_layout(repo: GitRepo, main: Path | None) -> bool:
    """Where only the launcher puts trees (an older launcher's, made before the mark)."""
    cache_roots = worktrees.default_worktree_root(repo, None).parent  # <cache>/launcher/worktrees
    if _is_under(repo.root, cache_roots):
        return True
    if main is None:
        return False
    try:
        configured = load_repo_config(main).worktree_root
    except ConfigError:
        return False
    if configured is None:
        return False
    root = Path(os.path.realpath(worktrees.default_worktree_root(GitRepo(main, repo.common_dir), configured)))
    real = Path(os.path.realpath(repo.root))
    if root not in real.parents:
        return False
    below = real.relative_to(root).parts
    return len(below) >= 2 and _OWN_FOLDER.fullmatch(below[0]) is not None


def launcher_worktree_problem(repo: GitRepo) -> UsageProblem | None:
    """A usage error when `repo` is a worktree the launcher made (None: any other checkout)."""
    try:
        linked = not os.path.samefile(repo.git_dir, repo.common_dir)
    except OSError:
        return None
    if not linked:
        return None
    branch = _branch(repo)
    ours = branch is not None and branch.startswith(f"{worktrees.BRANCH_PREFIX}/") and branch.count("/") >= 2
    main = _main_checkout(repo)
    if not ours and not _marked(repo) and not _in_launcher_layout(repo, main):
        return None
    parts = branch.split("/") if ours and branch else []
    whose = f"task {parts[2]!r} of run {parts[1]}" if len(parts) == 3 and not parts[2].startswith("_") else None
    what = ("this checkout is a worktree the launcher made" + (f" for {whose}" if whose else "")
            + (f" (branch {branch})" if branch else "") + ": the runs and their journal are in the main checkout"
            + (f" {main}" if main else ""))
    if main is not None:
        example = f"launcher status {parts[1]}" if whose else "launcher status"
        fix = f"run launcher commands from the main checkout: cd {shlex.quote(str(main))} && {example}"
    else:
        fix = "run launcher commands from the checkout the run was started in (`git worktree list` lists them)"
    return UsageProblem(what, where=str(repo.root), fix=fix + "; nothing was created here",
                        error_key="usage:in_launcher_worktree")
