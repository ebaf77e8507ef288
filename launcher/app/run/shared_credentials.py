"""A credential in the git configuration agents share is refused before agents or checks run.

Every task worktree reads the main checkout's git configuration, so what it holds is within
every agent's, check's and grader's reach with a plain `git config --list`: an
`http.<url>.extraheader` carrying an `Authorization` header (what `actions/checkout` writes with
its default `persist-credentials: true`: the job's GITHUB_TOKEN, which can push), a URL with a
password in it (a remote's, an `url.<base>.insteadOf` rule's, a proxy's) would reach agents that
the environment allowlist keeps it from (README, "What an agent gets"). Every command that runs
agents, a task's checks or graders (`run`, `resume`, `choose`, `grade`, `land`, workflows,
`mutation judge`) refuses, naming the setting and where it is, never the credential.

What counts as a credential: a value in a place that carries one (every key and value of
`git config --list`, includes followed), never a name:
- a URL's password (`scheme://user:password@host`; a proxy's also without the scheme), in a value
  or in a URL that is part of a key (`url.https://x-access-token:TOKEN@github.com/.insteadof`);
- a known token form (GitHub's `ghp_`/`ghs_`/`github_pat_`..., GitLab's `glpat-`...) as a URL's user
  name (`https://ghp_xxx@github.com/`, `ghp_xxx@github.com:`) or in its query, in a header's value,
  in a credential helper, or as a setting's whole value;
- an extraheader whose name is a credential header (`Authorization`, `Proxy-Authorization`,
  `Cookie`, `PRIVATE-TOKEN`, `X-API-Key`: a name with the word auth, token, cookie, secret,
  password, credential or signature, or ending in `key`) or whose value is `Basic`/`Bearer`/...;
- a password-like setting with a value (`sendemail.smtppass`, `*.password`, `*.token`), and a
  credential helper that prints a literal `password=`.
Not a credential: a name (a branch, remote or alias called `glrt-runner-...`: branch and remote
names are not secrets, nor is a URL's path), a URL with only a user name (`git@host:`,
`https://user@host/`), a proxy without a password, an ordinary header (`Accept: ...`,
`X-Session-Affinity: ...`), a helper that computes the password when it runs (`$(pass ...)`,
`` `pass ...` ``, `$VAR`, a printf `%s`), a file that holds one (`http.cookieFile`, `http.sslKey`:
a path, not the secret). A key shown with its credential as `***` is one whose URL holds it: the
message names its section and the `git config --get-regexp` that lists it.
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
# A token as a URL's user name (`https://ghp_x@github.com`, `ghp_x@github.com:o/r`): whatever its length
_TOKEN_USER = re.compile(rf"(?P<scheme>://|^|(?<=[\s.]))(?:gh[pousr]_|github_pat_|{_GITLAB})[^/@\s:]*"
                         r"(?::[^/@\s]*)?@")
# The sections whose subsection is a URL (`[url "<base>"]`, `[http "<url>"]`, `[credential "<url>"]`,
# `[includeIf "hasconfig:remote.*.url:<url>"]`); any other key's subsection is a name (branch, remote, alias)
_URL_SECTIONS = ("url.", "http.", "credential.", "includeif.")
# A URL's query (`?private_token=...`): a token there is sent with every request
_URL_QUERY = re.compile(r"://[^\s?#]*\?(?P<query>[^\s#]*)")
# The words of a header name that make it carry a credential (X-Session-Affinity, X-Monkey-Id do not)
_HEADER_WORDS = frozenset({"authorization", "auth", "authentication", "cookie", "token", "apikey", "secret",
                           "password", "passwd", "credential", "credentials", "signature"})
_HEADER_VALUE = re.compile(r"\b(?:basic|bearer|token|digest)\s+[A-Za-z0-9+/=._~-]{8,}", re.IGNORECASE)
_SECRET_NAMES = frozenset({"smtppass", "password", "passwd", "pass", "token", "oauthtoken", "accesstoken",
                           "apitoken", "apikey", "secret"})
# `password=` followed by a literal: not `$(...)`, `` `...` ``, `$VAR` or a printf `%s`, quoted or not
_HELPER_PASSWORD = re.compile(r"password=(?![\"']?[$`%])[\"']?[^\s\"'`;}]+")


def _header_holds_credential(line: str) -> bool:
    """An extraheader `Name: value`: a credential header's name, an auth scheme's value, a token."""
    name, colon, value = line.partition(":")
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    by_name = bool(colon) and (bool(_HEADER_WORDS.intersection(words)) or (words[-1:] == ["key"]))
    return by_name or bool(_HEADER_VALUE.search(line)) or bool(_TOKEN.search(value if colon else line))


def _url_holds_credential(text: str) -> bool:
    """A password or token in a URL's user part, a token in its query (never its host or path)."""
    if _URL_PASSWORD.search(text) or _TOKEN_USER.search(text):
        return True
    return any(_TOKEN.search(m["query"]) for m in _URL_QUERY.finditer(text))


