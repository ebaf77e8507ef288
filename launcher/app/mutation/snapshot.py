"""One state of the checkout for a whole sweep (review 3, concurrent finding 2).

A sweep names one commit (`base_sha`, HEAD when it starts) plus the main tree's uncommitted
files (the overlay). Everything it reads must come from that one state, even while a landing
(`launcher run`/`land`) or an editor changes the main checkout: mutants generated from a newer
file than the coverage run measured are false NoCoverage and survivors, a score of a tree that
never existed.

So the main tree is read once: the overlay files are copied into the sweep's snapshot directory
the moment they are listed, and the files to mutate join them from worker 1's tree (base_sha
plus that overlay) before any mutant runs there. Generation, the equivalence pre-filter, the
fork executor's source checks and every worker's overlay read the snapshot, never the live tree.
HEAD is checked once that copy is made: a commit landing between the start of the sweep (which
file list, which `--since` lines) and the copy refuses the sweep, naming what moved. A change
after the copy is not the sweep's business (a user committing during a long sweep loses nothing).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from launcher.errors import LauncherError
from launcher.git.repo import GitRepo
from launcher.models.printable import quote_path
from launcher.mutation.worker_files import ignored_beside_tracked, ignored_digest, included_files

SNAPSHOT_DIR = "snapshot"  # beside the worker trees w1..wN
RERUN = "re-run `launcher mutation sweep` once nothing else changes the checkout (a `launcher run` or " \
        "`launcher land` finished, the editor saved)"  # fmt: skip


class CheckoutChanged(LauncherError):
    """The main checkout moved while the sweep read it: its mutants would mix two states."""

    default_key = "checkout_changed"


def _copy(src: Path, dst: Path) -> None:
    """`src` (a file) at `dst`; nothing at `dst` when `src` is not a file (the overlay's deletions)."""
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    elif dst.is_file() or dst.is_symlink():
        dst.unlink()


async def _git_list(repo: GitRepo, *args: str) -> list[str]:
    return [p for p in (await repo.git(*args)).out.split("\0") if p]


async def _overlay(repo: GitRepo, base_sha: str, notes: list[str]) -> tuple[list[str], list[str]]:
    """The files whose main-tree state differs from base_sha (changed, untracked), and the
    git-ignored files the worker trees get as well (these are in the overlay too)."""
    dirty = await _git_list(repo, "diff", "--name-only", "-z", "--no-renames", base_sha)
    dirty += await _git_list(repo, "ls-files", "-z", "--others", "--exclude-standard")
    included = await included_files(repo)
    if included:
        notes.append(f"copied {len(included)} git-ignored file(s) named in .worktreeinclude to worker trees")
    # Ignored files beside tracked ones (data, compiled catalogues): tests skipping without
    # them would report survivors the project's own suite kills.
    beside, left = await ignored_beside_tracked(repo, set(included))
    if beside:
        notes.append(f"copied {len(beside)} git-ignored file(s) the main tree has beside tracked files "
                     f"to worker trees (the tests may read them)")  # fmt: skip
    notes += left
    if dirty:  # the score is of the base commit plus these, not of the commit alone
        shown = ", ".join(map(quote_path, dirty[:10])) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        notes.append(f"measured the work tree as it was: {base_sha[:12]} plus {len(dirty)} uncommitted or "
                     f"untracked file(s) ({shown})")
    return list(dict.fromkeys([*dirty, *included, *beside])), [*included, *beside]


@dataclass
class Snapshot:
    """The sweep's one state: `root` holds the overlay files (as the main tree had them when
    listed) and, once `add_sources` ran, the files the sweep mutates."""

    root: Path
    base_sha: str
    overlay: list[str]  # the files worker trees copy over base_sha (ignored ones included)
    ignored: list[str] = field(default_factory=list)  # the git-ignored files among them
    notes: list[str] = field(default_factory=list)

    @property
    def ignored_key(self) -> str:
        """The ignored files copied (a mutant cache-key part: a test may skip without one)."""
        return ignored_digest(self.root, self.ignored)

    @classmethod
    async def take(cls, repo: GitRepo, base_sha: str, root: Path) -> Snapshot:
        """List the overlay and copy it out of the main tree at once (the last read of it), then
        check that HEAD is still `base_sha`: the file list, `--since`'s lines and the overlay were
        all read at it."""
        notes: list[str] = []
        overlay, ignored = await _overlay(repo, base_sha, notes)
        shutil.rmtree(root, ignore_errors=True)  # a leftover of a killed sweep of the same id
        root.mkdir(parents=True)
        for rel in overlay:
            _copy(repo.root / rel, root / rel)
        head = await repo.rev_parse("HEAD")
        if head != base_sha:
            shutil.rmtree(root, ignore_errors=True)
            subject = (await repo.git("log", "-1", "--format=%s", head, check=False)).text.strip()
            raise CheckoutChanged(
                f"HEAD moved from {base_sha[:12]} to {head[:12]} ({subject or 'a new commit'}) while the sweep "
                f"read the checkout (a landing or a commit); its mutants, coverage and score would mix the two "
                f"trees, so nothing was run",
                where=str(repo.root),
                fix=RERUN,
            )
        return cls(root, base_sha, overlay, ignored, notes)

    def add_sources(self, tree: Path, files: Sequence[str]) -> None:
        """The files to mutate that the overlay does not hold, from `tree` (worker 1's, before any
        mutant runs there): base_sha's content as the worker trees check it out."""
        listed = set(self.overlay)
        for rel in files:
            if rel not in listed:
                _copy(tree / rel, self.root / rel)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
