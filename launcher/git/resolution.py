"""A conflict handed back to its author: merge the target into the task's own worktree and
commit the result, so the agent's next round starts from the conflict (and a resumed launcher,
which saves and cleans uncommitted work, cannot lose it).

Not every conflict leaves marker lines: a modify/delete, a binary file, a symlink, a
file/directory or a rename conflict leaves one side's version (or git's moved copy) as if it were
the resolution. So each conflicted path is recorded with what each side has (`Conflict`), a
regular file or symlink git could not mark is replaced by a conflict note that has marker
lines, and the landing refuses the branch while any conflicted path is still as this merge left
it (`still_unresolved`) or still holds a name git made up for the conflict (`made_up_kept`: a
file moved aside to `conf~HEAD`, which neither side has), besides any marker line it adds
(`git.markers`). Whether git marked a
path is judged as git's merge decides it (`merged_line_by_line`), never from the file's bytes
alone: a binary file that happens to hold a `<<<<<<< ` line is this branch's version, unmarked."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from launcher.errors import GitFailed
from launcher.git import blob_heads, commits, markers, submodules
from launcher.git.repo import GitRepo
from launcher.models.markdown import code
from launcher.models.printable import printable


@dataclass
class Conflict:
    """One path the merge left unmerged: each side's `mode oid` (None: the side has no file at
    this path), and how it was left in the committed merge."""

    path: str
    base: str | None
    ours: str | None  # the task's branch
    theirs: str | None  # the target
    left: str  # "markers" | "note" (replaced by a conflict note) | "as is"
    # A name git made up for the conflict (`conf~HEAD`: a file moved aside for a directory of
    # its name): the side's name it stands for; such a name is never landed.
    moved_from: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Conflict:
        moved = data.get("moved_from")
        return cls(path=str(data["path"]), base=data.get("base"), ours=data.get("ours"),
                   theirs=data.get("theirs"), left=str(data.get("left", "as is")),
                   moved_from=str(moved) if moved is not None else None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def kind(self, target: str) -> str:
        """What each side did, in the user's words."""
        if self.moved_from is not None:
            side = "your branch" if self.ours else target
            return (f"{side}'s {code(self.moved_from)}, moved here by git (the other side has a directory or "
                    "another file at that name); git made this name up and it is never landed: give the "
                    "content a name of its own (`git mv`) or remove it")
        if self.ours and self.theirs:
            both = "changed on both sides" if self.base else "added on both sides"
            if self.ours.split()[0] == "160000" or self.theirs.split()[0] == "160000":
                return f"submodule {both}"
            if self.ours.split()[0] != self.theirs.split()[0]:
                return f"{both}, with different file modes"
            if self.ours.split()[0] == "120000":
                return f"symlink {both}"
            return both if self.left == "markers" else (
                f"{both}, not mergeable line by line (a binary file, or a `merge` attribute that says so)")
        if self.ours:
            return (f"deleted on {target}, changed on your branch" if self.base else
                    "only your branch has a file here (git moved it: a file/directory or rename conflict)")
        if self.theirs:
            return (f"deleted on your branch, changed on {target}" if self.base else
                    f"only {target} has a file here (git moved it: a file/directory or rename conflict)")
        if self.base:  # rename/rename: each side moved the file to a name of its own
            return ("renamed away on both sides (to different names: git's messages below name them); "
                    "neither side has a file here")
        return "unmerged"

    def how_left(self) -> str:
        if self.left == "markers":
            return "committed with git's conflict markers in it"
        if self.left == "note":
            return "replaced by a conflict note (marker lines naming both sides' versions)"
        return "committed as git left it (no markers could be written there)"

    def restore_hint(self, target: str) -> str:
        """How to put back either side's version, as shell commands run at the worktree's top."""
        sides = []
        for name, entry in (("your branch's version", self.ours), (f"{target}'s version", self.theirs)):
            command = code(restore_command(self.path, entry))
            sides.append(f"{name}: {command}" if entry else f"{name}: no file ({command})")
        return "; ".join(sides)


def restore_command(path: str, entry: str | None) -> str:
    """A POSIX shell command that makes `path` hold one side's version: `entry` (`mode oid`) as
    git stores it, so a symlink comes back as the link (never written through it), an executable
    keeps its bit, a file replaces a directory; None: no file there. The name is quoted for the
    shell and follows `--` (a leading `-`, a quote, a space are part of it), and is taken
    literally (a `*` is no pattern). Run from the top of the worktree."""
    word, setup = _shell_path(path)
    if entry is None:
        command = f"git --literal-pathspecs rm -q -f --ignore-unmatch -- {word}"
    else:
        mode, oid = entry.split()[:2]
        info = f'"{mode},{oid},$p"' if setup else shlex.quote(f"{mode},{oid},{path}")
        command = (f"git update-index --add --replace --cacheinfo {info} && "
                   f"git checkout-index -f -- {word}")
    return f"{setup} && {command}" if setup else command


