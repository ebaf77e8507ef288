"""The one rule for the parent's GIT_* variables in a child's environment.

GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_CONFIG_PARAMETERS... point git at another repository,
index or config than the tree the child runs in: set in a git hook (a pre-push hook running a
sweep gets GIT_DIR, pre-commit also GIT_INDEX_FILE) or a dotfiles setup, they would make a
test's `git -C scratch commit` write the user's branch. So no child that runs the project's
code (an agent, a check, a setup or integration command, a sweep's test run, `mutation fix`'s
kill check) gets any of them; the launcher's own git keeps only those naming the user's config
files (`repo.git_env`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def without_git_vars(env: Mapping[str, str], keep: Iterable[str] = ()) -> dict[str, str]:
    """`env` without its GIT_* variables (but the names in `keep`)."""
    kept = set(keep)
    return {k: v for k, v in env.items() if not k.startswith("GIT_") or k in kept}
