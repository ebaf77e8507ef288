"""Whether a target branch has the history a landing of work built on a base commit needs.

A landing merges each task's branch into the target: git needs a commit both share. A target
with none (an orphan branch such as gh-pages; or, in a shallow clone, any branch whose fetched
history stops before the base) fails every landing with git's "refusing to merge unrelated
histories", after every agent ran. `launcher run` (`--into`) and `land --from` ask here first;
a landing that still meets it (the target replaced during the run) refuses that task with
`unrelated_said`. A shallow clone is named as such, with how to deepen it.
"""

from __future__ import annotations

from launcher.git.repo import GitRepo

DEEPEN = "deepen the clone: `git fetch --unshallow` (GitHub Actions: actions/checkout with `fetch-depth: 0`)"


async def is_shallow(repo: GitRepo) -> bool:
    done = await repo.git("rev-parse", "--is-shallow-repository", check=False)
    return done.ok and done.out.strip() == "true"


async def share_history(repo: GitRepo, a: str, b: str) -> bool:
    """Whether the two commits have a common ancestor (an error other than "none": taken as yes,
    for the caller's own git to report in its words)."""
    return (await repo.git("merge-base", a, b, check=False)).returncode != 1


def shallow_said(repo: GitRepo) -> str:
    return f"this clone is shallow ({repo.common_dir / 'shallow'} lists where its history stops)"


async def unrelated_said(repo: GitRepo, branch: str, tip: str) -> str:
    """Why `branch` cannot be merged into the target at `tip`: they share no history."""
    said = (f"{branch} shares no history with the target at {tip[:12]} (git: refusing to merge unrelated "
            "histories)")
    if await is_shallow(repo):
        return f"{said}: {shallow_said(repo)} and does not reach their common commit; {DEEPEN}, then land again"
    return f"{said}: the target was replaced by an unrelated history (rewritten, or an orphan branch)"
