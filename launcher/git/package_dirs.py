"""The package directories a project's packaging configuration declares (its import roots).

A project whose packages live under `lib/` (not `src/`, not the top) says so to its build backend:
setuptools in pyproject.toml (`[tool.setuptools] package-dir`, `packages.find.where`) or in
setup.cfg (`[options] package_dir = =lib`, `[options.packages.find] where`), poetry
(`packages = [{include = "pkg", from = "lib"}]`), hatch (`packages = ["lib/pkg"]`, `sources`) and
pdm (`[tool.pdm.build] package-dir`). An editable install of the main checkout imports the
package from there; a command run in a worktree must import it from the worktree's same
directory instead. Every file read here is the agent's: bounded, regular files only.
"""

from __future__ import annotations

import configparser
from pathlib import Path, PurePosixPath
from typing import Any

from launcher.models.decoding import toml_loads
from launcher.regular_files import read_regular

_LIMIT = 4 * 1024 * 1024


def _text(path: Path) -> str | None:
    try:
        # The worktree is the agent's: a FIFO or a link to a device there must not hang us.
        return read_regular(path, _LIMIT).decode("utf-8")
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _table(data: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _setuptools(tool: dict[str, Any]) -> list[str]:
    setuptools = _table(tool, "setuptools")
    found: list[str] = []
    package_dir = setuptools.get("package-dir")
    if isinstance(package_dir, dict) and isinstance(package_dir.get(""), str):
        found.append(package_dir[""])
    found.extend(_strings(_table(setuptools, "packages", "find").get("where")))
    return found


def _poetry(tool: dict[str, Any]) -> list[str]:
    packages = _table(tool, "poetry").get("packages")
    entries = packages if isinstance(packages, list) else []
    return [e["from"] for e in entries if isinstance(e, dict) and isinstance(e.get("from"), str)]


def _hatch(tool: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for build in (_table(tool, "hatch", "build"), _table(tool, "hatch", "build", "targets", "wheel")):
        # `packages = ["lib/pkg"]`: the package's parent directory is the import root.
        found.extend(PurePosixPath(p).parent.as_posix() for p in _strings(build.get("packages")))
        sources = build.get("sources")
        if isinstance(sources, dict):  # {"lib" = ""}: lib's content goes to the top of the wheel
            found.extend(k for k, v in sources.items() if v == "" and isinstance(k, str))
        else:
            found.extend(_strings(sources))
    return found


def _pdm(tool: dict[str, Any]) -> list[str]:
    return _strings(_table(tool, "pdm", "build").get("package-dir"))


def pyproject_roots(tree: Path) -> list[str]:
    text = _text(tree / "pyproject.toml")
    if text is None:
        return []
    try:
        data = toml_loads(text)
    except ValueError:  # TOMLDecodeError is a ValueError
        return []
    tool = _table(data, "tool")
    return [*_setuptools(tool), *_poetry(tool), *_hatch(tool), *_pdm(tool)]


def setup_cfg_roots(tree: Path) -> list[str]:
    """setup.cfg's `[options] package_dir` root (the entry without a package name: `=lib`) and
    `[options.packages.find] where`."""
    text = _text(tree / "setup.cfg")
    if text is None:
        return []
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    found: list[str] = []
    for line in parser.get("options", "package_dir", fallback="").replace(",", "\n").splitlines():
        name, eq, where = line.partition("=")
        if eq and not name.strip() and where.strip():
            found.append(where.strip())
    found.extend(w.strip() for w in parser.get("options.packages.find", "where", fallback="").splitlines()
                 if w.strip())  # fmt: skip
    return found


def declared_roots(tree: Path) -> list[str]:
    """Every package directory the tree's packaging configuration declares, relative to it."""
    return [*pyproject_roots(tree), *setup_cfg_roots(tree)]
