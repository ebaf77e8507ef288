"""Files in a main checkout that launcher processes write themselves, recorded for all of them.

One run's containment watches the main checkout for agents' writes; another launcher process on
the same repository (a second run, `launcher lessons add`, `launcher status --json > s.json`)
writes there too, and must not be taken for an agent. Each records what it writes in
`.launcher/own-files.jsonl` (one JSON object a line, appended whole):

- its output files (`launcher run --json > out.json 2> err.log`), and those its shell pipeline
  writes (`launcher run 2>&1 | tee run.log`: the files its process group's peers have open for
  writing), by path: any content;
- every file it writes there itself (`store/files.py`'s atomic writes: LESSONS.md,
  TECHNICAL_DEBT.md, `workflow plan --write`, `mutation label`'s calibration set, a report's
  `--out`), by path and the SHA-256 of what it wrote, recorded before the file is replaced: an
  agent that edits the file afterwards is still caught.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path

from launcher.private_files import open_private

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
        fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())  # one write: appends of several processes never interleave
        finally:
            os.close(fd)
        if path.stat().st_size > _KEEP * 400:
            _trim(path)


def _trim(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)[-_KEEP // 2:]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"".join(lines))
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


def _checkout_of(target: Path) -> Path | None:
    """The work tree `target` lies in (the nearest folder holding `.git`). None also when a folder
    on the way cannot be searched (another user's log directory, mode 0700: `runuser -u ci --
    launcher run > /var/log/ci/run.log`): this process cannot look in there, so neither can a run
    of it watch that file; it is not inside a checkout the launcher guards."""
    for folder in target.parents:
        try:
            if (folder / ".git").exists():
                return folder
        except OSError:  # EACCES: Path.exists() lets it through
            return None
    return None


def record_write(target: Path, data: bytes) -> None:
    """A launcher process is about to write `data` at `target` (`record_written`)."""
    record_written(target, digest(data))


def record_written(target: Path, content_digest: str) -> None:
    """A launcher process is about to put content of this SHA-256 at `target`: when that is inside
    a checkout (not its `.launcher/` state), say so first, so a run watching it never takes it
    for an agent's."""
    with contextlib.suppress(OSError, ValueError):
        target = target.absolute()
        if STATE_DIR in target.parts:
            return  # the launcher's own state (its run files): never watched
        root = _checkout_of(target)
        if root is None:
            return
        rel = target.relative_to(root)
        if rel.parts and rel.parts[0] != STATE_DIR:
            record(root, rel.as_posix(), content_digest)


def launcher_contents(repo_root: Path) -> frozenset[str]:
    """Files of the checkout that hold now exactly what a launcher process wrote there (its
    ledgers, a calibration label): a landing need not wait for the user to commit them."""
    known = load(repo_root)
    return frozenset(rel for rel, contents in known.items() if contents - {None}
                     and written_by_a_launcher(repo_root, rel, {rel: contents - {None}}))


def record_own_outputs() -> None:
    """This process's stdout and stderr, when they are files inside a git work tree, and, when
    one of them is a pipe, the files the other processes of its group (the shell pipeline it
    was started in: `| tee run.log`) have open for writing there (Linux: /proc)."""
    piped = False
    targets: list[Path] = []
    for fd in (1, 2):
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISFIFO(mode):
                piped = True
            if stat.S_ISREG(mode):
                targets.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            continue
    if piped:
        targets += files_open_for_writing(group_peers())
    for target in dict.fromkeys(targets):
        with contextlib.suppress(OSError, ValueError):  # best effort, as `record_written`: never a crash
            root = _checkout_of(target)
            if root is not None and target.relative_to(root).parts[:1] != (STATE_DIR,):
                record(root, str(target.relative_to(root)), None)


def files_open_for_writing(pids: list[str]) -> list[Path]:
    """Regular files these processes ("self" or a pid) have open for writing."""
    found: list[Path] = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError, ValueError, StopIteration):
                    flags = next(line.split()[1] for line in
                                 Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines()
                                 if line.startswith("flags:"))
                    if int(flags, 8) & 0o3 == 0:  # O_RDONLY
                        continue
                    target = Path(os.readlink(fd))
                    if target.is_absolute() and target.is_file():
                        found.append(target)
    return found


def group_peers() -> list[str]:
    """Other processes of this process's group (the shell pipeline it was started in)."""
    group, me, peers = os.getpgrp(), os.getpid(), []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != me:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
                    if int(fields[2]) == group:
                        peers.append(entry.name)
    return peers
