"""A local editable-installable project for tests of the launcher's put-back of a shared venv's
editable installs (engine/site_installs.py): a PEP 517 backend in the project itself (no index,
no build isolation), the user's venv, and the environment that venv's commands get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# `FILES` is replaced by the wheel's files as a dict expression (the install's shape).
BACKEND = '''
import base64, hashlib, os, zipfile

DIST = "pkg-0.1"


def _line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def get_requires_for_build_editable(config_settings=None):
    return []


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    src = os.path.abspath("src")
    files = {FILES
        f"{DIST}.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: pkg\\nVersion: 0.1\\n",
        f"{DIST}.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    name = f"{DIST}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as whl:
        for path, data in files.items():
            whl.writestr(path, data)
        record = [_line(p, d) for p, d in files.items()] + [f"{DIST}.dist-info/RECORD,,"]
        whl.writestr(f"{DIST}.dist-info/RECORD", "\\n".join(record) + "\\n")
    return name


build_wheel = build_editable
'''
PYPROJECT = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_backend"]\n'
INSTALL = "pip install -q --no-index --no-build-isolation -e ."
IMPORT = "import pkg; print(pkg.__file__)"


def backend(files: str) -> str:
    """The backend's source, its wheel holding `files` (dict entries as source text) besides the
    dist-info."""
    return BACKEND.replace("FILES", files)


def make_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    return where


def user_env(venv: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    return {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "HOME": str(home)}  # fmt: skip


def editable_project(root: Path, backend_source: str, files: dict[str, str],
                     ignore: str = "__pycache__/\n.launcher/\n") -> Path:
    """A git repository at `root` holding package `pkg` (src layout) that `backend_source` (see
    `backend`) installs editable, plus `files` (a plan, a workflow, launcher.toml...)."""
    (root / "src/pkg").mkdir(parents=True)
    (root / "src/pkg/__init__.py").write_text("VALUE = 1\n")
    (root / "_backend").mkdir()
    (root / "_backend/backend.py").write_text(backend_source)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".gitignore").write_text(ignore)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    quiet = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", "-c", "maintenance.auto=false", "-c", "gc.auto=0", *args], cwd=root, env=quiet,
                       check=True, capture_output=True)
    return root


def sh(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", cmd], cwd=cwd, env=env, text=True, capture_output=True, timeout=300)


def launcher_in(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The launcher as the user of `env` (their venv active) runs it in `repo`."""
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=repo, env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=600)  # fmt: skip


def fake_install(site: Path, source: Path) -> None:
    """An editable install of pkg from `source` in `site`, as pip leaves one (its dist-info and
    `.pth`), written without pip."""
    fake_uninstall(site)
    info = site / "pkg-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 0.1\n")
    (info / "direct_url.json").write_text(json.dumps({"url": source.as_uri(), "dir_info": {"editable": True}}))
    (site / "pkg-editable.pth").write_text(f"{source}/src\n")
    (info / "RECORD").write_text("pkg-editable.pth,,\npkg-0.1.dist-info/RECORD,,\n")


def fake_uninstall(site: Path) -> None:
    info = site / "pkg-0.1.dist-info"
    for entry in info.iterdir() if info.is_dir() else []:
        entry.unlink()
    if info.is_dir():
        info.rmdir()
    (site / "pkg-editable.pth").unlink(missing_ok=True)
