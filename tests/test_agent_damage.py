"""Agents that damage their own task: rewind its branch past where it started, delete their own
worktree. The task fails with a message saying so; the run goes on and reports the truth."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli, run_plan, task

from launcher.models.states import RunStatus, TaskState


def test_a_branch_rewound_past_its_start_fails_instead_of_being_reported_merged(repo: Path) -> None:
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "second")
    base = git(repo, "rev-parse", "main").strip()
    report = run_plan(repo, [{
        "id": "rewinder", "agent": "scripted", "prompt": "tidy up",
        "script": [{"run": ["git", "reset", "-q", "--hard", "HEAD~1"]},
                   {"write": "new.txt", "content": "new\n"},
                   {"contract": {"files_changed": ["new.txt"]}}],
    }, {"id": "fine", "agent": "scripted", "prompt": "write", "script": [{"write": "fine.txt", "content": "ok\n"}]}])
    rewinder = task(report, "rewinder")
    assert rewinder.state == TaskState.FAILED
    assert not rewinder.merged
    assert "no longer contains the commit it started from" in rewinder.message
    assert task(report, "fine").state == TaskState.MERGED
    assert not (repo / "new.txt").exists()
    assert git(repo, "merge-base", "--is-ancestor", base, "main") == ""  # main kept its history
    assert report.status == RunStatus.FAILED


def test_an_agent_that_deletes_its_own_worktree_fails_alone_and_the_run_reports(repo: Path) -> None:
    (repo / "plan.toml").write_text(
        '[[task]]\nid = "vandal"\nagent = "scripted"\nprompt = "x"\n'
        'script = [{write = "v.txt", content = "v"}, {commit = "v"}, '
        '{run = ["sh", "-c", "rm -rf \\"$LAUNCHER_WORKTREE\\""]}]\n'
        '[[task]]\nid = "fine"\nagent = "scripted"\nprompt = "x"\n'
        'script = [{write = "fine.txt", content = "ok"}]\n')
    git(repo, "add", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    states = {t["id"]: (t["state"], t["message"]) for t in report["tasks"]}
    assert states["fine"][0] == "merged"
    assert states["vandal"][0] == "failed" and "was deleted during the round" in states["vandal"][1]
    branch = next(t["branch"] for t in report["tasks"] if t["id"] == "vandal")
    assert git(repo, "show", f"{branch}:v.txt") == "v"  # its commit is not lost


def test_a_derived_contract_is_said_to_be_derived_when_its_work_lands(repo: Path) -> None:
    report = run_plan(repo, [{"id": "mute", "script": [{"write": "m.txt", "content": "m\n"},
                                                       {"no_contract": True}]}])
    mute = task(report, "mute")
    assert mute.state == TaskState.MERGED
    assert "no valid contract" in mute.message and mute.contract is not None
    assert mute.contract["source"] == "derived"


def test_a_huge_contract_file_is_refused_unread_and_the_run_goes_on(repo: Path) -> None:
    huge = "x" * (2 << 20)
    report = run_plan(repo, [{"id": "bloat", "script": [
        {"write": "b.txt", "content": "b\n"},
        {"raw_contract": '{"summary": "' + huge + '"}'}]}])
    bloat = task(report, "bloat")
    assert bloat.contract is not None and bloat.contract["source"] == "derived"
    assert "bytes; at most" in (repo / ".launcher" / "runs" / report.run_id / "bloat" / "feedback.json").read_text()
    assert len(json.dumps(report.model_dump())) < 1 << 20  # the report never carries it


def test_a_dependent_of_a_task_that_changed_nothing_lands(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "nothing", "script": [{"contract": {"files_changed": []}}]},
        {"id": "after", "depends_on": ["nothing"], "script": [{"write": "after.txt", "content": "a\n"}]},
    ])
    assert task(report, "nothing").state == TaskState.SKIPPED
    assert task(report, "after").state == TaskState.MERGED, task(report, "after").message
    assert report.status == RunStatus.SUCCEEDED
    assert (repo / "after.txt").read_text() == "a\n"


def test_an_edited_approval_record_is_named_as_such_not_as_a_moved_branch(repo: Path) -> None:
    import sqlite3

    report = run_plan(repo, [{"id": "ok", "script": [{"write": "ok.txt", "content": "ok\n"}]}], merge=False)
    db = sqlite3.connect(repo / ".launcher" / "launcher.db")
    db.execute("UPDATE tasks SET approval_hash = 'forged' WHERE task_id = 'ok'")
    db.commit()
    db.close()
    landed = launcher_cli(repo, "land", report.run_id, "--json")
    ok = json.loads(landed.stdout)["tasks"][0]
    assert ok["state"] == "blocked"
    assert "recorded approval" in ok["message"] and "->" not in ok["message"]
    assert not (repo / "ok.txt").exists()


def test_a_contract_naming_a_key_twice_is_sent_back_naming_it(repo: Path) -> None:
    # In the contract file and in the final message alike: never read as its last value.
    contract = ('{"contract_version": "1", "task_id": "twice", "status": "done", "summary": "s", '
                '"files_changed": ["t.txt"], "tests_added": [], "decisions": [], "blockers": [], '
                '"llm_observations": "o", "status": "failed"}')
    for where in ("file", "message"):
        step = {"raw_contract": contract} if where == "file" else {"say": contract}
        report = run_plan(repo, [{"id": "twice", "script": [
            {"write": "t.txt", "content": where}, step, *([{"no_contract": True}] if where == "message" else [])]}])
        feedback = (repo / ".launcher" / "runs" / report.run_id / "twice" / "feedback.json").read_text()
        assert 'duplicate key \\"status\\"' in feedback, (where, feedback)
        assert task(report, "twice").contract["source"] == "derived"  # type: ignore[index]
