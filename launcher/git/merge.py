"""Merging back (DESIGN 8): every merge is computed in memory with `git merge-tree --write-tree`
and written with `git commit-tree`, so nothing here touches a ref or a work tree until
`advance_target` (git/target_advance.py), which moves the target with a compare-and-swap under
the repository lock.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Literal

from launcher.concurrency import each
from launcher.errors import GitFailed
from launcher.git import (
    commits,
    conflict_sides,
    history,
    markers,
    resolution,
    secret_guard,
    signing,
)
from launcher.git.repo import GitRepo
from launcher.git.target_advance import advance_target  # noqa: F401  (tests import it from here)

Strategy = Literal["merge", "squash", "rebase"]
Outcome = Literal["landed", "conflicted", "refused", "check_failed"]
IntegrationCheck = Callable[[str], Awaitable[tuple[bool, str]]]

_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_SCREEN_PARALLEL = 4  # candidates screened at once before a fold


@dataclass
class Candidate:
    task_id: str
    branch: str
    head: str
    message: str
    trailers: dict[str, str] = field(default_factory=dict)
    # Files copied into the worktree by .worktreeinclude: committing one of them (by path, or
    # its content under any path: blob id -> path) in any commit is refused.
    forbidden_paths: list[str] = field(default_factory=list)
    forbidden_blobs: dict[str, str] = field(default_factory=dict)
    # After a resolution round: (the resolution merge commit, the paths it left conflicted).
    # A path the branch still has exactly as that merge committed it was never resolved.
    resolution: tuple[str, list[str]] | None = None
    # The commit the task's work started from (the run's base, or its dependencies' heads):
    # start..head is its own change. A squash lands only that, so a dependent whose dependency
    # landed squashed does not meet the dependency's original commits as a change of its own.
    start: str | None = None


@dataclass
class Landing:
    task_id: str
    outcome: Outcome
    commit: str | None
    conflict_files: list[str] = field(default_factory=list)
    details: str = ""


class UnrelatedHistories(GitFailed):
    """The two commits share no history: git refuses to merge them (`merge_commit` refuses the
    task with `history.unrelated_said`)."""

    default_key = "unrelated_histories"


def _git_failed(what: str, repo: GitRepo) -> GitFailed:
    if "refusing to merge unrelated histories" in what:
        return UnrelatedHistories(what, where=str(repo.root), fix=(
            "the two commits share no history (an orphan branch, a target replaced since, or a shallow "
            f"clone that stops before their common commit: {history.DEEPEN})"))
    fix = "check that both commits exist in this repository"
    return GitFailed(what, where=str(repo.root), fix=fix)


async def preflight(repo: GitRepo, tip: str, head: str) -> tuple[str | None, list[str], str]:
    """Merge `head` into `tip` in memory: (tree or None on conflict, conflicted files, messages)."""
    res = await repo.git(
        "merge-tree", "--write-tree", "--messages", "--name-only", "-z", tip, head, check=False
    )
    tokens = res.out.split("\0")
    # git 2.39 also exits 1 for a bad revision, so a conflict is "exit 1 *and* a tree on stdout".
    if res.timed_out or res.returncode not in (0, 1) or not _OID.fullmatch(tokens[0]):
        raise _git_failed(f"`git merge-tree {tip} {head}` failed: {res.err.strip()}", repo)
    i, files = 1, []
    while i < len(tokens) and tokens[i]:
        path = _user_path(tokens[i], (tip, head))
        if path not in files:
            files.append(path)
        i += 1
    i += 1
    messages: list[str] = []
    try:  # -z messages: <count>\0<path>...\0<kind>\0<text>\0
        while i < len(tokens) and tokens[i]:
            n = int(tokens[i])
            messages.append(tokens[i + n + 2].rstrip("\n"))
            i += n + 3
    except (ValueError, IndexError):
        messages.append("\n".join(t for t in tokens[i:] if t))
    return (tokens[0] if res.returncode == 0 else None), files, "\n".join(messages)


def _user_path(path: str, sides: tuple[str, ...]) -> str:
    """The user's name of a conflicted path: a file git moved aside for a file/directory
    conflict is named `<path>~<side>` (the side as given to merge-tree, an object id here)."""
    stem, tilde, side = path.rpartition("~")
    return stem if tilde and stem and side in sides else path


def _with_trailers(message: str, trailers: dict[str, str]) -> str:
    body = message.strip() or "(no message)"
    if not trailers:
        return body
    # A trailer value must stay on one line, or git no longer parses the block as trailers.
    lines = [f"{key}: {' '.join(str(value).split())}" for key, value in trailers.items()]
    return body + "\n\n" + "\n".join(lines)


async def _commit_tree(repo: GitRepo, tree: str, parents: list[str], message: str,
                       author: dict[str, str] | None = None, throwaway: bool = False) -> str:
    commit = await signing.commit_tree(repo, tree, parents, message, author=author, throwaway=throwaway)
    _remember_tree(commit, tree)
    return commit


# commit id -> its tree id. A commit never changes, so the fold of a queue, which merges onto
# the commit it has just written, asks git for no tree it already knows.
_TREES: dict[str, str] = {}
_TREES_MAX = 4096


def _remember_tree(commit: str, tree: str) -> None:
    if _is_sha(commit):
        if len(_TREES) >= _TREES_MAX:
            _TREES.clear()
        _TREES[commit] = tree


async def _tree_of(repo: GitRepo, commit: str) -> str:
    if commit in _TREES:
        return _TREES[commit]
    tree = (await repo.git("rev-parse", f"{commit}^{{tree}}")).out.strip()
    _remember_tree(commit, tree)
    return tree


def _is_sha(value: str) -> bool:
    """A full object id needs no `rev-parse` round trip (one git process less per landing)."""
    return len(value) == 40 and all(c in "0123456789abcdef" for c in value)


async def merge_commit(
    repo: GitRepo, *, tip: str, candidate: Candidate, strategy: Strategy, screened: bool = False
) -> Landing:
    """Compute the landing of `candidate` on `tip` as new commit objects; no ref is written.
    `screened`: the candidate already passed the include-file and marker screens onto an
    ancestor of `tip` (the queue re-folding it while bisecting): its own commits are the same."""
    tip = tip if _is_sha(tip) else await repo.rev_parse(tip)
    head = candidate.head if _is_sha(candidate.head) else await repo.rev_parse(candidate.head)
    refusal = None if screened else await _screen(repo, tip, head, candidate)
    if refusal is not None:
        return refusal
    try:
        return await _merged(repo, tip, head, candidate, strategy)
    except UnrelatedHistories:  # the target replaced during the run: that task cannot land, said
        return Landing(candidate.task_id, "refused", None, [],
                       await history.unrelated_said(repo, candidate.branch, tip))


async def _merged(repo: GitRepo, tip: str, head: str, candidate: Candidate, strategy: Strategy) -> Landing:
    if strategy == "rebase" and await repo.is_ancestor(head, tip):
        return Landing(candidate.task_id, "landed", tip, [], "already contained in the target")
    if strategy == "rebase":
        own = await _own_start(repo, tip, head, candidate.start)
        merges = await repo.git("rev-list", "--merges", "-1", f"{own}..{head}")
        if not merges.out.strip():
            return await _rebase(repo, tip, head, candidate, own)
        # Its branch holds a merge (the target merged in for a revision round, its conflicts
        # resolved there): a replay would drop that resolution and conflict again. Its merged
        # change lands as one commit on the tip instead, as a squash would.
        strategy = "squash"
    ours = await _squash_base(repo, tip, head, candidate.start) if strategy == "squash" else tip
    tree, files, info = await preflight(repo, ours, head)
    if tree is None:
        details = await conflict_sides.details(repo, tip, candidate, files, info)
        return Landing(candidate.task_id, "conflicted", None, files, details)
    # Only a merge that changes nothing can be of a head the target already contains: the
    # ancestry question (one more git process) is asked only then.
    unchanged = tree == await _tree_of(repo, tip)
    if unchanged and await repo.is_ancestor(head, tip):
        return Landing(candidate.task_id, "landed", tip, [], "already contained in the target")
    if strategy == "squash" and unchanged:
        return Landing(candidate.task_id, "landed", tip, [], "no changes left to land")
    parents = [tip, head] if strategy == "merge" else [tip]
    subject = candidate.message
    if len(parents) == 1 and subject.startswith("Merge "):  # one parent: a squash, not a merge commit
        subject = "Squash " + subject[len("Merge "):]
    message = _with_trailers(subject, candidate.trailers)
    commit = await _commit_tree(repo, tree, parents, message)
    return Landing(candidate.task_id, "landed", commit, [], f"{strategy} of {candidate.branch}")


async def _squash_base(repo: GitRepo, tip: str, head: str, start: str | None) -> str:
    """What `head` is merged into for a squash: `tip` itself, unless the task started from a
    commit the tip does not contain (a dependency's head, landed squashed: its content is on the
    tip, its commits are not). Then the merge base must be that start, or the dependency's
    change meets its own squashed copy: a throwaway commit holding the tip's tree on top of
    `start` makes it so (git 2.39 has no `merge-tree --merge-base`), i.e. a cherry-pick of
    start..head."""
    if await _own_start(repo, tip, head, start) == tip:
        return tip
    assert start is not None
    return await _commit_tree(repo, await _tree_of(repo, tip), [start], "launcher: squash base",
                              throwaway=True)


async def _own_start(repo: GitRepo, tip: str, head: str, start: str | None) -> str:
    """Where the task's own commits begin: `start` when the task started from a commit the tip
    does not contain (a dependency's head, landed squashed or rebased: its content is on the
    tip, its commits are not), else `tip` itself."""
    if not start or start in (head, tip) or await repo.is_ancestor(start, tip):
        return tip
    if not await repo.is_ancestor(start, head):  # not its start after all
        return tip
    return start


async def _rebase(repo: GitRepo, tip: str, head: str, candidate: Candidate, own: str) -> Landing:
    # own..head (like `git rebase --onto tip own`): commits the target already has, and a
    # dependency's commits it holds as rebased copies, are not replayed.
    listed = await repo.git("rev-list", "--reverse", "--no-merges", f"{own}..{head}")
    base_tree = await _tree_of(repo, tip)
    steps: list[tuple[str, dict[str, str], str]] = []
    for commit in listed.out.split():
        fmt = "--format=%an%x00%ae%x00%ad%x00%P%x00%B"
        shown = await repo.git("show", "-s", "--date=raw", fmt, commit)
        name, email, date, parents, message = shown.out.split("\0", 4)
        # git 2.39 has no `merge-tree --merge-base`: a throwaway commit holding the current tree
        # on top of the original parent makes that parent the merge base, i.e. a cherry-pick.
        ours = await _commit_tree(repo, base_tree, parents.split()[:1], "launcher: replay base",
                                  throwaway=True)
        tree, files, info = await preflight(repo, ours, commit)
        if tree is None:
            prefix = f"replaying {commit[:12]} {message.splitlines()[0] if message else ''}: "
            details = await conflict_sides.details(repo, tip, candidate, files, info, prefix)
            return Landing(candidate.task_id, "conflicted", None, files, details)
        if tree != base_tree:  # a commit that became empty is dropped, as `git rebase` does
            author = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
            steps.append((message, author, tree))
            base_tree = tree
    new = tip
    for n, (message, author, tree) in enumerate(steps):
        last = n == len(steps) - 1
        message = commits.reserved_lines_dropped(message)  # the agent's text: see app/land/origin.py
        text = _with_trailers(message, candidate.trailers) if last else message.strip()
        new = await _commit_tree(repo, tree, [new], text or "(no message)", author)
    detail = f"rebased {len(steps)} commit(s) of {candidate.branch}"
    if not steps:
        detail = "no changes left to land"
    return Landing(candidate.task_id, "landed", new, [], detail)


async def land_queue(
    repo: GitRepo,
    *,
    tip: str,
    candidates: list[Candidate],
    strategy: Strategy,
    integration_check: IntegrationCheck | None = None,
    screened: bool | Collection[str] = False,
) -> tuple[str, list[Landing]]:
    """Fold candidates onto `tip` in order; one that cannot land is skipped, the rest go on.
    `screened`: True, or the ids of the candidates that already passed the include-file and
    marker screens onto an ancestor of `tip` (see `merge_commit`)."""
    tip = tip if _is_sha(tip) else await repo.rev_parse(tip)
    landings: list[Landing] = []
    done = {c.task_id for c in candidates} if screened is True else set() if screened is False else set(screened)
    unscreened = [c for c in candidates if c.task_id not in done]
    prescreened = len(unscreened) > 1  # (one alone is screened in merge_commit)
    refused = await _prescreen(repo, tip, unscreened) if prescreened else {}
    for candidate in candidates:
        if candidate.task_id in refused:
            landings.append(refused[candidate.task_id])
            continue
        landing = await merge_commit(repo, tip=tip, candidate=candidate, strategy=strategy,
                                     screened=prescreened or candidate.task_id in done)
        if landing.outcome == "landed" and landing.commit and landing.commit != tip:
            if integration_check is not None:
                ok, output = await integration_check(landing.commit)
                if not ok:
                    landing = Landing(candidate.task_id, "check_failed", None, [], (
                        f"integration check failed on {landing.commit[:12]}:\n{output}").rstrip())
            if landing.commit:
                tip = landing.commit
        landings.append(landing)
    return tip, landings


async def _prescreen(repo: GitRepo, tip: str, candidates: list[Candidate]) -> dict[str, Landing]:
    """The include-file and conflict-marker screens of every candidate, a few at once, before the
    fold (which is one merge after another): against the fold's first tip, not the tip each one
    meets in it, which only adds the commits of tasks folded before it to what is screened."""
    refused: dict[str, Landing] = {}

    async def screen(candidate: Candidate) -> None:
        head = candidate.head if _is_sha(candidate.head) else await repo.rev_parse(candidate.head)
        if (refusal := await _screen(repo, tip, head, candidate)) is not None:
            refused[candidate.task_id] = refusal

    await each(candidates, screen, _SCREEN_PARALLEL)
    return refused


async def _screen(repo: GitRepo, tip: str, head: str, candidate: Candidate) -> Landing | None:
    """The refusal of a candidate that commits an include-copied file or adds conflict markers."""
    if (leaked := await secret_guard.refusal(repo, tip, head, candidate.branch, candidate.forbidden_paths,
                                             candidate.forbidden_blobs)) is not None:
        return Landing(candidate.task_id, "refused", None, [], leaked)
    # Both refusals are named when both apply (a conflict note left as it is has marker lines).
    reasons, unresolved = [], []
    if candidate.resolution is not None:
        merged, paths = candidate.resolution
        if unresolved := await resolution.still_unresolved(repo, merged, head, paths):
            reasons.append(f"{candidate.branch} leaves its merge conflict unresolved in {', '.join(unresolved)}: "
                           f"still exactly as the resolution merge {merged[:12]} left it")
        if kept := [p for p in await resolution.made_up_kept(repo, merged, head, paths) if p not in unresolved]:
            unresolved = [*unresolved, *kept]
            reasons.append(f"{candidate.branch} keeps {', '.join(kept)}, a name git made up for its merge "
                           "conflict (a file moved aside for a directory or another file of that name): "
                           "give that content a name of its own (`git mv`) or remove it")
    # A head the target already contains adds no lines (its diff from the fork is empty).
    if left := await markers.added_markers(repo, tip, head):
        reasons.append(markers.refusal("it also" if reasons else candidate.branch, left))
    return Landing(candidate.task_id, "refused", None, unresolved, "; ".join(reasons)) if reasons else None
