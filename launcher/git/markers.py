"""Conflict markers a branch would land: an unresolved `<<<<<<< ` or `>>>>>>> ` line that the
branch adds to a text file refuses its landing (a resolution round that left one is not done).

A marker is as long as git makes it for that path: 7 characters, or the path's
`conflict-marker-size` attribute (Markdown and reST files often set a longer one, since their
text has `=======` underlines), as the tree being landed (the merge of the branch into the
target) sets it, not the main work tree's checkout: a branch that sets a longer size cannot slip
such markers past the check, and one that sets it to write about 7-character markers is not
refused for that text. The launcher's own conflict note uses the path's size too
(`git.resolution`).

Only lines the branch adds count (binary files have no lines in a diff), so a file that
already held such a line at the fork, a test fixture say, does not block anything.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from launcher.git.repo import GitRepo

DEFAULT_SIZE = 7
_ATTR_BATCH = 200  # paths per `git check-attr` (argv stays far below any limit)


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
    cached = ("--cached",) if index_file is not None else ()
    for start in range(0, len(paths), _ATTR_BATCH):
        batch = paths[start:start + _ATTR_BATCH]
        listed = await repo.git("check-attr", *cached, "-z", "conflict-marker-size", "--",
                                *batch, cwd=cwd, check=False, index_file=index_file)
        if not listed.ok:
            continue  # a bare repository, say: git's default is all it would use
        fields = listed.out.split("\0")
        for index in range(0, len(fields) - 2, 3):
            path, value = fields[index], fields[index + 2]
            digits = value[:len(value) - len(value.lstrip("0123456789"))]
            if path in sizes and digits and int(digits) > 0:
                sizes[path] = int(digits)
    return sizes


def is_marker(line: str, size: int) -> bool:
    """Whether `line` (without its newline) opens or closes a conflict of `size`-character
    markers: exactly `size` `<` or `>`, then a space (and the side's name) or nothing."""
    return any(line.startswith(char * size) and (len(line) == size or line[size] == " ") for char in "<>")


def header_path(raw: str) -> str:
    """The path of a `+++ ` header as the rest of the report names it: git C-quotes a name with
    special or (core.quotePath) non-ASCII bytes, and ends one holding a space with a tab."""
    raw = raw.rstrip("\t")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        # octal escapes are the name's bytes: kept as Python keeps a file name (os.fsdecode), so
        # that the path handed back to git (check-attr) is the same file
        raw = os.fsdecode(codecs.escape_decode(os.fsencode(raw[1:-1]))[0])
    return raw[2:] if raw.startswith("b/") else raw


async def added_markers(repo: GitRepo, tip: str, head: str, limit: int = 10) -> list[str]:
    """`path:line` of each conflict-marker line `head` adds since its fork from `tip`."""
    # `tip...head` diffs from the fork (their merge base): one git process, not two.
    options = ("diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", "--src-prefix=a/", "--dst-prefix=b/")
    # Read from a file, not a pipe's capped tail: a change of any size is screened whole.
    with tempfile.TemporaryFile() as diff:
        done = await repo.git(*options, f"{tip}...{head}", check=False, stdout_to=diff)
        if not done.ok:  # no common ancestor: everything head has is what it adds
            diff.seek(0)
            diff.truncate()
            await repo.git(*options, tip, head, check=False, stdout_to=diff)
        diff.seek(0)
        suspects = _suspects(os.fsdecode(line).rstrip("\r\n") for line in diff)  # names as git's bytes
    if not suspects:
        return []
    landed = await _landed_tree(repo, tip, head)
    sizes = await marker_sizes(repo, sorted({suspect[0] for suspect in suspects}), tree=landed)
    found = [f"{path}:{line}" for path, line, text in suspects if is_marker(text, sizes[path])]
    return found[:limit]


def _suspects(lines: Iterable[str]) -> list[tuple[str, int, str]]:
    """Lines of a `-U0` diff that could be markers (they start with `<` or `>`), with their path
    and line number, judged once each path's marker size is known: most diffs have none, and
    then no attribute is looked up."""
    suspects: list[tuple[str, int, str]] = []
    path, line, in_header = "", 0, False
    for text in lines:
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
            if text[1:2] in ("<", ">"):
                suspects.append((path, line, text[1:].rstrip("\n")))
            line += 1
    return suspects


async def _landed_tree(repo: GitRepo, tip: str, head: str) -> str:
    """The tree landing `head` on `tip` makes (their merge), whose attributes apply to what
    lands; `head`'s own when git cannot merge them here (no common history, say)."""
    # When `head` already contains `tip`, the merge is `head`'s own tree: no ancestry question.
    merged = await repo.git("merge-tree", "--write-tree", "--no-messages", tip, head, check=False)
    tree = merged.out.split()[:1]
    return tree[0] if merged.returncode in (0, 1) and tree else head
