"""Why a PATH given to `mutation sweep` is not on disk: the usage error that says so truly.

A path can be in the repository yet not in the work tree: in a sparse checkout, git tracks the
files outside the sparse-checkout cone but does not check them out (their index entries are
marked skip-worktree). "No such path" would be false there; the error names the sparse-checkout
and the `git sparse-checkout add` that brings the path in.
"""

from __future__ import annotations

import shlex
from pathlib import Path, PurePosixPath

from launcher import process
from launcher.errors import UsageProblem
from launcher.git.environment import git_env


async def _git(root: Path, *args: str) -> process.Completed:
    return await process.run(["git", "--literal-pathspecs", *args], cwd=root, env=git_env(), timeout=120)


def _not_there(root: Path, raw: str) -> UsageProblem:
    """PATHS are the repository root's, as git's own paths are; a path typed (or completed by the
    shell) from a sub-folder is named in the root's terms, so the fix can be copied."""
    fix = f"pass files or directories relative to the repository's root ({root})"
    here = Path.cwd() / raw
    if here.exists() and here.resolve().is_relative_to(root.resolve()):
        rel = here.resolve().relative_to(root.resolve()).as_posix()
        fix = f"PATHS are relative to the repository's root, not to this folder: pass {shlex.quote(rel)}"
    return UsageProblem(f"no such path: {raw}", where="PATHS", fix=fix)


async def missing_path(root: Path, raw: str, full: Path) -> UsageProblem:
    """The error for PATH `raw`, resolved to `full`, which does not exist under `root`."""
    plain = _not_there(root, raw)
    if not full.is_relative_to(root.resolve()):
        return plain
    rel = full.relative_to(root.resolve()).as_posix()
    listed = await _git(root, "ls-files", "-t", "-z", "--", rel)
    entries = [entry for entry in listed.out.split("\0") if entry] if listed.ok else []
    if not entries:
        return plain
    if any(not entry.startswith("S ") for entry in entries):  # tracked, checked out, then deleted
        return UsageProblem(
            f"{raw} is tracked by git but missing from the work tree (deleted)", where="PATHS",
            fix=f"restore it (git restore -- {shlex.quote(rel)}) or pass files that exist",
        )  # fmt: skip
    # Every file there is skip-worktree: outside the sparse-checkout (a cone names directories).
    cone = await _git(root, "config", "--bool", "core.sparseCheckoutCone")
    is_file = entries == [f"S {rel}"]
    add = str(PurePosixPath(rel).parent) if is_file and cone.out.strip() != "false" else rel
    if add == ".":
        add = rel
    return UsageProblem(
        f"{raw} is outside this checkout's sparse-checkout (git tracks it but does not check it out), "
        "so there is nothing on disk to mutate", where="PATHS",
        fix=f"add it to the sparse-checkout (git sparse-checkout add {shlex.quote(add)}), then sweep again",
    )  # fmt: skip
