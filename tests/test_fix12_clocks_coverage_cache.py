"""The mutation coverage cache keeps the maps it used last by its own record, never by the maps'
mtimes: maps dated in the future (saved while the clock ran ahead, or restored from a CI cache
with a fast runner's times) outranked every map saved since, so each new map was deleted by the
save that wrote it and no later sweep reused a coverage run again."""

from __future__ import annotations

import os
from pathlib import Path

from launcher.mutation import coverage_cache
from launcher.mutation.coverage_map import CoverageMap, SuiteRun

YEAR_2100 = 4_102_444_800
OK_RUN = SuiteRun(exit_code=0, durations={"t": 0.1}, failed=[], wall_s=1.0)


def _save(cache: Path, tree: Path, key: str, suite: tuple[str, list[str]] | None = None) -> None:
    coverage_cache.save(cache, key, CoverageMap(tree, {"a.py": {1: frozenset({"t"})}}, OK_RUN), suite=suite)


def test_a_map_saved_now_is_kept_beside_maps_dated_in_the_future(tmp_path: Path) -> None:
    cache, tree = tmp_path / "cache", tmp_path / "tree"
    cache.mkdir()
    tree.mkdir()
    for n in range(coverage_cache.KEEP):
        _save(cache, tree, f"old{n}")
        os.utime(cache / f"coverage-old{n}.json", (YEAR_2100, YEAR_2100))
    _save(cache, tree, "today")
    assert coverage_cache.load(cache, "today", tree) is not None
    kept = sorted(p.name for p in cache.glob("coverage-*.json"))
    assert len(kept) == coverage_cache.KEEP
    assert "coverage-old0.json" not in kept  # the one used longest ago goes, whatever its mtime


def test_the_maps_used_last_are_kept_and_found_first_whatever_their_mtimes(tmp_path: Path) -> None:
    cache, tree = tmp_path / "cache", tmp_path / "tree"
    cache.mkdir()
    tree.mkdir()
    _save(cache, tree, "early", suite=("tests-k", ["a.py"]))
    os.utime(cache / "coverage-early.json", (YEAR_2100, YEAR_2100))
    _save(cache, tree, "late", suite=("tests-k", ["a.py"]))  # the same tests, measured later
    found = coverage_cache.for_tests(cache, "tests-k", tree, ["a.py"])
    assert found is not None
    assert [p.name for p in coverage_cache._recent(cache)][:2] == ["coverage-late.json", "coverage-early.json"]
    coverage_cache.load(cache, "early", tree)  # used again: now the one used last
    for n in range(coverage_cache.KEEP - 1):
        _save(cache, tree, f"new{n}")
    kept = {p.name for p in cache.glob("coverage-*.json")}
    assert "coverage-early.json" in kept and "coverage-late.json" not in kept
