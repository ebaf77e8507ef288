"""Safety of landing (issue 10, parts 2-4): a crash never leaves the target half-applied,
approved work is never deleted, and a secret copied by `.worktreeinclude` never lands."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import sys
from pathlib import Path

from helpers import git, launcher_cli, resume, run_plan, task

from launcher.models.states import RunStatus


def _write_plan(path: Path, tasks: list[dict[str, object]], **run: object) -> Path:
    path.write_text(json.dumps({"run": run, "task": tasks}))
    return path


def _git_killing_launcher_at(tmp_path: Path, subcommand: str, *also: str, after: bool = False) -> dict[str, str]:
    """PATH whose `git` SIGKILLs its parent (the launcher) when asked to run `subcommand` (with
    every argument in `also` among its arguments): instead of running it, or `after` it ran."""
    real = shutil.which("git")
    assert real
    bin_dir = tmp_path / "killer-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wanted = [subcommand, *also]
    wrapper.write_text(
        "#!/bin/sh\n"
        "hits=0\n"
        f'for arg in "$@"; do case "$arg" in {"|".join(wanted)}) hits=$((hits + 1));; esac; done\n'
        + (f'{real} "$@"; code=$?\n[ "$hits" -ge {len(wanted)} ] && kill -9 $PPID\nexit $code\n' if after else
           f'[ "$hits" -ge {len(wanted)} ] && {{ kill -9 $PPID; exit 1; }}\nexec {real} "$@"\n')
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _run_id(repo: Path) -> str:
    (run_id,) = sqlite3.connect(repo / ".launcher" / "launcher.db").execute(
        "SELECT id FROM runs").fetchone()
    return str(run_id)


# Part 2: a crash never leaves the target half-applied ---------------------------------------

def test_kill_while_a_worktree_is_checked_out_fills_it_on_resume(repo: Path, tmp_path: Path) -> None:
    # A worktree is registered under the repository lock and checked out outside it: a launcher
    # killed in between leaves a registered, empty worktree that must not reach the agent empty.
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "b", "script": [{"replace": "app.py", "old": "a + b", "new": "b + a"}]},
    ])
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "read-tree", "--reset"))
    assert killed.returncode == -9, killed.stderr
    listed = git(repo, "worktree", "list", "--porcelain")
    (tree,) = [Path(line.split(" ", 1)[1]) for line in listed.splitlines()
               if line.startswith("worktree ") and Path(line.split(" ", 1)[1]) != repo]
    assert not (tree / "app.py").exists()  # registered, never filled

    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "succeeded", report
    assert "b + a" in (repo / "app.py").read_text()
    # The agent's replace found the file: only the one line changed, nothing was deleted.
    changed = git(repo, "diff", "--name-status", "HEAD~1", "HEAD").split()
    assert changed == ["M", "app.py"], changed


def test_kill_between_moving_the_target_and_updating_the_main_tree_is_finished_on_resume(
    repo: Path, tmp_path: Path
) -> None:
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
        {"id": "b", "script": [{"replace": "app.py", "old": "a + b", "new": "b + a"}]},
    ])
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "read-tree", "-m"))
    assert killed.returncode == -9, killed.stderr
    landed_tip = git(repo, "rev-parse", "main").strip()
    # The crash left the ref moved and the index and files at the old tip.
    assert git(repo, "status", "--porcelain", "--untracked-files=no").strip()

    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "succeeded"
    assert [t["state"] for t in report["tasks"]] == ["merged", "merged"]
    assert git(repo, "status", "--porcelain").strip() == ""
    assert git(repo, "rev-parse", "HEAD").strip() == landed_tip
    assert (repo / "a.txt").read_text() == "a\n"
    assert "b + a" in (repo / "app.py").read_text()


def test_interrupted_tree_update_with_later_local_edits_is_rolled_back_and_parked(
    repo: Path, tmp_path: Path
) -> None:
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
    ])
    before = git(repo, "rev-parse", "main").strip()
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "read-tree", "-m"))
    assert killed.returncode == -9
    landed = git(repo, "rev-parse", "main").strip()
    (repo / "README.md").write_text("# edited by the user after the crash\n")

    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    report = json.loads(resumed.stdout)
    # Never `succeeded`/0 with the main tree behind its target: the ref goes back to match the
    # tree, the user's edit stays, and the landed work waits on the integration branch.
    assert resumed.returncode == 4, resumed.stdout + resumed.stderr
    assert report["status"] == "parked"
    branch = report["integration_branch"]
    assert branch == f"launcher/{report['run_id']}/_integration"
    assert git(repo, "rev-parse", "main").strip() == before
    # The same work (it may be folded again with whatever else is approved, as one landing).
    assert git(repo, "rev-parse", f"{branch}^{{tree}}") == git(repo, "rev-parse", f"{landed}^{{tree}}")
    assert git(repo, "status", "--porcelain").strip() == "M README.md"
    assert f"git merge --ff-only {branch}" in report["message"]


def test_a_half_written_tree_update_is_finished_on_resume(repo: Path, tmp_path: Path) -> None:
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"},
                               {"replace": "app.py", "old": "a + b", "new": "b + a"}]},
    ])
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "read-tree", "-m"))
    assert killed.returncode == -9
    landed = git(repo, "rev-parse", "main").strip()
    (repo / "a.txt").write_text("a\n")  # as far as a killed `read-tree -m -u` got
    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert git(repo, "status", "--porcelain").strip() == ""
    assert git(repo, "rev-parse", "HEAD").strip() == landed
    assert "b + a" in (repo / "app.py").read_text()


def test_kill_right_after_parking_is_recovered_as_parked_not_succeeded(
    repo: Path, tmp_path: Path
) -> None:
    real = shutil.which("git")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"  # runs git, then kills the launcher once the park ref is written
    wrapper.write_text(
        "#!/bin/sh\n"
        f'{real} "$@"; code=$?\n'
        'case "$*" in *"launcher: integration result"*) kill -9 $PPID;; esac\n'
        "exit $code\n"
    )
    wrapper.chmod(0o755)
    (repo / "README.md").write_text("# local edit in progress\n")
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
    ])
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert killed.returncode == -9
    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    report = json.loads(resumed.stdout)
    assert resumed.returncode == 4, resumed.stdout + resumed.stderr
    assert report["status"] == "parked"
    # Parked work is approved, not merged: "merged" means on the target.
    assert [(t["state"], t["merged"]) for t in report["tasks"]] == [("approved", False)]
    branch = report["integration_branch"]
    assert git(repo, "log", "--merges", "--format=%H", branch).count("\n") == 1  # landed once
    assert "a.txt" in git(repo, "ls-tree", "--name-only", branch)


# Part 3: approved work is never deleted ------------------------------------------------------

def _branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/launcher/").split()


def test_parked_landing_with_a_task_named_integration_loses_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("# local edit in progress\n")  # the target cannot move
    report = run_plan(repo, [
        {"id": "integration", "script": [{"write": "i.txt", "content": "i\n"}]},
        {"id": "other", "script": [{"write": "o.txt", "content": "o\n"}]},
    ])
    # Not `succeeded`: approved work did not reach the target.
    assert report.status == RunStatus.PARKED
    assert report.integration_branch == f"launcher/{report.run_id}/_integration"
    assert [(t.state, t.merged) for t in report.tasks] == [("approved", False), ("approved", False)]
    parked = git(repo, "ls-tree", "-r", "--name-only", report.integration_branch)
    assert {"i.txt", "o.txt"} <= set(parked.split())
    status = launcher_cli(repo, "status", report.run_id, "--exit-status")  # issue 13: 0 unless asked
    assert status.returncode == 4, status.stdout + status.stderr
    assert "status: parked" in launcher_cli(repo, "status", report.run_id).stdout

    cleaned = launcher_cli(repo, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert report.integration_branch in _branches(repo)
    assert f"kept branch {report.integration_branch}" in cleaned.stdout
    assert "integration, other" in cleaned.stdout  # what it holds

    forced = launcher_cli(repo, "clean", report.run_id, "--force")
    assert forced.returncode == 0, forced.stderr
    assert _branches(repo) == []


def test_clean_keeps_every_branch_holding_commits_not_on_the_target_until_force(repo: Path) -> None:
    # DESIGN 14: no ref holding commits unreachable from the target is deleted without --force;
    # a failed task's branch holds its agent's commit as much as an approved one's does.
    report = run_plan(repo, [
        {"id": "good", "script": [{"write": "g.txt", "content": "g\n"}]},
        {"id": "bad", "checks": ["false"], "script": [{"write": "b.txt", "content": "b\n"}]},
    ], merge=False)
    assert report.status == RunStatus.FAILED
    cleaned = launcher_cli(repo, "clean", report.run_id)
    assert cleaned.returncode == 0, cleaned.stderr
    assert _branches(repo) == [f"launcher/{report.run_id}/bad", f"launcher/{report.run_id}/good"]
    assert f"kept branch launcher/{report.run_id}/good: 1 commit(s) not on main (approved work" in cleaned.stdout
    assert f"kept branch launcher/{report.run_id}/bad: 1 commit(s) not on main (the failed task bad" in cleaned.stdout
    assert ", kept 2" in cleaned.stdout.splitlines()[-1]  # kept branches are not counted as cleaned
    forced = launcher_cli(repo, "clean", report.run_id, "--force")
    assert forced.returncode == 0 and _branches(repo) == [], forced.stdout


def test_clean_removes_the_refs_of_interrupted_rounds(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "bad", "checks": ["false"], "script": [{"write": "b.txt", "content": "b\n"}]},
    ])
    head = task(report, "bad").head_sha or ""
    ref = f"refs/launcher/{report.run_id}/bad/interrupted-1700000000"
    git(repo, "update-ref", ref, head)  # as commits.rescue_uncommitted leaves it on resume
    cleaned = launcher_cli(repo, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/launcher/").split() == [ref]  # not on main
    assert f"kept ref {ref}: 1 commit(s) not on main" in cleaned.stdout
    forced = launcher_cli(repo, "clean", "--all", "--force")
    assert forced.returncode == 0, forced.stderr
    assert git(repo, "for-each-ref", "refs/launcher/").strip() == ""
    assert f"ref {ref}" in forced.stdout


def test_a_later_parked_landing_keeps_the_earlier_ones_work(repo: Path) -> None:
    (repo / "README.md").write_text("# local edit in progress\n")
    first = run_plan(repo, [{"id": "one", "script": [{"write": "1.txt", "content": "1\n"}]}])
    assert first.status == RunStatus.PARKED

    # A task of the same run approved later (e.g. by `launcher choose`) lands while the main
    # tree is still dirty: it parks too, beside the first result, not over it.
    db = sqlite3.connect(repo / ".launcher" / "launcher.db")
    db.execute("INSERT INTO tasks (run_id, task_id, position, state, updated_at) "
               "VALUES (?, 'two', 1, 'pending', 0)", (first.run_id,))
    plan = json.loads(db.execute("SELECT plan_json FROM runs").fetchone()[0])
    plan["task"].append({**plan["task"][0], "id": "two", "title": "",
                         "script": [{"write": "2.txt", "content": "2\n"}]})
    db.execute("UPDATE runs SET plan_json=?", (json.dumps(plan),))
    db.commit()
    second = resume(repo, first.run_id)
    assert second.status == RunStatus.PARKED
    # The parked task is still approved, so the second landing folds both: its result holds the
    # first one's work too (nothing of the earlier result is lost), and the message names it.
    assert second.integration_branch is not None
    assert second.integration_branch in second.message
    assert {"1.txt", "2.txt"} <= set(git(repo, "ls-tree", "--name-only", second.integration_branch).split())
    one = git(repo, "log", "--format=%H", "--no-merges", "-1", first.integration_branch or "").strip()
    assert git(repo, "merge-base", "--is-ancestor", one, second.integration_branch) == ""


# Part 4: a secret copied by `.worktreeinclude` never lands, by any route ----------------------

SECRET = "TOKEN=s3cret\n"


def _with_secret(repo: Path) -> Path:
    (repo / ".worktreeinclude").write_text(".env\n")
    git(repo, "add", ".worktreeinclude")
    git(repo, "commit", "-qm", "include .env in worktrees")
    (repo / ".env").write_text(SECRET)  # ignored by the fixture's .gitignore
    return repo


def _refused(repo: Path, steps: list[dict[str, object]], **run: object) -> str:
    report = run_plan(_with_secret(repo), [{"id": "leaky", "script": steps}], **run)
    leaky = task(report, "leaky")
    assert leaky.state == "failed", leaky.message
    assert "refused" in leaky.message and "commit " in leaky.message
    assert "s3cret" in git(repo, "log", "-p", leaky.branch or "")  # kept for inspection
    assert "s3cret" not in git(repo, "log", "-p", "main")  # never on the target
    assert git(repo, "log", "--oneline", "main").count("\n") == 2  # nothing landed
    return leaky.message


UNTRACKED_AGAIN = [
    {"run": ["git", "add", "-f", ".env"]}, {"commit": "add env"},
    {"run": ["git", "rm", "-q", "--cached", ".env"]}, {"commit": "untrack env"},
    {"write": "x.txt", "content": "x\n"},
]


def test_a_secret_committed_then_untracked_is_refused_under_merge(repo: Path) -> None:
    message = _refused(repo, UNTRACKED_AGAIN, strategy="merge")
    assert "adds .env, copied in by .worktreeinclude" in message


def test_a_secret_committed_then_untracked_is_refused_under_rebase(repo: Path) -> None:
    message = _refused(repo, UNTRACKED_AGAIN, strategy="rebase")
    assert "adds .env" in message


def test_a_secret_renamed_with_git_mv_is_refused(repo: Path) -> None:
    message = _refused(repo, [
        {"run": ["git", "add", "-f", ".env"]}, {"commit": "add env"},
        {"run": ["git", "mv", ".env", "env.bak"]},
    ])
    assert "adds .env" in message


def test_a_secret_copied_under_another_name_is_refused_by_content(repo: Path) -> None:
    message = _refused(repo, [{"run": ["cp", ".env", "leaked.txt"]}])
    assert "adds leaked.txt, whose content is the copied include file .env" in message


def test_unrelated_files_empty_ones_and_public_copies_still_land(repo: Path) -> None:
    _with_secret(repo)
    (repo / ".worktreeinclude").write_text(".env\nempty.secret\n")
    (repo / ".env.example").write_text(SECRET)  # the user's .env is the example, unchanged
    git(repo, "add", ".worktreeinclude", ".env.example")
    git(repo, "commit", "-qm", "example env")
    (repo / "empty.secret").write_text("")
    report = run_plan(repo, [{"id": "fine", "script": [
        {"write": "feature.py", "content": "X = 1\n"},
        {"write": "pkg/__init__.py", "content": ""},  # the empty blob is no secret
        {"run": ["cp", ".env.example", "defaults.env"]},  # content already on the target
    ]}])
    assert task(report, "fine").state == "merged", task(report, "fine").message
    landed = git(repo, "ls-tree", "-r", "--name-only", "main").split()
    assert {"feature.py", "pkg/__init__.py", "defaults.env"} <= set(landed)
    assert ".env" not in landed and "empty.secret" not in landed


def test_kill_while_a_warm_pool_worktree_is_being_taken_is_recovered_on_resume(
    repo: Path, tmp_path: Path
) -> None:
    # A take moves the pool worktree to the task's path, checks it, then creates the branch:
    # killed before the branch exists, the task's path holds a detached worktree.
    warmed = launcher_cli(repo, "pool", "warm", "1")
    assert warmed.returncode == 0, warmed.stderr
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "b", "script": [{"replace": "app.py", "old": "a + b", "new": "b + a"}]},
    ])
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "update-ref", "refs/heads/launcher/*"))
    assert killed.returncode == -9, killed.stderr
    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "succeeded", report
    assert "b + a" in (repo / "app.py").read_text()


def test_kill_after_the_checks_ran_does_not_commit_what_they_wrote_on_resume(
    repo: Path, tmp_path: Path
) -> None:
    # Killed after the round was committed and its checks ran: on resume, what the checks left
    # in the tree (a report, not ignored here) is not taken for the agent's work.
    check = f"{sys.executable} -c \"import pathlib; pathlib.Path('check-report.txt').write_text('ran')\""
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "b", "checks": [check], "script": [{"replace": "app.py", "old": "a + b", "new": "b + a"}]},
    ])
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "reset", "--hard"))
    assert killed.returncode == -9, killed.stderr
    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["status"] == "succeeded", report
    assert report["tasks"][0]["files"] == ["app.py"]
    assert "check-report.txt" not in git(repo, "log", "--name-only", "--format=", "main")


def test_a_recovered_landing_still_settles_the_tasks_it_could_not_land(repo: Path, tmp_path: Path) -> None:
    # The interrupted pass journaled only what it landed; the task that conflicted must not be
    # left `approved` forever after the recovery finishes the rest.
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"replace": "app.py", "old": "a + b", "new": "b + a"}]},
        {"id": "b", "script": [{"replace": "app.py", "old": "a + b", "new": "a+b"}]},
    ])
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "read-tree", "-m"))
    assert killed.returncode == -9, killed.stderr
    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    report = json.loads(resumed.stdout)
    states = {t["id"]: t["state"] for t in report["tasks"]}
    assert states == {"a": "merged", "b": "conflicted"}, report
    assert report["status"] != "succeeded"
    assert "b + a" in (repo / "app.py").read_text()


def _broken_check(tmp_path: Path) -> str:
    """An integration check that fails when a merged .txt file says BROKEN."""
    script = tmp_path / "check.py"
    script.write_text("import pathlib, sys\n"
                      "sys.exit(any('BROKEN' in p.read_text() for p in pathlib.Path('.').rglob('*.txt')))\n")
    return f"{sys.executable} {script}"


def test_a_landing_finished_on_resume_is_not_taken_for_a_later_agent_round_s_write(
    repo: Path, tmp_path: Path
) -> None:
    # Killed after the target moved, before the main tree followed. Resume finishes the tree
    # update before anything else: the culprit's revision round that comes after it must not be
    # blamed for the landed files (it was failed, and f1.txt was "put back" to not existing).
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": "t1", "script": [{"write": "f1.txt", "content": "1\n"}]},
        {"id": "t3", "script": [{"write": "f3.txt", "content": "BROKEN\n", "rounds": [1]},
                                {"write": "f3.txt", "content": "fixed\n", "rounds": [2]}]},
    ], integration_check=_broken_check(tmp_path))
    killed = launcher_cli(repo, "run", str(plan), "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "update-ref", "-m", after=True))
    assert killed.returncode == -9, killed.stderr
    assert git(repo, "status", "--porcelain", "--untracked-files=no").strip()  # the tree is behind main
    resumed = launcher_cli(repo, "resume", _run_id(repo), "--json")
    report = json.loads(resumed.stdout)
    assert {t["id"]: t["state"] for t in report["tasks"]} == {"t1": "merged", "t3": "merged"}, report
    assert report["status"] == "succeeded" and resumed.returncode == 0
    assert git(repo, "status", "--porcelain").strip() == ""
    assert (repo / "f1.txt").read_text() == "1\n" and (repo / "f3.txt").read_text() == "fixed\n"


def test_resume_after_a_killed_land_of_a_no_merge_run_finishes_that_landing(repo: Path, tmp_path: Path) -> None:
    plan = _write_plan(tmp_path / "plan.json", [
        {"id": f"n{n}", "script": [{"write": f"n{n}.txt", "content": f"{n}\n"}]} for n in range(2)])
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    killed = launcher_cli(repo, "land", "--quiet",
                          env=_git_killing_launcher_at(tmp_path, "update-ref", "-m", after=True))
    assert killed.returncode == -9, killed.stderr
    assert git(repo, "status", "--porcelain", "--untracked-files=no").strip()  # the tree is behind main

    resumed = launcher_cli(repo, "resume", "--json")
    report = json.loads(resumed.stdout)
    assert [(t["state"], t["merged"]) for t in report["tasks"]] == [("merged", True)] * 2, report
    assert report["status"] == "succeeded" and resumed.returncode == 0
    assert git(repo, "status", "--porcelain").strip() == ""
    assert (repo / "n0.txt").exists() and (repo / "n1.txt").exists()


def test_resume_after_a_land_killed_before_it_moved_anything_lands(repo: Path, tmp_path: Path) -> None:
    # `launcher land` asked for the run's work to land: resume goes on with that, instead of
    # settling the run as the `--no-merge` run it was ("succeeded", with nothing landed).
    plan = _write_plan(tmp_path / "plan.json", [{"id": "n0", "script": [{"write": "n0.txt", "content": "0\n"}]}])
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    killed = launcher_cli(repo, "land", "--quiet", env=_git_killing_launcher_at(tmp_path, "merge-tree"))
    assert killed.returncode == -9, killed.stderr
    resumed = launcher_cli(repo, "resume", "--json")
    report = json.loads(resumed.stdout)
    assert report["tasks"][0]["state"] == "merged" and report["status"] == "succeeded", report
    assert (repo / "n0.txt").read_text() == "0\n"


def test_a_run_whose_launcher_was_killed_shows_as_interrupted_not_running(repo: Path, tmp_path: Path) -> None:
    plan = _write_plan(tmp_path / "plan.json", [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    killed = launcher_cli(repo, "run", str(plan), "--quiet", env=_git_killing_launcher_at(tmp_path, "add", "-A"))
    assert killed.returncode == -9, killed.stderr
    shown = launcher_cli(repo, "status", "--json", "--exit-status")
    report = json.loads(shown.stdout)
    assert report["status"] == "interrupted" and "launcher resume" in report["message"], report
    assert shown.returncode == 130
    listed = launcher_cli(repo, "runs")
    assert "interrupted" in listed.stdout and "running" not in listed.stdout


def test_a_target_being_rebased_in_the_main_checkout_is_not_moved_under_the_rebase(
        repo: Path, tmp_path: Path) -> None:
    # During a rebase HEAD is detached, yet git counts main as checked out there: moving it
    # would make `rebase --continue` fail and `rebase --abort` drop what landed.
    git(repo, "checkout", "-qb", "side")
    (repo / "app.py").write_text("side\n")
    git(repo, "commit", "-qam", "side")
    git(repo, "checkout", "-q", "main")
    (repo / "app.py").write_text("main\n")
    git(repo, "commit", "-qam", "main")
    plan = _write_plan(tmp_path / "plan.json", [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    main_before = git(repo, "rev-parse", "main").strip()
    import subprocess
    stopped = subprocess.run(["git", "rebase", "side"], cwd=repo, capture_output=True, text=True)
    assert stopped.returncode != 0 and (repo / ".git" / "rebase-merge").is_dir()  # stopped on the conflict

    landed = launcher_cli(repo, "land", "--json")
    assert landed.returncode == 4, landed.stdout + landed.stderr
    report = json.loads(landed.stdout)
    assert report["status"] == "parked" and "main is being rebased in the main work tree" in report["message"]
    assert git(repo, "rev-parse", "main").strip() == main_before
    git(repo, "rebase", "--abort")
    assert git(repo, "rev-parse", "HEAD").strip() == main_before
    kept = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/launcher/").split()
    assert any(git(repo, "ls-tree", "--name-only", ref, "a.txt").strip() == "a.txt" for ref in kept), kept
