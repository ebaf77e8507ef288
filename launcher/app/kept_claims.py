"""What a journaled message says is kept, made true for what is there now.

A task's message and the run's notes are written when something happens ("conflicts with main
in shared.txt; branch kept", "its commits are kept at refs/launcher/<run>/<task>/left-branch-*",
"worktree and branch kept"); `launcher clean` removes worktrees, `clean --force` branches and
refs, and the user may delete them by hand. The report (app/report_now.py) shows no gone branch
or worktree as kept: these claims are rewritten to say it is gone since. Text only; which
places exist is the caller's to say (one listing of the branches and of the run's refs).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

_BOTH = "worktree and branch kept"
_BRANCH = re.compile(r"(?<!worktree and )\bbranch kept\b")
# "its branch launcher/r/t is kept", "branch launcher/r/t (merged) is kept"
_NAMED_BRANCH = re.compile(r"\bbranch (?P<name>[^\s()]+)(?P<mid> \(merged\))? is kept\b")
# "its commits are kept at REF", "its earlier attempt is kept as REF", "kept under REF/"
_REF = re.compile(r"\b(?P<verb>is |are )?kept (?P<how>at|as|under) (?P<ref>refs/launcher/[^\s),;]+)")
_PAST = {"is ": "was ", "are ": "were "}


@dataclass(frozen=True)
class Places:
    """What exists now: the task's branch and worktree (as the report shows them), and the
    branches and refs listed (None: not listed, claims naming one are left as they are)."""

    has_branch: bool
    has_worktree: bool
    branches: Collection[str] | None
    refs: Collection[str] | None
    ref_prefix: str  # the refs listed: those under it (others are left as they are)


def mentions_kept(text: str) -> bool:
    return "kept" in text


def true_now(text: str, places: Places) -> str:
    """`text` with each claim that something is kept that is no longer there said as gone."""
    if not mentions_kept(text):
        return text
    if _BOTH in text and not (places.has_worktree and places.has_branch):
        now = ("worktree and branch since removed" if not places.has_worktree and not places.has_branch
               else "branch kept, worktree since removed" if places.has_branch
               else "worktree kept, branch since deleted")
        text = text.replace(_BOTH, now)
    if not places.has_branch:
        text = _BRANCH.sub("branch since deleted", text)
    if places.branches is not None:
        branches = places.branches
        text = _NAMED_BRANCH.sub(
            lambda m: m[0] if m["name"] in branches
            else f"branch {m['name']}{m['mid'] or ''} was kept (deleted since)", text)
    if places.refs is not None:
        text = _REF.sub(lambda m: _ref_claim(m, places), text)
    return text


def _ref_claim(match: re.Match[str], places: Places) -> str:
    ref = match["ref"]
    refs = places.refs or ()
    if not ref.startswith(places.ref_prefix):
        return match[0]
    there = any(r.startswith(ref) for r in refs) if ref.endswith("/") else ref in refs
    if there:
        return match[0]
    verb = _PAST.get(match["verb"] or "", "")
    return f"{verb}kept {match['how']} {ref} (deleted since)"
