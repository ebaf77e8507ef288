"""A `-U0` diff read file by file for `git.markers`: each file's name, its object after the change,
whether git showed it as binary, and the added and removed lines that could be conflict markers
(they start with `<` or `>`; most diffs have none, so little is kept).

The diff is made with rename detection, `--full-index` and `--inter-hunk-context=0` (`git.markers`
passes them; the environment pins git's default context too): a renamed file's unchanged lines
are no added lines, each file's new object is named in full, and every hunk line is an added or
a removed one. An unchanged line between hunks is still counted, should one ever be shown.
"""

from __future__ import annotations

import codecs
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class FileChange:
    """One file of the diff."""

    path: str  # its name after the change
    old_path: str  # its name before (a rename's source; else the same)
    blob: str = ""  # its object after the change, "" when the diff names none (a pure rename)
    binary: bool = False  # git printed "Binary files ... differ" instead of its lines
    added: list[tuple[int, str]] = field(default_factory=list)  # (line number, text) starting `<`/`>`
    removed: list[str] = field(default_factory=list)  # the text of each such line removed

    def new_lines(self) -> list[tuple[int, str]]:
        """The added lines that the change does not merely move: a line whose very text it removes
        from the same file (its old version; a renamed file's source) is moved, not added (a
        line moved within the file, a CRLF line made LF, a rename git pairs with edits)."""
        moved = Counter(self.removed)
        kept = []
        for line, text in self.added:
            if moved[text] > 0:
                moved[text] -= 1
            else:
                kept.append((line, text))
        return kept


def unquote(raw: str) -> str:
    """A name as git prints it in a diff: C-quoted when it holds special or (core.quotePath)
    non-ASCII bytes, else as is. The octal escapes are the name's bytes, kept as Python keeps a
    file name (os.fsdecode), so that the path handed back to git (check-attr) is the same file."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return os.fsdecode(codecs.escape_decode(os.fsencode(raw[1:-1]))[0])
    return raw


def header_path(raw: str) -> str:
    """The path of a `+++ ` header as the rest of the report names it: git C-quotes a name with
    special or (core.quotePath) non-ASCII bytes, and ends one holding a space with a tab."""
    name = unquote(raw.rstrip("\t"))
    return name[2:] if name.startswith("b/") else name


def _git_line_path(rest: str) -> str:
    """The new name on a `diff --git a/X b/X` line, for a file without `+++ ` or `rename to`
    lines (binary, a mode change): both names are the same there, each quoted alike, so the
    second one is the line's second half."""
    return header_path(rest[(len(rest) + 1) // 2:])


def parse(lines: Iterable[str]) -> list[FileChange]:
    """The files of a `-U0` diff (its lines without their line ends)."""
    found: list[FileChange] = []
    change: FileChange | None = None
    line, in_header = 0, False
    for text in lines:
        if text.startswith("diff --git "):
            path = _git_line_path(text[len("diff --git "):])
            change = FileChange(path, path)
            found.append(change)
            in_header = True  # until the first hunk: `+++ ` there is the file, not an added line
        elif change is None:
            continue
        elif text.startswith("@@ "):  # never a hunk's own line: those start with + - space or \
            in_header = False
            # @@ -a,b +c,d @@: the added lines start at c
            line = int(text.split(" ")[2][1:].split(",")[0])
        elif in_header:
            _header_line(change, text)
        elif text.startswith(("+", " ")):
            if text.startswith("+") and text[1:2] in ("<", ">"):
                change.added.append((line, text[1:]))
            line += 1
        elif text.startswith("-") and text[1:2] in ("<", ">"):
            change.removed.append(text[1:])
    return found


def _header_line(change: FileChange, text: str) -> None:
    if text.startswith("+++ ") and text != "+++ /dev/null":
        change.path = header_path(text[4:])
    elif text.startswith(("rename from ", "copy from ")):
        change.old_path = unquote(text.split(" ", 2)[2])
    elif text.startswith(("rename to ", "copy to ")):
        change.path = unquote(text.split(" ", 2)[2])
    elif text.startswith("index "):
        ids = text[len("index "):].split(" ")[0].split("..")
        change.blob = ids[1] if len(ids) == 2 else ""
    elif text.startswith("Binary files "):
        change.binary = True
