"""Every place a CI recipe puts a token in the git configuration agents share is refused, and
what only looks like one is not.

The refusal covered an `Authorization` extraheader and a remote URL with a password. The most
common recipe for private dependencies, `git config --global url."https://x-access-token:$TOKEN@
github.com/".insteadOf https://github.com/`, keeps the token in the *key*; a proxy's URL, a
GitLab `PRIVATE-TOKEN:` header, a token as a URL's user name, a mail password hold one too. A run
with any of them is refused (exit 3, the key named with the credential put as `***`, never the
value); a URL with a user name only, a proxy without a password, an ordinary header run as
before."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import git
from helpers import run_one_command_agent, shared_credentials_problem

TOKEN = "ghs_FAKEtoken1234567890"

HOLDING = [
    (f"url.https://x-access-token:{TOKEN}@github.com/.insteadOf", "https://github.com/",
     "url.https://***@github.com/.insteadof"),
    (f"url.https://oauth2:{TOKEN}@gitlab.example/.pushInsteadOf", "https://gitlab.example/",
     "url.https://***@gitlab.example/.pushinsteadof"),
    ("url.https://ghp_abc123@github.com/.insteadOf", "https://github.com/", "url.https://***@github.com/.insteadof"),
    ("http.proxy", f"http://ci:{TOKEN}@proxy.example:3128", "http.proxy"),
    ("http.proxy", f"ci:{TOKEN}@proxy.example:3128", "http.proxy"),  # git takes a proxy without its scheme
    ("http.https://github.com/.proxy", f"socks5://ci:{TOKEN}@proxy.example:1080", "http.https://github.com/.proxy"),
    ("remote.origin.proxy", f"http://ci:{TOKEN}@proxy.example:3128", "remote.origin.proxy"),
    ("http.https://gitlab.example/.extraheader", f"PRIVATE-TOKEN: {TOKEN}", "http.https://gitlab.example/.extraheader"),
    ("http.extraheader", "X-API-Key: 0123456789abcdef", "http.extraheader"),
    ("http.extraheader", "Cookie: session=0123456789abcdef", "http.extraheader"),
    ("http.extraheader", "Proxy-Authorization: Basic eDp5eXl5eXl5eXk=", "http.extraheader"),
    ("remote.origin.url", "https://ghp_abc123@github.com/OWNER/REPO", "remote.origin.url"),
    ("remote.origin.url", "https://glpat-abcdefghij0123456789@gitlab.example/OWNER/REPO", "remote.origin.url"),
    ("submodule.lib.url", f"https://x:{TOKEN}@github.com/OWNER/LIB", "submodule.lib.url"),
    ("sendemail.smtpPass", "hunter2hunter2", "sendemail.smtppass"),
    ("credential.helper", "!f() { echo username=x-access-token; echo password=s3cr3tvalue; }; f", "credential.helper"),
]

LEGITIMATE = [
    ("remote.origin.url", "git@github.com:OWNER/REPO.git"),
    ("remote.origin.url", "https://user@github.com/OWNER/REPO"),
    ("remote.origin.url", "ssh://git@host.example:2222/OWNER/REPO"),
    ("url.git@github.com:.insteadOf", "https://github.com/"),
    ("url.https://user@github.com/.insteadOf", "https://github.com/"),
    ("http.proxy", "http://proxy.example:3128"),
    ("http.proxy", "proxy.example:3128"),
    ("remote.origin.proxy", "http://user@proxy.example:3128"),
    ("http.extraheader", "Accept: application/vnd.github+json"),
    ("http.extraheader", "X-Forwarded-For: 10.0.0.1"),
    ("http.extraheader", ""),  # resets the list of headers
    ("http.cookieFile", "/home/ci/.cookies"),  # a path; the config does not hold the cookie
    ("credential.helper", "store"),
    ("credential.helper", "!f() { echo username=x-access-token; echo \"password=$GH_TOKEN\"; }; f"),
    ("remote.origin.url", "https://glenn-smith@gitlab.example/OWNER/REPO"),
    ("user.name", "ghp_ is how a token starts"),
    ("alias.token", "!git config --get-regexp token"),  # a command named token
]


_check = shared_credentials_problem


@pytest.mark.parametrize(("key", "value", "named"), HOLDING)
def test_a_credential_anywhere_in_the_shared_config_is_refused_naming_the_key_not_the_secret(
    repo: Path, key: str, value: str, named: str
) -> None:
    git(repo, "config", "--local", key, value)

    refused = _check(repo)

    assert refused is not None, f"{key}={value} was not refused"
    assert refused.error_key == "shared_git_credentials"
    assert f"{named} (.git/config)" in refused.message, refused.message
    for secret in (TOKEN, "ghp_abc123", "glpat-abcdefghij", "hunter2", "s3cr3t", "0123456789abcdef", "eDp5"):
        assert secret not in refused.message


@pytest.mark.parametrize(("key", "value"), LEGITIMATE)
def test_a_setting_that_holds_no_credential_is_not_refused(repo: Path, key: str, value: str) -> None:
    git(repo, "config", "--local", key, value)

    assert _check(repo) is None


def test_a_credential_in_an_included_file_is_refused_naming_that_file(repo: Path, tmp_path: Path) -> None:
    included = tmp_path / "ci.gitconfig"
    included.write_text(f'[url "https://x-access-token:{TOKEN}@github.com/"]\n\tinsteadOf = https://github.com/\n')
    git(repo, "config", "--local", "include.path", str(included))

    refused = _check(repo)

    assert refused is not None and f"url.https://***@github.com/.insteadof ({included})" in refused.message
    assert TOKEN not in refused.message


def _run(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_one_command_agent(repo, tmp_path, f"git config --list > {tmp_path / 'seen.txt'}\nexit 1")


def test_a_run_with_the_insteadof_recipes_token_is_refused_before_any_agent_reads_it(
    repo: Path, tmp_path: Path
) -> None:
    git(repo, "config", "--local", f"url.https://x-access-token:{TOKEN}@github.com/.insteadOf", "https://github.com/")

    done = _run(repo, tmp_path)

    assert done.returncode == 3, done.stdout + done.stderr
    assert "url.https://***@github.com/.insteadof (.git/config)" in done.stderr
    assert "--remove-section url.<base>" in done.stderr  # how to fix it
    assert TOKEN not in done.stdout + done.stderr
    assert not (tmp_path / "seen.txt").exists()  # no agent ran


def test_a_run_with_a_user_name_url_and_an_ordinary_header_runs_its_agent(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", "https://ci-bot@github.com/OWNER/REPO")
    git(repo, "config", "--local", "http.extraheader", "Accept: application/json")
    git(repo, "config", "--local", "http.proxy", "http://proxy.example:3128")

    done = _run(repo, tmp_path)

    assert "credential" not in done.stderr, done.stderr
    assert done.returncode == 1  # the agent ran (and failed, as it was written to)
    assert "http.extraheader=Accept: application/json" in (tmp_path / "seen.txt").read_text()
