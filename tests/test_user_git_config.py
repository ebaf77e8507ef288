"""The user's git configuration is theirs: the launcher's own git neither prints nor does what
that config changes about git's output and behaviour (colours and diff prefixes, signature lines
in a log, hidden untracked files, recursing into submodules, refusing unsigned merges), while
the commits it writes follow commit.gpgsign exactly as the user's own `git commit` does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest
from helpers import launcher_cli, run_plan, task, with_submodule

from launcher.git.repo import GitRepo
from launcher.models.states import RunStatus, TaskState


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's global git config: a file of the test's, read by the launcher's git and by
    `_git` below (GIT_CONFIG_GLOBAL), the system config left out."""
    config = tmp_path / "home" / ".gitconfig"
    config.parent.mkdir()
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    _git(tmp_path, "config", "--global", "user.name", "Ada User")
    _git(tmp_path, "config", "--global", "user.email", "ada@example.com")
    return config


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    """The user's own git: their global config, none of the launcher's pins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k.startswith("GIT_CONFIG_")}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=check, capture_output=True,
                          text=True).stdout


def _set(*pairs: str) -> None:
    for pair in pairs:
        key, _, value = pair.partition("=")
        _git(Path.cwd(), "config", "--global", key, value)


@pytest.mark.parametrize("config", [("color.ui=always", "diff.mnemonicPrefix=true"),
                                    ("color.diff=always", "diff.noprefix=true")])
def test_stored_and_shown_diffs_are_plain_patches_whatever_the_users_diff_config(
        repo: Path, user_config: Path, config: tuple[str, ...]) -> None:
    _set(*config)
    base = _git(repo, "rev-parse", "main").strip()
    report = run_plan(repo, [{"id": "t1", "agent": "scripted", "prompt": "write b",
                              "script": [{"write": "b.txt", "content": "bee\n"}]}],
                      grader="scripted-grader")
    assert report.status == RunStatus.SUCCEEDED, task(report, "t1").message
    stored = Path(report.artifacts) / "t1" / "diff.patch"
    shown = launcher_cli(repo, "diff", report.run_id, "t1", env={"GIT_CONFIG_GLOBAL": str(user_config)})
    assert shown.returncode == 0, shown.stderr
    packet = (Path(report.artifacts) / "t1" / "grading" / "1-packet.md").read_text()
    assert "\x1b[" not in packet and "diff --git a/b.txt b/b.txt" in packet
    check_at = repo.parent / "at-base"
    _git(repo, "worktree", "add", "-q", "--detach", str(check_at), base)
    for patch in (stored.read_text(), shown.stdout):
        assert patch.startswith("diff --git a/b.txt b/b.txt\n"), patch[:80]
        applied = subprocess.run(["git", "apply", "--check", "-"], cwd=check_at, input=patch, text=True,
                                 capture_output=True)
        assert applied.returncode == 0, applied.stderr


@pytest.mark.parametrize("config", [("diff.context=0", "diff.interHunkContext=9"),
                                    ("diff.renames=copies", "diff.noprefix=true", "diff.external=false"),
                                    ("diff.mnemonicPrefix=true", "color.diff=always", "diff.relative=true")])
def test_patches_of_edits_and_binary_changes_apply_whatever_the_users_diff_config(
        repo: Path, user_config: Path, config: tuple[str, ...]) -> None:
    (repo / "nums").write_text("".join(f"{n}\n" for n in range(1, 31)))
    (repo / "b.dat").write_bytes(b"\x00\x01old binary\x00")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "numbers and a binary file")
    base = _git(repo, "rev-parse", "main").strip()
    _set(*config)
    edit = "sed -i 's/^5$/five/; s/^20$/twenty/' nums && printf '\\000\\002new binary\\000' > b.dat"
    report = run_plan(repo, [{"id": "t1", "agent": "scripted", "prompt": "edit",
                              "script": [{"run": ["sh", "-c", edit]},
                                         {"contract": {"files_changed": ["b.dat", "nums"]}}]}],
                      merge=False, grader="scripted-grader")
    t1 = task(report, "t1")
    assert t1.branch and t1.state == TaskState.APPROVED, t1.message
    stored = (Path(report.artifacts) / "t1" / "diff.patch").read_text()
    shown = launcher_cli(repo, "diff", report.run_id, "t1", env={"GIT_CONFIG_GLOBAL": str(user_config)})
    assert shown.returncode == 0, shown.stderr
    # Both are whole patches of git's default shape: three lines of context, a/ b/ paths, the
    # binary file as data; applied to the base they give the task's files exactly.
    for index, patch in enumerate((stored, shown.stdout)):
        assert "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n" in patch, patch
        assert "diff --git a/b.dat b/b.dat" in patch and "GIT binary patch" in patch
        check_at = repo.parent / f"at-base-{index}"
        _git(repo, "worktree", "add", "-q", "--detach", str(check_at), base)
        applied = subprocess.run(["git", "apply", "-"], cwd=check_at, input=patch.encode(), capture_output=True)
        assert applied.returncode == 0, applied.stderr
        for name in ("nums", "b.dat"):
            assert (check_at / name).read_bytes() == subprocess.run(
                ["git", "show", f"{t1.branch}:{name}"], cwd=repo, capture_output=True, check=True).stdout
    # The grader reads the same hunks, with their context.
    packet = (Path(report.artifacts) / "t1" / "grading" / "1-packet.md").read_text()
    assert "\x1b[" not in packet and "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n" in packet, packet


def _ssh_signing(home: Path) -> None:
    """The user signs every commit with an SSH key, and their `git log` shows the signatures."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    key = home / "signing-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (home / "allowed").write_text(f"ada@example.com {(home / 'signing-key.pub').read_text()}")
    _set("gpg.format=ssh", f"user.signingkey={key}.pub", "commit.gpgsign=true",
         f"gpg.ssh.allowedSignersFile={home / 'allowed'}", "log.showSignature=true")


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_with_commit_gpgsign_every_commit_landed_on_the_target_is_signed(
        repo: Path, user_config: Path, strategy: str) -> None:
    _ssh_signing(user_config.parent)
    base = _git(repo, "rev-parse", "main").strip()
    report = run_plan(repo, [
        {"id": "b", "agent": "scripted", "prompt": "b", "script": [{"write": "b.txt", "content": "b\n"}]},
        {"id": "c", "agent": "scripted", "prompt": "c", "script": [{"write": "c.txt", "content": "c\n"}]},
        # Starts from the launcher's merge of its two dependencies' work.
        {"id": "d", "agent": "scripted", "prompt": "d", "depends_on": ["b", "c"],
         "script": [{"write": "d.txt", "content": "d\n"}]},
    ], strategy=strategy)
    assert report.status == RunStatus.SUCCEEDED, [t.message for t in report.tasks]
    landed = _git(repo, "log", "--no-show-signature", "--format=%G? %an %s", f"{base}..main").splitlines()
    assert landed and all(line.startswith("G ") for line in landed), landed
    # The replayed commits keep their author, read past the user's log.showSignature.
    assert all(line.split(" ", 1)[1].startswith("Ada User ") for line in landed), landed
    if strategy == "merge":
        assert any(line.endswith("launcher: dependencies of d") for line in landed), landed


