"""A credential in the git configuration agents share is refused before a run starts.

Every task worktree reads the main checkout's git configuration, so what it holds is within
every agent's, check's and grader's reach with a plain `git config`: an `http.<url>.extraheader`
carrying an `Authorization` header (what `actions/checkout` writes with its default
`persist-credentials: true`: the job's GITHUB_TOKEN, which can push) or a remote URL with a
password in it would reach agents that the environment allowlist keeps it from (README, "What an
agent gets"). The launcher refuses such a run, naming the setting and where it is, never its value.
"""

from __future__ import annotations

import re

from launcher.errors import EnvironmentProblem
from launcher.git.repo import GitRepo

_KEYS = r"^(http\..*\.extraheader|http\.extraheader|remote\..*\.url|remote\..*\.pushurl)$"
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]+@", re.IGNORECASE)


def _holds_credential(key: str, value: str) -> bool:
    if key.endswith("extraheader"):
        return value.strip().lower().startswith(("authorization:", "proxy-authorization:"))
    return bool(_URL_PASSWORD.match(value.strip()))


async def check_shared_credentials(repo: GitRepo) -> None:
    """EnvironmentProblem when the git configuration agents read holds a credential."""
    found = await repo.git("config", "--show-origin", "--get-regexp", _KEYS, check=False)
    held = []
    for line in found.out.splitlines():
        origin, _, rest = line.partition("\t")
        key, _, value = rest.partition(" ")
        if _holds_credential(key, value):
            held.append(f"{key} ({origin.removeprefix('file:')})")
    if not held:
        return
    raise EnvironmentProblem(
        f"the git configuration every agent reads holds a credential: {', '.join(held)}; each "
        "agent, check and grader could read it with `git config` (and push with it)",
        where=str(repo.root),
        fix="remove it before the run: `git config --unset-all <key>` for an extraheader, a remote URL "
            "without the password (`git remote set-url <name> <url>`, a credential helper instead); in "
            "GitHub Actions, `persist-credentials: false` on actions/checkout, the token given to the "
            "push step only (docs/github-actions-run.yml); nothing was created",
        error_key="shared_git_credentials",
    )
