"""An export certifies only itself: its `plan_digest` is an unkeyed hash stored beside the plan,
so it detects damage, not an edit whose digest was recomputed. `launcher land --from ... --plan
PLAN` checks the exports' plan against the plan file the shard jobs ran, which the land job
trusts: an edited plan (a weakened integration check, say) is refused, naming the field, and
nothing lands. What an export says of the tasks it did not export is likewise its shard's word:
only the launcher's own words for "nothing to land" count as success, a best-of-N one only for a
task the plan makes an attempt."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import git
from test_land_from_final_job import _clone, _land, _shard_exports, _tasks

MANIFEST = "launcher-export.json"
PLAN = {
    "run": {"integration_check": "test ! -e bad.txt"},
    "task": [
        {"id": "good", "script": [{"write": "good.txt", "content": "g\n"}]},
        {"id": "bad", "script": [{"write": "bad.txt", "content": "b\n"}]},
        {
            "id": "broken",
            "script": [
                {"write": "broken.txt", "content": "x\n"},
                {"contract": {"status": "failed", "summary": "could not finish"}},
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def one_shard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bare remote and the export of a single shard job of PLAN."""
    remote, exports = _shard_exports(tmp_path_factory.mktemp("trusted-plan"), PLAN, shards=1)
    return remote, exports[0]


def _edited(export: Path, where: Path, change: Any) -> Path:
    """A copy of `export` whose manifest `change` edited, its plan digest recomputed as the
    launcher computes it."""
    copy = where / "edited-export"
    shutil.copytree(export, copy)
    data = json.loads((copy / MANIFEST).read_text())
    change(data)
    data["plan_digest"] = hashlib.sha256(json.dumps(data["plan"], sort_keys=True).encode()).hexdigest()
    (copy / MANIFEST).write_text(json.dumps(data))
    return copy


def _plan_file(final: Path) -> Path:
    path = final.parent / "shards-plan" / "plan.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(PLAN))  # the plan file the shard jobs ran
    return path


def test_an_edited_plan_with_its_digest_recomputed_is_refused_given_the_plan_the_shards_ran(
    one_shard: tuple[Path, Path], tmp_path: Path
) -> None:
    remote, export = one_shard
    weakened = _edited(export, tmp_path, lambda d: d["plan"]["run"].update(integration_check=None))
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")

    refused = _land(final, [weakened], "--plan", str(_plan_file(final)))

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "its plan differs from" in refused.stderr and "at `run.integration_check`" in refused.stderr
    assert "(export: None; plan.json: 'test ! -e bad.txt')" in refused.stderr
    assert "Fix: pass --plan the plan file the shard jobs ran" in refused.stderr
    assert git(final, "rev-parse", "main") == before
    assert git(final, "for-each-ref", "refs/heads/launcher") == ""
    assert not (final / ".launcher" / "launcher.db").exists()  # no run journaled


def test_the_exports_of_the_plan_given_land_through_its_integration_check(
    one_shard: tuple[Path, Path], tmp_path: Path
) -> None:
    remote, export = one_shard
    final = _clone(remote, tmp_path / "final")

    landed = _land(final, [export], "--plan", str(_plan_file(final)), "--json")

    tasks = _tasks(landed.stdout)
    assert tasks["good"][0] == "merged" and tasks["bad"][0] != "merged", tasks
    assert tasks["broken"][0] == "failed" and landed.returncode == 1
    assert not (final / "bad.txt").exists()


def test_plan_without_from_is_a_usage_error(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    refused = _land(tmp_path, [], "--plan", "plan.toml")
    assert refused.returncode == 2 and "--plan goes with --from" in refused.stderr


def test_a_failed_task_relabelled_a_settled_best_of_n_attempt_keeps_the_land_failed(
    one_shard: tuple[Path, Path], tmp_path: Path
) -> None:
    remote, export = one_shard
    relabelled = _edited(
        export, tmp_path, lambda d: d["not_exported"].update(broken="skipped: best-of-N: selected; lands as good")
    )
    final = _clone(remote, tmp_path / "final")

    landed = _land(final, [relabelled], "--plan", str(_plan_file(final)), "--json")

    state, message = _tasks(landed.stdout)["broken"]
    # reported as the shard's word, not as a success: `broken` is no attempt of a best-of-N task
    assert message.startswith("not exported by shard 1/1"), (state, message)
    assert json.loads(landed.stdout)["status"] == "failed" and landed.returncode == 1