def test_a_signer_that_stops_working_mid_run_moves_nothing_and_says_so(
        repo: Path, user_config: Path, tmp_path: Path) -> None:
    # The signer signs the preflight's probe and the task's own commit, then refuses a commit
    # with two parents (the landing's merge commit) while `broken` exists.
    signer = tmp_path / "fake-gpg"
    broken = tmp_path / "broken"
    signer.write_text(f"""#!/bin/sh
payload=$(cat)
if [ -e {broken} ] && [ "$(printf '%s\\n' "$payload" | grep -c '^parent ')" -ge 2 ]; then
  echo "gpg: signing failed: No pinentry" >&2; exit 2
fi
printf '\\n[GNUPG:] SIG_CREATED D 22 8 00 0 X\\n' >&2
printf -- '-----BEGIN PGP SIGNATURE-----\\nfake\\n-----END PGP SIGNATURE-----\\n'
""")
    signer.chmod(0o755)
    _set("commit.gpgsign=true", f"gpg.program={signer}")
    broken.touch()
    base = _git(repo, "rev-parse", "main").strip()
    plan = tmp_path / "plan.toml"
    plan.write_text('[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "b"\n'
                    'script = [{write = "b.txt", content = "b\\n"}]\n')
    env = {"GIT_CONFIG_GLOBAL": str(user_config), "GIT_CONFIG_NOSYSTEM": "1"}
    ran = launcher_cli(repo, "run", str(plan), env=env)
    assert ran.returncode != 0
    assert _git(repo, "rev-parse", "main").strip() == base  # no unsigned commit, nothing moved
    assert "could not sign the commit" in ran.stderr and "launcher land" in ran.stderr, ran.stderr
    broken.unlink()
    landed = launcher_cli(repo, "land", env=env)
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert "gpgsig " in _git(repo, "cat-file", "commit", "main")


