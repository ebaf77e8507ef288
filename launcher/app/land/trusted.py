"""What `launcher land --from` checks against what the land job itself trusts, not against the
exports (which certify only themselves: a manifest's digests detect accidental damage, not an
edit whose digest was recomputed).

- The target branch here is not behind the remote branch it tracks: a CI re-run of the land job
  checks out the workflow's original commit, and a land from there would not see what an
  earlier attempt landed and pushed (it would land everything again, then fail at its push).
"""

from __future__ import annotations

from launcher.errors import UsageProblem
from launcher.git.repo import GitRepo


async def _tracked(repo: GitRepo, target: str) -> str | None:
    """The remote-tracking branch `target` follows: its upstream, else `origin/<target>`."""
    upstream = await repo.git("rev-parse", "--symbolic-full-name", f"refs/heads/{target}@{{upstream}}", check=False)
    ref = upstream.out.strip() if upstream.ok else ""
    if ref.startswith("refs/remotes/"):
        return ref
    origin = f"refs/remotes/origin/{target}"
    found = await repo.git("rev-parse", "--verify", "--quiet", f"{origin}^{{commit}}", check=False)
    return origin if found.ok else None


async def check_target_current(repo: GitRepo, target: str) -> None:
    """Refuse (exit 2) while the local `target` lacks commits its remote-tracking branch has."""
    tracked = await _tracked(repo, target)
    if tracked is None:
        return
    if await repo.is_ancestor(tracked, f"refs/heads/{target}"):
        return  # level with it, or ahead (an earlier land here, not pushed yet)
    name = tracked.removeprefix("refs/remotes/")
    count = await repo.git("rev-list", "--count", f"refs/heads/{target}..{tracked}", check=False)
    missing = count.out.strip() if count.ok else "some"
    checked_out = await repo.current_branch() == target
    fix = (
        f"`git merge --ff-only {name}` (in a CI job: `git checkout -B {target} {name}`)"
        if checked_out
        else f"`git branch -f {target} {name}`"
    )
    raise UsageProblem(
        f"branch {target!r}, which the exports land into, is behind {name} ({missing} commit(s) there are "
        f"not on it): a land from here would not see what was landed and pushed since (an earlier "
        "attempt of this land job, say), would land it again, and its push would be rejected",
        where=f"{repo.root} (branch {target})",
        error_key="usage:target_behind",
        fix=f"bring {target} to the remote's tip first: {fix}, then land again "
        f"(fetch first if {name} may be stale: `git fetch origin {target}`)",
    )
