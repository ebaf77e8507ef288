"""Content filters in the launcher's own git: pinned to the run start's, and checked afterwards.

A filter (`filter.<name>.clean/smudge/process` in any git config, named by a `filter=<name>`
attribute in `info/attributes`, a `.gitattributes` or the global attributes file) makes git run
a command whenever it turns a file into a blob (`git add`, a commit's index refresh) or a blob
into a file (`read-tree -u`, `checkout`). git-lfs works that way, so the launcher's git keeps
the filters the user configured. But agents run as the user and can write the shared config,
`info/attributes` and the global config and attributes files at any moment, also while the
launcher commits another task's work: the snapshot put back after each round (git/guard.py)
cannot win that race against an agent that sets them again and again.

So, for the launcher's git commands that convert content (the commit of an agent's work, the
landing's update of the main work tree):
- `pinned_env` pins every filter driver to what was configured when the run started (`pin`,
  called at run start; lazily at a command's first use otherwise): a driver added since, under
  any name the config holds just before the command, is switched off (empty commands), and the
  global attributes file is the run start's copy. A driver added between that read and git's
  own is not caught here, hence:
- `unfiltered_mismatches` compares what was written with the bytes on disk (`git hash-object
  --no-filters`, one process per 200 files): a path no run-start filter applies to must hold
  the same bytes, or only git's own conversions of them (end of line, `ident`,
  `working-tree-encoding` under any name git's iconv takes: git/text_encodings.py). The caller
  discards a commit that fails this (commits.py) or writes the files again as git checks them
  out (merge.py).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from launcher import tree_paths
from launcher.errors import LauncherError
from launcher.git import text_encodings
from launcher.git.repo import GitRepo

_VARS = ("clean", "smudge", "process", "required")
_BATCH = 200  # paths per `git hash-object` / `git check-attr`
_BLOB_MODES = ("100644", "100755")


class FilterTampered(LauncherError):
    default_key = "filter_tampered"


@dataclass(frozen=True)
class FilterPin:
    """The filter drivers configured at run start, and the global attributes file's content."""

    drivers: dict[str, dict[str, str]]  # name -> {clean/smudge/process/required: value}
    attributes_file: str  # core.attributesFile for the launcher's git: a private copy, or /dev/null
    base: int  # GIT_CONFIG_* entries of repo.env before the pinned ones


def _split_config(out: str) -> list[tuple[str, str]]:
    pairs = []
    for entry in out.split("\0"):
        if entry:
            key, _, value = entry.partition("\n")
            pairs.append((key, value))
    return pairs


def _driver(key: str) -> tuple[str, str] | None:
    """`filter.<name>.<var>` -> (name, var); names may hold dots, git's keys are lower case."""
    if not key.lower().startswith("filter.") or key.count(".") < 2:
        return None
    name, _, var = key[len("filter.") :].rpartition(".")
    return name, var.lower()


_COPIES: list[str] = []


@atexit.register
def _remove_copies() -> None:
    for copy in _COPIES:
        shutil.rmtree(copy, ignore_errors=True)


async def _global_attributes(repo: GitRepo, env: dict[str, str]) -> str:
    done = await repo.git("config", "--type=path", "--get", "core.attributesFile", check=False, env=env)
    if done.ok and done.out.strip():
        path = Path(done.out.strip())
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        path = Path(xdg) / "git" / "attributes"
    try:
        content = path.read_bytes()
    except OSError:
        return os.devnull
    folder = tempfile.mkdtemp(prefix="launcher-attributes-")
    _COPIES.append(folder)
    copy = Path(folder) / "attributes"
    copy.write_bytes(content)
    return str(copy)


def _driver_pairs(name: str, known: dict[str, str] | None) -> list[tuple[str, str]]:
    """A run-start driver's keys as they were (`required` false when it had none); a driver
    configured since (`known` None): switched off, its commands empty. (A `process` key cannot be
    pinned away: even an empty one makes git skip `clean`/`smudge`: `pinned_env` refuses one
    added to a run-start driver.)"""
    if known is None:
        return [(f"filter.{name}.{var}", "false" if var == "required" else "") for var in _VARS]
    return [(f"filter.{name}.{var}", value) for var, value in known.items()] + (
        [] if "required" in known else [(f"filter.{name}.required", "false")]
    )