def _shell_path(path: str) -> tuple[str, str]:
    """(the word that names `path` in a shell command, the setup it needs first). A name with a
    control character (a newline, an ESC) or a byte that is not UTF-8 cannot be written on one
    line in POSIX quotes: it is built with `printf` into `$p` (a `/` kept after it, so command
    substitution cannot drop a trailing newline of the name)."""
    if printable(path) == path:
        return shlex.quote(path), ""
    form = []
    for char in path:
        if char == "%":
            form.append("%%")
        elif char == "\\":
            form.append("\\\\")
        elif printable(char) != char:  # as octal bytes (a surrogate-escaped byte is that byte)
            raw = ord(char) - 0xDC00 if 0xDC80 <= ord(char) <= 0xDCFF else None
            data = bytes([raw]) if raw is not None else char.encode("utf-8", "surrogatepass")
            form.append("".join(f"\\{byte:03o}" for byte in data))
        else:
            form.append(char)
    return '"$p"', f"p=$(printf -- {shlex.quote(''.join(form) + '/')}) && p=${{p%/}}"


def _note(conflict: Conflict, target: str, size: int = markers.DEFAULT_SIZE) -> bytes:
    """The conflict note, its markers as long as git's for the path (`size`): the landing's
    marker check counts that length there (`git.markers`)."""
    def side(entry: str | None) -> str:
        return f"blob {entry.split()[1]} (mode {entry.split()[0]})" if entry else "no file at this path"
    return (f"{'<' * size} launcher: unresolved merge conflict in {conflict.path} "
            f"({conflict.kind(target)})\n"
            f"your branch: {side(conflict.ours)}\n"
            f"{'=' * size}\n"
            f"{target}: {side(conflict.theirs)}\n"
            f"{'>' * size} replace this file with the resolution: one side's version, both combined, "
            "or no file\n").encode()


async def unmerged(repo: GitRepo, worktree: Path) -> dict[str, dict[int, str]]:
    """path -> stage -> `mode oid`, for every unmerged index entry of the worktree."""
    listed = await repo.git("ls-files", "-u", "-z", cwd=worktree, check=False)
    found: dict[str, dict[int, str]] = {}
    for entry in listed.out.split("\0"):
        meta, tab, path = entry.partition("\t")
        fields = meta.split()
        if tab and len(fields) == 3 and fields[2] in ("1", "2", "3"):
            found.setdefault(path, {})[int(fields[2])] = f"{fields[0]} {fields[1]}"
    return found


def _has_markers(content: bytes, size: int) -> bool:
    """Whether git wrote conflict markers of `size` characters (the path's
    `conflict-marker-size`, 7 by default) into `content`."""
    marker = b"<" * size + b" "
    at = content.find(marker)
    while at != -1:
        # exactly `size`: a line that starts there, not a longer run of `<` ending there
        if at == 0 or content[at - 1:at] == b"\n":
            return True
        at = content.find(marker, at + 1)
    return False


async def merged_line_by_line(repo: GitRepo, worktree: Path, stages: dict[str, dict[int, str]]) -> set[str]:
    """The conflicted paths git merged line by line, the only ones it writes markers into: both
    sides hold a regular file, the path's `merge` attribute is not `-merge` or `merge=binary`
    (`binary` sets it so), and no version (the base, either side) is binary by content (a NUL in
    its first 8000 bytes). Into any other git writes no marker: it says "Cannot merge binary
    files" and leaves this branch's version, whatever bytes that holds."""
    regular = ("100644", "100755")
    both = {path: entries for path, entries in stages.items()
            if all(side in entries and entries[side].split()[0] in regular for side in (2, 3))}
    if not both:
        return set()
    binary = await blob_heads.binary(repo, [entry.split()[1] for entries in both.values()
                                             for entry in entries.values()])
    merge = await markers.attribute(repo, sorted(both), "merge", cwd=worktree)
    return {path for path, entries in both.items()
            if merge.get(path) not in ("unset", "binary")
            and not any(entry.split()[1] in binary for entry in entries.values())}


def _mark(worktree: Path, path: str, stages: dict[int, str], target: str, size: int, as_text: bool) -> Conflict:
    """How a conflicted path is left: git's markers (`size` characters long) where git merged it
    line by line (`as_text`) and wrote them, else a conflict note where a regular file, a symlink
    (or nothing) is, else as git left it (a directory, a submodule). A binary file is never taken
    for marked, whatever marker-like bytes it holds: it is this branch's version only."""
    conflict = Conflict(path, stages.get(1), stages.get(2), stages.get(3), "as is")
    file = worktree / path
    gitlink = any(entry.split()[0] == "160000" for entry in stages.values())
    if gitlink or file.is_dir() or not file.parent.is_dir() or file.parent.is_symlink():
        return conflict
    if file.is_symlink():
        # git leaves this branch's link as if it were the resolution; left there, an agent that
        # keeps its own side could never land (the path unchanged since this merge): the note
        # replaces the link itself (unlinked first, never written through), so either side's
        # restore command resolves it.
        file.unlink()
    elif file.is_file():
        if as_text and _has_markers(file.read_bytes(), size):
            conflict.left = "markers"
            return conflict
    elif file.exists():
        return conflict
    conflict.left = "note"
    file.write_bytes(_note(conflict, target, size))
    return conflict


