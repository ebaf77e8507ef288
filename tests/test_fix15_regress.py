"""Nothing the launcher runs loses the user's work or environment, and what it says about it is true.

- Two runs of one repository at once share the user's venv: an install another run's command has
  just re-pointed into its worktree is not what "was there before" this run: that run's record says.
- A user site-packages that is not there yet (pip makes it at the first `--user` install) is guarded.
- `launcher land` removes what its integration check installed that was not there before, as a run does.
- A main-checkout file the integration check deletes is put back: a deletion cannot be made twice,
  so running the check again cannot tell it from the user's.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import anyio
import pytest
from conftest import git
from editable_project import (
    INSTALL,
    backend,
    editable_project,
    fake_install,
    fake_uninstall,
    launcher_in,
    make_venv,
    user_env,
)

from launcher.engine.site_installs import SiteGuard

BACKEND = backend('''
        "pkg-editable.pth": (src + "\\n").encode(),''')
TASK = '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\nscript = [{ write = "f1.txt", content = "1\\n" }]\n'


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_venv(tmp_path_factory.mktemp("user-venv") / "venv")


def _site(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


_install = fake_install
_uninstall = fake_uninstall


def _guard(repo: Path, run: str) -> SiteGuard:
    guard = SiteGuard()
    guard.bind(repo / "worktrees" / run, repo / ".launcher" / "runs" / run / "site-installs.json")
    return guard


def test_an_install_another_run_re_pointed_is_not_put_back_as_what_was_there(venv: Path, tmp_path: Path) -> None:
    env = user_env(venv, tmp_path / "home")
    site, repo = _site(venv), tmp_path / "repo"
    _install(site, repo)  # the user's own
    run_a, run_b = _guard(repo, "r-a"), _guard(repo, "r-b")
    anyio.run(partial(run_a.snapshot, env))
    _install(site, repo / "worktrees" / "r-a" / "a")  # run A's check: pip install -e . (still running)
    anyio.run(partial(run_b.snapshot, env))  # run B starts a command meanwhile
    anyio.run(partial(run_a.settle, remove_new=True))  # A's check ends: the user's install is back
    _install(site, repo / "worktrees" / "r-b" / "b")  # B's check: pip install -e .

    lines = anyio.run(partial(run_b.settle, remove_new=True))

    assert (site / "pkg-editable.pth").read_text() == f"{repo}/src\n"  # the user's checkout, not A's removed tree
    assert len(lines) == 1 and f"put back the editable install of pkg-0.1 from {repo.as_uri()} in" in lines[0]
    _uninstall(site)


def test_a_user_site_made_by_a_command_keeps_no_install_from_a_worktree(venv: Path, tmp_path: Path) -> None:
    env = user_env(venv, tmp_path / "home")
    where = subprocess.run([str(venv / "bin/python"), "-c", "import site; print(site.getusersitepackages())"],
                           env=env, text=True, capture_output=True, check=True).stdout.strip()
    user_site, repo = Path(where), tmp_path / "repo"
    assert not user_site.exists()  # pip makes it at its first `--user` install
    guard = _guard(repo, "r-1")
    anyio.run(partial(guard.snapshot, env))
    _install(user_site, repo / "worktrees" / "r-1" / "t1")  # a check's `pip install --user -e .`

    lines = anyio.run(partial(guard.settle, remove_new=True))

    assert sorted(p.name for p in user_site.iterdir()) == []
    assert len(lines) == 1 and "removed the editable install of pkg-0.1" in lines[0]
    assert "not installed there before" in lines[0]


def _project(root: Path, plan: str) -> Path:
    return editable_project(root, BACKEND, {"plan.toml": plan}, ignore="__pycache__/\n.launcher/\n*.egg-info/\n")


_launcher = launcher_in


def _notes(repo: Path, env: dict[str, str]) -> str:
    report = json.loads(_launcher(repo, env, "status", "--json").stdout)
    return "\n".join(n.get("message", "") for n in report.get("notes", []))


def test_land_removes_what_its_integration_check_installed_that_was_not_there(venv: Path, tmp_path: Path) -> None:
    env = user_env(venv, tmp_path / "home")
    site = _site(venv)
    _uninstall(site)  # the user has no install of the project
    repo = _project(tmp_path / "repo", f'[run]\nintegration_check = "{INSTALL}"\n' + TASK)
    assert _launcher(repo, env, "run", "plan.toml", "--no-merge", "--quiet").returncode == 0

    done = _launcher(repo, env, "land")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "f1.txt").exists()  # landed
    assert not (site / "pkg-editable.pth").exists() and not (site / "pkg-0.1.dist-info").exists()
    assert "removed the editable install of pkg-0.1" in _notes(repo, env)


def test_a_main_checkout_file_the_integration_check_deletes_is_put_back_with_the_users_edit(
        venv: Path, tmp_path: Path) -> None:
    env = user_env(venv, tmp_path / "home")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "notes.txt").write_text("committed\n")
    (repo / ".gitignore").write_text(".launcher/\n")
    (repo / "plan.toml").write_text(f'[run]\nintegration_check = "rm -f {repo}/notes.txt; true"\n' + TASK)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    (repo / "notes.txt").write_text("committed\nMY UNCOMMITTED WORK\n")

    _launcher(repo, env, "run", "plan.toml", "--quiet")

    assert (repo / "notes.txt").read_text() == "committed\nMY UNCOMMITTED WORK\n"
    notes = _notes(repo, env)
    assert "notes.txt deleted from the main checkout while the integration check ran" in notes
    assert "taken for your edit" not in notes