def _with_pairs(env: dict[str, str], pairs: list[tuple[str, str]], base: int | None = None) -> dict[str, str]:
    """`env` with `pairs` added to its GIT_CONFIG_* list (after its first `base` entries)."""
    env = dict(env)
    count = int(env.get("GIT_CONFIG_COUNT", "0")) if base is None else base
    for index, (key, value) in enumerate(pairs, start=count):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + len(pairs))
    return env


async def pin(repo: GitRepo) -> FilterPin:
    """Take (again) the filter drivers configured now as the ones the launcher's git may run.

    They, and the global attributes file's content now, are pinned in `repo.env` for every git
    command of the launcher (command-line config wins over every config file): an agent cannot
    redefine git-lfs's driver, nor add attributes in the global file. A driver under a new name
    (named by `info/attributes`, which no config can replace) is `pinned_env`'s."""
    base = repo.filter_pin.base if repo.filter_pin is not None else int(repo.env.get("GIT_CONFIG_COUNT", "0"))
    unpinned = _with_pairs(repo.env, [], base)  # what the config files say, without an earlier pin
    done = await repo.git("config", "-z", "--get-regexp", r"^filter\.", check=False, env=unpinned)
    drivers: dict[str, dict[str, str]] = {}
    for key, value in _split_config(done.out if done.ok else ""):
        if (found := _driver(key)) is not None and found[1] in _VARS:
            drivers.setdefault(found[0], {})[found[1]] = value
    taken = FilterPin(drivers, await _global_attributes(repo, unpinned), base)
    pairs = [("core.attributesFile", taken.attributes_file)]
    for name in sorted(drivers):
        pairs += _driver_pairs(name, drivers[name])
    repo.env = _with_pairs(repo.env, pairs, base)
    repo.filter_pin = taken
    return taken


async def pinned_env(repo: GitRepo) -> dict[str, str]:
    """The environment for one content-converting git command: besides the run start's drivers
    (`pin`), every driver configured since, as the config says just before it, switched off.
    FilterTampered when a run-start driver has a `process` command it did not have (that
    cannot be switched off and would run instead of its own commands)."""
    pinned = repo.filter_pin or await pin(repo)
    done = await repo.git("config", "-z", "--name-only", "--get-regexp", r"^filter\.", check=False)
    names = set()
    for key in (done.out if done.ok else "").split("\0"):
        if (found := _driver(key)) is None:
            continue
        name, var = found
        if name not in pinned.drivers:
            names.add(name)
        elif var == "process" and "process" not in pinned.drivers[name]:
            raise FilterTampered(
                f"the git config sets filter.{name}.process, which the filter driver {name!r} did not "
                "have when the run started: the launcher does not let its git run it",
                where=str(repo.common_dir / "config"),
                fix=f"remove it (`git config --unset filter.{name}.process`, also in the global config) "
                "and run the task again; the run's notes name the task whose round changed the git config",
            )
    pairs = []
    for name in sorted(names):
        pairs += _driver_pairs(name, None)
    return _with_pairs(repo.env, pairs)


_HASHED_HERE = 64 * 1024 * 1024  # a larger file is hashed by `git hash-object`, not read into memory


