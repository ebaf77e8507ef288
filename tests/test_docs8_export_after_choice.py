"""A shard run (`run --shard I/N --no-merge --export DIR`) carried on after it ended — by
`launcher choose`, `launcher grade` or `launcher land RUN`, as by `launcher resume` — rewrites
its export to say what the run ended with, so the final job's `launcher land --from DIR` (in
another clone: in CI the shard's machine is gone) lands the approved work, at the approved head:

- an escalated task approved by `choose` (and its dependent, which then ran) is exported;
- a task re-approved by `grade` at a newer head is exported at that head, and that head lands;
- a task landed in the shard's own clone by `land RUN` is no longer offered as approved work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli

MANIFEST = "launcher-export.json"


def _repo_with_plan(root: Path, plan: dict[str, Any]) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@t")
    (root / "a.txt").write_text("a\n")
    (root / "plan.json").write_text(json.dumps(plan))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def _run_id(repo: Path) -> str:
    return str(json.loads(launcher_cli(repo, "runs", "--json").stdout)[0]["run_id"])


def _export(out: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(exported task -> head, not exported task -> reason) as DIR says now."""
    data = json.loads((out / MANIFEST).read_text())
    return {t["id"]: t["head"] for t in data["tasks"]}, dict(data["not_exported"])


def _land_from(tmp_path: Path, shard_repo: Path, out: Path) -> tuple[int, dict[str, str], Path]:
    """The final job: a fresh clone, `launcher land --from DIR --json`; (exit, task -> state, clone)."""
    final = tmp_path / "final"
    git(tmp_path, "clone", "-q", str(shard_repo), str(final))
    git(final, "config", "user.name", "ci")
    git(final, "config", "user.email", "ci@example.invalid")
    landed = launcher_cli(final, "land", "--from", str(out), "--json")
    report = json.loads(landed.stdout)
    return landed.returncode, {t["id"]: t["state"] for t in report["tasks"]}, final


def test_choose_approve_on_a_shard_run_rewrites_its_export_and_the_final_job_lands_it(tmp_path: Path) -> None:
    repo = _repo_with_plan(tmp_path / "shard", {
        "run": {"grader": "scripted-grader", "iteration_cap": 1},
        "task": [
            {"id": "code", "agent": "scripted", "prompt": "p", "role": "backend",
             "script": [{"write": "src/x.py", "content": "X = 1\n"}]},
            {"id": "dep", "agent": "scripted", "prompt": "p", "depends_on": ["code"],
             "script": [{"write": "tests/test_x.py", "content": "def test_x(): pass\n"}]},
        ]})
    out = tmp_path / "export"
    ran = launcher_cli(repo, "run", "plan.json", "--shard", "1/1", "--no-merge", "--export", str(out), "--quiet")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert _export(out)[0] == {}  # `code` escalated, `dep` waited: nothing to land yet
    run_id = _run_id(repo)

    chosen = launcher_cli(repo, "choose", run_id, "code", "approve", "--note", "ok", "--json")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert f"exported 2 approved task(s) to {out}" in chosen.stderr, chosen.stderr
    exported, not_exported = _export(out)
    assert set(exported) == {"code", "dep"} and not_exported == {}, (exported, not_exported)
    assert len(list(out.glob("*.bundle"))) == 1  # the old export's bundle (none) or a stale one: gone
    # docs/github-actions-run.yml uploads DIR with include-hidden-files: false: nothing hidden in it
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []

    code, states, final = _land_from(tmp_path, repo, out)
    assert code == 0 and states == {"code": "merged", "dep": "merged"}, states
    assert {"src/x.py", "tests/test_x.py"} <= set(git(final, "ls-tree", "-r", "--name-only", "main").split())


