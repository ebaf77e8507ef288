"""The patches the launcher makes for a person, a grader, an agent or `git apply`: `diff.patch`,
`launcher diff`, the grader's packet, the target's change shown in a resolution round.

Each is `git diff` with git's default shape spelled out as options, so that no setting of the
user's changes it: `diff.context` / `diff.interHunkContext` (a `-U0` patch does not apply),
`diff.noprefix` / `diff.mnemonicPrefix` / `diff.srcPrefix` (paths git apply cannot find),
`diff.relative`, `diff.external` and textconv drivers (not a patch at all), `color.diff`,
`diff.renames`, `diff.ignoreSubmodules` / `submodule.<name>.ignore` (a moved submodule left out).
Options beat config, and the same setting pinned in the environment (`OUTPUT_CONFIG`) is a second
line of defence, not the only one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from launcher import process
from launcher.git import path_lists
from launcher.git.repo import GitRepo

# git's defaults, whatever the user's config says.
SHAPE = (
    "--unified=3", "--inter-hunk-context=0", "--no-color", "--no-ext-diff", "--no-textconv",
    "--src-prefix=a/", "--dst-prefix=b/", "--no-relative", "--find-renames", "--ignore-submodules=none",
    "--submodule=short",
)
# A binary file's change as data `git apply` can take (`GIT binary patch`, full object ids),
# instead of "Binary files a/x and b/x differ".
BINARY = ("--binary", "--full-index")


def options(*, binary: bool = True) -> tuple[str, ...]:
    """The `git diff` options of a patch (`binary`: binary changes as applicable data)."""
    return SHAPE + BINARY if binary else SHAPE


def _paths(paths: list[str]) -> list[str]:
    return ["--", *(f":(literal){path}" for path in paths)] if paths else []


async def patch(repo: GitRepo, base: str, head: str, *, binary: bool = True,
                paths: list[str] | None = None, check: bool = True) -> process.Completed:
    """The patch from `base` to `head` (only `paths` when given), to show: an output longer than
    the launcher keeps is cut at its start (`shown_output` says so)."""
    if not paths or len(paths) <= path_lists.PATHS_PER_CALL:
        return await repo.git("diff", *options(binary=binary), base, head, *_paths(paths or []),
                              check=check, cut_ok=True)
    parts = [await repo.git("diff", *options(binary=binary), base, head, *_paths(batch), check=check, cut_ok=True)
             for batch in path_lists.batches(sorted(paths))]  # any number of paths: never one argv
    failed = next((part for part in parts if not part.ok), parts[-1])
    return dataclasses.replace(failed, stdout=b"".join(part.stdout for part in parts),
                               stdout_dropped=sum(part.stdout_dropped for part in parts))


async def patch_to_file(repo: GitRepo, path: Path, base: str, head: str) -> process.Completed:
    """The patch from `base` to `head`, binary changes included, written whole to `path`."""
    return await repo.git_to_file(path, "diff", *options(), base, head)
