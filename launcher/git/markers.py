"""Conflict markers a branch would land: an unresolved `<<<<<<< ` or `>>>>>>> ` line that the
branch adds to a text file refuses its landing (a resolution round that left one is not done).

A marker is as long as git makes it for that path: 7 characters, or the path's
`conflict-marker-size` attribute (Markdown and reST files often set a longer one, since their
text has `=======` underlines), as the tree being landed (the merge of the branch into the
target) sets it, not the main work tree's checkout: a branch that sets a longer size cannot slip
such markers past the check, and one that sets it to write about 7-character markers is not
refused for that text. The launcher's own conflict note uses the path's size too
(`git.resolution`). A file meant to hold 7-character marker lines (a test fixture of conflicts)
lands once `.gitattributes` gives it a longer `conflict-marker-size`.

Only lines the branch really adds count, so a file that already held such a line at the fork, a
test fixture say, does not block anything, nor does moving it: a renamed file's unchanged lines,
a line the same change removes from that file (moved within it, its CRLF made LF) and a file
that is a copy of one the fork held are not added lines.

A text file is screened whatever `.gitattributes` says of its diff: `*.lock -diff` (or a diff
driver that calls it binary) makes git print "Binary files differ", yet git's merge writes
markers into such a file, so it is diffed again with `--text`. A binary file is exempt: one whose
new content has a NUL byte in its first 8000 bytes (git's own test, and git's merge never writes
markers into such a file).
"""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path

from launcher.git import blob_heads, marker_diff
from launcher.git.marker_diff import FileChange
from launcher.git.marker_diff import header_path as header_path
from launcher.git.repo import GitRepo

DEFAULT_SIZE = 7
_ATTR_BATCH = 200  # paths per `git check-attr` (argv stays far below any limit)
_TEXT_BATCH = 100  # files per `git diff --text` (a rename names two paths)
# git's default shape spelled out (the environment pins it too: git/environment.py OUTPUT_CONFIG), with
# renames found (a moved file adds no line) and each file's new object named in full.
_DIFF = ("diff", "-U0", "--inter-hunk-context=0", "--no-color", "--no-ext-diff", "--no-textconv",
         "--find-renames", "--full-index", "--no-relative", "--ignore-submodules=none",
         "--src-prefix=a/", "--dst-prefix=b/")


async def marker_sizes(repo: GitRepo, paths: list[str], cwd: Path | None = None,
                       tree: str | None = None) -> dict[str, int]:
    """path -> the length of the conflict markers git writes there: the `conflict-marker-size`
    attribute as `git check-attr` sees it from `cwd` (a worktree; the repository's checkout by
    default), or as `tree` (a commit or tree) sets it, else 7, as git itself reads it (a value
    that is not a positive number is 7)."""
    if tree is None:
        return await _sizes(repo, paths, cwd, None)
    with tempfile.TemporaryDirectory(prefix="launcher-attrs-") as scratch:
        index = Path(scratch) / "index"  # the tree's `.gitattributes` files, read from the index alone
        if not (await repo.git("read-tree", tree, index_file=index, check=False)).ok:
            return dict.fromkeys(paths, DEFAULT_SIZE)
        return await _sizes(repo, paths, None, index)


async def _sizes(repo: GitRepo, paths: list[str], cwd: Path | None, index_file: Path | None) -> dict[str, int]:
    sizes = dict.fromkeys(paths, DEFAULT_SIZE)
    for path, value in (await attribute(repo, paths, "conflict-marker-size", cwd, index_file)).items():
        digits = value[:len(value) - len(value.lstrip("0123456789"))]
        if digits and int(digits) > 0:
            sizes[path] = int(digits)
    return sizes


async def attribute(repo: GitRepo, paths: list[str], name: str, cwd: Path | None = None,
                    index_file: Path | None = None) -> dict[str, str]:
    """path -> its attribute `name` as `git check-attr` says it from `cwd` (or from `index_file`
    alone): `unspecified`, `set`, `unset` or its value. A path git cannot say it for (a bare
    repository) is left out."""
    found: dict[str, str] = {}
    cached = ("--cached",) if index_file is not None else ()
    for start in range(0, len(paths), _ATTR_BATCH):
        batch = paths[start:start + _ATTR_BATCH]
        listed = await repo.git("check-attr", *cached, "-z", name, "--", *batch, cwd=cwd, check=False,
                                index_file=index_file)
        if not listed.ok:
            continue
        fields = listed.out.split("\0")
        for index in range(0, len(fields) - 2, 3):
            if fields[index] in batch:
                found[fields[index]] = fields[index + 2]
    return found


def is_marker(line: str, size: int) -> bool:
    """Whether `line` (without its newline) opens or closes a conflict of `size`-character
    markers: exactly `size` `<` or `>`, then a space (and the side's name) or nothing."""
    return any(line.startswith(char * size) and (len(line) == size or line[size] == " ") for char in "<>")


