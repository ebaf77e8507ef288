"""A target that already fails the integration check: no task is blamed (none is sent back or
failed for it), nothing lands, the tasks stay approved, and once the target is fixed
`launcher land` lands them."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli, run_plan

from launcher.models.states import RunStatus

CHECK = "! grep -rq BAD files/"


def test_a_target_that_fails_the_check_blames_no_task_and_lands_later(repo: Path) -> None:
    (repo / "files").mkdir()
    (repo / "files" / "base.txt").write_text("BAD\n")
    git(repo, "add", "files")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a broken target")
    base = git(repo, "rev-parse", "main").strip()
    report = run_plan(repo, [{"id": f"t{n}", "script": [{"write": f"files/t{n}.txt", "content": "ok\n"}]}
                             for n in range(3)], integration_check=CHECK, iteration_cap=2)
    assert git(repo, "rev-parse", "main").strip() == base
    assert report.queue.culprits == [] and report.queue.returned == []
    assert [t.state for t in report.tasks] == ["approved"] * 3
    assert all("fails on the tip it would land on" in t.message for t in report.tasks)
    assert report.status == RunStatus.PARKED
    assert "fails on main" in report.message and "launcher land" in report.message

    (repo / "files" / "base.txt").write_text("fixed\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "fix the target")
    landed = launcher_cli(repo, "land", report.run_id, "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert [t["state"] for t in json.loads(landed.stdout)["tasks"]] == ["merged"] * 3
    assert sorted(p.name for p in (repo / "files").iterdir()) == ["base.txt", "t0.txt", "t1.txt", "t2.txt"]


def test_a_task_that_fixes_a_broken_target_lands_and_a_real_culprit_is_still_found(repo: Path) -> None:
    (repo / "files").mkdir()
    (repo / "files" / "base.txt").write_text("BAD\n")
    git(repo, "add", "files")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a broken target")
    report = run_plan(repo, [
        {"id": "fixer", "script": [{"write": "files/base.txt", "content": "fixed\n"}]},
        {"id": "breaker", "script": [{"write": "files/new.txt", "content": "BAD\n"}]},
    ], integration_check=CHECK, iteration_cap=1)
    states = {t.id: t.state for t in report.tasks}
    assert states["fixer"] == "merged"
    assert states["breaker"] == "failed"
    assert report.queue.culprits == ["breaker"]


def test_the_reported_conflict_matrix_covers_every_landing_pass(repo: Path) -> None:
    same_line = [{"id": f"p{n}", "script": [{"replace": "app.py", "old": "return a + b",
                                             "new": f"return a + b + {n}"}]} for n in (1, 2)]
    culprit = {"id": "c", "script": [
        {"write": "files/c.txt", "content": "BAD\n", "rounds": [1]},
        {"write": "files/c.txt", "content": "fine\n", "rounds": [2]}]}
    report = run_plan(repo, [*same_line, culprit], integration_check=CHECK.replace("files/", "."))
    assert report.queue.culprits == ["c"]  # so a second landing pass ran, with c alone
    assert {t.id: t.state for t in report.tasks} == {"p1": "merged", "p2": "conflicted", "c": "merged"}
    pairs = {(c.a, c.b, c.kind) for c in report.conflicts}
    assert ("p1", "p2", "conflict") in pairs, report.conflicts
