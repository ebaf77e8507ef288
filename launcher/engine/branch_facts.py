"""What a task's branch really holds, read from cheap git listings (refs, `diff --raw`, object
sizes) that never load a file's contents: for a task that failed after its agent committed, so
that its report names the branch's head and the files it changed, not the start it came from;
and, when a patch of the branch cannot be made, which files git could not diff and why."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from launcher.errors import GitFailed, LauncherError
from launcher.git import commits
from launcher.git.repo import Change, GitRepo

# git's diff keeps a file's size in an int: a blob of 2 GiB or more makes it fail ("Out of
# memory, malloc failed (tried to allocate 1844674407... bytes)").
GIT_DIFF_LIMIT = 2 << 30
_SHOWN = 5  # the largest files a message names


@dataclass(frozen=True)
class BranchFacts:
    head: str
    files: list[str] | None  # None: its history does not build on its start (no honest list)


async def branch_facts(
    repo: GitRepo, branch: str | None, start: str | None, recorded: str | None
) -> BranchFacts | None:
    """The branch's tip and the files it changes since `start`, when it moved on from the head
    the journal `recorded` (None: nothing to add; also when git cannot say)."""
    if not branch:
        return None
    try:
        tip = commits.loose_tip(repo, branch) or await repo.commit_of(branch)
        if tip is None or tip == recorded:
            return None
        if recorded and not await repo.is_ancestor(recorded, tip):
            return None  # not a step forward (the work kept elsewhere, a rewind): the row says more
        if not start or not await repo.is_ancestor(start, tip):
            return BranchFacts(tip, None)
        return BranchFacts(tip, await repo.changed_files(start, tip))
    except LauncherError:  # a report is being written for a failure already: never a second one
        return None


def _size(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


async def largest_files(repo: GitRepo, changed: list[Change]) -> list[tuple[str, int]]:
    """The changed files (path, size in bytes) at their new version, largest first, from git's
    object headers (`cat-file --batch-check`: no content read)."""
    blobs = {c.blob: c.path for c in changed if not c.gitlink and c.blob.strip("0")}
    if not blobs:
        return []
    fd, listing = tempfile.mkstemp(prefix="launcher-blobs-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write("".join(f"{blob}\n" for blob in blobs))
        done = await repo.git(
            "cat-file", "--batch-check=%(objectname) %(objectsize)", stdin_from=Path(listing), check=False
        )
    finally:
        Path(listing).unlink(missing_ok=True)
    sizes = []
    for line in done.out.splitlines():
        blob, _, size = line.partition(" ")
        if blob in blobs and size.isdigit():
            sizes.append((blobs[blob], int(size)))
    return sorted(sizes, key=lambda item: (-item[1], item[0]))


async def patch_failure(
    repo: GitRepo, exc: GitFailed, changed: list[Change], branch: str | None, head: str, patch: Path, retry: str
) -> GitFailed:
    """Why the patch of a task's branch (`patch`) could not be made, in the launcher's words:
    the files too large for git's diff when that is the cause, git's own first line otherwise.
    `retry`: the command that runs the task again."""
    sizes = await largest_files(repo, changed)
    too_large = [(path, size) for path, size in sizes if size >= GIT_DIFF_LIMIT]
    on = f"branch {branch} ({head[:12]})" if branch else f"commit {head[:12]}"
    said = exc.what.split("` failed: ", 1)[-1].strip()
    git_says = said.splitlines()[0] if said else exc.what
    kept = f"the agent's commits stay on {on}"
    if too_large:
        named = ", ".join(f"{path} ({_size(size)})" for path, size in too_large[:_SHOWN])
        more = f" and {len(too_large) - _SHOWN} more" if len(too_large) > _SHOWN else ""
        return GitFailed(
            f"the task's change cannot be collected: it commits {named}{more}, and git cannot make "
            f"a diff of a file of 2 GiB or more (the patch {patch} was not written; git: {git_says[:300]})",
            where=str(repo.root),
            fix=(
                f"{kept}; keep files that large out of the repository (list them in .gitignore, "
                f"or store them with Git LFS) and run the task again (`{retry}`)"
            ),
        )
    largest = ", ".join(f"{path} ({_size(size)})" for path, size in sizes[:3])
    return GitFailed(
        f"the task's change cannot be collected: git could not make its patch {patch} "
        f"({git_says[:300]})" + (f"; its largest files: {largest}" if largest else ""),
        where=str(repo.root),
        fix=f"{kept}; see git's message (often a file too large for git to diff) and run the task "
        f"again once the cause is removed (`{retry}`)",
    )
