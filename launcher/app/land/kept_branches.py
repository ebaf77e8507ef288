"""Which of a run's branches and refs `launcher clean` must keep: work that is not on the target.

An integration branch holds a landing that could not move the target; an approved (or merged,
onto an integration branch) task's branch holds work the user was told to merge; a failed or
conflicted task's branch, and the refs under `refs/launcher/<run>/` (an interrupted agent's
partial work, an earlier attempt, what an agent committed elsewhere), hold an agent's commits
nothing else may reach. No ref holding commits the target does not reach is deleted without
`--force` (DESIGN section 14): `clean` keeps each one and says what it holds.
"""

from __future__ import annotations

from launcher.errors import RunNotFound
from launcher.git import target_tree, worktrees
from launcher.git.repo import GitRepo
from launcher.models.states import TaskState
from launcher.store.journal import Journal, RunRow

_APPROVED = frozenset({TaskState.APPROVED, TaskState.MERGED})


async def _target_ref(repo: GitRepo, run: RunRow | None) -> str | None:
    target = run.target if run else await repo.current_branch()
    if not target:
        return None
    found = await repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{target}", check=False)
    return f"refs/heads/{target}" if found.ok else None


async def _not_on_target(repo: GitRepo, ref: str, target_ref: str | None) -> tuple[int, list[str]]:
    """(commits of `ref` the target does not reach, the tasks their trailers name)."""
    exclude = ["--not", target_ref] if target_ref else []
    count = await repo.git("rev-list", "--count", ref, *exclude)
    tasks = await repo.git("log", "--format=%(trailers:key=Launcher-Task,valueonly)", ref, *exclude)
    named = sorted({line.strip() for line in tasks.out.splitlines() if line.strip()})
    return int(count.out.strip() or 0), named


async def branches_to_keep(repo: GitRepo, journal: Journal, run_id: str) -> dict[str, str]:
    """Branch name -> the line `clean` prints for keeping it."""
    try:  # one row, not the whole history: clean --all asks this for every run that holds something
        run: RunRow | None = journal.run(run_id)
    except RunNotFound:
        run = None
    rows = {row.branch: row for row in journal.tasks(run_id) if row.branch} if run else {}
    target_ref = await _target_ref(repo, run)
    target = target_ref.removeprefix("refs/heads/") if target_ref else "the target"
    legacy = f"{worktrees.BRANCH_PREFIX}/{run_id}/{worktrees.LEGACY_INTEGRATION}"
    kept: dict[str, str] = {}
    for branch in await worktrees.list_launcher_branches(repo, run_id):
        row = rows.get(branch)
        integration = worktrees.is_integration_branch(run_id, branch) or (
            branch == legacy and (run is None or run.landed_on == branch))
        commits, tasks = await _not_on_target(repo, f"refs/heads/{branch}", target_ref)
        if not commits or (target_ref and await target_tree.adds_nothing(repo, f"refs/heads/{branch}", target_ref)):
            continue  # its changes are all on the target (a later landing folded them anew)
        if not tasks and row is not None:
            tasks = [row.task_id]
        if integration or (row is not None and row.state in _APPROVED):
            what = f"approved work of {', '.join(tasks)}" if tasks else "approved work"
            how = f"merge it with `git merge {branch}` on {target}"
        else:
            what = f"the {row.state.value} task {row.task_id}'s work" if row else "work of no known task"
            how = f"look at it with `git log {target}..{branch}`"
        kept[branch] = (f"kept branch {branch}: {commits} commit(s) not on {target} ({what}); {how}, "
                        f"or delete it with `launcher clean {run_id} --force`")
    saved = await repo.git("for-each-ref", "--format=%(refname) %(objecttype)",
                           f"refs/{worktrees.BRANCH_PREFIX}/{run_id}/")
    for line in saved.out.splitlines():
        ref, _, kind = line.rpartition(" ")
        if held := _tag_or_object(ref, kind):  # its name or object is held by no other ref
            kept[ref] = (f"kept ref {ref}: {held}; delete it with `launcher clean {run_id} --force`")
            continue
        if ref.endswith("/idle-head") and await _held_by_kept_branch(repo, run_id, ref, kept):
            continue  # an idle task's recorded commit (app/run/containment.py), still on its branch
        commits, _ = await _not_on_target(repo, ref, target_ref)
        if commits:
            kept[ref] = (f"kept ref {ref}: {commits} commit(s) not on {target} (an agent's work the "
                         f"run set aside); delete it with `launcher clean {run_id} --force`")
    return kept


async def _held_by_kept_branch(repo: GitRepo, run_id: str, ref: str, kept: dict[str, str]) -> bool:
    """Whether the task branch beside `refs/launcher/<run>/<task>/idle-head` stays and holds it."""
    branch = worktrees.branch_name(run_id, ref.split("/")[-2])
    if branch not in kept:
        return False
    held = await repo.git("merge-base", "--is-ancestor", ref, f"refs/heads/{branch}", check=False)
    return held.ok


def _tag_or_object(ref: str, kind: str) -> str:
    """What a ref the run set aside holds that commits on the target do not: a tag the ref guard
    took out of `refs/tags/` (app/run/containment.py; it may be the user's, and an annotated
    tag's object is held by nothing else), or an object that is no commit (a tree or blob a
    replace ref set). "" when it holds commits only."""
    tag = ref.partition("/moved/tags/")[2]
    if tag:
        return (f"tag {tag} ({'annotated' if kind == 'tag' else 'lightweight'}), taken out of refs/tags/ while "
                f"the run's agents worked; if it is yours, put it back with `git update-ref refs/tags/{tag} {ref}`")
    if kind != "commit":
        return f"a {kind} object no other ref holds"
    return ""
