"""Editable installs a task's setup command makes from its worktree into a shared environment.

`setup = "pip install -e ."` run in a task's worktree re-installs the project editable from that
worktree into the environment the user's `pip` belongs to (their venv, shared by every task and by
the main checkout): its `.pth` / `__editable__` finder now point into the worktree, which the
launcher removes once the task is done. The user's own checkout then no longer imports its own
package. So before the first setup the launcher keeps a copy of those environments' editable
installs (the `.pth`, `.egg-link` and `__editable__*` files, and each editable distribution's
`.dist-info`), and after each setup puts back every install that now points into a launcher
worktree: the one that was there before is restored; one that was not there before is removed at
the run's end (the task's own checks may need its metadata until then).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import quote

import anyio

from launcher import process

_SMALL = 1024 * 1024  # larger files are no install pointer
_SITE_DIRS = ("import json, site, sysconfig; p = sysconfig.get_paths(); "
              "print(json.dumps([p['purelib'], p['platlib'], site.getusersitepackages()]))")  # fmt: skip


def _pointer(name: str) -> bool:
    return name.endswith((".pth", ".egg-link")) or name.startswith("__editable__")


def _read(path: Path) -> bytes | None:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _SMALL:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _key(dist_info: str) -> str:
    """The distribution's normalized name: `My_Pkg-0.1.dist-info` -> `my-pkg`."""
    return dist_info.split("-", 1)[0].lower().replace("_", "-").replace(".", "-")


@dataclass
class Dist:
    dirname: str
    files: dict[str, bytes]  # the .dist-info's files (relative to it)
    editable: bool
    url: str = ""

    def record(self) -> list[str]:
        """The files its RECORD lists right in the site directory (its `.pth`, its finder)."""
        text = self.files.get("RECORD", b"").decode("utf-8", "replace")
        names = (line.split(",", 1)[0] for line in text.splitlines())
        return [n for n in names if n and "/" not in n and "\\" not in n and n != ".."]


def _dist(path: Path, *, contents: bool) -> Dist | None:
    raw = _read(path / "direct_url.json") or b"{}"
    try:
        direct = json.loads(raw)
    except ValueError:
        direct = {}
    direct = direct if isinstance(direct, dict) else {}
    editable = bool(isinstance(direct.get("dir_info"), dict) and direct["dir_info"].get("editable"))
    files: dict[str, bytes] = {}
    if editable or contents:
        try:
            for entry in path.iterdir():
                if (data := _read(entry)) is not None:
                    files[entry.name] = data
        except OSError:
            return None
    return Dist(path.name, files, editable, str(direct.get("url", "")))


@dataclass
class SiteState:
    """One site directory's install pointers and editable distributions, as they were."""

    files: dict[str, bytes] = field(default_factory=dict)
    dists: dict[str, Dist] = field(default_factory=dict)

    @classmethod
    def read(cls, site: Path, needles: tuple[str, ...]) -> SiteState:
        """What is there now, leaving out what already points into a launcher worktree."""
        state = cls()
        for entry in sorted(site.iterdir()):
            if entry.name.endswith(".dist-info") and entry.is_dir():
                dist = _dist(entry, contents=False)
                if dist is not None and not _names(dist.files.get("direct_url.json", b""), needles):
                    state.dists[_key(entry.name)] = dist
            elif _pointer(entry.name) and (data := _read(entry)) is not None and not _names(data, needles):
                state.files[entry.name] = data
        return state


