"""A file `.worktreeinclude` copied into a worktree (a `.env`, a key) never lands, by any route.

Checking the branch's net diff is not enough: a commit that adds `.env` followed by one that
untracks it (`git rm --cached`) leaves no net change but keeps the secret in history, which a
merge or a rebase brings onto the target; `git mv .env env.bak` or `cp .env leaked.txt` moves
the content under an innocent name. So every commit the landing would bring in (`tip..head`)
is read, in one `git log --raw` process, and refused when it adds or changes a path under an
include path, or adds a blob whose object id equals a copied file's (recorded when it was
copied), under any path. The empty blob and a blob already in the tip's tree are no secret.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from launcher.git.repo import GitRepo

_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


@dataclass(frozen=True)
class Leak:
    commit: str
    path: str
    copied: str  # the include file it is (by path), or whose content it carries
    blob: str

    def describe(self) -> str:
        if self.path == self.copied or self.path.startswith(self.copied.rstrip("/") + "/"):
            return f"commit {self.commit[:12]} adds {self.path}, copied in by .worktreeinclude"
        return (f"commit {self.commit[:12]} adds {self.path}, whose content is the copied "
                f"include file {self.copied}")


def _empty_blob(oid_length: int) -> str:
    digest = hashlib.sha256 if oid_length == 64 else hashlib.sha1
    return digest(b"blob 0\0").hexdigest()


def _tokens(chunks: Iterable[bytes]) -> Iterator[str]:
    """The NUL-separated fields of `git ... -z` output read in chunks (a field may span two)."""
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from (part.decode("utf-8", "replace") for part in parts)
    if rest:
        yield rest.decode("utf-8", "replace")


def _added_blobs(tokens: Iterator[str]) -> Iterator[tuple[str, str, str]]:
    """(commit, blob, path) for every file a commit adds or changes, from `git log --raw -z`."""
    commit = ""
    for token in tokens:
        token = token.strip()
        if token.startswith(":"):
            path = next(tokens, "")  # consumed here, so a path never reads as a commit id
            fields = token[1:].split()
            if len(fields) >= 5 and fields[4] != "D" and fields[1] != "160000":
                yield commit, fields[3], path
        elif _OID.fullmatch(token):
            commit = token


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk


async def _tip_blobs(repo: GitRepo, tip: str) -> set[str]:
    listed = await repo.git("ls-tree", "-r", "-z", "--full-tree", tip)
    return {entry.split()[2] for entry in listed.out.split("\0") if entry.count(" ") >= 2}


async def find_leaks(
    repo: GitRepo, tip: str, head: str, paths: list[str], blobs: dict[str, str]
) -> list[Leak]:
    """Each (commit, path) of `tip..head` that would land a copied include file."""
    if not paths and not blobs:
        return []
    roots = [p.rstrip("/") for p in paths]
    leaks: list[Leak] = []
    by_content: list[Leak] = []

    def screen(log: Path) -> None:  # read as it was written: a landing may bring 100,000 files
        for commit, blob, path in _added_blobs(_tokens(_file_chunks(log))):
            root = next((r for r in roots if path == r or path.startswith(r + "/")), None)
            if root is not None:
                leaks.append(Leak(commit, path, root, blob))
            elif blob in blobs and blob != _empty_blob(len(blob)):
                by_content.append(Leak(commit, path, blobs[blob], blob))

    with tempfile.TemporaryDirectory(prefix="launcher-log-") as scratch:
        log = Path(scratch) / "log"
        await repo.git_to_file(
            log, "log", "--no-show-signature", "--no-color", "--no-renames", "--no-ext-diff", "--raw",
            "-r", "--diff-merges=separate", "--root", "-z", "--no-abbrev", "--format=%H%x00",
            f"{tip}..{head}", "--",
        )
        await anyio.to_thread.run_sync(screen, log)
    if by_content:
        public = await _tip_blobs(repo, tip)
        leaks += [leak for leak in by_content if leak.blob not in public]
    unique: dict[tuple[str, str], Leak] = {}
    for leak in leaks:  # a merge commit lists a change once per parent
        unique.setdefault((leak.commit, leak.path), leak)
    return list(unique.values())