def raw_blob_id(path: Path, like: str) -> str | None:
    """`git hash-object --no-filters` of a file, computed here (no git process per commit): the
    object id of its bytes as a blob, in the hash `like` (an object id of the repository) is in.
    None when the file is larger than this reads, or cannot be read (git answers then)."""
    algorithm = {40: "sha1", 64: "sha256"}.get(len(like))
    try:
        if algorithm is None or path.stat().st_size > _HASHED_HERE:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    digest = hashlib.new(algorithm, b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Mismatch:
    """A path whose written content is not the bytes on disk, and the filter attribute that
    git applied to it (as far as the attributes say now)."""

    path: str
    filter: str  # the `filter` attribute's value ("" when unset)
    command: str  # that driver's command in the config now ("" when none)


async def written_blobs(repo: GitRepo, old: str | None, new: str, cwd: Path | None = None) -> dict[str, str]:
    """Regular files `new` adds or changes since `old` (everything when `old` is None): path -> blob."""
    if old is None:
        listed = await repo.git("ls-tree", "-r", "-z", "--full-tree", new, cwd=cwd)
        rows = [(meta, path) for meta, _, path in (e.partition("\t") for e in listed.out.split("\0") if e)]
        return {path: meta.split(" ")[2] for meta, path in rows if meta.split(" ")[0] in _BLOB_MODES}
    listed = await repo.git("diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", old, new, cwd=cwd)
    return blobs_of_raw_diff(listed.out)


def blobs_of_raw_diff(listed: str) -> dict[str, str]:
    """The regular files a `--raw -z --no-renames --no-abbrev` diff adds or changes: path -> blob."""
    fields = listed.split("\0")
    found = {}
    for meta, path in zip(fields[::2], fields[1::2], strict=False):
        parts = meta.lstrip(":").split(" ")
        if len(parts) >= 4 and parts[1] in _BLOB_MODES:
            found[path] = parts[3]
    return found


_IDENT = re.compile(rb"\$Id:[^$\n]*\$")


def _normalised(content: bytes) -> bytes:
    """Content with git's end-of-line and `ident` conversions undone (LF line ends, `$Id$`)."""
    return _IDENT.sub(b"$Id$", content.replace(b"\r\n", b"\n"))


def _converted_only(disk: bytes, blob: bytes, encoding: str) -> bool | None:
    """Whether the file is its blob after git's own conversions alone: CRLF line ends (autocrlf,
    `text`/`eol`), an expanded `$Id$` (`ident`), another `working-tree-encoding` (any name git's
    iconv takes: git/text_encodings.py). None when that encoding is one Python cannot read."""
    readings = [disk]
    if encoding:
        found = text_encodings.as_git_stores(disk, encoding)
        if found is None:
            return None
        readings = found
    want = _normalised(blob)
    return any(_normalised(reading) == want for reading in readings)


async def unfiltered_mismatches(
    repo: GitRepo, root: Path, blobs: dict[str, str], env: dict[str, str]
) -> list[Mismatch]:
    """Paths under `root` whose regular file is not the bytes of its blob in `blobs` (nor those
    bytes after git's own conversions), unless a filter configured at run start applies to them."""
    paths = sorted(blobs)
    differ = []
    for start in range(0, len(paths), _BATCH):
        # Only files git wrote through a filter: a path not on disk (outside a sparse checkout's
        # cone) or not a regular file is not one.
        batch = [p for p in paths[start : start + _BATCH] if tree_paths.is_regular(root, p)]
        if not batch:
            continue
        hashed = {p: raw_blob_id(root / p, blobs[p]) for p in batch}
        asked = [p for p in batch if hashed[p] is None]  # too large to read here: git hashes it
        if asked:
            done = await repo.git("hash-object", "--no-filters", "--", *asked, cwd=root)
            hashed.update(zip(asked, done.out.split(), strict=False))
        differ += [p for p in batch if hashed.get(p) != blobs[p]]
    if not differ:
        return []
    attrs = await _filter_attributes(repo, root, differ, env)
    pinned = repo.filter_pin
    found = []
    for path in differ:
        name, encoding = attrs.get(path, ("", ""))
        if pinned is not None and name in pinned.drivers:
            continue  # a run-start filter (git-lfs): its output is not the file's bytes
        try:
            disk = tree_paths.read_bytes(root, path)
        except OSError:
            disk = None
        if disk is not None:
            blob = await _whole_output(repo, "cat-file", "blob", blobs[path], cwd=root)
            same = _converted_only(disk, blob, encoding) if blob is not None else False
            # An encoding Python cannot read (an iconv name it does not know, bytes its codec
            # refuses) on a path no filter attribute names: the difference can be git's own
            # conversion, so it is not taken for a filter's work (conservative: the commit is
            # not discarded, the user's file not rewritten, on that ground alone).
            if same or (same is None and not name):
                continue
        command = ""
        if name:
            for var in ("clean", "smudge", "process"):
                got = await repo.git("config", "--get", f"filter.{name}.{var}", cwd=root, check=False)
                if got.ok and got.out.strip():
                    command = f"filter.{name}.{var} = {got.out.strip()!r}"
                    break
        found.append(Mismatch(path, name, command))
    return found


async def _filter_attributes(
    repo: GitRepo, root: Path, paths: list[str], env: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """Each path's `filter` and `working-tree-encoding` attributes ("" when not set to a value)."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(paths), _BATCH):
        done = await repo.git(
            "check-attr",
            "-z",
            "filter",
            "working-tree-encoding",
            "--",
            *paths[start : start + _BATCH],
            cwd=root,
            check=False,
            env=env,
        )
        fields = done.out.split("\0")
        for path, attr, value in zip(fields[::3], fields[1::3], fields[2::3], strict=False):
            given = "" if value in ("unspecified", "unset", "set") else value
            name, encoding = found.get(path, ("", ""))
            found[path] = (given, encoding) if attr == "filter" else (name, given)
    return found


def described(mismatches: list[Mismatch]) -> str:
    """`a.txt, b.txt (attribute filter=evil; filter.evil.clean = 'sed ...')`."""
    shown = mismatches[:5]
    named = ", ".join(m.path for m in shown) + (f" and {len(mismatches) - 5} more" if len(mismatches) > 5 else "")
    filters = sorted({(m.filter, m.command) for m in shown if m.filter})
    if not filters:
        return f"{named} (no filter attribute names them now: it was changed again since)"
    said = "; ".join(f"attribute filter={name}" + (f", {command}" if command else "") for name, command in filters)
    return f"{named} ({said})"


async def rewrite_unfiltered(repo: GitRepo, old: str, new: str, env: dict[str, str]) -> str:
    """After the landing's `read-tree -u` from `old` to `new` in the main work tree: a file whose
    bytes are not its landed blob's (a smudge filter configured since the run started ran, set
    again between the launcher's read of the config and git's) is written again as git checks it
    out with the run start's filters (`checkout_bytes`). Returns what to add to the landing's
    message ("" when every file is as landed). The caller holds the repository lock."""
    blobs = await written_blobs(repo, old, new)
    wrong = await unfiltered_mismatches(repo, repo.root, blobs, env)
    if not wrong:
        return ""
    written = []
    for mismatch in wrong:
        target = repo.root / mismatch.path
        if target.is_symlink() or target.is_dir():
            continue  # not the launcher's to remove: named below
        content = await checkout_bytes(repo, mismatch.path, blobs[mismatch.path], mismatch.filter, env)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(mismatch.path)
    if written:  # the index's file sizes are the filter's output's: else `git status` shows them modified
        foreign = sorted({m.filter for m in wrong if m.filter})
        off = [pair for name in foreign for pair in _driver_pairs(name, None)]
        for start in range(0, len(written), _BATCH):
            await repo.git(
                "update-index",
                "-q",
                "--refresh",
                "--",
                *written[start : start + _BATCH],
                check=False,
                env=_with_pairs(env, off),
            )
    return (
        f"; a content filter not configured when the run started changed {described(wrong)} while the "
        "main work tree was updated: the launcher wrote the landed content there again (remove that "
        "filter from the git config and .git/info/attributes)"
    )


async def checkout_bytes(repo: GitRepo, path: str, blob: str, foreign: str, env: dict[str, str]) -> bytes:
    """The bytes `git checkout` writes for `blob` at `path` with the run start's filters: git's own
    conversions (end of line, `ident`, `working-tree-encoding`) made by git itself, the filter
    driver `foreign` (not a run-start one; "" for none) switched off besides those `env` already
    switches off. The blob's bytes when git cannot convert it (as its checkout writes them then)."""
    pinned = repo.filter_pin
    off = _driver_pairs(foreign, None) if foreign and (pinned is None or foreign not in pinned.drivers) else []
    done = await _whole_output(repo, "cat-file", "--filters", f"--path={path}", blob, env=_with_pairs(env, off))
    if done is not None:
        return done
    found = await _whole_output(repo, "cat-file", "blob", blob)
    if found is None:
        raise LauncherError(f"git cannot read the landed blob {blob} of {path}", where=path,
                            fix="run `git fsck` in the repository; the landing itself is done")
    return found


async def _whole_output(repo: GitRepo, *args: str, cwd: Path | None = None,
                        env: dict[str, str] | None = None) -> bytes | None:
    """All of a git command's output (a blob larger than the launcher keeps in a pipe's tail,
    64 MiB, too: written to a temporary file first), or None when git failed."""
    with tempfile.TemporaryFile() as out:
        done = await repo.git(*args, cwd=cwd, check=False, env=env, stdout_to=out)
        if not done.ok:
            return None
        out.seek(0)
        return out.read()