def _names(data: bytes, needles: tuple[str, ...]) -> bool:
    text = data.decode("utf-8", "replace")
    return any(n in text for n in needles)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def restore(site: Path, before: SiteState, needles: tuple[str, ...], *, remove_new: bool) -> list[str]:
    """Put back every install in `site` that points into a launcher worktree (`needles`): what
    was there before, or nothing (only with `remove_new`). What was done, one line each."""
    done: list[str] = []
    handled: set[str] = set()
    for entry in sorted(site.iterdir()):
        if not (entry.name.endswith(".dist-info") and entry.is_dir()):
            continue
        dist = _dist(entry, contents=True)
        if dist is None or not _names(dist.files.get("direct_url.json", b""), needles):
            continue
        old = before.dists.get(_key(entry.name))
        if old is None and not remove_new:
            continue
        for name in dist.record():
            handled.add(name)
            _remove(site / name)
        _remove(entry)
        name = entry.name.removesuffix(".dist-info")
        if old is None:
            done.append(f"removed the editable install of {name} (from {dist.url}), not installed there before")
        elif not old.editable:
            done.append(f"removed the editable install of {name} (from {dist.url}); the regular install of "
                        f"{old.dirname.removesuffix('.dist-info')} that was there before cannot be put back: "
                        "reinstall it")  # fmt: skip
        else:
            (site / old.dirname).mkdir(exist_ok=True)
            for rel, data in old.files.items():
                (site / old.dirname / rel).write_bytes(data)
            for rel in old.record():
                handled.add(rel)
                if rel in before.files:
                    (site / rel).write_bytes(before.files[rel])
            done.append(f"put back the editable install of {old.dirname.removesuffix('.dist-info')} from {old.url} "
                        f"in place of {name} (from {dist.url})")  # fmt: skip
    for entry in sorted(site.iterdir()):
        if entry.name in handled or not _pointer(entry.name):
            continue
        pointer = _read(entry)
        if pointer is None or not _names(pointer, needles):
            continue
        if entry.name in before.files:
            entry.write_bytes(before.files[entry.name])
            done.append(f"put back {entry.name} as it was (it pointed into a launcher worktree)")
        elif remove_new:
            entry.unlink(missing_ok=True)
            done.append(f"removed {entry.name} (it pointed into a launcher worktree)")
    return done


async def _site_dirs(env: Mapping[str, str]) -> list[Path]:
    """The writable site directories of the Pythons a command with `env` reaches as `python`,
    `python3` or `pip`: where its `pip install` writes."""
    path = env.get("PATH", os.defpath)
    pythons = [p for p in (shutil.which("python3", path=path), shutil.which("python", path=path)) if p]
    pip = shutil.which("pip", path=path)
    if pip and (head := _read(Path(pip))) is not None and head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
        if len(words) > 1 and Path(words[0]).name == "env":  # `#!/usr/bin/env python3`
            words = [shutil.which(words[1], path=path) or ""]
        pythons.extend(words[:1])
    # Only an interpreter runs the question (never `#!/bin/sh` or anything else a shebang names).
    pythons = [p for p in pythons if Path(p).name.startswith("python") and os.access(p, os.X_OK)]
    found: list[Path] = []
    for python in dict.fromkeys(pythons):
        done = await process.run([python, "-c", _SITE_DIRS], env=env, timeout=30)
        try:
            dirs = json.loads(done.out) if done.ok else []
        except ValueError:
            dirs = []
        for raw in dirs if isinstance(dirs, list) else []:
            site = Path(str(raw))
            if site.is_dir() and os.access(site, os.W_OK) and site.resolve() not in {s.resolve() for s in found}:
                found.append(site)
    return found


@dataclass
class SiteGuard:
    """The shared environments' editable installs, as they were before the run's first setup."""

    worktree_root: Path | None = None
    before: dict[Path, SiteState] = field(default_factory=dict)
    seen_paths: set[str] = field(default_factory=set)
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    def needles(self) -> tuple[str, ...]:
        if self.worktree_root is None:
            return ()
        roots = {os.path.join(str(r), "") for r in (self.worktree_root.absolute(), self.worktree_root.resolve())}
        return tuple(sorted({*roots, *(quote(r) for r in roots)}))

    async def before_setup(self, worktree_root: Path, env: Mapping[str, str]) -> None:
        """Keep a copy of the environments `env`'s pip writes to (once per PATH)."""
        async with self.lock:
            self.worktree_root = worktree_root
            path = env.get("PATH", os.defpath)
            if path in self.seen_paths:
                return
            self.seen_paths.add(path)
            for site in await _site_dirs(env):
                if site not in self.before:
                    self.before[site] = await anyio.to_thread.run_sync(SiteState.read, site, self.needles())

    async def settle(self, *, remove_new: bool) -> list[str]:
        """Put back what setup commands re-pointed into launcher worktrees: `site: what` lines."""
        async with self.lock:
            lines: list[str] = []
            for site, state in self.before.items():
                try:
                    did = await anyio.to_thread.run_sync(
                        partial(restore, site, state, self.needles(), remove_new=remove_new))
                except OSError as exc:
                    did = [f"could not be checked or put back ({exc}): reinstall the project there"]
                lines.extend(f"{site}: {line}" for line in did)
            return lines


def note(lines: list[str], what: str) -> str:
    """The user's note for `lines` (SiteGuard.settle) after `what`."""
    return (f"{what} installed the project into a shared Python environment from a launcher worktree, which is "
            f"removed once its task is done; the launcher restored that environment: {'; '.join(lines)}. A setup "
            "command should not install the project itself into a shared environment: the checks already import "
            "the worktree's code (its import roots come first on PYTHONPATH).")
