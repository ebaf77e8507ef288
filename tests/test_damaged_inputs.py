"""User-editable files the launcher reads, damaged: each is read tolerantly where that is harmless,
or refused with an error naming the file and the fix; never a traceback, never a stuck run.

The reviewer's defects 7-12 (LESSONS.md not UTF-8, a prompt too long for a command line,
workflows/ with a bad file, a damaged survivors.jsonl, a corrupt journal, an unknown rubric).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.app.run.runner import RunOptions, start_run
from launcher.cli.mcp_server import orchestrator
from launcher.errors import PlanError
from launcher.models.events import Event
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from tests.helpers import git, launcher_cli, resume, run_plan, task

WRITE = [{"write": "work.txt", "content": "done\n"}]
PLAN = '[[task]]\nid = "t"\nscript = [{write = "work.txt", content = "done\\n"}]\n'


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)


# --- 7. LESSONS.md that is not UTF-8 ----------------------------------------------------------


def test_a_latin1_lessons_file_reaches_the_grader_replaced_and_the_run_lands(repo: Path) -> None:
    (repo / "LESSONS.md").write_bytes(b"# Lessons\n\n- caf\xe9 before tea\n")
    _commit(repo, "lessons")
    events: list[Event] = []
    report = run_plan(repo, [{"id": "t", "script": WRITE}], grader="scripted-grader", events=events)
    assert task(report, "t").state == "merged", task(report, "t").message
    packet = repo / ".launcher" / "runs" / report.run_id / "t" / "grading" / "1-packet.md"
    assert "caf\ufffd before tea" in packet.read_text(encoding="utf-8")
    notes = [e.message for e in events if e.kind == "note"]
    assert any("LESSONS.md is not UTF-8 (byte" in n and "save it as UTF-8" in n for n in notes), notes


def test_lessons_add_refuses_a_latin1_lessons_file_and_leaves_it_unchanged(repo: Path) -> None:
    original = b"# Lessons\n\n- caf\xe9 before tea\n"
    (repo / "LESSONS.md").write_bytes(original)
    done = launcher_cli(repo, "lessons", "add", "a new lesson")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "LESSONS.md" in done.stderr and "not UTF-8 text (byte 16 is 0xe9)" in done.stderr
    assert "Fix: save it as UTF-8" in done.stderr
    assert (repo / "LESSONS.md").read_bytes() == original


def test_lessons_add_refuses_a_lessons_directory(repo: Path) -> None:
    (repo / "LESSONS.md").mkdir()
    done = launcher_cli(repo, "lessons", "add", "a new lesson")
    assert done.returncode == 2, done.stderr
    assert "LESSONS.md is a directory" in done.stderr and "Traceback" not in done.stderr
    assert (repo / "LESSONS.md").is_dir()


def test_a_run_keeps_a_latin1_line_of_git_info_exclude(repo: Path) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    exclude.write_bytes(b"# mine\ncaf\xe9/")  # no final newline either
    report = run_plan(repo, [{"id": "t", "script": WRITE}])
    assert task(report, "t").state == "merged", task(report, "t").message
    assert exclude.read_bytes().startswith(b"# mine\ncaf\xe9/\n/.launcher/\n")


def test_a_run_refuses_a_git_info_exclude_directory_by_name(repo: Path) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    if exclude.exists():
        exclude.unlink()
    exclude.mkdir(parents=True)
    (repo / "plan.toml").write_text(PLAN)
    done = launcher_cli(repo, "run", "plan.toml", "-q")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert str(exclude) in done.stderr and "cannot add /.launcher/ to git's exclude file" in done.stderr


def test_an_agents_deeply_nested_pyproject_does_not_stop_its_checks(repo: Path) -> None:
    deep = {"write": "pyproject.toml", "content": "a = " + "[" * 100_000 + "\n"}
    report = run_plan(repo, [{"id": "t", "script": [deep], "checks": ["true"]}])
    assert task(report, "t").state == "merged", task(report, "t").message


# --- 11. a corrupt or unopenable journal --------------------------------------------------------


def test_a_damaged_journal_is_named_with_the_fix_and_left_in_place(repo: Path) -> None:
    report = run_plan(repo, [{"id": "t", "script": WRITE}])
    db = repo / ".launcher" / "launcher.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every row in the file itself
    whole = db.read_bytes()
    for extra in db.parent.glob("launcher.db-*"):
        extra.unlink()
    db.write_bytes(whole[:5000])  # the header survives, the pages it points to do not
    damaged = db.read_bytes()
    for args in (["status"], ["runs"], ["resume", report.run_id]):
        done = launcher_cli(repo, *args)
        assert done.returncode == 3, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert f"{db}: the journal cannot be used: database disk image is malformed" in done.stderr
        assert f"Fix: move it aside (mv {db} {db}.damaged" in done.stderr
    assert db.read_bytes() == damaged


def test_a_journal_that_is_a_directory_is_named(repo: Path) -> None:
    db = repo / ".launcher" / "launcher.db"
    db.mkdir(parents=True)
    done = launcher_cli(repo, "status")
    assert done.returncode == 3, done.stderr
    assert f"{db}: the journal cannot be used: unable to open database file" in done.stderr
    assert "Traceback" not in done.stderr and db.is_dir()


# --- 9. a bad file under workflows/ -----------------------------------------------------------


def test_a_template_that_is_not_utf8_is_named_by_the_cli_and_over_mcp(
    repo: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (repo / "workflows").mkdir()
    (repo / "workflows" / "x.toml").write_bytes(b'name = "caf\xe9"\n')
    done = launcher_cli(repo, "workflow", "workflows")
    assert done.returncode == 2, done.stderr
    assert "workflows/x.toml: cannot read it: not UTF-8 text (byte 11 is 0xe9)" in done.stderr
    assert "Fix: save it as UTF-8" in done.stderr and "Traceback" not in done.stderr
    monkeypatch.chdir(repo)
    result = anyio.run(orchestrator, "suggest", "add a login page")
    envelope = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert getattr(result, "is_error", getattr(result, "isError", None)) is True
    assert envelope["error_key"] == "config_invalid:workflow_template", envelope
    assert envelope["observations"].startswith("workflows/x.toml: cannot read it")


def test_a_folder_named_like_a_template_is_read_as_a_pack(repo: Path) -> None:
    (repo / "workflows" / "y.toml").mkdir(parents=True)
    done = launcher_cli(repo, "workflow", "suggest", "add a login page")
    assert done.returncode == 0, done.stderr
    assert "feature-development" in done.stdout


def test_a_fifo_named_like_a_template_is_refused_not_read(repo: Path) -> None:
    (repo / "workflows").mkdir()
    os.mkfifo(repo / "workflows" / "z.toml")  # reading it would wait for a writer forever
    done = launcher_cli(repo, "workflow", "workflows", timeout=30)
    assert done.returncode == 2, done.stderr
    assert "workflows/z.toml: not a regular file" in done.stderr


# --- 12. an unknown rubric -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "said"), [
    ("nosuch", "task 't'.rubrics: no rubric named 'nosuch'"),
    ("../../etc/passwd", "task 't'.rubrics: '../../etc/passwd' is not a rubric name"),
])
@pytest.mark.parametrize("grader", ["scripted-grader", None])
def test_an_unknown_rubric_is_refused_before_anything_is_created(
    repo: Path, name: str, said: str, grader: str | None,
) -> None:
    run = {"grader": grader} if grader else {}
    with pytest.raises(PlanError) as caught:
        run_plan(repo, [{"id": "t", "script": WRITE, "rubrics": [name]}], **run)
    assert said in caught.value.message
    assert "backend, bugfix, default, devops, frontend" in caught.value.message  # the known names
    assert "nothing was created and no agent ran" in caught.value.message
    assert not (repo / ".launcher" / "launcher.db").exists()


def test_a_graded_task_with_two_role_overlays_is_refused_before_its_agent_runs(repo: Path) -> None:
    with pytest.raises(PlanError, match=r"task 'u'.rubrics: .*frontend.md: a task may have at most one role overlay"):
        run_plan(repo, [{"id": "u", "script": WRITE, "rubrics": ["backend", "frontend"]}], grader="scripted-grader")
    assert not (repo / ".launcher" / "launcher.db").exists()


# --- 8. a child that cannot be started --------------------------------------------------------


def _plan_run(repo: Path, agents: dict[str, Any], tasks: list[dict[str, Any]], **run: Any) -> RunReport:
    plan = validate_plan({"run": run, "agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def _not_a_program(tmp_path: Path) -> str:
    path = tmp_path / "no-shebang"
    path.write_text("echo this is no program\n")  # executable, but exec says ENOEXEC
    path.chmod(0o755)
    return str(path)


def test_agents_that_cannot_start_fail_their_own_task_only(repo: Path, tmp_path: Path) -> None:
    agents = {
        "huge": {"adapter": "command", "command": [sys.executable, "-c", "pass", "x" * 140_000]},
        "noexec": {"adapter": "command", "command": [_not_a_program(tmp_path)]},
    }
    report = _plan_run(repo, agents, [
        {"id": "big", "agent": "huge", "prompt": "p"},
        {"id": "bad", "agent": "noexec", "prompt": "p"},
        {"id": "ok", "script": WRITE},
    ])
    assert task(report, "ok").state == "merged"
    big, bad = task(report, "big"), task(report, "bad")
    assert big.state == "failed" and "agent spawn_failed: cannot start" in big.message
    assert "too long for the system (E2BIG)" in big.message and "at most 131,072 bytes" in big.message
    assert bad.state == "failed" and "Exec format error (not a program: a script needs a #! line)" in bad.message
    again = resume(repo, report.run_id)  # and resume does not crash on them either
    assert task(again, "big").state == "failed" and task(again, "ok").state == "merged"


def test_a_check_that_cannot_start_fails_its_task_with_the_reason(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "t", "script": WRITE, "checks": ["true " + "x" * 140_000]},
        {"id": "ok", "script": [{"write": "other.txt", "content": "x\n"}]},
    ])
    assert task(report, "ok").state == "merged"
    t = task(report, "t")
    assert t.state != "merged", t.state
    checks = json.loads((repo / ".launcher" / "runs" / report.run_id / "t" / "facts.json").read_text())["checks"]
    assert checks[0]["exit_code"] == 127 and "[launcher] cannot start '/bin/sh'" in checks[0]["output_tail"]
    assert "E2BIG" in checks[0]["output_tail"]


def test_a_grader_that_cannot_start_fails_the_grading_not_the_run(repo: Path, tmp_path: Path) -> None:
    agents = {"g": {"adapter": "command", "command": [_not_a_program(tmp_path)]}}
    report = _plan_run(repo, agents, [{"id": "t", "script": WRITE}], grader="g")
    t = task(report, "t")
    assert t.state == "escalated" and "grader_spawn_failed: cannot start" in t.message, (t.state, t.message)


def test_a_prompt_too_long_for_a_command_line_is_refused_when_the_plan_is_loaded(repo: Path) -> None:
    (repo / "plan.toml").write_text(
        '[agents.bot]\nadapter = "command"\ncommand = ["true", "{prompt}"]\n'
        f'[[task]]\nid = "big"\nagent = "bot"\nprompt = "{"x" * 140_000}"\n'
    )
    done = launcher_cli(repo, "run", "plan.toml", "-q")
    assert done.returncode == 2, done.stderr
    assert "task 'big'.prompt: the prompt is 140,000 bytes; agent 'bot' (command) gets it as one" in done.stderr
    assert "at most 98,304" in done.stderr and "Fix: put the long text in a file" in done.stderr
    assert not (repo / ".launcher" / "launcher.db").exists()  # no run, no worktree, no agent


def test_a_prompt_with_a_nul_character_is_refused_when_the_plan_is_loaded(repo: Path) -> None:
    agents = {"bot": {"adapter": "command", "command": ["true", "{prompt}"]}}
    with pytest.raises(PlanError, match=r"task 'n'.prompt: the prompt holds a NUL character"):
        _plan_run(repo, agents, [{"id": "n", "agent": "bot", "prompt": "a\0b"}])


def test_a_long_prompt_that_does_not_travel_on_the_command_line_is_accepted(repo: Path) -> None:
    writer = "import pathlib; pathlib.Path('work.txt').write_text('done')"
    agents = {"bot": {"adapter": "command", "command": [sys.executable, "-c", writer]}}  # no {prompt}
    report = _plan_run(repo, agents, [{"id": "big", "agent": "bot", "prompt": "x" * 140_000}])
    assert task(report, "big").state == "merged", task(report, "big").message


@pytest.mark.parametrize("adapter", ["claude", "codex", "gemini", "aider", "opencode"])
def test_the_longest_accepted_prompt_with_the_longest_feedback_fits_on_a_command_line(
    tmp_path: Path, adapter: str,
) -> None:
    from launcher.agents.cli_common import PROMPT_LIMIT_BYTES
    from launcher.agents.registry import get_adapter
    from tests.test_adapters_cli import make_request

    prompt = "é" * (PROMPT_LIMIT_BYTES // 2)  # two bytes each: exactly the limit
    request = make_request(tmp_path, adapter, iteration=2, prompt=prompt, feedback="ü" * 30_000)
    argv = get_adapter(adapter).invocation(request).argv
    assert max(len(a.encode()) for a in argv) < 128 * 1024
    subprocess.run(["true", *argv[1:]], check=True)  # exec takes it


# --- smaller ones: grade-record --file, launcher.toml ------------------------------------------

VERDICT = {"verdict": "satisfied", "criterion_results": [{"criterion": "C1", "pass": True, "justification": "ok"}],
           "required_fixes": [], "iteration": 1, "rubric_version": "1"}


def test_grade_record_says_a_directory_is_one_and_reads_a_pipe(repo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "verdicts"
    folder.mkdir()
    done = launcher_cli(repo, "gate", "grade-record", "--file", str(folder))
    assert done.returncode == 1
    envelope = json.loads(done.stdout)
    assert envelope["error_key"] == "file_unreadable" and "is a directory" in envelope["observations"]
    verdict = tmp_path / "verdict.json"
    verdict.write_text(json.dumps(VERDICT))
    piped = subprocess.run(  # --file <(grader ...): a pipe, not a regular file
        ["bash", "-c", f'"{sys.executable}" -m launcher gate grade-record --file <(cat "{verdict}")'],
        cwd=repo, capture_output=True, text=True, timeout=120,
    )
    assert piped.returncode == 0 and json.loads(piped.stdout)["ok"] is True, piped.stdout + piped.stderr


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_launcher_toml_that_is_no_file_is_an_error_naming_it(repo: Path, kind: str) -> None:
    config = repo / "launcher.toml"
    config.mkdir() if kind == "directory" else os.mkfifo(config)
    (repo / "plan.toml").write_text(PLAN)
    done = launcher_cli(repo, "run", "plan.toml", "-q", timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    what = "is a directory" if kind == "directory" else "is not a regular file"
    assert f"{config}: launcher.toml {what}" in done.stderr and "Traceback" not in done.stderr


# --- the class of defect 7: more files the launcher reads during a run --------------------------


def test_land_from_an_export_with_a_deeply_nested_manifest_is_refused_by_name(repo: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "launcher-export.json").write_text("[" * 100_000)
    done = launcher_cli(repo, "land", "--from", str(export))
    assert done.returncode == 2, done.stderr
    assert "export refused: launcher-export.json is not readable JSON (nested deeper than 64 levels" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_damaged_port_claims_file_does_not_stop_a_run(repo: Path, tmp_path: Path) -> None:
    claims = tmp_path / "cache" / "launcher" / "ports.json"  # XDG_CACHE_HOME is tmp_path/cache
    claims.parent.mkdir(parents=True, exist_ok=True)
    claims.write_text("[" * 100_000)
    report = run_plan(repo, [{"id": "t", "script": WRITE}])
    assert task(report, "t").state == "merged", task(report, "t").message


def test_a_worktreeinclude_fifo_is_refused_by_name_not_read(repo: Path) -> None:
    os.mkfifo(repo / ".worktreeinclude")
    (repo / "plan.toml").write_text(PLAN)
    done = launcher_cli(repo, "run", "plan.toml", "-q", timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert ".worktreeinclude is not a regular file" in done.stderr


def test_a_folder_named_like_a_rubric_is_not_taken_for_one(repo: Path) -> None:
    (repo / "rubrics" / "notes.md").mkdir(parents=True)
    (repo / "rubrics" / "notes.md" / "x.txt").write_text("not a rubric\n")
    _commit(repo, "a folder in rubrics/")
    report = run_plan(repo, [{"id": "t", "script": WRITE, "kind": "bug"}], grader="scripted-grader")
    assert task(report, "t").state == "merged", task(report, "t").message
