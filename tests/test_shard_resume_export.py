"""A shard run (`run --shard I/N --no-merge --export DIR`) continued with `launcher resume`
ends with an export that says what the run ended with: a task `resume --retry-failed` approved
is exported (the manifest and its bundle are rewritten), so the final job's `land --from` lands
it; an export that already says it is left as it is."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

MANIFEST = "launcher-export.json"


def _flaky_plan(repo: Path, flag: Path) -> Path:
    plan = {"task": [
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
        {"id": "b", "script": [{"write": "b.txt", "content": "b\n"}], "checks": [f"test -e {flag}"]},
    ]}
    path = repo.parent / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def test_resume_retry_failed_rewrites_the_export_with_the_task_it_approved(repo: Path, tmp_path: Path) -> None:
    flag, export = tmp_path / "flag", tmp_path / "export"
    plan = _flaky_plan(repo, flag)
    first = launcher_cli(repo, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(export), "--quiet")
    assert first.returncode == 1, first.stdout + first.stderr
    before = json.loads((export / MANIFEST).read_text())
    assert [t["id"] for t in before["tasks"]] == ["a"] and "b" in before["not_exported"]

    flag.touch()  # the flaky cause is gone
    resumed = launcher_cli(repo, "resume", "--retry-failed", "--quiet")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"exported 2 approved task(s) to {export}" in resumed.stderr
    after = json.loads((export / MANIFEST).read_text())
    assert [t["id"] for t in after["tasks"]] == ["a", "b"] and after["not_exported"] == {}
    assert after["run_id"] == before["run_id"]
    # One bundle, the one the manifest names: the replaced one is gone.
    assert sorted(p.name for p in export.iterdir()) == sorted([MANIFEST, after["bundle"]["file"]])

    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(repo), str(final))
    landed = launcher_cli(final, "land", "--from", str(export), "--plan", str(plan), "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert {t["id"]: t["state"] for t in json.loads(landed.stdout)["tasks"]} == {"a": "merged", "b": "merged"}
    assert git(final, "show", "main:b.txt") == "b\n"


def test_resume_leaves_an_export_that_already_says_what_the_run_ended_with(repo: Path, tmp_path: Path) -> None:
    flag, export = tmp_path / "flag", tmp_path / "export"
    plan = _flaky_plan(repo, flag)
    launcher_cli(repo, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(export), "--quiet")
    written = (export / MANIFEST).read_bytes()

    resumed = launcher_cli(repo, "resume", "--quiet")  # b stays failed: nothing changed

    assert "exported" not in resumed.stderr, resumed.stderr
    assert (export / MANIFEST).read_bytes() == written
