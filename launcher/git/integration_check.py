"""The integration check: the user's command run on a merge result (or any commit) in a throwaway
detached worktree of it, `<root>/<run>/_integration/<commit>`, removed whatever happens; what it
printed (its tail) and whether it passed come back. It runs merged agent code, so it gets the
environment the caller builds for it, or only PATH and HOME.

What the check left in the shared repository besides its scratch tree is looked at before that
tree goes (`CheckTrace`): the commits made in it (a ref the check moved to one of them is the
check's doing, never the user's), and the worktrees it registered (`git worktree add`), which
are removed: one in the launcher's own run directory always, one elsewhere when git can remove it
without losing a change (else it is left, and said with the command that removes it)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from launcher import process
from launcher.git import guard, ref_guard, submodules, worktrees
from launcher.git.registered import registered_worktree
from launcher.git.repo import GitRepo
from launcher.models.redact import mask

_TAIL_CHARS = 4000
_MADE_LIMIT = 1000  # commits made in the scratch tree that are listed (a check makes a few)


@dataclass
class CheckTrace:
    """What one run of the check left in the shared repository (filled by `run_integration_check`)."""

    made: set[str] = field(default_factory=set)  # commits made (or checked out) in its scratch tree
    removed: list[Path] = field(default_factory=list)  # worktrees it registered: removed
    left: list[Path] = field(default_factory=list)  # worktrees it registered that have changes: left
    exit_code: int | None = None  # how the command ended (None: it did not run)
    duration_s: float = 0.0
    timed_out: bool = False

    def worktrees_said(self) -> str | None:
        """The sentence for the worktrees the check registered (None: it registered none)."""
        if not self.removed and not self.left:
            return None
        said = []
        if self.removed:
            said.append(f"{', '.join(map(str, self.removed))} (removed)")
        said += [f"{path} (left: it has changes git would lose; `git worktree remove --force {path}` "
                 "removes it)" for path in self.left]
        return f"the integration check registered worktrees of the shared repository: {'; '.join(said)}"


def _registrations(repo: GitRepo) -> dict[str, Path | None]:
    """Each linked worktree's admin dir name -> the worktree it registers (from its `gitdir`)."""
    found: dict[str, Path | None] = {}
    with contextlib.suppress(OSError):
        for admin in (repo.common_dir / "worktrees").iterdir():
            found[admin.name] = registered_worktree(admin)
    return found


async def _made_in(repo: GitRepo, admin: str | None, commit: str) -> set[str]:
    """Commits the scratch tree's HEAD pointed at that `commit` does not reach (its reflog, and
    HEAD itself): what the check committed (or checked out) there."""
    if admin is None:
        return set()
    pointed = ref_guard.reflog_commits(repo.common_dir / "worktrees" / admin / "logs" / "HEAD")
    with contextlib.suppress(OSError, UnicodeDecodeError):  # its HEAD file, whatever became of its `.git`
        head = (repo.common_dir / "worktrees" / admin / "HEAD").read_text(encoding="utf-8").strip()
        if head.startswith("ref: "):
            found = await repo.git("rev-parse", "--verify", "--quiet", f"{head[5:]}^{{commit}}", check=False)
            head = found.out.strip() if found.ok else ""
        if head:
            pointed.add(head)
    pointed -= {commit, "0" * 40}
    if not pointed:
        return set()
    listed = await repo.git("rev-list", f"--max-count={_MADE_LIMIT}", "--ignore-missing", *sorted(pointed),
                            "--not", commit, check=False)
    return set(listed.out.split()) if listed.ok else pointed


