"""`--all` is every run: a RUN named beside it is refused (exit 2), never silently dropped.
`launcher clean RUN --all --force` ignored RUN and deleted every run's kept branches (another run's
failed task's commits); `launcher status RUN --all --exit-status` printed the runs list and exited 0
for a failed run, or a run that does not exist."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

UNKNOWN = "r-20990101-000000-aaaa"


def _failed_run(repo: Path, n: int) -> str:
    plan = repo / f"p{n}.toml"
    plan.write_text(f'[[task]]\nid = "t{n}"\nagent = "scripted"\nprompt = "x"\nchecks = ["false"]\n'
                    f'script = [{{ write = "x{n}.txt", content = "work of run {n}\\n" }}]\n')
    done = launcher_cli(repo, "run", str(plan), "--quiet", "--json")
    assert done.returncode == 1, done.stderr
    run_id: str = json.loads(done.stdout)["run_id"]
    return run_id


def test_clean_refuses_a_run_id_with_all_and_deletes_nothing(repo: Path) -> None:
    first, second = _failed_run(repo, 1), _failed_run(repo, 2)
    branches = git(repo, "branch", "--list", "launcher/*")
    assert f"launcher/{first}/t1" in branches and f"launcher/{second}/t2" in branches

    done = launcher_cli(repo, "clean", first, "--all", "--force")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "give a run id or --all, not both" in done.stderr
    assert f"launcher clean {first}" in done.stderr  # how to clean that one run
    assert git(repo, "branch", "--list", "launcher/*") == branches  # not a branch deleted
    unknown = launcher_cli(repo, "clean", UNKNOWN, "--all")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr


def test_clean_all_alone_still_cleans_every_run(repo: Path) -> None:
    _failed_run(repo, 1)
    done = launcher_cli(repo, "clean", "--all", "--force")
    assert done.returncode == 0, done.stderr
    assert git(repo, "branch", "--list", "launcher/*") == ""


def test_status_refuses_exit_status_or_a_run_id_with_all(repo: Path) -> None:
    run_id = _failed_run(repo, 1)
    assert launcher_cli(repo, "status", run_id, "--exit-status").returncode == 1

    for args in ([run_id, "--all", "--exit-status"], ["--all", "--exit-status"], [UNKNOWN, "--all"]):
        done = launcher_cli(repo, "status", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "`status --all` lists the recent runs" in done.stderr
        assert done.stdout == ""
    as_json = launcher_cli(repo, "status", "--all", "--exit-status", "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["error_key"] == "usage:status_all"
    listed = launcher_cli(repo, "status", "--all")
    assert listed.returncode == 0 and run_id in listed.stdout
