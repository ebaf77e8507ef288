"""The one rule for the parent's GIT_* variables in a child's environment.

GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY, GIT_CONFIG_PARAMETERS... point git at
another repository, index, object store or config than the tree the child runs in: set in a git
hook (a pre-push hook running a sweep gets GIT_DIR, pre-commit also GIT_INDEX_FILE) or by a
dotfiles setup, they would make a test's `git -C scratch commit` write the user's branch. So no
child that runs the project's code gets any of them:

- agents, and `launcher run`'s checks, setup, rubric and integration-check commands (which get an
  allowlisted environment) get no GIT_* variable at all;
- a sweep's test runs and `mutation fix`'s kill check (which run the user's tests in the user's
  environment, as `pytest` would) keep only the names of the user's config files
  (USER_CONFIG_VARS), as the launcher's own git does (`environment.git_env`): their git identity or
  `safe.directory` may be set there, and those name files, never a repository.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# The user's choice of config files: which files their own git reads. Passed through so the
# launcher's git reads the same system and global config (filters such as git-lfs's, installed
# with `git lfs install --system`; safe.directory; identity) and not another.
USER_CONFIG_VARS = ("GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")


def without_git_vars(env: Mapping[str, str], keep: Iterable[str] = ()) -> dict[str, str]:
    """`env` without its GIT_* variables (but the names in `keep`)."""
    kept = set(keep)
    return {k: v for k, v in env.items() if not k.startswith("GIT_") or k in kept}
