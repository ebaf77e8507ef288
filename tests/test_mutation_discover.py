"""Discovery, --since and --shard on real git repositories."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git

from launcher.errors import EnvironmentProblem, UsageProblem
from launcher.mutation.discover import (
    Collected,
    changed_lines,
    collect_mutants,
    default_paths,
    filter_shard,
    parse_shard,
    repo_root,
    shard_of,
    source_files,
)
from launcher.mutation.model import number_mutants

DATA = Path(__file__).parent / "data" / "mutation"


def collect(root: Path, *paths: str, **kw: Any) -> Collected:
    return anyio.run(functools.partial(collect_mutants, root, list(paths) or None, **kw))


def test_since_mutates_only_the_changed_function(repo: Path) -> None:
    full = collect(repo).mutants
    assert {m.function for m in full} == {"add", "sub"}
    app = repo / "app.py"
    app.write_text(app.read_text().replace("return a - b", "return a - b if a else b"))
    changed = collect(repo, since="HEAD").mutants
    assert changed and {m.function for m in changed} == {"sub"}
    git(repo, "commit", "-qam", "change sub")
    assert {m.id for m in collect(repo, since="HEAD~1").mutants} == {m.id for m in changed}
    assert collect(repo, since="HEAD").mutants == []


def test_since_counts_untracked_files_and_rejects_unknown_refs(repo: Path) -> None:
    (repo / "extra.py").write_text("def mul(a, b):\n    return a * b\n")
    lines = anyio.run(changed_lines, repo, "HEAD")
    assert lines == {"extra.py": {1, 2}}
    assert {m.target for m in collect(repo, since="HEAD").mutants} == {"extra.py"}
    with pytest.raises(UsageProblem, match="cannot diff"):
        anyio.run(changed_lines, repo, "no-such-ref")


def test_discovery_finds_packages_and_honours_gitignore(repo: Path) -> None:
    pkg = repo / "src" / "pkg"
    (pkg / "tests").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core.py").write_text("X = 1\n")
    (pkg / "tests" / "test_core.py").write_text("def test_x():\n    assert 1\n")
    (pkg / "run.sh").write_text("exit 1\n")
    (pkg / "generated.py").write_text("Y = 2\n")
    (repo / ".gitignore").write_text("src/pkg/generated.py\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "__init__.py").write_text("")
    assert default_paths(repo) == ["src/pkg"]
    files = anyio.run(source_files, repo, None)
    assert files == ["src/pkg/__init__.py", "src/pkg/core.py", "src/pkg/run.sh"]
    named = anyio.run(source_files, repo, ["src/pkg/tests/test_core.py", "app.py"])
    assert named == ["app.py", "src/pkg/tests/test_core.py"]
    with pytest.raises(UsageProblem, match="no such path"):
        anyio.run(source_files, repo, ["missing"])
    assert anyio.run(repo_root, pkg) == repo.resolve()


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(EnvironmentProblem):
        anyio.run(repo_root, plain)


def test_shards_partition_the_sweep(repo: Path) -> None:
    shutil.copy(DATA / "sample.py", repo / "sample.py")
    shutil.copy(DATA / "sample.sh", repo / "sample.sh")
    full = collect(repo, "sample.py", "sample.sh").mutants
    assert len(full) > 60 and {m.language for m in full} == {"python", "shell"}
    shards = [collect(repo, "sample.py", "sample.sh", shard=(i, 3)).mutants for i in (1, 2, 3)]
    ids = [m.id for shard in shards for m in shard]
    assert len(ids) == len(set(ids)) and set(ids) == {m.id for m in full}
    assert all(shards)
    merged = number_mutants(m for shard in shards for m in shard)
    assert [(m.index, m.id) for m in merged] == [(m.index, m.id) for m in full]
    assert filter_shard(full, 2, 3) == [m for m in full if shard_of(m.id, 3) == 2]
    assert all(shard_of(m.id, 1) == 1 for m in full)


def test_operator_choice_spans_both_languages(repo: Path) -> None:
    shutil.copy(DATA / "sample.sh", repo / "sample.sh")
    found = collect(repo, "app.py", "sample.sh", operators=["arithmetic", "pipeline_drop"]).mutants
    assert {(m.language, m.fault) for m in found} == {
        ("python", "arithmetic"), ("shell", "arithmetic"), ("shell", "pipeline_drop"),
    }  # fmt: skip
    with pytest.raises(UsageProblem):
        collect(repo, operators=["bogus"])


def test_unparsable_files_are_reported_not_fatal(repo: Path) -> None:
    (repo / "broken.py").write_text("def f(:\n")
    result = collect(repo)
    assert "broken.py" in result.skipped and {m.target for m in result.mutants} == {"app.py"}


@pytest.mark.parametrize("bad", ["0/3", "4/3", "1/0", "x", "1-3"])
def test_parse_shard_rejects_nonsense(bad: str) -> None:
    with pytest.raises(UsageProblem):
        parse_shard(bad)


def test_parse_shard() -> None:
    assert parse_shard("2/5") == (2, 5)
