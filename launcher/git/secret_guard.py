"""A file `.worktreeinclude` copied into a worktree (a `.env`, a key) never lands, by any route.

Checking the branch's net diff is not enough: a commit that adds `.env` followed by one that
untracks it (`git rm --cached`) leaves no net change but keeps the secret in history, which a
merge or a rebase brings onto the target; `git mv .env env.bak` or `cp .env leaked.txt` moves
the content under an innocent name. So every commit the landing would bring in (`tip..head`)
is read, in one `git log --raw` process, and refused when it adds or changes a path under an
include path, or adds a blob whose object id equals a copied file's (recorded when it was
copied), under any path. The empty blob and a blob already in the tip's tree are no secret.

An edited or re-encoded copy (`.env` with a line appended, then `cp .env .env.example`; a CRLF
version) has another blob id, so the lines of the copied files are looked for too: a line a
landing's commit adds (or carries, in a file it changes) that contains a whole line of a small
text include file is refused, unless the tip's files already hold that line (then it is public).
Only lines that can be a secret count: at least `LINE_MIN` characters once trimmed of
surrounding whitespace and CR, holding a letter or digit, not a comment (`#`, `//`, `;`). Only
small text files are read for them (at most `LINE_FILE_MAX` bytes, no NUL byte), and none in a
directory tree holding more than `BULK_TREE` include files (a copied `node_modules/` or `.venv/`:
its lines are code anyone may write, not secrets; those files are still matched by path and by
identical content). A secret reformatted (quoted otherwise, split, re-encoded as UTF-16) is not
recognised. The lines are read from the main checkout's include files when the landing is
screened; one no longer there (`land --from` in a clone without it) is matched by id only.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from launcher.errors import GitFailed
from launcher.git.repo import GitRepo

_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
LINE_MIN = 12  # characters of a trimmed line for it to count as a possible secret
LINE_FILE_MAX = 64 * 1024  # bytes: a bigger include file is matched by path and identical content only
BULK_TREE = 20  # include files under one top directory beyond which it is a copied dependency tree
_COMMENT = (b"#", b"//", b";")
_PATH_CHUNK = 1000  # paths per `git grep`
# `git grep -z -n` output over commits: "<commit>:<path>\0<line number>\0<line>\n"
_GREP_HIT = re.compile(rb"([0-9a-f]{40}(?:[0-9a-f]{24})?):(.*?)\0(\d+)\0(.*)", re.DOTALL)


@dataclass(frozen=True)
class Leak:
    commit: str
    path: str
    copied: str  # the include file it is (by path), or whose content it carries
    blob: str

    line: int = 0  # >0: the line of `path` holding line `copied_line` of the include file
    copied_line: int = 0

    def describe(self) -> str:
        if self.line:
            return (f"commit {self.commit[:12]} adds {self.path} whose line {self.line} holds line "
                    f"{self.copied_line} of the copied include file {self.copied} (take that line out of "
                    f"{self.path} in every commit of the branch, e.g. `git rebase -i`; if the line is no "
                    f"secret, commit it to the target first)")
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
    changed: dict[str, set[str]] = {}  # commit -> the paths it adds or changes (not include paths)

    def screen(log: Path) -> None:  # read as it was written: a landing may bring 100,000 files
        for commit, blob, path in _added_blobs(_tokens(_file_chunks(log))):
            root = next((r for r in roots if path == r or path.startswith(r + "/")), None)
            if root is not None:
                leaks.append(Leak(commit, path, root, blob))
            elif blob in blobs and blob != _empty_blob(len(blob)):
                by_content.append(Leak(commit, path, blobs[blob], blob))
            else:
                changed.setdefault(commit, set()).add(path)

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
    if changed and (secrets := await anyio.to_thread.run_sync(secret_lines, repo.root, paths)):
        leaks += await _line_leaks(repo, tip, changed, secrets)
    unique: dict[tuple[str, str], Leak] = {}
    for leak in leaks:  # a merge commit lists a change once per parent
        unique.setdefault((leak.commit, leak.path), leak)
    return list(unique.values())


async def refusal(repo: GitRepo, tip: str, head: str, branch: str, paths: list[str],
                  blobs: dict[str, str]) -> str | None:
    """Why `branch` (at `head`) may not leave the machine when `tip` is what it would land on,
    naming each file and line, never the secret; None when it commits no copied include file.
    A landing refuses with it, and so does an approval and an export (`run --export`'s bundle
    is a route out of the machine too)."""
    leaks = await find_leaks(repo, tip, head, paths, blobs)
    if not leaks:
        return None
    return (f"{branch} commits files that .worktreeinclude copied into its worktree "
            f"(they must not be committed): {'; '.join(leak.describe() for leak in leaks)}")


def _read_small_text(path: Path) -> bytes | None:
    """A regular file's bytes if it is at most LINE_FILE_MAX bytes and has no NUL (text), else None.
    Never follows a link at the last component, never opens anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > LINE_FILE_MAX:
            return None
        data = fh.read(LINE_FILE_MAX + 1)
    return None if len(data) > LINE_FILE_MAX or b"\0" in data else data


