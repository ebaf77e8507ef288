"""File names that are not valid in the locale's encoding (a latin-1 `latin\\xe9.txt` in a UTF-8
locale, a UTF-8 `café.txt` under a latin-1 or plain C locale) are the same files all the way
through: git prints a name as bytes, the launcher keeps them as Python keeps a file name
(`os.fsdecode`), so the main-checkout guard finds the user's file, the report names each file
once and recoverably, and landing never fails on a name.

Each test runs the launcher under a UTF-8 locale, a plain C locale (ASCII, Python's UTF-8 mode
and locale coercion off) and, where `localedef` can build one, an ISO-8859-1 locale."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import commit_shell_plan, git

MAIN = '"$(git rev-parse --git-common-dir)/.."'
# The agent's completion contract, claiming no file: every file it changed is "changed but not claimed".
CONTRACT = (
    '; printf \'%s\' \'{"contract_version":"1","task_id":"t","status":"done","summary":"wrote files",'
    '"files_changed":[],"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"o"}'
    '\' > "$LAUNCHER_CONTRACT"'
)


@dataclass(frozen=True)
class Locale:
    name: str
    env: dict[str, str]
    encoding: str  # Python's file system encoding under it

    def name_of(self, data: bytes) -> str:
        """The string a name's bytes are in the launcher's JSON report: `os.fsdecode` there."""
        return data.decode(self.encoding, "surrogateescape")


@pytest.fixture(scope="session")
def latin1_dir(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A private ISO-8859-1 locale (LOCPATH), or None when this machine cannot build one."""
    if shutil.which("localedef") is None:
        return None
    where = tmp_path_factory.mktemp("locales")
    made = subprocess.run(["localedef", "-i", "en_US", "-f", "ISO-8859-1", str(where / "en_US.ISO-8859-1")],
                          capture_output=True)  # fmt: skip
    return where if (where / "en_US.ISO-8859-1").exists() or made.returncode == 0 else None


_PLAIN = {"PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}  # the locale as it is, no UTF-8 mode


def _locale(name: str, latin1_dir: Path | None) -> Locale:
    if name == "utf-8":
        return Locale(name, {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", **_PLAIN}, "utf-8")
    if name == "c-ascii":
        return Locale(name, {"LC_ALL": "C", "LANG": "C", **_PLAIN}, "ascii")
    if latin1_dir is None:
        pytest.skip("no ISO-8859-1 locale can be built here (localedef)")
    env = {"LC_ALL": "en_US.ISO-8859-1", "LANG": "en_US.ISO-8859-1", "LOCPATH": str(latin1_dir), **_PLAIN}
    return Locale(name, env, "iso8859-1")


@pytest.fixture(params=["utf-8", "c-ascii", "latin-1"])
def locale(request: pytest.FixtureRequest, latin1_dir: Path | None) -> Locale:
    return _locale(request.param, latin1_dir)


@dataclass
class Ran:
    returncode: int
    stdout: bytes
    stderr: bytes

    def report(self) -> Any:
        """The `--json` document on stdout (bytes: valid JSON whatever the locale)."""
        return json.loads(self.stdout)


def launcher(cwd: Path, locale: Locale, *args: str) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "LC_", "PYTHONIOENCODING"))}
    env.update(locale.env)
    done = subprocess.run([sys.executable, "-m", "launcher", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=180)  # fmt: skip
    return Ran(done.returncode, done.stdout, done.stderr)


def _commit(repo: Path, *names: bytes) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "names " + ", ".join(n.decode("utf-8", "replace") for n in names))


def test_an_agents_writes_into_the_main_checkout_under_latin1_names_are_put_back(repo: Path, locale: Locale) -> None:
    # The user's uncommitted edit of a tracked `latin\xe9.txt`; the agent overwrites it in the main
    # checkout and adds `intr\xe9.txt` there. Both are put back, the task fails naming both.
    tracked = os.fsencode(repo) + b"/latin\xe9.txt"
    Path(os.fsdecode(tracked)).write_bytes(b"base\n")
    _commit(repo, b"latin\xe9.txt")
    commit_shell_plan(repo, f"echo mine > ok.txt; echo 'agent overwrote' > {MAIN}/\"$(printf 'latin\\351.txt')\"; "
                            f"echo new > {MAIN}/\"$(printf 'intr\\351.txt')\"" + CONTRACT)  # fmt: skip
    Path(os.fsdecode(tracked)).write_bytes(b"user edit, not committed\n")

    done = launcher(repo, locale, "run", "plan.toml", "--json")

    assert done.returncode == 1, done.stderr
    (task,) = done.report()["tasks"]
    assert task["state"] == "failed" and not task["merged"]
    latin, intr = locale.name_of(b"latin\xe9.txt"), locale.name_of(b"intr\xe9.txt")
    assert f"{latin} (put back; the agent's version moved to" in task["message"], task["message"]
    assert f"{intr} (new, moved to" in task["message"], task["message"]
    assert "not a file" not in task["message"]
    assert Path(os.fsdecode(tracked)).read_bytes() == b"user edit, not committed\n"  # the user's edit is back
    assert not os.path.lexists(os.fsencode(repo) + b"/intr\xe9.txt")
    (aside,) = (repo / ".launcher" / "runs").glob("*/t/intrusions")
    assert sorted(os.listdir(os.fsencode(aside))) == [b"intr\xe9.txt", b"latin\xe9.txt"]
    with open(os.fsencode(aside) + b"/latin\xe9.txt", "rb") as fh:
        assert fh.read() == b"agent overwrote\n"
    # the journal kept the message: `status` says the same, read back from it
    status = launcher(repo, locale, "status", "--json")
    assert status.returncode in (0, 1), status.stderr
    (again,) = status.report()["tasks"]
    assert again["message"] == task["message"]


