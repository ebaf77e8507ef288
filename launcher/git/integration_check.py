"""The integration check: the user's command run on a merge result (or any commit) in a throwaway
detached worktree of it, `<root>/<run>/_integration/<commit>`, removed whatever happens; what it
printed (its tail) and whether it passed come back. It runs merged agent code, so it gets the
environment the caller builds for it, or only PATH and HOME."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import anyio

from launcher import process
from launcher.git import submodules, worktrees
from launcher.git.repo import GitRepo

_TAIL_CHARS = 4000


async def run_integration_check(
    repo: GitRepo, commit: str, command: str, scratch: Path, timeout: float,
    env: Callable[[Path], Mapping[str, str]] | None = None,
) -> tuple[bool, str]:
    """Run `command` in a throwaway detached worktree of `commit`: (ok, output tail). `env` makes
    the command's whole environment from the checked-out scratch tree (the run passes
    `engine.command_env`, which looks at the tree's layout); without it the command gets only
    PATH and HOME: it runs merged agent code and must not see our secrets."""
    scratch.parent.mkdir(parents=True, exist_ok=True)
    async with repo.lock.hold():
        if scratch.exists():  # left by a launcher killed while checking this commit: start afresh
            await repo.git("worktree", "remove", "--force", "--force", str(scratch), check=False)
            shutil.rmtree(scratch, ignore_errors=True)
            await worktrees.forget(repo, scratch)
        await worktrees.add(repo, "--detach", "--force", path=scratch, start=commit)
    try:
        missing = await submodules.check_out(repo, scratch)
        if env is not None:
            run_env = dict(env(scratch))
        else:
            run_env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
        res = await process.run_command(["/bin/sh", "-c", command], cwd=scratch, env=run_env, timeout=timeout)
    finally:
        with anyio.CancelScope(shield=True):  # never leave the scratch worktree behind
            async with repo.lock.hold():
                await repo.git("worktree", "remove", "--force", str(scratch), check=False)
                if scratch.exists():
                    shutil.rmtree(scratch, ignore_errors=True)
                await worktrees.forget(repo, scratch)
    output = "".join(f"[launcher: {line}]\n" for line in missing) + (res.out + res.err)[-_TAIL_CHARS:]
    if res.timed_out:
        output += f"\n[launcher: integration check timed out after {timeout:g}s]"
    return res.ok, output
