"""A clean coverage run reused by a later sweep of the very same code and tests (issue 11, speed).

The per-test coverage map and the clean suite's timings depend on every file the suite can
touch, so the key covers all of them: the base commit, the content of each file whose main-tree
state differs from it (uncommitted changes, untracked files, `.worktreeinclude` copies), the
interpreter (by what it is: `run_identity`), the pytest flags, the import roots, the measured
files, and the environment: the fixed list of variables that change Python's and pytest's
behaviour, and the variables the run read (checked when a map is loaded: measured again when
one of them changed). A local re-run (the same
`--since` sweep again, a sweep resumed on another day) then skips the suite's coverage run; any
edit anywhere runs it again. Only a passing run is kept; the few maps used last are, by the
cache's own record of the order it saved and loaded them in (RECENT_FILE), never by the files'
mtimes: maps dated in the future (written while the clock ran ahead, a CI cache restored with a
fast runner's times) outranked every map saved since, each deleted by the save that wrote it.

A whole-suite map also records the key of the tests alone (`tests_key`): a later `--since` sweep
of other code with the very same tests asks it which tests executed the changed files
(`for_tests`), to run only those under coverage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from launcher.mutation.coverage_map import CoverageMap, SuiteRun
from launcher.store.files import atomic_write_json, atomic_write_text

SCHEMA = "launcher-coverage/4"  # 2: fixture setups and child processes attributed to their tests;
# 3: the lines run in child processes, and the tests whose children import from disk;
# 4: the environment variables the run read, and their values' digest (`run_identity`)
KEEP = 8  # maps kept per repository (those used last)
RECENT_FILE = "coverage-recent.txt"  # the maps' keys, the one saved or loaded last first


def _recent(directory: Path) -> list[Path]:
    """The cached maps, the one used last first: those RECENT_FILE lists in its order, then any it
    does not (a record lost to a concurrent save, an older launcher's maps) by their mtime."""
    try:
        keys = (directory / RECENT_FILE).read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        keys = []
    found = {p.stem.removeprefix("coverage-"): p for p in directory.glob("coverage-*.json")}
    listed = [found.pop(key) for key in dict.fromkeys(keys) if key in found]

    def mtime(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    return listed + sorted(found.values(), key=mtime, reverse=True)


def _used(directory: Path, key: str, keep: Sequence[Path] | None = None) -> None:
    """Record `key` as the map used last (`keep`: the maps left, in order, after a prune)."""
    rest = [p.stem.removeprefix("coverage-") for p in (_recent(directory) if keep is None else keep)]
    keys = [key, *(k for k in rest if k != key)]
    with contextlib.suppress(OSError):  # a cache: without its record, the order falls back to mtimes
        atomic_write_text(directory / RECENT_FILE, "".join(f"{k}\n" for k in keys))


def coverage_key(source_root: Path, base_sha: str, overlay: Sequence[str], parts: Sequence[str]) -> str:
    """The key of a coverage run: `overlay` files are read from `source_root` (the main tree)."""
    digest = hashlib.sha256(json.dumps([SCHEMA, base_sha, list(parts)]).encode())
    for rel in sorted(set(overlay)):
        path = source_root / rel
        data = path.read_bytes() if path.is_file() else b"<absent>"
        digest.update(os.fsencode(f"\0{rel}\0") + hashlib.sha256(data).digest())
    return digest.hexdigest()[:32]


def tests_key(test_root: Path, test_files: Sequence[str], parts: Sequence[str]) -> str:
    """The key of a suite's tests alone: their files' content (read from `test_root`) and `parts`
    (interpreter, pytest flags, import roots)."""
    return coverage_key(test_root, "", test_files, ["tests", *parts])


def for_tests(directory: Path, key: str, tree: Path, files: Sequence[str],
              env_key: EnvKey | None = None) -> CoverageMap | None:  # fmt: skip
    """The whole-suite map used last measured with the tests of `key`, measuring all of `files`,
    in an environment the same for what its run read (`env_key`)."""
    for path in _recent(directory):
        try:
            head = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if head.get("tests_key") == key and set(files) <= set(head.get("measured", [])):
            found = load(directory, path.stem.removeprefix("coverage-"), tree)
            if found is not None and env_matches(found, env_key):
                return found
    return None


def load(directory: Path, key: str, tree: Path) -> CoverageMap | None:
    """The cached map of `key`, as measured in `tree` (paths in it are relative); None if absent."""
    path = directory / f"coverage-{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SCHEMA:
            return None
        run = SuiteRun(**data["run"])
        lines = {rel: {int(n): frozenset(ctx) for n, ctx in by_line.items()} for rel, by_line in data["lines"].items()}
        child_lines = {rel: {int(n): frozenset(ctx) for n, ctx in by_line.items()}
                       for rel, by_line in data["child_lines"].items()}  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    _used(directory, key)  # recently used: kept longest
    return CoverageMap(tree, lines, run, child_lines)


def save(directory: Path, key: str, cov: CoverageMap, *, suite: tuple[str, Sequence[str]] | None = None) -> None:
    """Keep a passing run's map under `key`, dropping all but the KEEP maps used last (never this
    one, whatever the other maps' mtimes say). `suite`: the
    tests key and measured files of a whole-suite run (`for_tests` finds it by them)."""
    if not cov.run.ok:
        return
    run = cov.run
    data = {
        "schema": SCHEMA,
        "run": {"exit_code": run.exit_code, "durations": run.durations, "failed": run.failed, "wall_s": run.wall_s,
                "output_tail": run.output_tail, "timed_out": run.timed_out, "first_error": run.first_error,
                "unmeasured_children": run.unmeasured_children, "fresh_children": run.fresh_children,
                "env_read": run.env_read, "env_key": run.env_key},
        "lines": {rel: {str(n): sorted(ctx) for n, ctx in by_line.items()} for rel, by_line in cov.lines.items()},
        "child_lines": {rel: {str(n): sorted(ctx) for n, ctx in by_line.items()}
                        for rel, by_line in cov.child_lines.items()},
    }  # fmt: skip
    if suite is not None:
        data["tests_key"], data["measured"] = suite[0], sorted(suite[1])
    saved = directory / f"coverage-{key}.json"
    atomic_write_json(saved, data)
    maps = [saved, *(p for p in _recent(directory) if p != saved)]
    for old in maps[KEEP:]:
        old.unlink(missing_ok=True)
    _used(directory, key, maps[:KEEP])


EnvKey = Callable[[Sequence[str]], str]  # the digest of the environment for the variables a run read


def env_matches(cov: CoverageMap, env_key: EnvKey | None) -> bool:
    """Whether the variables `cov`'s run read (and the fixed list) have the values they had then."""
    return env_key is None or cov.run.env_key == env_key(cov.run.env_read)


async def measured(
    directory: Path, key: str, tree: Path, measure: Callable[[], Awaitable[CoverageMap]], *, use_cache: bool,
    suite: tuple[str, Sequence[str]] | None = None, env_key: EnvKey | None = None,
) -> tuple[CoverageMap, bool]:
    """The cached map of `key` if any (and `use_cache`) whose run read the environment variables
    it reads now with the same values (`env_key`), else `measure()`'s, kept for next time. The
    second value says whether the map came from the cache."""
    if use_cache:
        cached = load(directory, key, tree)
        if cached is not None and env_matches(cached, env_key):
            return cached, True
    cov = await measure()
    if env_key is not None:
        cov.run.env_key = env_key(cov.run.env_read)
    if use_cache:
        save(directory, key, cov, suite=suite)
    return cov, False
