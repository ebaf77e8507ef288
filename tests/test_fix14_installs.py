"""Whatever the launcher runs in a worktree, the user's shared venv keeps their own editable install.

A check, the integration check or a grading round that runs `pip install -e .` re-points the
user's venv into a launcher worktree exactly as a setup does: what was there is put back after
each of them. What was there is kept in the run's directory before anything runs, so a launcher
killed mid-command leaves it for `resume`, which puts it back. An install is put back whole (its
`.pth` and the loader module that `.pth` imports, as meson-python and scikit-build-core make
them), or the note says it could not be: the note never says "put back" when it was not.

The projects are built by tiny in-tree PEP 660 backends, so the real `pip install -e .` runs offline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from editable_project import IMPORT, INSTALL, backend, editable_project, launcher_in, make_venv, sh, user_env

from launcher.engine.site_installs import SiteGuard, restore
from launcher.engine.site_state import SiteState

# Installs like meson-python: `pkg-editable.pth` imports `_pkg_editable_loader`, which puts src/ on sys.path.
BACKEND = backend('''
        "pkg-editable.pth": b"import _pkg_editable_loader\\n",
        "_pkg_editable_loader.py": f"import sys\\nsys.path.insert(0, {src!r})\\n".encode(),''')

TASK = '[[task]]\nid = "doc"\nagent = "scripted"\nprompt = "add a note"\n'
SCRIPT = 'script = [{ append = "NOTES.md", content = "note\\n" }]\n'


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's shared venv (one for the module: making one takes a while)."""
    yield make_venv(tmp_path_factory.mktemp("user-venv") / "venv")


def _project(root: Path, plan: str) -> Path:
    return editable_project(root, BACKEND, {"plan.toml": plan})


_sh = sh


_launcher = launcher_in


def _notes(repo: Path, env: dict[str, str]) -> str:
    report = json.loads(_launcher(repo, env, "status", "--json").stdout)
    return "\n".join(n.get("message", "") for n in report.get("notes", []))


def _installed_by_user(repo: Path, env: dict[str, str], tmp_path: Path) -> None:
    _sh("pip uninstall -q -y pkg", repo, env)
    assert _sh(INSTALL, repo, env).returncode == 0
    assert _imports(tmp_path, env) == (str(repo / "src/pkg/__init__.py"), "")


def _imports(where: Path, env: dict[str, str]) -> tuple[str, str]:
    done = _sh(f"python -c '{IMPORT}'", where, env)
    return done.stdout.strip(), done.stderr.strip()


def test_a_check_that_installs_the_project_leaves_the_users_install_as_it_was(venv: Path, tmp_path: Path) -> None:
    env = user_env(venv, tmp_path / "home")
    repo = _project(tmp_path / "repo", TASK + f'checks = ["{INSTALL} && python -c \'import pkg\'"]\n' + SCRIPT)
    _installed_by_user(repo, env, tmp_path)

    done = _launcher(repo, env, "run", "plan.toml", "--quiet")

    assert done.returncode == 0, done.stdout + done.stderr
    assert _imports(tmp_path, env) == (str(repo / "src/pkg/__init__.py"), "")  # the user's checkout, no error
    notes = _notes(repo, env)
    assert "a check of task doc installed the project" in notes
    assert "put back the editable install of pkg-0.1 from " + repo.as_uri() in notes


def test_the_integration_check_that_installs_the_project_leaves_the_users_install_as_it_was(
    venv: Path, tmp_path: Path
) -> None:
    env = user_env(venv, tmp_path / "home")
    repo = _project(tmp_path / "repo", f'[run]\nintegration_check = "{INSTALL}"\n' + TASK + SCRIPT)
    _installed_by_user(repo, env, tmp_path)

    done = _launcher(repo, env, "run", "plan.toml", "--quiet")

    assert done.returncode == 0, done.stdout + done.stderr
    assert _imports(tmp_path, env) == (str(repo / "src/pkg/__init__.py"), "")
    assert "the integration check (checking " in _notes(repo, env)


def test_an_install_whose_pth_imports_a_loader_module_is_put_back_with_its_loader(venv: Path, tmp_path: Path) -> None:
    env = user_env(venv, tmp_path / "home")
    repo = _project(tmp_path / "repo", TASK + f'setup = "{INSTALL}"\n' + SCRIPT)
    _installed_by_user(repo, env, tmp_path)

    done = _launcher(repo, env, "run", "plan.toml", "--quiet")

    assert done.returncode == 0, done.stdout + done.stderr
    assert _imports(tmp_path, env) == (str(repo / "src/pkg/__init__.py"), "")  # no "Error processing line 1"
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert str(repo / "src") in (site / "_pkg_editable_loader.py").read_text()
    assert "put back the editable install of pkg-0.1 from " + repo.as_uri() in _notes(repo, env)


