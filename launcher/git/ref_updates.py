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
