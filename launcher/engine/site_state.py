"""One site directory's editable installs, as they were: what `engine.site_installs` puts back.

An editable install is more than its `.dist-info`: its RECORD lists the files it put in the site
directory, a `.pth` and what that `.pth` imports (setuptools' `__editable__.*_finder.py`,
meson-python's `_<name>_editable_loader.py`, scikit-build-core's `_<name>_editable.py`), and its
console scripts. Every one of them is kept (they are small), so that the install can be put back
whole; `missing` tells which RECORD files could not be, and the state is kept as JSON in the
run's directory (a launcher killed mid-command leaves it for the next one).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SMALL = 1024 * 1024  # larger files are no install pointer


def pointer(name: str) -> bool:
    return name.endswith((".pth", ".egg-link")) or name.startswith("__editable__")


def read_small(path: Path) -> bytes | None:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _SMALL:
            return None
        return path.read_bytes()
    except OSError:
        return None


def dist_key(dist_info: str) -> str:
    """The distribution's normalized name: `My_Pkg-0.1.dist-info` -> `my-pkg`."""
    return dist_info.split("-", 1)[0].lower().replace("_", "-").replace(".", "-")


def names(data: bytes, needles: tuple[str, ...]) -> bool:
    text = data.decode("utf-8", "replace")
    return any(n in text for n in needles)


def record_rows(record: bytes) -> list[tuple[str, str]]:
    """(path, sha256 digest or "") of each file a RECORD lists, paths as written (site-relative)."""
    rows = csv.reader(record.decode("utf-8", "replace").splitlines())
    found: list[tuple[str, str]] = []
    for row in rows:
        if row and row[0]:
            digest = row[1] if len(row) > 1 else ""
            found.append((row[0], digest.removeprefix("sha256=") if digest.startswith("sha256=") else ""))
    return found


def site_file(site: Path, rel: str) -> Path | None:
    """Where a RECORD path is (None for an absolute one or one in the dist-info itself)."""
    if os.path.isabs(rel) or rel.split("/", 1)[0].endswith(".dist-info"):
        return None
    return Path(os.path.normpath(site / rel))


def digest_of(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@dataclass
class Dist:
    dirname: str
    files: dict[str, bytes]  # the .dist-info's files (relative to it)
    editable: bool
    url: str = ""
    kept: dict[str, bytes] = field(default_factory=dict)  # RECORD path -> the file's bytes then
    unkept: list[str] = field(default_factory=list)  # RECORD paths there then, but not kept

    def rows(self) -> list[tuple[str, str]]:
        return record_rows(self.files.get("RECORD", b""))

    def top_level(self) -> list[str]:
        """The files its RECORD lists right in the site directory (its `.pth`, its finder)."""
        return [n for n, _ in self.rows() if "/" not in n and "\\" not in n and n not in ("..", ".")]

    def keep_files(self, site: Path) -> None:
        """Keep a copy of every file its RECORD lists outside its `.dist-info` (an editable
        install's are small: one that is larger, or a symlink, is not kept: `unkept`)."""
        for rel, _ in self.rows():
            where = site_file(site, rel)
            if where is None or not (where.exists() or where.is_symlink()):
                continue
            if (data := read_small(where)) is not None:
                self.kept[rel] = data
            else:
                self.unkept.append(rel)

    def missing(self, site: Path) -> list[str]:
        """The files it had that are not as they were (a kept one with other bytes, one not kept
        that is gone or no longer matches its RECORD digest): not put back."""
        digests = dict(self.rows())
        wrong = [rel for rel, data in self.kept.items()
                 if (where := site_file(site, rel)) is None or read_small(where) != data]
        for rel in self.unkept:
            where = site_file(site, rel)
            data = read_small(where) if where is not None else None
            gone = where is None or not where.exists()
            if gone or (digests.get(rel) and (data is None or digest_of(data) != digests[rel])):
                wrong.append(rel)
        return wrong

    def as_json(self) -> dict[str, Any]:
        return {"dirname": self.dirname, "editable": self.editable, "url": self.url,
                "files": _b64(self.files), "kept": _b64(self.kept), "unkept": self.unkept}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dist:
        return cls(str(data["dirname"]), _unb64(data.get("files", {})), bool(data.get("editable")),
                   str(data.get("url", "")), _unb64(data.get("kept", {})),
                   [str(n) for n in data.get("unkept", [])])


def _b64(files: dict[str, bytes]) -> dict[str, str]:
    return {name: base64.b64encode(data).decode() for name, data in files.items()}


def _unb64(files: dict[str, str]) -> dict[str, bytes]:
    return {str(name): base64.b64decode(data) for name, data in files.items()}


def read_dist(path: Path, *, contents: bool) -> Dist | None:
    """The `.dist-info` at `path`: only its direct_url.json unless it is editable or `contents`."""
    raw = read_small(path / "direct_url.json") or b"{}"
    try:
        direct = json.loads(raw)
    except ValueError:
        direct = {}
    direct = direct if isinstance(direct, dict) else {}
    editable = bool(isinstance(direct.get("dir_info"), dict) and direct["dir_info"].get("editable"))
    files: dict[str, bytes] = {"direct_url.json": raw} if raw != b"{}" else {}
    if editable or contents:
        try:
            for entry in path.iterdir():
                if (data := read_small(entry)) is not None:
                    files[entry.name] = data
        except OSError:
            return None
    return Dist(path.name, files, editable, str(direct.get("url", "")))


@dataclass
class SiteState:
    """One site directory's install pointers and editable distributions, as they were."""

    files: dict[str, bytes] = field(default_factory=dict)
    dists: dict[str, Dist] = field(default_factory=dict)
    # What already pointed into the run's worktrees when it was read (a launcher stopped before
    # it kept what was there): what was installed before that is not known.
    unknown: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, site: Path, needles: tuple[str, ...]) -> SiteState:
        """What is there now; what already points into the run's worktrees goes to `unknown`."""
        state = cls()
        for entry in sorted(site.iterdir()):
            if entry.name.endswith(".dist-info") and entry.is_dir():
                dist = read_dist(entry, contents=False)
                if dist is None:
                    continue
                if names(dist.files.get("direct_url.json", b""), needles):
                    state.unknown.add(dist_key(entry.name))
                    continue
                if dist.editable:
                    dist.keep_files(site)
                state.dists[dist_key(entry.name)] = dist
            elif pointer(entry.name) and (data := read_small(entry)) is not None:
                if names(data, needles):
                    state.unknown.add(entry.name)
                else:
                    state.files[entry.name] = data
        return state

    def as_json(self) -> dict[str, Any]:
        return {"files": _b64(self.files), "dists": {k: d.as_json() for k, d in self.dists.items()},
                "unknown": sorted(self.unknown)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteState:
        return cls(_unb64(data.get("files", {})),
                   {str(k): Dist.from_json(d) for k, d in data.get("dists", {}).items()},
                   {str(n) for n in data.get("unknown", [])})