def test_grade_on_a_shard_run_exports_the_re_approved_head_and_that_head_lands(tmp_path: Path) -> None:
    repo = _repo_with_plan(tmp_path / "shard", {
        "run": {"grader": "scripted-grader"},
        "task": [{"id": "t", "agent": "scripted", "prompt": "p",
                  "script": [{"write": "one.txt", "content": "1\n"}]}]})
    out = tmp_path / "export"
    ran = launcher_cli(repo, "run", "plan.json", "--shard", "1/1", "--no-merge", "--export", str(out), "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    first_head = _export(out)[0]["t"]
    run_id = _run_id(repo)
    worktree = Path(launcher_cli(repo, "path", run_id, "t").stdout.strip())
    (worktree / "two.txt").write_text("2\n")
    git(worktree, "add", "two.txt")
    git(worktree, "commit", "-q", "-m", "more after approval")
    new_head = git(worktree, "rev-parse", "HEAD").strip()

    graded = launcher_cli(repo, "grade", run_id, "t", "--json")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "exported 1 approved task(s)" in graded.stderr, graded.stderr
    assert _export(out)[0] == {"t": new_head} != {"t": first_head}

    code, states, final = _land_from(tmp_path, repo, out)
    assert code == 0 and states == {"t": "merged"}, states
    assert {"one.txt", "two.txt"} <= set(git(final, "ls-tree", "-r", "--name-only", "main").split())


def test_land_run_on_a_shard_run_leaves_no_export_offering_what_landed_here(tmp_path: Path) -> None:
    repo = _repo_with_plan(tmp_path / "shard", {
        "task": [{"id": "t", "agent": "scripted", "prompt": "p",
                  "script": [{"write": "one.txt", "content": "1\n"}]}]})
    out = tmp_path / "export"
    ran = launcher_cli(repo, "run", "plan.json", "--shard", "1/1", "--no-merge", "--export", str(out), "--quiet")
    assert ran.returncode == 0 and set(_export(out)[0]) == {"t"}, ran.stdout + ran.stderr

    landed = launcher_cli(repo, "land", _run_id(repo), "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    exported, not_exported = _export(out)
    assert exported == {} and not_exported["t"].startswith("merged: "), (exported, not_exported)
    # as `launcher resume` would have written it: resuming now finds nothing to change
    resumed = launcher_cli(repo, "resume", _run_id(repo), "--quiet")
    assert resumed.returncode == 0 and "exported" not in resumed.stderr, resumed.stderr


def test_a_choice_made_while_the_export_directory_holds_another_runs_export_is_reported_not_refused(
        tmp_path: Path) -> None:
    repo = _repo_with_plan(tmp_path / "shard", {
        "run": {"grader": "scripted-grader", "iteration_cap": 1},
        "task": [{"id": "code", "agent": "scripted", "prompt": "p",
                  "script": [{"write": "src/x.py", "content": "X = 1\n"}]}]})
    out = tmp_path / "export"
    shard = ("run", "plan.json", "--shard", "1/1", "--no-merge", "--export", str(out), "--quiet")
    assert launcher_cli(repo, *shard).returncode == 1  # `code` escalated at the cap
    first = _run_id(repo)
    for leftover in out.iterdir():
        leftover.unlink()
    out.rmdir()
    assert launcher_cli(repo, *shard).returncode == 1  # another run's export now fills DIR

    chosen = launcher_cli(repo, "choose", first, "code", "approve", "--note", "ok", "--json")
    report = json.loads(chosen.stdout)  # the choice's report, with the run's exit code
    assert chosen.returncode == 0 and report["status"] == "succeeded", chosen.stdout + chosen.stderr
    assert f"warning: the run's export was not written: {out} already holds an export" in chosen.stderr
    assert any(f"`launcher resume {first}` writes it" in note["message"] for note in report["notes"])
    assert json.loads((out / MANIFEST).read_text())["run_id"] != first  # the other run's, untouched

    (out / MANIFEST).rename(tmp_path / "other-export.json")  # the way out the warning gives
    resumed = launcher_cli(repo, "resume", first, "--quiet")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _export(out)[0].keys() == {"code"}
