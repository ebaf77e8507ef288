"""Files in a main checkout that launcher processes write themselves, recorded for all of them.

One run's containment watches the main checkout for agents' writes; another launcher process on
the same repository (a second run, `launcher lessons add`, `launcher status --json > s.json`)
writes there too, and must not be taken for an agent. Each records what it writes in
`.launcher/own-files.jsonl` (one JSON object a line, appended whole):

- its output files (`launcher run --json > out.json 2> err.log`), by path: any content;
- its ledgers (LESSONS.md, TECHNICAL_DEBT.md), by path and the SHA-256 of what it wrote: an
  agent that edits the file afterwards is still caught.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path

REGISTRY = "own-files.jsonl"
STATE_DIR = ".launcher"
_KEEP = 400  # entries kept when the file is rewritten (oldest dropped)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(repo_root: Path, rel: str, content_digest: str | None) -> None:
    """Say that a launcher process writes `rel` (None: whatever it holds)."""
    path = repo_root / STATE_DIR / REGISTRY
    line = json.dumps({"path": rel, "sha256": content_digest, "pid": os.getpid()}) + "\n"
    with contextlib.suppress(OSError):  # best effort: at worst a write is taken for an agent's
        # Never creates `.launcher/` (that is for the commands that exclude it from git first):
        # without it no run has watched this checkout, so nobody needs to know.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())  # one write: appends of several processes never interleave
        finally:
            os.close(fd)
        if path.stat().st_size > _KEEP * 400:
            _trim(path)


def _trim(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)[-_KEEP // 2:]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(b"".join(lines))
    os.replace(tmp, path)


def load(repo_root: Path) -> dict[str, set[str | None]]:
    """Path -> the contents launcher processes wrote there (None: any)."""
    found: dict[str, set[str | None]] = {}
    try:
        text = (repo_root / STATE_DIR / REGISTRY).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return found
    for line in text.splitlines():
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            entry = json.loads(line)
            value = entry.get("sha256")
            found.setdefault(str(entry["path"]), set()).add(value if isinstance(value, str) else None)
    return found


def written_by_a_launcher(repo_root: Path, rel: str, known: dict[str, set[str | None]]) -> bool:
    """Whether `rel` (as it is now) is what a launcher process wrote there."""
    contents = known.get(rel)
    if not contents:
        return False
    if None in contents:
        return True
    try:
        return digest((repo_root / rel).read_bytes()) in contents
    except OSError:
        return False


def record_own_outputs() -> None:
    """This process's stdout and stderr, when they are files inside a git work tree (Linux)."""
    for fd in (1, 2):
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
        root = next((d for d in target.parents if (d / ".git").exists()), None)
        if root is not None:
            record(root, str(target.relative_to(root)), None)