def test_with_submodule_recurse_the_tasks_run_and_land(tmp_path: Path, user_config: Path) -> None:
    root = with_submodule(tmp_path, "lib\n")
    _set("submodule.recurse=true")
    for n in (1, 2):  # the second run takes its worktree from the warm pool the first one left
        report = run_plan(root, [{"id": f"t{n}", "agent": "scripted", "prompt": "x",
                                  "script": [{"write": f"{n}.txt", "content": f"{n}\n"}],
                                  "checks": ["test -f vendor/lib/lib.txt"]}], warm_pool=1)
        assert report.status == RunStatus.SUCCEEDED, task(report, f"t{n}").message
        assert (root / f"{n}.txt").read_text() == f"{n}\n"  # the main checkout was updated too
    assert (root / "vendor" / "lib" / "lib.txt").read_text() == "lib\n"
    assert _git(root, "status", "--porcelain") == ""


def test_with_merge_verify_signatures_a_conflicted_task_still_gets_its_resolution_round(
        repo: Path, user_config: Path) -> None:
    _set("merge.verifySignatures=true")
    report = run_plan(repo, [
        {"id": "t1", "agent": "scripted", "prompt": "one",
         "script": [{"replace": "README.md", "old": "sample", "new": "sample one"}]},
        {"id": "t2", "agent": "scripted", "prompt": "two",
         "script": [{"replace": "README.md", "old": "sample", "new": "sample two", "rounds": [1]},
                    {"write": "README.md", "content": "# resolved\n", "rounds": [2]}]},
    ], on_conflict="agent")
    assert task(report, "t2").state == TaskState.MERGED, task(report, "t2").message
    assert (repo / "README.md").read_text() == "# resolved\n"


@pytest.mark.parametrize(("setting", "command", "expected"), [
    ("status.showUntrackedFiles=no", ("status", "--porcelain"), "?? new.txt\n"),
    ("core.quotePath=false", ("diff", "--name-only", "HEAD~1", "HEAD"), '"caf\\303\\251.txt"\n'),
    ("i18n.logOutputEncoding=ISO-8859-1", ("log", "-1", "--format=%s"), "caf\u00e9\n"),
])
def test_the_launchers_git_prints_what_it_parses_as_git_does_by_default(
        repo: Path, user_config: Path, setting: str, command: tuple[str, ...], expected: str) -> None:
    (repo / "caf\u00e9.txt").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "caf\u00e9")
    (repo / "new.txt").write_text("untracked\n")
    _set(setting)

    async def launchers_view() -> str:
        found = await GitRepo.discover(repo)
        return (await found.git(*command)).out

    assert expected in anyio.run(launchers_view)
