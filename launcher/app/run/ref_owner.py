"""Whose change of a shared ref is it, by what it holds (app/run/containment.py asks, under the
repository lock, once per check of the refs; time decides only what this cannot).

A change is an agent's when it brings a commit made in a worktree of the run: one its task's
HEAD or branch ever pointed at (their reflogs). The launcher creates those two reflogs itself
before each round (`keep_reflogs`): git appends to an existing reflog whatever
`core.logAllRefUpdates` says, so a user's config that turns reflogs off (or an agent's) does not
hide an agent's commits. A reflog deleted or cut short while the task's code ran proves nothing
any more: a change that would be the user's by its content is then the agent's all the same
(`unproven`), put back and kept. It is the user's, by its content, when no such
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
from launcher.git import ref_guard, worktree_admin, worktrees
from launcher.git.ref_guard import RefChange, RefState


class RefOwners:
    """One check's answers: what each task's worktrees made, and the tags, are read once."""

    def __init__(self, ctx: RunContext, before: RefState, now: RefState, seen: set[str] | None = None) -> None:
        self.ctx = ctx
        self.before, self.now = before, now  # the refs read at the last check, and now
        self.seen = set() if seen is None else seen  # the tasks whose code ran since that check
        self._made: dict[str, set[str]] = {}
        self._unproven: list[str] | None = None
        self.noted: set[str] = set()  # tasks whose damaged reflogs a note named
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

    def unproven(self) -> list[str]:
        """The tasks whose code ran since the last check and whose reflogs, as the launcher kept
        them before their round, are gone or shorter: what they made cannot be known, so no
        change is the user's by what it holds (`_ref_culprit` blames by time instead)."""
        if self._unproven is None:
            self._unproven = [task for task in sorted(self.seen) if damaged_reflogs(self.ctx, task)]
        return self._unproven

    async def _makers_of_added(self, change: RefChange) -> list[str]:
        added = set(await ref_guard.added_commits(self.ctx.repo, change))
        makers = await self.makers(added)
        if not makers and not self.unproven():
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


def _reflogs(ctx: RunContext, task_id: str) -> list[Path]:
    """The reflogs of the task's branch and of its worktree's HEAD (when its `.git` is readable)."""
    row = ctx.journal.task(ctx.run_id, task_id)  # a `land --from` task's are its shard's
    branch = row.branch or worktrees.branch_name(ctx.run_id, task_id)
    logs = [ctx.repo.common_dir / "logs" / "refs" / "heads" / branch]
    admin = worktree_admin.admin_dir(Path(row.worktree) if row.worktree else ctx.worktree_path(task_id))
    if admin is not None:
        logs.append(admin / "logs" / "HEAD")
    return logs


def keep_reflogs(ctx: RunContext, task_id: str) -> None:
    """Before the task's round: make sure git records where its branch and its worktree's HEAD
    point, whatever the user's `core.logAllRefUpdates` (false: git writes no reflog it would
    have to create, but appends to one that exists, as the agent's own git does whatever its
    config), and remember how long each reflog is. Only the launcher's own branch and worktree
    are touched (never a reflog of the user's refs); appending nothing never truncates one, so
    no lock is needed (git itself opens a reflog with O_APPEND)."""
    sizes: dict[Path, int] = {}
    for log in _reflogs(ctx, task_id):
        # None: no reflog can be kept there (the branch or worktree is gone: found elsewhere)
        if (size := ref_guard.keep_reflog(log)) is not None:
            sizes[log] = size
    ctx.reflog_sizes[task_id] = sizes


def damaged_reflogs(ctx: RunContext, task_id: str) -> list[Path]:
    """The task's reflogs kept before its last round that are now gone or shorter (`git reflog
    expire`, a deleted `logs/` directory): the commits they listed cannot be known."""
    damaged = []
    for log, size in ctx.reflog_sizes.get(task_id, {}).items():
        try:
            if log.stat().st_size < size:
                damaged.append(log)
        except OSError:
            damaged.append(log)
    return damaged


async def _commits_made_by(ctx: RunContext, task_id: str) -> set[str]:
    """Commits made in the task's worktree: those its HEAD or branch ever pointed at (their
    reflogs), and their ancestors, that its start commit does not reach. The start itself (the
    branch's creation entry) and what a recycled pool worktree pointed at before are not the
    task's: a fast-forward bringing the base to another branch is the user's (or another run's)."""
    pointed: set[str] = set()
    for log in _reflogs(ctx, task_id):
        pointed |= ref_guard.reflog_commits(log)
    pointed.discard("0" * 40)
    if not pointed:
        return set()
    start = ctx.journal.task(ctx.run_id, task_id).start_sha or ctx.base_sha
    made = await ctx.repo.git("rev-list", "--ignore-missing", *sorted(pointed), "--not", start, check=False)
    return set(made.out.split()) if made.ok else pointed
