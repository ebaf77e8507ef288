"""`launcher clean --older-than DAYS` removes the artifacts (`.launcher/runs/<run>/`) of settled
runs that old: every task landed or ended with no work kept, nothing left in git. A run whose
work may still be wanted keeps them, and the line says why; the journal keeps every run."""

from __future__ import annotations

from pathlib import Path

from helpers import launcher_cli
from test_fix10_hist_kept_claims import latest_run, status_json, with_agent


def run_folders(repo: Path) -> set[str]:
    return {p.name for p in (repo / ".launcher" / "runs").iterdir()}


def test_settled_runs_lose_their_artifacts_and_keep_their_journal_rows(repo: Path) -> None:
    with_agent(repo)
    ids = []
    for n in range(2):
        assert launcher_cli(repo, "run", "--task", f"a{n}", "--task", f"b{n}", "--quiet").returncode == 0
        ids.append(latest_run(repo))
    assert run_folders(repo) == set(ids)

    young = launcher_cli(repo, "clean", "--all", "--older-than", "1")  # a day: none is that old
    assert young.returncode == 0 and "artifacts" not in young.stdout, young.stdout
    assert run_folders(repo) == set(ids)

    trimmed = launcher_cli(repo, "clean", "--all", "--older-than", "0")
    assert trimmed.returncode == 0, trimmed.stdout + trimmed.stderr
    for run_id in ids:
        assert f"artifacts of run {run_id} (" in trimmed.stdout, trimmed.stdout
    assert run_folders(repo) == set()
    assert trimmed.stdout.strip().endswith("cleaned: 2 item(s)")

    assert [line.split()[0] for line in launcher_cli(repo, "runs").stdout.splitlines()] == ids[::-1]
    report = status_json(repo, ids[0])
    assert report["status"] == "succeeded" and report["artifacts"] == ""  # no folder named that is gone
    assert {t["state"] for t in report["tasks"]} == {"merged"}
    task_id = report["tasks"][0]["id"]
    log = launcher_cli(repo, "logs", ids[0], task_id)
    assert log.returncode == 1 and "has no artifacts here any more" in log.stderr, log.stderr
    assert "launcher clean" in log.stderr and "no log yet" not in log.stderr


def test_runs_whose_work_may_still_be_wanted_keep_their_artifacts_and_say_why(repo: Path) -> None:
    with_agent(repo)
    launcher_cli(repo, "run", "--task", "conflict", "--task", "conflict", "--quiet")
    conflicted = latest_run(repo)
    assert launcher_cli(repo, "run", "--task", "parked", "--no-merge", "--quiet").returncode == 0
    approved = latest_run(repo)

    kept = launcher_cli(repo, "clean", "--all", "--older-than", "0")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert (f"kept the artifacts of run {conflicted} ({repo / '.launcher' / 'runs' / conflicted}): the run still "
            f"holds branches, refs or worktrees (`launcher clean {conflicted} --force` removes them)") in kept.stdout
    assert run_folders(repo) == {conflicted, approved}

    forced = launcher_cli(repo, "clean", "--all", "--force", "--older-than", "0")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert f"artifacts of run {conflicted} (" in forced.stdout, forced.stdout  # its branch went first
    # --force deleted the approved branch too, but that work never landed: its record stays
    assert f"kept the artifacts of run {approved} (" in forced.stdout
    assert "task task-1 is approved and not landed" in forced.stdout
    assert run_folders(repo) == {approved}