def test_resume_after_a_launcher_killed_during_a_setup_that_installed_puts_the_users_install_back(
    venv: Path, tmp_path: Path
) -> None:
    env = user_env(venv, tmp_path / "home")
    marker = tmp_path / "installed"
    setup = f"{INSTALL} && if [ ! -e {marker} ]; then touch {marker}; sleep 60; fi"
    repo = _project(tmp_path / "repo", TASK + f'setup = "{setup}"\n' + SCRIPT)
    _installed_by_user(repo, env, tmp_path)
    launcher = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml", "--quiet"], cwd=repo, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the setup never ran"
        assert "/worktrees/" in _imports(tmp_path, env)[0]  # the setup re-pointed the user's venv...
    finally:
        os.kill(launcher.pid, signal.SIGKILL)  # ...and the launcher dies before it puts it back
        launcher.wait()

    done = _launcher(repo, env, "resume", "--quiet")  # its setup (left running) is reaped by resume

    assert done.returncode == 0, done.stdout + done.stderr
    assert _imports(tmp_path, env) == (str(repo / "src/pkg/__init__.py"), "")
    notes = _notes(repo, env)
    assert "a command the stopped launcher ran in a worktree installed the project" in notes
    assert "put back the editable install of pkg-0.1 from " + repo.as_uri() in notes
    assert "not installed there before" not in notes


# The put-back itself, on a site directory made by hand (what pip leaves there).


def _dist(site: Path, url: str, files: dict[str, bytes]) -> None:
    info = site / "pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 0.1\n")
    (info / "direct_url.json").write_text(json.dumps({"url": url, "dir_info": {"editable": True}}))
    for name, data in files.items():
        (site / name).write_bytes(data)
    (info / "RECORD").write_text("".join(f"{n},,\n" for n in [*files, "pkg-0.1.dist-info/RECORD"]))


def _clear(site: Path) -> None:
    for entry in site.iterdir():
        if entry.is_dir():
            for sub in entry.iterdir():
                sub.unlink()
            entry.rmdir()
        else:
            entry.unlink()


def test_an_install_that_cannot_be_put_back_whole_is_removed_and_the_note_says_so(tmp_path: Path) -> None:
    site, worktrees = tmp_path / "site", tmp_path / "worktrees" / "r-1"
    site.mkdir()
    big = b"#" * (2 * 1024 * 1024)  # too large to be kept
    _dist(site, "file:///home/me/pkg", {"pkg-editable.pth": b"import _pkg_loader\n", "_pkg_loader.py": big})
    needles = (str(worktrees) + "/",)
    before = SiteState.read(site, needles)
    _clear(site)
    _dist(site, f"file://{worktrees}/doc", {"pkg-editable.pth": f"{worktrees}/doc/src\n".encode()})

    done = restore(site, before, needles, remove_new=False)

    assert len(done) == 1 and "could not be put back, as _pkg_loader.py could not be kept" in done[0]
    assert "put back the editable install" not in done[0]
    assert sorted(p.name for p in site.iterdir()) == []  # no half install: no .pth importing a missing loader


def test_an_install_already_pointing_into_the_run_when_first_seen_is_not_called_new(tmp_path: Path) -> None:
    site, worktrees = tmp_path / "site", tmp_path / "worktrees" / "r-1"
    site.mkdir()
    _dist(site, f"file://{worktrees}/doc", {"__editable__.pkg-0.1.pth": f"{worktrees}/doc/src\n".encode()})
    needles = (str(worktrees) + "/",)

    done = restore(site, SiteState.read(site, needles), needles, remove_new=True)

    assert len(done) == 1 and "what was there before is not known" in done[0]
    assert "not installed there before" not in done[0]


def test_what_was_there_is_kept_in_the_run_directory_before_any_command_runs(tmp_path: Path) -> None:
    site, worktrees, record = tmp_path / "site", tmp_path / "worktrees" / "r-1", tmp_path / "run" / "site.json"
    site.mkdir()
    _dist(site, "file:///home/me/pkg", {"pkg-editable.pth": b"import _pkg_loader\n", "_pkg_loader.py": b"x = 1\n"})
    first = SiteGuard()
    first.bind(worktrees, record)
    first.before[site] = SiteState.read(site, first.needles())
    first._save()  # what snapshot() does before it returns
    _clear(site)
    _dist(site, f"file://{worktrees}/doc", {"pkg-editable.pth": f"{worktrees}/doc/src\n".encode()})

    second = SiteGuard()  # the next launcher of the run
    assert second.bind(worktrees, record)
    lines = anyio.run(lambda: second.settle(remove_new=False))

    assert len(lines) == 1 and "put back the editable install of pkg-0.1 from file:///home/me/pkg" in lines[0]
    assert (site / "_pkg_loader.py").read_text() == "x = 1\n"
    assert (site / "pkg-editable.pth").read_text() == "import _pkg_loader\n"