def secret_lines(root: Path, paths: list[str]) -> dict[bytes, tuple[str, int]]:
    """The lines of the include files at `paths` (under `root`) that may be secrets, trimmed
    -> (the include file, its line number). See the module's docstring for which count."""
    tops = Counter(rel.split("/", 1)[0] for rel in paths if "/" in rel)
    found: dict[bytes, tuple[str, int]] = {}
    for rel in paths:
        if "/" in rel and tops[rel.split("/", 1)[0]] > BULK_TREE:
            continue
        data = _read_small_text(root / rel)
        for number, line in enumerate((data or b"").splitlines(), 1):
            trimmed = line.strip()
            if (len(trimmed) >= LINE_MIN and not trimmed.startswith(_COMMENT)
                    and any(chr(c).isalnum() for c in trimmed if c < 128)):
                found.setdefault(trimmed, (rel, number))
    return found


async def _grep(repo: GitRepo, patterns: Iterable[bytes], *where: str) -> bytes:
    """`git grep` of `where` (trees, then `--` and paths) for lines holding one of `patterns`
    (fixed strings), text files only; its raw output (empty when nothing matched)."""
    with tempfile.TemporaryDirectory(prefix="launcher-lines-") as scratch:
        listed = Path(scratch) / "patterns"
        listed.write_bytes(b"\n".join(patterns) + b"\n")
        done = await repo.git("grep", "--no-color", "--no-column", "--no-textconv", "-I", "-z", "-n", "-F",
                              "-f", str(listed), *where, check=False)
    if done.returncode not in (0, 1):
        raise GitFailed(f"`git grep` for copied include lines failed: {done.err.strip()}", where=str(repo.root),
                        fix="see the git message; nothing was landed")
    return done.stdout


async def _line_leaks(repo: GitRepo, tip: str, changed: dict[str, set[str]],
                      secrets: dict[bytes, tuple[str, int]]) -> list[Leak]:
    """Each (commit, path) of `changed` whose file holds a line of `secrets` the tip does not."""
    paths = sorted(set().union(*changed.values()))
    hits: list[tuple[str, str, int, bytes]] = []
    for start in range(0, len(paths), _PATH_CHUNK):
        chunk = [f":(literal){path}" for path in paths[start:start + _PATH_CHUNK]]
        output = await _grep(repo, secrets, *changed, "--", *chunk)
        for record in output.split(b"\n"):
            match = _GREP_HIT.fullmatch(record)
            if match is None:
                continue
            commit, path = match[1].decode(), os.fsdecode(match[2])
            if path not in changed.get(commit, ()):
                continue
            secret = next((line for line in secrets if line in match[4]), None)
            if secret is not None:
                hits.append((commit, path, int(match[3]), secret))
    if not hits:
        return []
    found = {secret for *_rest, secret in hits}
    public_lines = (await _grep(repo, found, tip)).split(b"\n")
    public = {secret for secret in found if any(secret in line for line in public_lines)}
    return [Leak(commit, path, secrets[secret][0], "", line=number, copied_line=secrets[secret][1])
            for commit, path, number, secret in hits if secret not in public]