def test_the_report_names_each_non_utf8_file_once_as_its_own_bytes(repo: Path, locale: Locale) -> None:
    # Two names that differ only in a byte that is not UTF-8, and a UTF-8 name: each its own file.
    commit_shell_plan(repo, "printf 1 > \"$(printf 'lat\\351.txt')\"; printf 2 > \"$(printf 'lat\\350.txt')\"; "
                            "printf 3 > \"$(printf 'caf\\303\\251.txt')\"" + CONTRACT)  # fmt: skip

    done = launcher(repo, locale, "run", "plan.toml", "--json")

    assert done.returncode == 0, done.stderr
    (task,) = done.report()["tasks"]
    assert task["state"] == "merged", task["message"]
    assert len(task["changed_not_claimed"]) == 3  # three files, none claimed
    wanted = [b"caf\xc3\xa9.txt", b"lat\xe8.txt", b"lat\xe9.txt"]
    assert sorted(task["files"]) == sorted(locale.name_of(n) for n in wanted)
    # recoverable: the name in the JSON, encoded as the launcher's locale does, is the file's bytes
    assert sorted(name.encode(locale.encoding, "surrogateescape") for name in task["files"]) == wanted
    facts = json.loads(next((repo / ".launcher" / "runs").glob("*/t/facts.json")).read_text())
    assert all(json.dumps(name) in json.dumps(facts) for name in task["files"])  # facts.json: the same names
    landed = git(repo, "-c", "core.quotePath=true", "ls-tree", "--name-only", "main").split()
    assert {'"lat\\350.txt"', '"lat\\351.txt"', '"caf\\303\\251.txt"'} <= set(landed)
    for name in wanted:  # and in the main work tree, with the bytes written
        assert os.path.isfile(os.fsencode(repo) + b"/" + name)


def test_the_terminal_shows_a_non_utf8_name_quoted_as_git_does(repo: Path) -> None:
    commit_shell_plan(repo, "printf 1 > \"$(printf 'lat\\351.txt')\"" + CONTRACT)
    utf8 = _locale("utf-8", None)

    done = launcher(repo, utf8, "run", "plan.toml")

    assert done.returncode == 0, done.stderr
    assert b'"lat\\351.txt"' in done.stdout, done.stdout.decode("utf-8", "replace")
    assert "\ufffd".encode() not in done.stdout


@pytest.mark.parametrize("name", ["c-ascii", "latin-1"])
def test_work_under_a_utf8_name_lands_under_a_legacy_locale(repo: Path, latin1_dir: Path | None, name: str) -> None:
    legacy = _locale(name, latin1_dir)
    cafe = os.fsencode(repo) + b"/caf\xc3\xa9.txt"
    Path(os.fsdecode(cafe)).write_bytes(b"cafe\n")
    _commit(repo, b"caf\xc3\xa9.txt")
    commit_shell_plan(repo, "for f in caf*.txt; do echo edited >> \"$f\"; done; "
                            "echo new > \"$(printf 'new-\\342\\230\\203.txt')\"" + CONTRACT)  # fmt: skip

    done = launcher(repo, legacy, "run", "plan.toml", "--json")

    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert b"NUL character" not in done.stderr
    (task,) = done.report()["tasks"]
    assert task["state"] == "merged", task["message"]
    assert Path(os.fsdecode(cafe)).read_bytes() == b"cafe\nedited\n"
    assert os.path.isfile(os.fsencode(repo) + b"/new-\xe2\x98\x83.txt")
    assert git(repo, "log", "-1", "--format=%s", "main").startswith("Merge")


@pytest.mark.parametrize("name", ["c-ascii", "latin-1"])
def test_a_repository_under_a_utf8_directory_works_under_a_legacy_locale(
    tmp_path: Path, latin1_dir: Path | None, name: str
) -> None:
    legacy = _locale(name, latin1_dir)
    root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/r\xc3\xa9p"))
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# sample\n")
    _commit(root)
    commit_shell_plan(root, "echo work > out.txt" + CONTRACT)

    done = launcher(root, legacy, "run", "plan.toml", "--json")

    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert (root / "out.txt").read_text() == "work\n"
    status = launcher(root, legacy, "status")
    assert status.returncode == 0 and b"internal error" not in status.stderr, status.stderr


def test_a_prompt_the_locale_cannot_encode_is_said_so_not_called_a_nul_character(repo: Path) -> None:
    # Under a plain C locale a prompt holding a snowman cannot be put on a command line: exec
    # takes bytes. The task fails saying which character and which locale, and how to fix it.
    commit_shell_plan(repo, 'echo "$1" > got.txt')
    plan = (repo / "plan.toml").read_text().replace('prompt = "x"', 'prompt = "make a \u2603"')
    (repo / "plan.toml").write_text(plan)
    _commit(repo)
    ascii_c = _locale("c-ascii", None)

    done = launcher(repo, ascii_c, "run", "plan.toml", "--json")

    said = done.stdout.decode("ascii", "replace") + done.stderr.decode("ascii", "replace")
    assert "NUL character" not in said
    assert "cannot encode" in said and "U+2603" in said and "UTF-8" in said, said


def test_an_error_envelope_naming_a_non_utf8_file_is_valid_json(repo: Path, locale: Locale) -> None:
    """`--json` errors are ASCII JSON too: a name's undecodable byte is `\\udcXX`, never raw."""
    name = os.fsdecode(b"caf\xe9.toml")
    ran = launcher(repo, locale, "run", name, "--json")
    assert ran.returncode == 2, ran.stderr
    envelope = ran.report()  # bytes: json.loads needs valid UTF-8
    assert envelope["ok"] is False
    assert "caf\udce9.toml" in envelope["observations"] or "café.toml" in envelope["observations"], envelope
