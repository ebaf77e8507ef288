"""A worktree root inside the repository's checkout (`worktree_root = "wt"`, or a cache
directory that lies in it): its task worktrees are git repositories of their own, which
`git status` would list (`?? wt/`) and `git add -A` would commit as embedded repositories.

Such a root (for the cache, the launcher's whole directory in it) is added to
`.git/info/exclude`, as `/.launcher/` is, before a worktree is made in it. One that holds files
git tracks (the checkout itself, a directory of the project, worktrees committed by mistake) is
refused instead: excluding it would hide the user's own new files there from git, and leaving it
would commit the launcher's worktrees. (The launcher's own commits are made in task worktrees,
which never hold the root, and never take in a repository an agent made: git/commits.py.)
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from launcher.errors import ConfigError, EnvironmentProblem, LauncherError
from launcher.git import worktrees
from launcher.git.repo import GitRepo

_GLOB = frozenset("*?[\\")


def _launcher_dir(repo: GitRepo, configured: str | None) -> Path:
    """The directory kept out of git: the worktree root set in launcher.toml, or the launcher's
    directory in the cache (`$XDG_CACHE_HOME/launcher`: worktrees and the port registry, all of
    it the launcher's) when the cache lies in the checkout."""
    root = worktrees.default_worktree_root(repo, configured)
    return root if configured else root.parents[1]


def _inside(repo: GitRepo, root: Path) -> PurePosixPath | None:
    """`root` relative to the checkout when it lies in it (not in its git dir), else None."""
    top = Path(os.path.realpath(repo.root))
    real = Path(os.path.realpath(root))
    if real != top and top not in real.parents:
        return None
    rel = PurePosixPath(real.relative_to(top).as_posix())
    if rel.parts and rel.parts[0] == ".git":
        return None  # git never lists what is in its own directory
    return rel


def _pattern(rel: PurePosixPath) -> str:
    """The info/exclude line for exactly that directory, anchored at the top (glob characters
    and trailing spaces of a name escaped)."""
    escaped = "".join(f"\\{c}" if c in _GLOB else c for c in str(rel))
    stripped = escaped.rstrip(" ")
    spaces = "\\ " * (len(escaped) - len(stripped))
    return f"/{stripped}{spaces}/"


async def _tracked(repo: GitRepo, rel: PurePosixPath) -> list[tuple[str, str]]:
    """(mode, path) of what git tracks in `rel` (the checkout's index)."""
    done = await repo.git("--literal-pathspecs", "ls-files", "-s", "-z", "--", str(rel), check=False)
    entries = [e for e in done.out.split("\0") if e] if done.ok else []
    return [(meta.split(" ", 1)[0], path) for meta, _, path in (e.partition("\t") for e in entries)]


async def root_problem(repo: GitRepo, configured: str | None) -> LauncherError | None:
    """Why the worktree root cannot be inside the checkout where it is (None: it is outside it,
    or a directory git tracks nothing in)."""
    root = _launcher_dir(repo, configured)
    rel = _inside(repo, root)
    if rel is None:
        return None
    fix = ("set worktree_root in launcher.toml to a directory outside the repository, or to a new "
           "directory of it that git tracks nothing in (the launcher adds it to .git/info/exclude)")
    if not rel.parts:
        what = (f"the worktree root {root} is the repository's checkout itself: the launcher's worktrees "
                "would be made among the project's files")
    else:
        tracked = await _tracked(repo, rel)
        if not tracked:
            return None
        paths = [path for _mode, path in tracked]
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        what = (f"the worktree root {root} lies in the repository's checkout and holds files git tracks "
                f"({shown}): the launcher keeps its worktrees out of git by excluding that directory, "
                "which would hide your own new files there too")
        if any(mode == "160000" for mode, _path in tracked):  # a worktree committed as a gitlink
            fix += (f"; launcher worktrees committed by mistake (embedded repositories) leave git's index "
                    f"with `git rm -r --cached -- {rel}` and a commit")
    if configured:
        return ConfigError(what, where="worktree_root", error_key="config_invalid:worktree_root", fix=fix)
    return EnvironmentProblem(what, where="XDG_CACHE_HOME", error_key="worktree_root_in_checkout",
                              fix="point XDG_CACHE_HOME at a directory outside the repository, or " + fix)


async def keep_out_of_git(repo: GitRepo, configured: str | None) -> None:
    """Add the worktree root to .git/info/exclude when it lies in the checkout and git tracks
    nothing in it (`root_problem`); else leave it as it is."""
    rel = _inside(repo, _launcher_dir(repo, configured))
    if rel is None or not rel.parts or await _tracked(repo, rel):
        return
    await repo.ensure_excluded(_pattern(rel))
