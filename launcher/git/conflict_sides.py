"""What a conflict's message says of each side: the latest commits since the fork that touch the
conflicted files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from launcher.git import path_lists
from launcher.git.repo import GitRepo

if TYPE_CHECKING:
    from launcher.git.merge import Candidate


async def side(repo: GitRepo, base: str, commit: str, files: list[str]) -> str:
    """Short description of one side: its latest commits since the fork touching `files`."""
    found: list[tuple[int, str]] = []  # (commit time, "%h %s"), the latest 3 of each batch of paths
    for batch in path_lists.batches(files) if files else [[]]:  # any number of conflicted files: never one argv
        # --literal-pathspecs: a file named `*` or `[ab].txt` is that file, not a pattern matching others
        res = await repo.git("--literal-pathspecs", "log", "--no-merges", "-3", "--format=%ct %h %s",
                             f"{base}..{commit}", "--", *batch, check=False)
        for line in res.text.splitlines():
            stamp, _, rest = line.partition(" ")
            if stamp.isdigit() and rest not in (seen for _t, seen in found):
                found.append((int(stamp), rest))
    if found:
        return "; ".join(line for _t, line in sorted(found, key=lambda item: -item[0])[:3])
    res = await repo.git("log", "-1", "--format=%h %s", commit)
    return "; ".join(res.text.strip().splitlines())


async def details(
    repo: GitRepo, tip: str, candidate: Candidate, files: list[str], info: str, prefix: str = ""
) -> str:
    found = await repo.git("merge-base", tip, candidate.head, check=False)
    base = found.out.strip() or tip
    return (
        f"{prefix}conflict in {', '.join(files) or '(no file named)'}\n"
        f"  target side: {await side(repo, base, tip, files)}\n"
        f"  task side ({candidate.branch}): {await side(repo, base, candidate.head, files)}\n"
        f"{info}"
    ).rstrip()
