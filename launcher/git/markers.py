"""Conflict markers a branch would land: an unresolved `<<<<<<< ` or `>>>>>>> ` line that the
branch adds to a text file refuses its landing (a resolution round that left one is not done).

Only lines the branch adds count (binary files have no lines in a diff), so a file that
already held such a line at the fork, a test fixture say, does not block anything.
"""

from __future__ import annotations

from launcher.git.repo import GitRepo

_MARKERS = ("<<<<<<< ", ">>>>>>> ")


async def added_markers(repo: GitRepo, tip: str, head: str, limit: int = 10) -> list[str]:
    """`path:line` of each conflict-marker line `head` adds since its fork from `tip`."""
    # `tip...head` diffs from the fork (their merge base): one git process, not two.
    options = ("diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames")
    diff = await repo.git(*options, f"{tip}...{head}", check=False)
    if not diff.ok:  # no common ancestor: everything head has is what it adds
        diff = await repo.git(*options, tip, head, check=False)
    found: list[str] = []
    path, line = "", 0
    for text in diff.out.splitlines():
        if text.startswith("+++ "):
            path = text[6:] if text.startswith("+++ b/") else text[4:]
        elif text.startswith("@@ "):
            # @@ -a,b +c,d @@: the added lines start at c
            added = text.split(" ")[2]
            line = int(added[1:].split(",")[0])
        elif text.startswith("+"):
            if text[1:].startswith(_MARKERS) or text[1:].rstrip("\n") in ("<<<<<<<", ">>>>>>>"):
                found.append(f"{path}:{line}")
                if len(found) >= limit:
                    break
            line += 1
    return found
