"""Editable installs a command run in a launcher worktree makes from it into a shared environment.

`pip install -e .` run in a task's worktree (its setup, a check, a rubric `check:`, the
integration check, an agent) re-installs the project editable from that
worktree into the environment the user's `pip` belongs to (their venv, shared by every task and by
the main checkout): its `.pth` / `__editable__` finder now point into the worktree, which the
launcher removes once the task is done. The user's own checkout then no longer imports its own
package. So before the run's first command the launcher keeps a copy of those environments'
editable installs (the `.pth`, `.egg-link` and `__editable__*` files, each editable
distribution's `.dist-info` and every file its RECORD lists: `engine.site_state`), in the run's
directory, where a launcher killed mid-command leaves it for `resume`; after each such command it
puts back every install that now points into one of the run's worktrees: the one that was there
before is restored (or, when it cannot be whole, removed with a note saying so); one that was not
there before is removed at the run's end (the task's own checks may need its metadata until then).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import quote

import anyio

from launcher import process
from launcher.engine.site_state import (
    Dist,
    SiteState,
    dist_key,
    names,
    pointer,
    read_dist,
    read_small,
    site_file,
)
from launcher.regular_files import read_json_or_none
from launcher.store.files import atomic_write_text
from launcher.store.own_files import STATE_DIR

RECORD = "site-installs.json"  # a run's SiteGuard record, in its directory under .launcher/runs/
_SITE_DIRS = ("import json, site, sysconfig; p = sysconfig.get_paths(); "
              "print(json.dumps([p['purelib'], p['platlib'], site.getusersitepackages()]))")  # fmt: skip


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _write_back(site: Path, old: Dist) -> list[str]:
    """Recreate `old` (its `.dist-info` and every file of it kept): the files not as they were."""
    (site / old.dirname).mkdir(exist_ok=True)
    for rel, data in old.files.items():
        (site / old.dirname / rel).write_bytes(data)
    for rel, data in old.kept.items():
        where = site_file(site, rel)
        if where is None:
            continue
        new = not where.exists()
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_bytes(data)
        if new and data.startswith(b"#!"):  # a console script
            where.chmod(0o755)
    return old.missing(site)


def _put_back(site: Path, old: Dist, name: str, url: str) -> str:
    if not old.editable:
        return (f"removed the editable install of {name} (from {url}); the regular install of "
                f"{old.dirname.removesuffix('.dist-info')} that was there before cannot be put back: reinstall it")
    was = old.dirname.removesuffix(".dist-info")
    missing = _write_back(site, old)
    if not missing:
        return f"put back the editable install of {was} from {old.url} in place of {name} (from {url})"
    # Never half an install (a `.pth` importing a loader that is not there breaks every start)
    for rel in old.top_level():
        _remove(site / rel)
    _remove(site / old.dirname)
    return (f"removed the editable install of {name} (from {url}); the editable install of {was} from {old.url} "
            f"that was there before could not be put back, as {', '.join(missing)} could not be kept (too large "
            f"or not a regular file): reinstall it (`pip install -e` of that checkout)")


def _unknown(what: str) -> str:
    return (f"{what}; it already pointed into this run's worktrees when the launcher first looked (a launcher "
            "stopped before it kept what was installed there), so what was there before is not known: reinstall "
            "your own (`pip install -e` of your checkout) if you had one")


def restore(site: Path, before: SiteState, needles: tuple[str, ...], *, remove_new: bool) -> list[str]:
    """Put back every install in `site` that points into the run's worktrees (`needles`): what
    was there before, or nothing (only with `remove_new`). What was done, one line each."""
    done: list[str] = []
    handled: set[str] = set()
    for entry in sorted(site.iterdir()):
        if not (entry.name.endswith(".dist-info") and entry.is_dir()):
            continue
        # Only its direct_url.json is read: the rest only of one pointing into a worktree
        found = read_dist(entry, contents=False)
        if found is None or not names(found.files.get("direct_url.json", b""), needles):
            continue
        key = dist_key(entry.name)
        old = before.dists.get(key)
        if old is None and not remove_new:
            continue
        dist = read_dist(entry, contents=True) or found
        for name in dist.top_level():
            handled.add(name)
            _remove(site / name)
        _remove(entry)
        name = entry.name.removesuffix(".dist-info")
        if old is not None:
            handled.update(old.top_level())
            done.append(_put_back(site, old, name, dist.url))
        elif key in before.unknown:
            done.append(_unknown(f"removed the editable install of {name} (from {dist.url})"))
        else:
            done.append(f"removed the editable install of {name} (from {dist.url}), not installed there before")
    for entry in sorted(site.iterdir()):
        if entry.name in handled or not pointer(entry.name):
            continue
        data = read_small(entry)
        if data is None or not names(data, needles):
            continue
        if entry.name in before.files:
            entry.write_bytes(before.files[entry.name])
            done.append(f"put back {entry.name} as it was (it pointed into a launcher worktree)")
        elif remove_new:
            entry.unlink(missing_ok=True)
            what = f"removed {entry.name} (it pointed into a launcher worktree)"
            done.append(_unknown(what) if entry.name in before.unknown else what)
    return done


async def _site_dirs(env: Mapping[str, str]) -> list[Path]:
    """The writable site directories of the Pythons a command with `env` reaches as `python`,
    `python3` or `pip`: where its `pip install` writes (also one not there yet that it may make)."""
    path = env.get("PATH", os.defpath)
    pythons = [p for p in (shutil.which("python3", path=path), shutil.which("python", path=path)) if p]
    pip = shutil.which("pip", path=path)
    if pip and (head := read_small(Path(pip))) is not None and head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
        if len(words) > 1 and Path(words[0]).name == "env":  # `#!/usr/bin/env python3`
            words = [shutil.which(words[1], path=path) or ""]
        pythons.extend(words[:1])
    # Only an interpreter runs the question (never `#!/bin/sh` or anything else a shebang names).
    pythons = [p for p in pythons if Path(p).name.startswith("python") and os.access(p, os.X_OK)]
    found: list[Path] = []
    for python in _distinct(pythons):
        done = await process.run([python, "-c", _SITE_DIRS], env=env, timeout=30)
        try:
            dirs = json.loads(done.out) if done.ok else []
        except ValueError:
            dirs = []
        for raw in dirs if isinstance(dirs, list) else []:
            site = Path(str(raw))
            if _writable(site) and site.resolve() not in {s.resolve() for s in found}:
                found.append(site)
    return found


def _distinct(pythons: list[str]) -> list[str]:
    """The interpreters, one per directory and binary: `python` and `python3` of one venv (or of
    one `bin/`) are links to one file there, and answer the same (a venv is found next to the
    name that ran, so the same file in another directory is asked again)."""
    seen: dict[tuple[str, str], str] = {}
    for python in pythons:
        seen.setdefault((os.path.dirname(os.path.abspath(python)), os.path.realpath(python)), python)
    return list(seen.values())


def _writable(site: Path) -> bool:
    """Whether a `pip install` may write there: a site directory that is not there yet (a user
    site, made by pip's first `--user` install) counts when it could be made."""
    if site.is_dir():
        return os.access(site, os.W_OK)
    parent = site.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return site.is_absolute() and not site.exists() and parent.is_dir() and os.access(parent, os.W_OK)


@dataclass
class SiteGuard:
    """The shared environments' editable installs, as they were before the run's first command
    in a worktree; kept in `record` (the run's directory) before any such command runs."""

    root: Path | None = None  # the folder of the run's worktrees
    record: Path | None = None
    before: dict[Path, SiteState] = field(default_factory=dict)
    seen_paths: set[str] = field(default_factory=set)
    loaded: bool = False
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    state_dir: Path | None = None  # the repository's `.launcher/` (default: the one `record` is under)

    def needles(self, *, every_run: bool = False) -> tuple[str, ...]:
        """What an install pointing into the run's worktrees names (`every_run`: any run's)."""
        if self.root is None:
            return ()
        root = self.root.parent if every_run else self.root
        roots = {os.path.join(str(r), "") for r in (root.absolute(), root.resolve())}
        # A path that is not UTF-8 (a legacy locale's surrogates) is quoted as its raw bytes, as pip
        # writes it in direct_url.json.
        return tuple(sorted({*roots, *(quote(r, errors="surrogateescape") for r in roots)}))

    def bind(self, root: Path | None, record: Path) -> bool:
        """Use the run's worktree folder and record; True when a record kept by an earlier
        launcher of the run was loaded (what it ran may have re-pointed an install since).
        `root` None: the one the record names (the config that says it cannot be read)."""
        self.root, self.record = root, record
        if self.loaded:
            return False
        self.loaded = True
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        try:
            if self.root is None:
                if not isinstance(data.get("root"), str) or not data["root"]:
                    return False
                self.root = Path(data["root"])
            self.before = {Path(site): SiteState.from_json(state) for site, state in data["sites"].items()}
            self.seen_paths = {str(p) for p in data.get("paths", [])}
        except (KeyError, TypeError, ValueError, AttributeError):
            self.before, self.seen_paths = {}, set()
            return False
        return bool(self.before)

    def _save(self) -> None:
        if self.record is None:
            return
        data = {"root": str(self.root or ""), "paths": sorted(self.seen_paths),
                "sites": {str(s): st.as_json() for s, st in self.before.items()}}
        atomic_write_text(self.record, json.dumps(data))  # its folders made private (0700) as the run's are

    async def snapshot(self, env: Mapping[str, str]) -> None:
        """Keep a copy of the environments `env`'s pip writes to (once per PATH), in the record
        before this returns (so before the command that may install runs)."""
        async with self.lock:
            path = env.get("PATH", os.defpath)
            if path in self.seen_paths:
                return
            self.seen_paths.add(path)
            for site in await _site_dirs(env):
                if site not in self.before:  # one not there yet had nothing installed in it
                    # An install pointing into another run's worktree (its command running now) is
                    # no "before": that run's record says what was there before it, else unknown.
                    state = (await anyio.to_thread.run_sync(SiteState.read, site, self.needles(every_run=True))
                             if site.is_dir() else SiteState())
                    self.before[site] = await anyio.to_thread.run_sync(self._other_runs, site, state)
            await anyio.to_thread.run_sync(self._save)

    async def take_in_users(self) -> None:
        """Right before a command: an editable install the user made since the record (complete,
        pointing into no launcher worktree: theirs, e.g. their `pip install -e` of another
        checkout) becomes what a put-back after the command restores, never the older record."""
        async with self.lock:
            taken = False
            for site, state in self.before.items():
                if site.is_dir():
                    taken |= await anyio.to_thread.run_sync(self._take_in_users, site, state)
            if taken:
                await anyio.to_thread.run_sync(self._save)

    def _take_in_users(self, site: Path, state: SiteState) -> bool:
        now = SiteState.read(site, self.needles(every_run=True))
        taken = False
        for key, dist in now.dists.items():
            old = state.dists.get(key)
            if key in state.unknown or not dist.editable or not _whole(site, dist):
                continue  # (a pip of a command still at work: it leaves none whole outside the worktrees)
            if old is not None and (old.dirname, old.url, old.files) == (dist.dirname, dist.url, dist.files):
                continue
            state.dists[key] = dist
            taken = True
        return taken

    def _state(self) -> Path | None:
        """The repository's `.launcher/`: given, or the one the record is kept under."""
        if self.state_dir is not None:
            return self.state_dir
        return next((p for p in (self.record.parents if self.record else []) if p.name == STATE_DIR), None)

    def _records(self) -> list[Path]:
        """Every other guard's record the launcher may keep for this repository, in one glob of
        each place it writes them: `.launcher/<kind>/<id>/` (runs, workflows, a sweep's or a
        calibration's `mutation judge`) and `<worktree root>/<owner>/` (a workflow's scratch, a
        `mutation fix` re-settle's `<run>.site-installs.json`)."""
        found: set[Path] = set()
        if (state := self._state()) is not None:
            found.update(state.glob(f"*/*/{RECORD}"))
        if self.root is not None:  # every guard's root is <worktree root>/<owner>
            found.update(self.root.parent.glob(f"*/*{RECORD}"))
        return sorted(found - {p for p in (self.record,) if p is not None})

    def _other_runs(self, site: Path, state: SiteState) -> SiteState:
        """`state` with what pointed into a worktree taken from the record of another guard of the
        repository (a run's, a workflow's test command, a judge, a re-settle) that covers `site`
        and whose worktrees the install points into (what was there before it re-pointed it)."""
        if not state.unknown or self.record is None:
            return state
        for record in self._records():
            data = read_json_or_none(record)
            try:
                sites = data["sites"]
                theirs = next((SiteState.from_json(v) for k, v in sites.items()
                               if Path(k).resolve() == site.resolve()), None)
                their_root = Path(data["root"]) if data.get("root") else None
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            if theirs is None:
                continue
            # Only what points into that guard's own trees (a record of an older launcher names no root)
            into = SiteState.read(site, SiteGuard(root=their_root).needles()).unknown if their_root else state.unknown
            for key in sorted(state.unknown & into):
                if key in theirs.unknown:
                    continue
                state.unknown.discard(key)  # there before that guard, as it kept it (or nothing)
                if key in theirs.dists:
                    state.dists[key] = theirs.dists[key]
                elif key in theirs.files:
                    state.files[key] = theirs.files[key]
        return state

    async def settle(self, *, remove_new: bool) -> list[str]:
        """Put back what commands re-pointed into the run's worktrees: `site: what` lines."""
        async with self.lock:
            lines: list[str] = []
            for site, state in self.before.items():
                if not site.is_dir():  # not made since (a user site no install made yet)
                    continue
                try:
                    did = await anyio.to_thread.run_sync(
                        partial(restore, site, state, self.needles(), remove_new=remove_new))
                except OSError as exc:
                    did = [f"could not be checked or put back ({exc}): reinstall the project there"]
                lines.extend(f"{site}: {line}" for line in did)
            return lines


def _whole(site: Path, dist: Dist) -> bool:
    """Whether an install is all there (its RECORD read, every file it lists present), not one
    a pip is still writing or removing."""
    rows = dist.rows()
    if not rows or not dist.url:
        return False
    for rel, _ in rows:
        where = site_file(site, rel) if not os.path.isabs(rel) else None
        if rel.split("/", 1)[0].endswith(".dist-info"):
            where = site / rel
        if where is None or not (where.exists() or where.is_symlink()):
            return False
    return True


@asynccontextmanager
async def guarded(root: Path, record: Path, env: Mapping[str, str], *,
                  state_dir: Path | None = None) -> AsyncIterator[list[str]]:
    """Around a command the launcher runs outside a run's tasks in a throwaway tree under `root`
    (a workflow's test and coverage runs, `mutation judge`'s judge, `mutation fix`'s re-settle):
    the environments `env`'s pip writes to are kept in `record` before it runs; after it, every
    install pointing under `root` is put back as it was, or removed (the tree goes with the
    command), and `record` goes. A `record` left by a launcher killed meanwhile is put back
    first. The yielded list gets `site: what` lines of what was put back. `state_dir`: the
    repository's `.launcher/`, where other guards' records are looked for (given when `record` is
    not under it)."""
    lines: list[str] = []
    lines += await put_back_left(root, record)
    guard = SiteGuard(root=root, record=record, loaded=True, state_dir=state_dir)
    await guard.snapshot(env)
    try:
        yield lines
    finally:
        with anyio.CancelScope(shield=True):
            lines += await guard.settle(remove_new=True)
            record.unlink(missing_ok=True)


async def put_back_left(run_root: Path | None, record: Path) -> list[str]:
    """For a run no launcher will drive again (`launcher clean`, its claim held): every install a
    command of the run left pointing into its worktrees (`run_root`), in the environments its
    `record` names, put back as at the run's end: what was there before, or nothing; then the
    record goes. `site: what` lines; none without a record (nothing ran in a worktree)."""
    guard = SiteGuard()
    if not guard.bind(run_root, record):
        record.unlink(missing_ok=True)  # empty or unreadable: nothing it could tell
        return []
    done = await guard.settle(remove_new=True)
    record.unlink(missing_ok=True)  # put back: nothing left to know
    return done


def note(lines: list[str], what: str, *, who: str = "A setup command") -> str:
    """The user's note for `lines` (SiteGuard.settle) after `what`; `who` should not install."""
    return (f"{what} installed the project into a shared Python environment from a launcher worktree, which is "
            f"removed once its task is done; what the launcher did about it: {'; '.join(lines)}. {who} should not "
            "install the project itself into a shared environment: the checks already import the worktree's code "
            "(its import roots come first on PYTHONPATH).")
