"""What `launcher land --from` checks against what the land job itself trusts, not against the
exports (which certify only themselves: a manifest's digests detect accidental damage, not an
edit whose digest was recomputed).

- With `--plan PLAN`, the exports' plan is PLAN's (the plan file the shard jobs ran): a plan
  edited in an export, its digest recomputed, is refused rather than run (its integration check,
  its agent commands). Without it, the plan digest only detects damage.
- The target branch here is not behind the remote branch it tracks: a CI re-run of the land job
  checks out the workflow's original commit, and a land from there would not see what an
  earlier attempt landed and pushed (it would land everything again, then fail at its push).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.app.run import plans as plans_app
from launcher.app.run.shard import digest_of
from launcher.errors import UsageProblem
from launcher.git.repo import GitRepo


def _first_difference(left: Any, right: Any, at: str = "") -> tuple[str, Any, Any]:
    """Where two plan dumps first differ: (`run.integration_check`, left's value, right's)."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right), key=str):
            if left.get(key) != right.get(key):
                return _first_difference(left.get(key), right.get(key), f"{at}.{key}" if at else str(key))
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (one, other) in enumerate(zip(left, right, strict=True)):
            if one != other:
                return _first_difference(one, other, f"{at}[{index}]")
    return at or "(the whole plan)", left, right


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


async def check_plan_given(cwd: Path, plan_file: Path, exported: dict[str, Any], where: Path) -> None:
    """Refuse (exit 2) exports whose plan is not the plan `plan_file` loads to (as `launcher run
    PLAN` loads it: the shard jobs' export holds that)."""
    given = (await plans_app.plan_for_run(cwd, plan_file, [], None)).model_dump(mode="json", by_alias=True)
    if digest_of(given) == digest_of(exported):
        return
    field, theirs, ours = _first_difference(exported, given)
    raise UsageProblem(
        f"export refused: its plan differs from {plan_file} at `{field}` (export: {_shown(theirs)}; "
        f"{plan_file.name}: {_shown(ours)}): the export was edited after its shard job, or the shard "
        "jobs ran another plan",
        where=str(where),
        error_key="usage:plan_differs",
        fix="pass --plan the plan file the shard jobs ran (as they loaded it: `--on-cap` given to them "
        "changes `run.on_cap`); if they did run it, do not land this export: re-run the shard jobs",
    )


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
