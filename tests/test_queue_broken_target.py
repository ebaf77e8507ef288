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


def _plan_file(repo: Path, run: str) -> Path:
    plan = repo.parent / "plan.toml"
    plan.write_text(f'{run}\n[[task]]\nid = "a"\nscript = [{{write = "a.txt", content = "a"}}]\n')
    return plan


def _nothing_created(repo: Path) -> None:
    assert git(repo, "for-each-ref", "refs/heads/launcher/", "refs/launcher/") == ""
    runs = launcher_cli(repo, "runs", "--json")
    assert json.loads(runs.stdout) == [], runs.stdout


def test_an_integration_check_whose_program_does_not_exist_is_refused_before_the_run(repo: Path) -> None:
    plan = _plan_file(repo, '[run]\nintegration_check = "pyhton3-typo -m pytest -q"')

    started = launcher_cli(repo, "run", str(plan), "--quiet")

    assert started.returncode == 3, started.stdout + started.stderr
    said = started.stdout + started.stderr
    assert "pyhton3-typo" in said and "not on PATH" in said and "integration_check" in said
    assert "fix main" not in said
    _nothing_created(repo)


def test_a_missing_absolute_program_in_launcher_toml_is_refused_too(repo: Path) -> None:
    (repo / "launcher.toml").write_text('[merge]\nintegration_check = "/no/such/venv/bin/python -m pytest"\n')
    git(repo, "add", "launcher.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "config")

    started = launcher_cli(repo, "run", str(_plan_file(repo, "")), "--quiet")

    assert started.returncode == 3, started.stdout + started.stderr
    said = started.stdout + started.stderr
    assert "/no/such/venv/bin/python" in said and "launcher.toml" in said
    _nothing_created(repo)


def test_a_later_land_checks_the_program_too(repo: Path, tmp_path: Path) -> None:
    # The run's integration check (its launcher.toml, journaled with the run) names a program
    # that is gone by the time of `land`: refused as `run` refuses it, nothing lands.
    checker = tmp_path / "venv-gone" / "checker"
    checker.parent.mkdir()
    checker.write_text("#!/bin/sh\nexit 0\n")
    checker.chmod(0o755)
    (repo / "launcher.toml").write_text(f'[merge]\nintegration_check = "{checker}"\n')
    git(repo, "add", "launcher.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "config")
    report = run_plan(repo, [{"id": "a", "script": [{"write": "a.txt", "content": "a"}]}], merge=False)
    checker.unlink()
    main = git(repo, "rev-parse", "main")

    landed = launcher_cli(repo, "land", report.run_id, "--quiet")

    assert landed.returncode == 3, landed.stdout + landed.stderr
    assert str(checker) in landed.stdout + landed.stderr
    assert git(repo, "rev-parse", "main") == main
