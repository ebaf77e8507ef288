"""Git's branch-name rules (`git check-ref-format --branch`), checked without running git.

`into = "../x"`, `"-x"`, `"main.lock"` or `"HEAD"` would otherwise be accepted at load and fail
(or worse, be taken as an option) only when the launcher lands, after every agent has run.
"""

from __future__ import annotations

_FORBIDDEN_CHARS = set(" ~^:?*[\\")


def branch_name_problem(name: str) -> str | None:
    """Why `name` is not a valid branch name (git-check-ref-format(1) rules 1-10 and --branch's
    own: no leading `-`, not `HEAD`), or None when it is valid."""
    if not name:
        return "a branch name cannot be empty"
    if name.startswith("-"):
        return "a branch name cannot start with '-'"
    if name == "HEAD":
        return "'HEAD' is not a branch name"
    if name == "@":
        return "'@' alone is not a branch name"
    for char in name:
        if ord(char) < 0x20 or ord(char) == 0x7F or char in _FORBIDDEN_CHARS:
            return f"a branch name cannot contain {char!r}"
    if ".." in name:
        return "a branch name cannot contain '..'"
    if "@{" in name:
        return "a branch name cannot contain '@{'"
    if name.endswith("."):
        return "a branch name cannot end with '.'"
    for component in name.split("/"):
        if not component:
            return "a branch name cannot start or end with '/' or contain '//'"
        if component.startswith("."):
            return f"a branch name component cannot start with '.' ({component!r})"
        if component.endswith(".lock"):
            return f"a branch name component cannot end with '.lock' ({component!r})"
    return None
