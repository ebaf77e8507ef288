"""`land --from` with a manifest whose shard splits the plan into an absurd number of shards
(`1/1000000000000`) refuses it at once (exit 2, the shard named), and the shards missing from a
land are summarised (the first few named, the rest counted), never listed one by one in memory."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from helpers import git, launcher_cli
from test_land_from_final_job import _clone, _shard_exports

MANIFEST = "launcher-export.json"
PLAN = {"task": [{"id": "alpha", "script": [{"write": "alpha.txt", "content": "a\n"}]}]}


@pytest.fixture(scope="module")
def one_shard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    remote, exports = _shard_exports(tmp_path_factory.mktemp("shard-count"), PLAN, shards=1)
    return remote, exports[0]


def _with_shard(export: Path, shard: str, where: Path) -> Path:
    shutil.copytree(export, where)
    data = json.loads((where / MANIFEST).read_text())
    data["shard"] = shard
    (where / MANIFEST).write_text(json.dumps(data))
    return where


def test_a_shard_count_no_matrix_has_is_refused_at_once(one_shard: tuple[Path, Path], tmp_path: Path) -> None:
    remote, export = one_shard
    edited = _with_shard(export, "1/1000000000000", tmp_path / "export")
    final = _clone(remote, tmp_path / "final")

    started = time.monotonic()
    landed = launcher_cli(final, "land", "--from", str(edited), timeout=60)

    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert time.monotonic() - started < 30
    assert str(edited) in landed.stderr
    assert "its shard '1/1000000000000' splits the plan into more than 10000 shards" in landed.stderr
    assert git(final, "for-each-ref", "refs/heads/launcher") == ""


def test_many_missing_shards_are_summarised(one_shard: tuple[Path, Path], tmp_path: Path) -> None:
    remote, export = one_shard
    edited = _with_shard(export, "1/10000", tmp_path / "export")
    final = _clone(remote, tmp_path / "final")

    landed = launcher_cli(final, "land", "--from", str(edited))

    assert landed.returncode == 2, landed.stdout + landed.stderr
    named = ", ".join(f"{index}/10000" for index in range(2, 12))
    assert f"shard {named} and 9989 more are missing" in landed.stderr
    assert "the plan was split into 10000 shards; only 1 were given" in landed.stderr
    assert len(landed.stderr) < 2000
