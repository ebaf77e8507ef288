"""A credential in the git configuration agents share is refused before agents or checks run.

Every task worktree reads the main checkout's git configuration, so what it holds is within
every agent's, check's and grader's reach with a plain `git config --list`: an
`http.<url>.extraheader` carrying an `Authorization` header (what `actions/checkout` writes with
its default `persist-credentials: true`: the job's GITHUB_TOKEN, which can push), a URL with a
password in it (a remote's, an `url.<base>.insteadOf` rule's, a proxy's) would reach agents that
the environment allowlist keeps it from (README, "What an agent gets"). Every command that runs
agents, a task's checks or graders (`run`, `resume`, `choose`, `grade`, `land`, workflows,
`mutation judge`) refuses, naming the setting and where it is, never the credential.

What counts as a credential (every key and value of `git config --list`, includes followed):
- a URL with a password (`scheme://user:password@host`; a proxy's also without the scheme),
  in a value or in a key (`url.https://x-access-token:TOKEN@github.com/.insteadof`);
- a known token form anywhere (GitHub's `ghp_`/`ghs_`/`github_pat_`..., GitLab's `glpat-`...),
  so also a token as a URL's user name (`https://ghp_xxx@github.com/`);
- an extraheader naming a credential (`Authorization`, `Proxy-Authorization`, `PRIVATE-TOKEN`,
  `Cookie`, `X-API-Key`, any name with auth/token/key/secret/cookie/session/password) or
  carrying a `Basic`/`Bearer` value;
- a password-like setting with a value (`sendemail.smtppass`, `*.password`, `*.token`), and a
  credential helper that prints a literal `password=`.
Not a credential: a URL with only a user name (`git@host:`, `https://user@host/`), a proxy
without a password, an ordinary header (`Accept: ...`), a file that holds one (`http.cookieFile`,
`http.sslKey`: a path, not the secret).
"""

from __future__ import annotations

import re

from launcher.errors import EnvironmentProblem
from launcher.git.repo import GitRepo

# `user:password@` after a scheme: the user part has no `@`, `/`, `:` (so `ssh://git@host:22` is not one)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)
# A proxy's value may leave the scheme out (`user:pass@proxy:3128`, git-config(1) http.proxy)
_PROXY_PASSWORD = re.compile(r"^\s*(?P<scheme>[a-z][a-z0-9+.-]*://)?[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)
# Token forms that say what they are: GitHub (classic, app, OAuth, refresh, fine-grained), GitLab.
_GITLAB = r"gl(?:pat|dt|ptt|cbt|rt|oas|ft|soat|agent)-"
_TOKEN = re.compile(rf"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{{12,}}|github_pat_[A-Za-z0-9_]{{12,}}"
                    rf"|{_GITLAB}[A-Za-z0-9_-]{{12,}})")
# A token as a URL's user name (`https://ghp_x@github.com`): a token whatever its length
_TOKEN_USER = re.compile(rf"(?P<scheme>://)(?:gh[pousr]_|github_pat_|{_GITLAB})[^/@\s:]*(?::[^/@\s]*)?@")
_HEADER_NAME = re.compile(r"auth|token|key|secret|cookie|session|passw|credential|signature", re.IGNORECASE)
_HEADER_VALUE = re.compile(r"\b(?:basic|bearer|token|digest)\s+[A-Za-z0-9+/=._~-]{8,}", re.IGNORECASE)
_SECRET_NAMES = frozenset({"smtppass", "password", "passwd", "pass", "token", "oauthtoken", "accesstoken",
                           "apitoken", "apikey", "secret"})
_HELPER_PASSWORD = re.compile(r"password=(?!\$)[^\s\"';}]+")


def holds_credential(key: str, value: str | None) -> bool:
    """Whether one configuration entry (key as `git config --list` gives it) holds a credential."""
    text = value or ""
    if any(p.search(s) for p in (_URL_PASSWORD, _TOKEN, _TOKEN_USER) for s in (key, text)):
        return True
    name = key.rsplit(".", 1)[-1].lower()
    if name == "proxy" and _PROXY_PASSWORD.match(text):
        return True
    if name == "extraheader":
        header, colon, _ = text.partition(":")
        return bool((colon and _HEADER_NAME.search(header)) or _HEADER_VALUE.search(text))
    if name == "helper" and key.lower().startswith("credential"):
        return bool(_HELPER_PASSWORD.search(text))
    # `alias.token` is a command's name, not a setting holding one
    return name in _SECRET_NAMES and bool(text.strip()) and not key.lower().startswith("alias.")


def redacted(key: str) -> str:
    """The key with whatever credential it carries (an insteadOf URL's password) put as `***`."""
    key = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}***@", key)
    key = _TOKEN_USER.sub(lambda m: f"{m['scheme']}***@", key)
    return _TOKEN.sub("***", key)


def credential_settings(listing: str) -> list[str]:
    """`key (origin)` of each entry holding a credential in `git config --show-origin -z --list`."""
    fields = listing.split("\0")
    held = []
    for origin, entry in zip(fields[0::2], fields[1::2], strict=False):
        key, newline, value = entry.partition("\n")
        if holds_credential(key, value if newline else None):
            where = origin.removeprefix("file:")
            shown = f"{redacted(key)} ({where})" if where else redacted(key)
            if shown not in held:
                held.append(shown)
    return held


async def check_shared_credentials(repo: GitRepo) -> None:
    """EnvironmentProblem when the git configuration agents read holds a credential."""
    found = await repo.git("config", "--show-origin", "-z", "--list", check=False)
    held = credential_settings(found.out)
    if not held:
        return
    raise EnvironmentProblem(
        f"the git configuration every agent reads holds a credential: {', '.join(held)}; each "
        "agent, check and grader could read it with `git config` (and push with it)",
        where=str(repo.root),
        fix="remove it before the run: `git config --unset-all <key>` (an extraheader, a proxy, a password "
            "setting; `git config --remove-section url.<base>` for an insteadOf rule), a remote URL without "
            "the password (`git remote set-url <name> <url>`, a credential helper instead); in GitHub "
            "Actions, `persist-credentials: false` on actions/checkout, the token given to the push step "
            "only (docs/github-actions-run.yml); nothing was created",
        error_key="shared_git_credentials",
    )
