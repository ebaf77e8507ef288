"""Conflict markers a branch would land: an unresolved `<<<<<<< ` or `>>>>>>> ` line that the
branch adds to a text file refuses its landing (a resolution round that left one is not done).

Only lines the branch adds count (binary files have no lines in a diff), so a file that
already held such a line at the fork, a test fixture say, does not block anything.
"""

from __future__ import annotations

from launcher.git.repo import GitRepo

_MARKERS = ("<<<<<<< ", ">>>>>>> ")


def header_path(raw: str) -> str:
    """The path of a `+++ ` header as the rest of the report names it: git C-quotes a name with
    special or (core.quotePath) non-ASCII bytes, and ends one holding a space with a tab."""
    raw = raw.rstrip("\t")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        # octal escapes are bytes of the UTF-8 name; what is not escaped is already text
        raw = raw[1:-1].encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
    return raw[2:] if raw.startswith("b/") else raw


async def added_markers(repo: GitRepo, tip: str, head: str, limit: int = 10) -> list[str]:
    """`path:line` of each conflict-marker line `head` adds since its fork from `tip`."""
    # `tip...head` diffs from the fork (their merge base): one git process, not two.
    options = ("diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", "--src-prefix=a/", "--dst-prefix=b/")
    diff = await repo.git(*options, f"{tip}...{head}", check=False)
    if not diff.ok:  # no common ancestor: everything head has is what it adds
        diff = await repo.git(*options, tip, head, check=False)
    found: list[str] = []
    path, line, in_header = "", 0, False
    for text in diff.out.splitlines():
        if text.startswith("diff --git "):
            in_header = True  # until the first hunk: `+++ ` there is the file, not an added line
        elif in_header and text.startswith("+++ "):
            path = header_path(text[4:])
        elif text.startswith("@@ "):
            in_header = False
            # @@ -a,b +c,d @@: the added lines start at c
            added = text.split(" ")[2]
            line = int(added[1:].split(",")[0])
        elif not in_header and text.startswith("+"):
            if text[1:].startswith(_MARKERS) or text[1:].rstrip("\n") in ("<<<<<<<", ">>>>>>>"):
                found.append(f"{path}:{line}")
                if len(found) >= limit:
                    break
            line += 1
    return found
