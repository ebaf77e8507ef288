"""`launcher land --from` checks every field of every manifest before it fetches or journals
anything: a damaged or edited task field is refused (exit 2) naming it, the target does not move,
no branch is fetched and no run is journaled. A journal that already holds such a damaged row
(written by an older launcher) still shows in `runs` and `status`, with a note, never a traceback."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import git, launcher_cli
from test_land_from_final_job import _clone, _shard_exports

MANIFEST = "launcher-export.json"
PLAN = {"task": [
    {"id": "alpha", "script": [{"write": "alpha.txt", "content": "a\n"}]},
    {"id": "beta", "script": [{"write": "beta.txt", "content": "b\n"}]},
]}


@pytest.fixture(scope="module")
def two_shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A bare remote and the exports of two shard jobs of PLAN (one clone each)."""
    return _shard_exports(tmp_path_factory.mktemp("manifest-fields"), PLAN)


def _with_a_task(exports: list[Path]) -> Path:
    return next(out for out in exports if json.loads((out / MANIFEST).read_text())["tasks"])


def _launcher_refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/launcher", "refs/launcher")


TAMPERED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "contract not an object": (lambda t: t.update(contract="x"), ".contract"),
    "files not a list": (lambda t: t.update(files=5), ".files"),
    "included_blobs a list": (lambda t: t.update(included_blobs=["a"]), ".included_blobs"),
    "iteration not a count": (lambda t: t.update(iteration="2"), ".iteration"),
    "start not a commit id": (lambda t: t.update(start="not-a-sha"), ".start"),
    "start a commit nobody has": (lambda t: t.update(start="0" * 40), "its start 000000000000"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_task_field_is_refused_before_anything_is_fetched_or_journaled(
        case: str, two_shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = two_shards
    copies = []
    for out in exports:
        copies.append(tmp_path / out.name)
        shutil.copytree(out, copies[-1])
    edited = _with_a_task(copies)
    change, named = TAMPERED[case]
    data = json.loads((edited / MANIFEST).read_text())
    change(data["tasks"][0])
    (edited / MANIFEST).write_text(json.dumps(data))
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")

    landed = launcher_cli(final, "land", *[a for out in copies for a in ("--from", str(out))])

    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "Traceback" not in landed.stderr + landed.stdout
    assert named in landed.stderr and str(edited) in landed.stderr
    assert git(final, "rev-parse", "main") == before
    assert _launcher_refs(final) == ""  # nothing fetched, or what was fetched is gone again
    runs = launcher_cli(final, "runs")
    assert runs.returncode == 0 and "r-" not in runs.stdout  # no run journaled


@pytest.mark.parametrize(("schema", "named"), [
    ("launcher-export/1", "written by an older launcher (format launcher-export/1"),
    ("launcher-export/99", "written by a newer launcher (format launcher-export/99"),
    ("something-else/2", "schema is 'something-else/2'"),
])
def test_an_export_of_another_launcher_version_is_refused_naming_the_version(
        schema: str, named: str, two_shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = two_shards
    copies = [tmp_path / out.name for out in exports]
    for out, copy in zip(exports, copies, strict=True):
        shutil.copytree(out, copy)
    data = json.loads((copies[0] / MANIFEST).read_text())
    data["schema"] = schema
    (copies[0] / MANIFEST).write_text(json.dumps(data))
    final = _clone(remote, tmp_path / "final")

    landed = launcher_cli(final, "land", *[a for out in copies for a in ("--from", str(out))])

    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert named in landed.stderr
    version_problem = "older" in named or "newer" in named
    assert ("land it with the launcher version that wrote it" in landed.stderr) == version_problem
    assert _launcher_refs(final) == ""


def test_runs_and_status_show_a_journal_row_damaged_by_an_older_launcher(
        two_shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = two_shards
    final = _clone(remote, tmp_path / "final")
    landed = launcher_cli(final, "land", *[a for out in exports for a in ("--from", str(out))], "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    # What an older launcher journaled from a manifest it did not check.
    with sqlite3.connect(final / ".launcher" / "launcher.db") as db:
        db.execute("UPDATE tasks SET contract_json=?, files_json=?, included_blobs_json=? WHERE task_id=?",
                   ('"x"', "5", '["a"]', "alpha"))

    runs = launcher_cli(final, "runs")
    status = launcher_cli(final, "status", "--json")

    assert runs.returncode == 0 and "succeeded" in runs.stdout, runs.stderr
    assert status.returncode == 0, status.stderr
    alpha = next(t for t in json.loads(status.stdout)["tasks"] if t["id"] == "alpha")
    assert alpha["state"] == "merged"
    assert "contract, included_blobs, files of this task damaged" in alpha["message"]
    plain = launcher_cli(final, "status")
    assert plain.returncode == 0 and "Traceback" not in plain.stdout + plain.stderr
