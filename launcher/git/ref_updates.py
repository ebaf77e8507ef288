"""Many refs changed by one git process: `git update-ref --stdin -z`, one transaction, its
commands written to a file first (the process wrapper never pipes into a child). A clean-up
that deleted the keep refs of 32 merged tasks one `update-ref -d` at a time held the repository
lock for 32 git processes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from launcher.git.repo import GitRepo


async def delete_refs(repo: GitRepo, refs: list[str]) -> list[str]:
    """Delete `refs` whatever they point at; returns those git did not delete. All in one
    transaction; when it fails (one of them locked, say) each is deleted alone, so that one
    ref never keeps the others. The caller holds the repository lock."""
    if not refs:
        return []
    if len(refs) > 1:
        fd, name = tempfile.mkstemp(prefix="launcher-update-ref-")
        try:
            with os.fdopen(fd, "wb") as commands:
                commands.write(b"".join(b"delete " + os.fsencode(ref) + b"\0\0" for ref in refs))
            if (await repo.git("update-ref", "--stdin", "-z", check=False, stdin_from=Path(name))).ok:
                return []
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)
    return [ref for ref in refs if not (await repo.git("update-ref", "-d", ref, check=False)).ok]


async def unused_ref(repo: GitRepo, name: str) -> str:
    """`name`, or `name.2`, `name.3`, ...: the first that is neither a ref nor a prefix of refs.
    For refs named by the second (a kept attempt, an interrupted agent's work): a second save in
    the same second (or after the clock stepped back) must not overwrite the first, which
    `refs/launcher/` keeps no reflog for."""
    taken = set((await repo.git("for-each-ref", "--format=%(refname)", name.rpartition("/")[0])).out.split())
    n = 1
    while (candidate := name if n == 1 else f"{name}.{n}") in taken or any(
            ref.startswith(candidate + "/") for ref in taken):
        n += 1
    return candidate
