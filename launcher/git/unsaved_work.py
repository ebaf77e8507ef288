"""Work in a task's worktree that no commit holds: what a plain `launcher clean` must not delete.

The launcher commits an agent's work after each round, so a kept worktree is normally clean. Not
when the commit could not be made: the agent ran `git init` in a sub-directory (git refuses to
add an embedded repository without a commit), or it removed the worktree's git metadata
(`.git/worktrees/<id>`), after which git no longer knows the directory at all. Nor can a
branch carry what an agent did inside a submodule: its uncommitted edits there (looked at even
when `.gitmodules` says `ignore = dirty|all`), and its commits there, which exist only in the
worktree's own submodule git dir (`.git/worktrees/<id>/modules/<name>`). Such a tree is kept by a
plain clean and named with how to save its work; `--force` removes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from launcher.git import submodules
from launcher.git.repo import GitRepo
from launcher.git.worktree_admin import admin_dir

SHOWN = 5  # paths named in the message


async def unsaved_work(repo: GitRepo, tree: Path) -> str | None:
    """Why `tree` must be kept (a sentence), or None when everything in it is committed."""
    admin = admin_dir(tree)
    if admin is None or not (admin / "HEAD").is_file():
        files = _some_files(tree)
        if not files:
            return None
        return (f"its git metadata is gone (no {admin or tree / '.git'}), so git cannot tell what "
                f"in it is committed; it holds {', '.join(files)}")
    # `--ignore-submodules=none`: a submodule's edits count even where `.gitmodules` (or the
    # user's config) tells `git status` to hide them.
    status = await repo.git("-C", str(tree), "status", "--porcelain", "-z", "--untracked-files=normal", "--no-renames",
                            "--ignore-submodules=none", check=False)
    if not status.ok:
        return f"git cannot read it ({status.err.strip()})"
    why = []
    if paths := [entry[3:] for entry in status.out.split("\0") if len(entry) > 3]:
        more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
        why.append(f"it holds uncommitted work: {', '.join(paths[:SHOWN])}{more}")
    for path, only in (await submodules.commits_only_here(repo, tree)).items():
        why.append(_submodule_commits(repo, tree, path, only))
    return "; ".join(why) or None


def _submodule_commits(repo: GitRepo, tree: Path, path: str, only: submodules.OnlyHere) -> str:
    commits = only.commits
    named = ", ".join(commit[:12] for commit in commits[:SHOWN])
    more = f" and {len(commits) - SHOWN} more" if len(commits) > SHOWN else ""
    save = (f"`git -C {tree / path} push {repo.root / path} {commits[0]}:refs/heads/NAME` saves the newest "
            f"as branch NAME of your {path}") if commits else ""
    if not only.unchecked:
        return (f"its submodule {path} holds {len(commits)} commit(s) that exist only there ({named}{more}), "
                f"not in your checkout's {path}: {save}")
    # Cut short: no count is claimed, only what was seen.
    seen = (f"; of those it looked at, {named}{more} exist only there, not in your checkout's {path}: {save}"
            if commits else "")
    return (f"the launcher could not check whether its submodule {path} holds commits that exist only "
            f"there ({only.unchecked}){seen}; `git -C {tree / path} log --oneline "
            f"--not --remotes` lists the commits on none of your checkout's branches of {path}")


def _some_files(tree: Path) -> list[str]:
    found: list[str] = []
    for folder, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            if name != ".git":
                found.append(os.path.relpath(os.path.join(folder, name), tree))
                if len(found) >= SHOWN:
                    return [*found, "..."]
    return found


def kept_line(tree: Path, why: str) -> str:
    """The line `launcher clean` prints for a worktree it keeps."""
    return (f"kept worktree {tree}: {why}. Copy what you want from it elsewhere, then "
            "`launcher clean --force` removes it")