async def added_markers(repo: GitRepo, tip: str, head: str, limit: int = 10) -> list[str]:
    """`path:line` of each conflict-marker line `head` adds since its fork from `tip`."""
    # `tip...head` diffs from the fork (their merge base): one git process, not two.
    span = [f"{tip}...{head}"]
    changes = await _changes(repo, span)
    if changes is None:  # no common ancestor: everything head has is what it adds
        span = [tip, head]
        changes = await _changes(repo, span) or []
    changes = await _as_text(repo, span, changes)
    suspects = [(change, line, text) for change in changes for line, text in change.new_lines()]
    if not suspects:
        return []
    landed = await _landed_tree(repo, tip, head)
    sizes = await marker_sizes(repo, sorted({change.path for change, _, _ in suspects}), tree=landed)
    found = [(change, line) for change, line, text in suspects if is_marker(text, sizes[change.path])]
    if not found:
        return []
    exempt = await _exempt(repo, tip, head, {change.blob for change, _ in found})
    return [f"{change.path}:{line}" for change, line in found if change.blob not in exempt][:limit]


def refusal(branch: str, left: list[str]) -> str:
    """The landing's refusal of a branch that adds the marker lines `left` (`path:line`)."""
    return (f"{branch} adds conflict markers at {', '.join(left)}; resolve them and commit (a file meant "
            "to hold such lines, a test fixture say, lands once .gitattributes gives it a longer "
            "`conflict-marker-size`, e.g. `tests/fixtures/*.txt conflict-marker-size=32`)")


async def _changes(repo: GitRepo, span: list[str], *options: str,
                   paths: list[str] | None = None) -> list[FileChange] | None:
    """The files of the diff of `span` (only `paths`, when given); None when git cannot diff it."""
    pathspecs = ["--", *(f":(literal){path}" for path in paths)] if paths else []
    # Read from a file, not a pipe's capped tail: a change of any size is screened whole.
    with tempfile.TemporaryFile() as diff:
        done = await repo.git(*_DIFF, *options, *span, *pathspecs, check=False, stdout_to=diff)
        if not done.ok:
            return None
        diff.seek(0)
        return marker_diff.parse(os.fsdecode(line).rstrip("\r\n") for line in diff)  # names as git's bytes


async def _as_text(repo: GitRepo, span: list[str], changes: list[FileChange]) -> list[FileChange]:
    """`changes` with each file git showed as binary whose new content is text diffed again as
    text: binary to git's diff for its `diff` attribute (`-diff`, a driver that says binary) or its
    old content, yet merged line by line by git, markers and all."""
    shown = [change for change in changes if change.binary]
    binary = await blob_heads.binary(repo, [change.blob for change in shown])
    text = [change for change in shown if change.blob.strip("0") and change.blob not in binary]  # not deleted
    wanted = {change.path for change in text}
    again: dict[str, FileChange] = {}
    for start in range(0, len(text), _TEXT_BATCH):
        batch = text[start:start + _TEXT_BATCH]
        paths = sorted({path for change in batch for path in (change.path, change.old_path)})
        for change in await _changes(repo, span, "--text", paths=paths) or []:
            again[change.path] = change
    return [again.get(change.path, change) if change.path in wanted else change for change in changes]


async def _exempt(repo: GitRepo, tip: str, head: str, blobs: set[str]) -> set[str]:
    """The `blobs` (new versions of files with marker lines) whose lines are no added markers:
    binary content (git's merge never writes markers into it), or a whole file the fork already
    held (a fixture copied as it is)."""
    exempt = await blob_heads.binary(repo, blobs)
    rest = {blob for blob in blobs - exempt if blob}
    if rest:
        exempt |= await _held_at_fork(repo, tip, head, rest)
    return exempt


async def _held_at_fork(repo: GitRepo, tip: str, head: str, blobs: set[str]) -> set[str]:
    """The `blobs` that are a file of the tree the branch's diff starts from: its fork from `tip`
    (`tip` itself without a common ancestor)."""
    fork = await repo.git("merge-base", tip, head, check=False)
    start = fork.out.split()[0] if fork.ok and fork.out.split() else tip
    with tempfile.TemporaryFile() as listing:
        done = await repo.git("ls-tree", "-r", "-z", "--full-tree", start, check=False, stdout_to=listing)
        if not done.ok or listing.seek(0, os.SEEK_END) == 0:
            return set()
        with mmap.mmap(listing.fileno(), 0, access=mmap.ACCESS_READ) as tree:
            # each entry is `<mode> blob <oid>\t<path>\0`
            return {blob for blob in blobs if tree.find(f" blob {blob}\t".encode()) != -1}


async def _landed_tree(repo: GitRepo, tip: str, head: str) -> str:
    """The tree landing `head` on `tip` makes (their merge), whose attributes apply to what
    lands; `head`'s own when git cannot merge them here (no common history, say)."""
    # When `head` already contains `tip`, the merge is `head`'s own tree: no ancestry question.
    merged = await repo.git("merge-tree", "--write-tree", "--no-messages", tip, head, check=False)
    tree = merged.out.split()[:1]
    return tree[0] if merged.returncode in (0, 1) and tree else head