def holds_credential(key: str, value: str | None) -> bool:
    """Whether one configuration entry (key as `git config --list` gives it) holds a credential: in a
    URL (a key's own, for url.<base>.*, http.<url>.*, credential.<url>.*) or in a value that carries
    one; a key's name (a branch's, a remote's, an alias's) never does."""
    text = value or ""
    if (key.lower().startswith(_URL_SECTIONS) and _url_holds_credential(key)) or _url_holds_credential(text):
        return True
    name = key.rsplit(".", 1)[-1].lower()
    if name == "proxy" and _PROXY_PASSWORD.match(text):
        return True
    if name == "extraheader":
        return _header_holds_credential(text)
    if name == "helper" and key.lower().startswith("credential"):
        return bool(_HELPER_PASSWORD.search(text) or _TOKEN.search(text))
    if _TOKEN.fullmatch(text.strip()):  # a bare token as a setting's value (`github.pat`)
        return True
    # `alias.token` is a command's name, not a setting holding one
    return name in _SECRET_NAMES and bool(text.strip()) and not key.lower().startswith("alias.")


def redacted(key: str) -> str:
    """The key with the credential its URL carries (a password, a token user, a query) put as `***`."""
    key = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}***@", key)
    key = _TOKEN_USER.sub(lambda m: f"{m['scheme']}***@", key)
    return _URL_QUERY.sub(lambda m: m[0].replace(m["query"], _TOKEN.sub("***", m["query"])), key)


def credential_settings(listing: str) -> list[str]:
    """`key (origin)` of each entry holding a credential in `git config --show-origin -z --list`."""
    return [shown for shown, _ in _held(listing)]


def _held(listing: str) -> list[tuple[str, str | None]]:
    """Each entry holding a credential, and the section of its key when the key is shown masked."""
    fields = listing.split("\0")
    held: dict[str, str | None] = {}
    for origin, entry in zip(fields[0::2], fields[1::2], strict=False):
        key, newline, value = entry.partition("\n")
        if holds_credential(key, value if newline else None):
            where = origin.removeprefix("file:")
            shown = f"{redacted(key)} ({where})" if where else redacted(key)
            held.setdefault(shown, key.split(".", 1)[0] if redacted(key) != key else None)
    return list(held.items())


def _masked_keys_hint(sections: list[str]) -> str:
    """How to find a key shown as `***`: which section holds it, and the command that lists it."""
    if not sections:
        return ""
    names = list(dict.fromkeys(sections))
    pattern = names[0] if len(names) == 1 else f"({'|'.join(names)})"
    headers = ", ".join(f'[{name} "..."]' for name in names)
    return (f"; a key shown with *** holds the credential in its own URL, the name of a {headers} section: "
            f"`git config --show-origin --get-regexp '^{pattern}[.]'` lists it")


async def check_shared_credentials(repo: GitRepo) -> None:
    """EnvironmentProblem when the git configuration agents read holds a credential."""
    found = await repo.git("config", "--show-origin", "-z", "--list", check=False)
    held = _held(found.out)
    if not held:
        return
    masked = [section for _, section in held if section]
    raise EnvironmentProblem(
        f"the git configuration every agent reads holds a credential: {', '.join(s for s, _ in held)}; each "
        f"agent, check and grader could read it with `git config` (and push with it){_masked_keys_hint(masked)}",
        where=str(repo.root),
        fix="remove it before the run: `git config --unset-all <key>` (an extraheader, a proxy, a password "
            "setting; `git config --remove-section url.<base>` for an insteadOf rule), a remote URL without "
            "the password (`git remote set-url <name> <url>`, a credential helper instead); in GitHub "
            "Actions, `persist-credentials: false` on actions/checkout, the token given to the push step "
            "only (docs/github-actions-run.yml); nothing was created",
        error_key="shared_git_credentials",
    )