async def merge_for_resolution(repo: GitRepo, worktree: Path, tip: str, target: str, message: str,
                               trailers: dict[str, str]) -> tuple[str, list[Conflict]]:
    """Merge `tip` into the worktree's branch and commit the result with every conflict left
    visible (markers, or a conflict note): (new head, the conflicted paths)."""
    await repo.git("merge", "--abort", cwd=worktree, check=False)  # a crashed attempt's leftovers
    ours = await commits.head_of(repo, worktree)
    # The launcher's merge, not the user's: their merge.verifySignatures does not apply (the
    # target's tip is often the launcher's own landing commit), as git/repo.py also pins.
    merged = await repo.git("merge", "--no-ff", "--no-commit", "--no-verify-signatures", tip, cwd=worktree,
                            check=False)
    stages = await unmerged(repo, worktree)
    if not merged.ok and not stages:
        raise GitFailed(f"`git merge {tip[:12]}` failed in {worktree}: {(merged.err or merged.out).strip()}",
                        where=str(worktree), fix="look at the worktree; the task's branch is unchanged")
    sizes = await markers.marker_sizes(repo, sorted(stages), cwd=worktree)
    as_text = await merged_line_by_line(repo, worktree, stages)
    made_up = set(await names_made_up(repo, ours, tip, sorted(stages)))
    conflicts = [_mark(worktree, path, stages[path], target, sizes[path], path in as_text)
                 for path in sorted(stages)]
    for conflict in conflicts:
        if conflict.path in made_up:
            conflict.moved_from = conflict.path.rsplit("~", 1)[0]
    await commits.commit_pending(repo, worktree, message, trailers)
    # `git merge` moves no submodule checkout: one the target moved would stay at the branch's
    # commit, and the next round's `git add -A` would stage that one, reverting the target's move
    # (and failing the task as if it had moved the pointer). Checked out as the merge records it.
    await submodules.check_out(repo, worktree)
    return await commits.head_of(repo, worktree), conflicts


async def still_unresolved(repo: GitRepo, merge: str, head: str, paths: list[str]) -> list[str]:
    """The `paths` (conflicted in the resolution merge `merge`) that `head` still has exactly as
    that merge committed them: nobody resolved them."""
    if not paths:
        return []
    diff = await repo.git("diff", "--name-only", "-z", "--no-renames", "--ignore-submodules=none",
                          merge, head, "--", *[f":(literal){p}" for p in paths], check=False)
    if not diff.ok:
        return []  # the merge commit is gone (history rewritten): the marker check still applies
    changed = [p for p in diff.out.split("\0") if p]
    return [p for p in paths if not any(c == p or c.startswith(p + "/") for c in changed)]


async def names_made_up(repo: GitRepo, ours: str, theirs: str, paths: list[str]) -> list[str]:
    """The `paths` that neither side (`ours`, `theirs`) nor their merge base holds: names git made
    up for a conflict (a file moved aside to `path~HEAD` for a directory of its name)."""
    paths = [path for path in paths if "~" in path]  # git's are `path~<side>`: few to look up
    if not paths:
        return []
    fork = await repo.git("merge-base", ours, theirs, check=False)
    sides = [ours, theirs, *fork.out.split()[:1]] if fork.ok else [ours, theirs]
    found = []
    for path in paths:
        held = [(await repo.git("rev-parse", "--verify", "-q", f"{side}:{path}", check=False)).ok
                for side in sides]
        if not any(held):
            found.append(path)
    return found


async def made_up_kept(repo: GitRepo, merge: str, head: str, paths: list[str]) -> list[str]:
    """The `paths` (conflicted in the resolution merge `merge`) that are names git made up for
    the conflict and that `head` still holds: resolved in name only (a side's file restored
    under `conf~HEAD`), which would land a file neither side has."""
    if not paths or not (await repo.git("rev-parse", "--verify", "-q", f"{merge}^2", check=False)).ok:
        return []  # the merge commit is gone (history rewritten): the other checks still apply
    made_up = await names_made_up(repo, f"{merge}^1", f"{merge}^2", paths)
    return [path for path in made_up
            if (await repo.git("rev-parse", "--verify", "-q", f"{head}:{path}", check=False)).ok]