async def _remove_registered(repo: GitRepo, added: dict[str, Path | None], own_area: Path,
                             trace: CheckTrace) -> None:
    """Remove the worktrees the check registered (caller holds the repository lock). One in the
    launcher's own run directory goes whatever it holds; one elsewhere only when git can remove
    it without losing a change (a worktree of the user's made meanwhile is never emptied)."""
    for name, path in sorted(added.items()):
        admin = repo.common_dir / "worktrees" / name
        if (admin / guard.OWN_WORKTREE_MARK).exists():
            continue  # a launcher process added it (another run, a warm pool): not the check's
        if path is None:
            shutil.rmtree(admin, ignore_errors=True)  # a registration of nothing
            continue
        ours = worktrees.is_under(path.absolute(), own_area)
        force = ("--force", "--force") if ours else ()
        done = await repo.git("worktree", "remove", *force, str(path), check=False, timed_out_ok=True)
        if not done.ok and ours:
            shutil.rmtree(path, ignore_errors=True)
            shutil.rmtree(admin, ignore_errors=True)
        (trace.removed if done.ok or ours else trace.left).append(path)


async def run_integration_check(
    repo: GitRepo, commit: str, command: str, scratch: Path, timeout: float,
    env: Callable[[Path], Mapping[str, str]] | None = None, trace: CheckTrace | None = None,
    prepare: Callable[[Path], Awaitable[None]] | None = None, secrets: Mapping[str, str] | None = None,
) -> tuple[bool, str]:
    """Run `command` in a throwaway detached worktree of `commit`: (ok, output tail). `env` makes
    the command's whole environment from the checked-out scratch tree (the run passes
    `engine.command_env`, which looks at the tree's layout); without it the command gets only
    PATH and HOME: it runs merged agent code and must not see our secrets. `trace` gets what it
    left in the shared repository (the worktrees it registered are removed either way).
    `prepare` sets the checked-out tree up as a task's worktree is before the command runs (the
    run copies the `.worktreeinclude` files in: a `node_modules`); all of it goes with the tree.
    `secrets` (value -> name, what the run passes through `check_env`) are masked in the output
    before its tail is cut, so a value at the tail's edge is never half shown."""
    trace = trace if trace is not None else CheckTrace()
    scratch.parent.mkdir(parents=True, exist_ok=True)
    async with repo.lock.hold():
        if scratch.exists():  # left by a launcher killed while checking this commit: start afresh
            await repo.git("worktree", "remove", "--force", "--force", str(scratch), check=False, timed_out_ok=True)
            shutil.rmtree(scratch, ignore_errors=True)
            await worktrees.forget(repo, scratch)
        await worktrees.add(repo, "--detach", "--force", path=scratch, start=commit)
        registered = _registrations(repo)
    own_admin = next((name for name, path in registered.items()
                      if path is not None and worktrees.same_path(path, scratch)), None)
    if own_admin is not None:  # what the check commits there is known even with reflogs off
        ref_guard.keep_reflog(repo.common_dir / "worktrees" / own_admin / "logs" / "HEAD")
    try:
        missing = await submodules.check_out(repo, scratch)
        if prepare is not None:
            await prepare(scratch)
        if env is not None:
            run_env = dict(env(scratch))
        else:
            run_env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
        res = await process.run_command(["/bin/sh", "-c", command], cwd=scratch, env=run_env, timeout=timeout)
    finally:
        with anyio.CancelScope(shield=True):  # never leave the scratch worktree behind
            async with repo.lock.hold():
                added = {name: path for name, path in _registrations(repo).items() if name not in registered}
                await _remove_registered(repo, added, scratch.parent.parent, trace)
                trace.made = await _made_in(repo, own_admin, commit)
                await repo.git("worktree", "remove", "--force", str(scratch), check=False, timed_out_ok=True)
                if scratch.exists():
                    shutil.rmtree(scratch, ignore_errors=True)
                await worktrees.forget(repo, scratch)
    trace.exit_code, trace.duration_s, trace.timed_out = res.returncode, round(res.duration_s, 3), res.timed_out
    printed = mask(res.text + res.err, secrets) if secrets else res.text + res.err  # bounded (COMMAND_KEEP)
    output = "".join(f"[launcher: {line}]\n" for line in missing) + printed[-_TAIL_CHARS:]
    if res.timed_out:
        output += f"\n[launcher: integration check timed out after {timeout:g}s]"
    return res.ok, output
