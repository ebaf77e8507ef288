"""The commits the launcher writes itself, signed as the user's own `git commit` would sign them.

`git commit` (an agent's work, a resolution merge: git/commits.py) follows commit.gpgsign by
itself; `git commit-tree`, plumbing, never does. So every commit the launcher writes with
`commit-tree` that can end up on a branch (a landing's merge, squash or replayed commit, the
merge of a task's dependencies it starts from) is written here, with `-S` when commit.gpgsign is
on: git then signs with user.signingkey (or the committer's identity), gpg.format and
gpg.program exactly as `git commit` does. The preflight (app/run/preflight.py) has checked that
signing works; if it stops working mid-run (a key agent gone, a smartcard pulled) the commit is
not written and nothing moves: an error says so, never an unsigned commit in its place."""

from __future__ import annotations

from launcher.errors import EnvironmentProblem, GitFailed
from launcher.git.repo import GitRepo

# A signer that waits for a passphrase nobody types (the preflight's limit too).
SIGNING_TIMEOUT = 60.0


async def signs_commits(repo: GitRepo) -> bool:
    """Whether the user's config asks git to sign every commit (commit.gpgsign), read once."""
    if repo.signs_commits is None:
        on = await repo.git("config", "--type=bool", "--get", "commit.gpgsign", check=False)
        repo.signs_commits = on.out.strip() == "true"
    return repo.signs_commits


async def commit_tree(repo: GitRepo, tree: str, parents: list[str], message: str, *,
                      author: dict[str, str] | None = None, throwaway: bool = False) -> str:
    """Write a commit of `tree` on `parents` (no ref moves) and return its id. `author`: the
    GIT_AUTHOR_* a replayed commit keeps. `throwaway`: a scratch commit no branch will ever hold
    (a merge base made for merge-tree), never signed."""
    sign = not throwaway and await signs_commits(repo)
    args = ["commit-tree", *(["-S"] if sign else []), tree,
            *[arg for parent in parents for arg in ("-p", parent)], "-m", message]
    # repo.git always uses the user's identity; a replayed commit keeps its original author.
    # (through repo.git: git running out of space is a full disk, never "check the commits")
    # A signer past SIGNING_TIMEOUT is said below; an unsigned commit-tree past the repository's
    # git time limit is GitTimedOut (repo.git).
    done = await repo.git(*args, env={**repo.env, **(author or {})}, check=False,
                          timeout=SIGNING_TIMEOUT if sign else None, timed_out_ok=sign)
    if done.ok:
        return done.out.strip()
    said = (done.err or done.text).strip()
    if sign:
        why = (f"the signer did not answer within {SIGNING_TIMEOUT:g} s" if done.timed_out
               else "; ".join(said.splitlines()[:3]) or f"exit {done.returncode}")
        raise EnvironmentProblem(
            f"commit.gpgsign is on, but git could not sign the commit the launcher was writing "
            f"({message.splitlines()[0][:80]!r}): {why}; it was not written and no branch moved",
            where=f"{repo.root} (git config commit.gpgsign)",
            fix="make signing work again (`git commit --allow-empty -S -m test` must succeed here: "
                "your key, its agent, gpg.program / gpg.format), then `launcher land RUN` lands what "
                "is approved; or turn signing off for this repository: `git config commit.gpgsign false`",
            error_key="commit_signing_fails",
        )
    raise GitFailed(f"`git commit-tree` failed: {said}", where=str(repo.root),
                    fix="check that the commits exist in this repository")
