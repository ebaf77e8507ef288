"""A file `.worktreeinclude` copied into a worktree (a `.env`) never leaves the machine, by any
route: not only a landing refuses a branch that commits it, its approval does too, so that

- `run --shard I/N --no-merge --export DIR` never bundles it into the CI artifact: the task is
  failed with the landing's refusal (the file named, never the secret), listed in the manifest's
  `not_exported`, and the run is not `succeeded`;
- `run --no-merge` never calls it `approved` (`launcher land` would refuse it);
- an export still screens every approved branch before bundling it (one approved without that
  screen, by an earlier launcher, is failed there, not exported).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import anyio
from helpers import git, launcher_cli, run_plan, task

from launcher.app.run import export

SECRET = "OPENAI_API_KEY=sk-test-FAKE123-include-secret"
MANIFEST = "launcher-export.json"


def _with_secret(repo: Path) -> Path:
    (repo / ".worktreeinclude").write_text(".env\n")
    git(repo, "add", ".worktreeinclude")
    git(repo, "commit", "-qm", "include .env in worktrees")
    (repo / ".env").write_text(SECRET + "\n")  # ignored by the fixture's .gitignore
    (repo / ".env").chmod(0o600)
    return repo


LEAK = [{"write": "feature.py", "content": "x = 1\n"},
        {"run": ["git", "add", "-f", ".env", "feature.py"]}, {"commit": "add feature"}]


def _plan(repo: Path, tasks: list[dict[str, object]]) -> str:
    (repo / "plan.json").write_text(json.dumps({"task": tasks}))
    return "plan.json"


def _bundle_holds(tmp_path: Path, out: Path, needle: str, repo: Path) -> bool:
    """Whether any branch in DIR's bundle holds `needle` in any commit (fetched into a probe repo
    that has the target's history: a bundle holds only the commits after the export's base)."""
    bundles = list(out.glob("*.bundle"))
    if not bundles:
        return False
    probe = tmp_path / "probe"
    probe.mkdir(exist_ok=True)
    git(probe, "init", "-q")
    git(probe, "fetch", "-q", str(repo), "+refs/heads/main:refs/base/main")
    for bundle in bundles:
        git(probe, "fetch", "-q", str(bundle), "refs/heads/*:refs/remotes/b/*")
    refs = git(probe, "for-each-ref", "--format=%(refname)", "refs/remotes/b").split()
    logged = subprocess.run(["git", "log", "-p", "--all"], cwd=probe, capture_output=True, text=True, check=True)
    return bool(refs) and needle in logged.stdout


def test_a_shard_export_never_bundles_a_branch_that_commits_a_copied_include_file(repo: Path, tmp_path: Path) -> None:
    _with_secret(repo)
    plan = _plan(repo, [{"id": "leak", "agent": "scripted", "prompt": "x", "script": LEAK},
                        {"id": "fine", "agent": "scripted", "prompt": "x",
                         "script": [{"write": "ok.txt", "content": "ok\n"}]}])
    out = tmp_path / "export"
    ran = launcher_cli(repo, "run", plan, "--shard", "1/1", "--no-merge", "--export", str(out), "--json")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # a task failed: not `succeeded`
    report = json.loads(ran.stdout)
    assert report["status"] == "failed"
    states = {t["id"]: (t["state"], t["message"]) for t in report["tasks"]}
    assert states["fine"][0] == "approved"
    state, message = states["leak"]
    assert state == "failed" and "adds .env, copied in by .worktreeinclude" in message, message
    assert "sk-test-FAKE123" not in message  # the file is named, never the secret

    manifest = json.loads((out / MANIFEST).read_text())
    assert [t["id"] for t in manifest["tasks"]] == ["fine"]
    assert "adds .env, copied in by .worktreeinclude" in manifest["not_exported"]["leak"]
    assert "FAKE123" not in (out / MANIFEST).read_text()
    assert _bundle_holds(tmp_path, out, "ok", repo) and not _bundle_holds(tmp_path, out, "FAKE123", repo)
    assert SECRET in git(repo, "log", "-p", f"launcher/{report['run_id']}/leak")  # kept for inspection


def test_a_no_merge_run_never_calls_such_a_task_approved(repo: Path) -> None:
    report = run_plan(_with_secret(repo), [{"id": "leak", "script": LEAK}], merge=False)
    leak = task(report, "leak")
    assert leak.state == "failed", leak.message
    assert "refused" in leak.message and "adds .env, copied in by .worktreeinclude" in leak.message
    assert "FAKE123" not in leak.message
    assert report.status == "failed"
    # and `launcher land RUN` has nothing of it to land
    landed = launcher_cli(repo, "land", report.run_id, "--json")
    assert SECRET not in git(repo, "log", "-p", "main"), landed.stdout + landed.stderr


def _approved_unscreened(repo: Path, tmp_path: Path) -> tuple[str, Path]:
    """A shard run whose task commits `notes.cfg` (a password in it), approved and exported; then
    the journal says what an earlier launcher (no screen at approval) would have left had
    `notes.cfg` been copied in by .worktreeinclude. (run id, DIR)."""
    plan = _plan(repo, [{"id": "old", "agent": "scripted", "prompt": "x",
                         "script": [{"write": "notes.cfg", "content": "PASSWORD=hunter2-FAKE123-old\n"}]}])
    out = tmp_path / "export"
    ran = launcher_cli(repo, "run", plan, "--shard", "1/1", "--no-merge", "--export", str(out), "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert _bundle_holds(tmp_path, out, "FAKE123", repo)  # not an include copy when it was approved
    db = sqlite3.connect(repo / ".launcher" / "launcher.db")
    db.execute("UPDATE tasks SET included_json=? WHERE task_id='old'", (json.dumps(["notes.cfg"]),))
    db.commit()
    db.close()
    return json.loads(ran.stdout)["run_id"], out


def _exported_without_it(tmp_path: Path, out: Path, said: str) -> None:
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["tasks"] == [] and manifest["bundle"] is None
    reason = manifest["not_exported"]["old"]
    assert reason.startswith(f"failed: {said}: ") and "adds notes.cfg, copied in by .worktreeinclude" in reason
    assert not list(out.glob("*.bundle"))  # the earlier bundle holding it is gone


def test_a_resumed_run_fails_a_branch_approved_without_the_screen(repo: Path, tmp_path: Path) -> None:
    run_id, out = _approved_unscreened(repo, tmp_path)
    resumed = launcher_cli(repo, "resume", run_id, "--json")
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "failed"
    assert [(t["id"], t["state"]) for t in report["tasks"]] == [("old", "failed")]
    _exported_without_it(tmp_path, out, "refused at the run's end")


def test_an_export_screens_every_branch_before_bundling_it(repo: Path, tmp_path: Path) -> None:
    """The export's own screen, whatever approved the task: the run's status follows."""
    run_id, out = _approved_unscreened(repo, tmp_path)
    written = anyio.run(export.export_requested, repo, run_id)
    assert written is not None and written[0] == out
    _exported_without_it(tmp_path, out, "refused at export")
    status = json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)
    assert status["status"] == "failed", status
    assert {t["id"]: t["state"] for t in status["tasks"]} == {"old": "failed"}
