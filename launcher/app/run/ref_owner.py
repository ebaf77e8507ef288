"""Whose change of a shared ref is it, by what it holds (app/run/containment.py asks, under the
repository lock, once per check of the refs; time decides only what this cannot).

A change is an agent's when it brings a commit made in a worktree of the run: one its task's
HEAD or branch ever pointed at (their reflogs). It is the user's, by its content, when no such
commit is in it and it is what the user's own git does in the main checkout while a run goes
on (git/ref_guard.py lists the rules):
- a fast-forward (`git commit`, `git pull --ff-only`, `git merge`);
- a new tag a `git fetch` / `git pull` there brought (its FETCH_HEAD lists it, or a
  remote-tracking branch that moved meanwhile brought its commit, which no ref reached before),
  or a new tag on a commit an earlier rule took for the user's (`git commit` then `git tag`);
  never a moved or deleted tag (a fetch does not move one without `--force`);
- a branch's own commits rebased onto its upstream (`git pull` with `pull.rebase`): its new tip
  holds the upstream's tip and copies of the commits it drops, nothing else of its own (a copy
  with another patch, when its reflog says a `git rebase` of it finished: a resolved conflict).
"""

from __future__ import annotations

from pathlib import Path

from launcher.app.context import RunContext
from launcher.git import ref_guard, worktrees
from launcher.git.ref_guard import RefChange, RefState


class RefOwners:
    """One check's answers: what each task's worktrees made, and the tags, are read once."""

    def __init__(self, ctx: RunContext, before: RefState, now: RefState) -> None:
        self.ctx = ctx
        self.before, self.now = before, now  # the refs read at the last check, and now
        self._made: dict[str, set[str]] = {}
        self._tags: dict[str, tuple[str, str]] | None = None

    async def makers(self, commits: set[str]) -> list[str]:
        """The tasks (in plan order) that made one of `commits` in their worktrees."""
        found = []
        for task in self.ctx.plan.tasks:
            if task.id not in self._made:
                self._made[task.id] = await _commits_made_by(self.ctx, task.id)
            if commits & self._made[task.id]:
                found.append(task.id)
        return found

    async def fast_forward_makers(self, change: RefChange) -> list[str] | None:
        """None: `change` is no fast-forward; else the tasks whose commits it adds (none: the
        user's own commits, remembered for the tags put on them)."""
        if not await ref_guard.is_fast_forward(self.ctx.repo, change):
            return None
        return await self._makers_of_added(change)

    async def is_users(self, change: RefChange) -> bool:
        """A change that is not a fast-forward and is still the user's by what it holds."""
        if change.ref.startswith("refs/tags/") and change.new is not None:
            return await self._users_tag(change)
        repo = self.ctx.repo
        if change.ref.startswith("refs/heads/") and await ref_guard.rebased_copies(
                repo, change, by_author=ref_guard.rebase_finished(repo.common_dir, change)):
            return not await self._makers_of_added(change)
        return False

    async def _makers_of_added(self, change: RefChange) -> list[str]:
        added = set(await ref_guard.added_commits(self.ctx.repo, change))
        makers = await self.makers(added)
        if not makers:
            self.ctx.user_commits |= added
        return makers

    async def _users_tag(self, change: RefChange) -> bool:
        if self._tags is None:
            self._tags = await ref_guard.tag_commits(self.ctx.repo)
        oid, tagged = self._tags.get(change.ref, ("", ""))
        if change.old is not None or oid != change.new or await self.makers({tagged}):
            # A fetch never moves a tag without --force; moved again since it was read (the
            # next check judges it); or an agent's commit.
            return False
        name = change.ref.removeprefix("refs/tags/")
        repo = self.ctx.repo
        if tagged in self.ctx.user_commits:
            return True
        if ref_guard.fetched_tags(repo.git_dir, repo.common_dir).get(name) == change.new:
            return True
        return await ref_guard.fetched_with_remote(repo, tagged, self.before, self.now)


async def _commits_made_by(ctx: RunContext, task_id: str) -> set[str]:
    """Commits made in the task's worktree: those its HEAD or branch ever pointed at (their
    reflogs), and their ancestors, that its start commit does not reach. The start itself (the
    branch's creation entry) and what a recycled pool worktree pointed at before are not the
    task's: a fast-forward bringing the base to another branch is the user's (or another run's)."""
    row = ctx.journal.task(ctx.run_id, task_id)  # a `land --from` task's are its shard's
    branch = row.branch or worktrees.branch_name(ctx.run_id, task_id)
    logs = [ctx.repo.common_dir / "logs" / "refs" / "heads" / branch]
    admin = worktrees.admin_dir(Path(row.worktree) if row.worktree else ctx.worktree_path(task_id))
    if admin is not None:
        logs.append(admin / "logs" / "HEAD")
    pointed: set[str] = set()
    for log in logs:
        pointed |= ref_guard.reflog_commits(log)
    pointed.discard("0" * 40)
    if not pointed:
        return set()
    start = row.start_sha or ctx.base_sha
    made = await ctx.repo.git("rev-list", "--ignore-missing", *sorted(pointed), "--not", start, check=False)
    return set(made.out.split()) if made.ok else pointed
