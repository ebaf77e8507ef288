"""Every reader turns any input into a value or the project's own error; agent output never wedges a run.

Issue 12 ("Tracebacks to turn into structured errors", "Silent acceptances to reject at load")
and issue 13 item 7 (plan errors in the project's words, all at once, with suggestions).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from launcher.agents import scripted_main
from launcher.agents.cli_common import parse_json_text
from launcher.errors import ConfigError, ContractInvalid, ExitCode, PlanError
from launcher.gates.calibration import run_gate
from launcher.models.config import load_repo_config
from launcher.models.contract import last_json_object, parse_contract_text
from launcher.models.judge import CalibrationSet, JudgeInputInvalid, parse_judge_text
from launcher.models.plan import load_plan, validate_plan
from launcher.models.rubric import RubricError, parse_rubric
from launcher.models.verdict import VerdictInvalid, parse_grader_output, validate_verdict_text
from tests.helpers import git, launcher_cli, resume, run_plan, task

DEEP = "[" * 100_000
HUGE_INT = "1" * 5000

# --- an agent's output never wedges a run -------------------------------------------------------


def test_deeply_nested_output_and_contract_fail_only_their_own_task(repo: Path) -> None:
    bad_script = [
        {"write": "bad.txt", "content": "x\n"},
        {"say": DEEP},
        {"say": '{"status": ' + DEEP},
        {"raw_contract": DEEP},
    ]
    huge_script = [{"write": "huge.txt", "content": "x\n"}, {"raw_contract": '{"n": ' + HUGE_INT + "}"}]
    report = run_plan(repo, [
        {"id": "bad", "script": bad_script},
        {"id": "huge", "script": huge_script},
        {"id": "good", "script": [{"write": "good.txt", "content": "ok\n"}]},
    ])
    assert task(report, "good").state == "merged"
    assert (repo / "good.txt").is_file()
    for task_id in ("bad", "huge"):
        # Its contract is invalid, so the launcher derived one: never its garbage, never a crash.
        contract = task(report, task_id).contract or {}
        assert contract.get("source") == "derived", (task_id, contract)
    # And resume, which replays the same journal, does not crash either.
    again = resume(repo, report.run_id)
    assert task(again, "good").state == "merged"


@pytest.mark.parametrize("text", [DEEP, '{"a": ' + DEEP, "{" * 50_000, HUGE_INT, '{"x": ' + HUGE_INT + "}"])
def test_agent_text_readers_return_nothing_or_a_contract_error(text: str) -> None:
    assert last_json_object(text) is None
    assert parse_json_text(text) is None or isinstance(parse_json_text(text), dict)
    with pytest.raises(ContractInvalid) as caught:
        parse_contract_text(text, "t")
    assert caught.value.error_key in ("invalid_json", "not_an_object")
    with pytest.raises(VerdictInvalid):
        parse_grader_output(text)


def test_a_contract_after_deep_garbage_on_an_earlier_line_is_still_found() -> None:
    contract = {"status": "done", "nested": {"ok": True}}
    text = '{"a": ' * 60_000 + "\n" + "{" * 1000 + "\nprose " + json.dumps(contract) + " more prose"
    assert last_json_object(text) == contract


def test_a_contract_cannot_claim_the_launcher_derived_it() -> None:
    text = json.dumps({
        "contract_version": "1", "task_id": "t", "status": "done", "summary": "s", "files_changed": [],
        "tests_added": [], "decisions": [], "blockers": [], "llm_observations": "o", "source": "derived",
    })
    assert parse_contract_text(text, "t").source == "agent"


# --- plans -------------------------------------------------------------------------------------


def _load(tmp_path: Path, name: str, content: str | bytes) -> PlanError:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.exit_code == ExitCode.USAGE
    assert str(path) in (caught.value.where or "")
    return caught.value


@pytest.mark.parametrize(("name", "content"), [
    ("plan.toml", "a = " + DEEP),
    ("plan.toml", "a = " + "{b = " * 10_000),
    ("plan.json", DEEP),
    ("plan.yaml", DEEP),
    ("plan.toml", "a = " + HUGE_INT),
    ("plan.json", '{"a": ' + HUGE_INT + "}"),
    ("plan.yaml", "a: " + HUGE_INT),
    ("plan.toml", b'[[task]]\nid = "\xff\xfe"\n'),
    ("plan.yaml", "1: x\n"),
    ("plan.json", '{"task": [{"id": "a", "timeout_s": NaN}]}'),
    ("plan.json", '{"task": [{"id": "a", "timeout_s": 1e999}]}'),
    ("plan.yaml", "task:\n- id: a\n  script:\n  - contract:\n      a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"      {n}: &{n} [{', '.join(['*' + p] * 10)}]\n"  # an alias bomb: 10**8 values
               for p, n in zip("abcdefg", "bcdefgh", strict=True))),
])
def test_malformed_plan_files_are_plan_errors(tmp_path: Path, name: str, content: str | bytes) -> None:
    _load(tmp_path, name, content)


@pytest.mark.parametrize(("run", "tasks", "agents", "key"), [
    ({}, [{"id": "a", "timeout_s": float("nan")}], {}, "timeout_s"),
    ({}, [{"id": "a", "timeout_s": -1}], {}, "timeout_s"),
    ({}, [{"id": "a", "timeout_s": 0}], {}, "timeout_s"),
    ({"timeout_s": float("inf")}, [{"id": "a"}], {}, "run.timeout_s"),
    ({"inactivity_timeout_s": -5}, [{"id": "a"}], {}, "run.inactivity_timeout_s"),
    ({"budget_usd": -1}, [{"id": "a"}], {}, "run.budget_usd"),
    ({}, [{"id": "a", "budget_usd": float("nan")}], {}, "budget_usd"),
    ({"into": "../x"}, [{"id": "a"}], {}, "run.into"),
    ({"into": "-x"}, [{"id": "a"}], {}, "run.into"),
    ({"into": "main.lock"}, [{"id": "a"}], {}, "run.into"),
    ({"into": "HEAD"}, [{"id": "a"}], {}, "run.into"),
    ({"max_parallel": "4"}, [{"id": "a"}], {}, "run.max_parallel"),
    ({"max_parallel": True}, [{"id": "a"}], {}, "run.max_parallel"),
    ({"merge": "yes"}, [{"id": "a"}], {}, "run.merge"),
    ({}, [{"id": "a", "agent": "bot"}], {"bot": {"command": []}}, "agents.bot.command"),
    ({}, [{"id": "a", "agent": "bot"}], {"bot": {"command": ["x"], "timeout_s": 0}}, "agents.bot.timeout_s"),
    ({}, [{"id": "a", "script": [{"sleep": -1}]}], {}, "script[0].sleep"),
    ({}, [{"id": "a", "script": [{"replace": "f.py", "new": "x"}]}], {}, "script[0]"),
    ({}, [{"id": "a", "select_from": ["b"]}, {"id": "b"}], {}, "select_from"),
])
def test_values_that_used_to_be_accepted_silently_are_rejected_at_load(
    run: dict[str, object], tasks: list[dict[str, object]], agents: dict[str, object], key: str,
) -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan({"run": run, "agents": agents, "task": tasks}, "plan.toml")
    assert key in (caught.value.where or "") + caught.value.what
    assert caught.value.exit_code == ExitCode.USAGE


def test_every_plan_problem_is_reported_at_once_in_our_words_with_suggestions(tmp_path: Path) -> None:
    err = _load(tmp_path, "plan.toml", (
        '[run]\nmax_paralel = 2\nmerge = "yes"\n\n'
        '[[task]]\nid = "a"\ntimout_s = 5\n'
    ))
    assert "3 problems" in err.what
    assert "run.max_paralel: unknown key (did you mean `max_parallel`?)" in err.what
    assert "task[0] (id 'a').timout_s: unknown key (did you mean `timeout_s`?)" in err.what
    assert ("run.merge: not a plan setting (merge = 'yes' would be ignored) (a plan does not decide whether its "
            "run lands: `launcher run PLAN --no-merge`") in err.what
    assert "Extra inputs" not in err.message and "Input should" not in err.message


def test_key_problems_and_cross_check_problems_are_reported_in_one_go() -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan({"run": {"max_paralel": 2}, "task": [{"id": "a", "agent": "scriptd"}]}, "p")
    assert "2 problems" in caught.value.what
    assert "max_parallel" in caught.value.what and "unknown agent 'scriptd'" in caught.value.what


def test_cross_checks_are_reported_together_too() -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan({"task": [{"id": "a", "agent": "scriptd"}, {"id": "b", "depends_on": ["aa"]}]}, "p")
    assert "2 problems" in caught.value.what
    assert "did you mean `scripted`?" in caught.value.what
    assert "unknown task 'aa'" in caught.value.what


@pytest.mark.parametrize("content", [
    '[[task]]\nid = "a"\n\n[[tasks]]\nid = "b"\n',  # both spellings
    '[task]\nid = "a"\n',  # a table, not an array of tables
])
def test_a_misspelt_task_table_gets_the_double_bracket_hint(tmp_path: Path, content: str) -> None:
    err = _load(tmp_path, "plan.toml", content)
    assert "[[task]]" in (err.fix or "")


def test_the_cli_shows_the_hint_with_its_brackets_and_creates_nothing(repo: Path) -> None:
    (repo / "plan.toml").write_text('[task]\nid = "a"\n')
    result = launcher_cli(repo, "run", "plan.toml")
    assert result.returncode == ExitCode.USAGE
    assert "[[task]]" in result.stderr
    assert "Traceback" not in result.stderr
    _assert_nothing_created(repo)


def test_a_prompt_quoting_a_placeholder_reaches_the_agent_as_written(repo: Path) -> None:
    echo = "import pathlib, sys; pathlib.Path('argv.txt').write_text(sys.argv[1])"
    plan = {"agents": {"echo": {"command": [sys.executable, "-c", echo, "{prompt}"]}}}
    prompt = "keep {task_id} and {contract} literally"
    report = _run_with_agents(repo, plan["agents"], [{"id": "p", "agent": "echo", "prompt": prompt}])
    assert task(report, "p").state == "merged"
    assert (repo / "argv.txt").read_text() == prompt


def _run_with_agents(repo: Path, agents: dict[str, object], tasks: list[dict[str, object]]) -> object:
    import anyio

    from launcher.app.run.runner import RunOptions, start_run

    plan = validate_plan({"agents": agents, "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


# --- run start: what could only fail mid-run is checked before anything is created ----------


def _assert_nothing_created(repo: Path) -> None:
    assert not (repo / ".launcher").exists()
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    exclude = repo / ".git" / "info" / "exclude"
    assert "/.launcher/" not in (exclude.read_text() if exclude.is_file() else "")


@pytest.mark.parametrize(("plan", "config", "args", "words"), [
    ('[run]\ngrader = "ghost"\n', None, [], "unknown grader agent 'ghost'"),
    ("", '[grading]\ngrader = "ghost"\n', [], "grading.grader"),
    ("", 'worktree_root = "/dev/null/wt"\n', [], "worktree_root"),
    ("", 'worktree_root = "/proc/launcher-wt"\n', [], "does not take new directories"),
    ("", None, ["--into", "no-such-branch"], "branch 'no-such-branch' does not exist"),
    ('[run]\ninto = "ghost"\n', None, [], "run.into"),
    ("", None, ["--base", "no-such-commit"], "'no-such-commit' is not a commit"),
    ("", None, ["--into", "HEAD"], "--into"),
    ("", None, ["--into", "main.lock"], "--into"),
    ("", "log_cap_mb = inf\n", [], "log_cap_mb"),
    ("", "log_cap_mb = 1e-12\n", [], "log_cap_mb"),
    ("", b"setup = '\xff'\n", [], "not UTF-8"),
])
def test_bad_run_inputs_are_usage_errors_before_anything_is_created(
    repo: Path, plan: str, config: str | bytes | None, args: list[str], words: str,
) -> None:
    (repo / "plan.toml").write_text(plan + '[[task]]\nid = "a"\nagent = "scripted"\n')
    if config is not None:
        (repo / "launcher.toml").write_bytes(config if isinstance(config, bytes) else config.encode())
    result = launcher_cli(repo, "run", "plan.toml", *args)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    _assert_nothing_created(repo)


# --- repository config -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "words"), [
    ("pyproject.toml", "tool = 1\n", "`tool` is int"),
    ("launcher.toml", "a = " + DEEP, "invalid TOML"),
    ("launcher.toml", "log_cap_mb = nan\n", "log_cap_mb"),
    ("launcher.toml", "[grading]\niteration_cap = true\n", "grading.iteration_cap"),
    ("launcher.toml", "[agents.bot]\ncommand = []\n", "agents.bot.command"),
])
def test_malformed_repository_config_is_a_config_error(tmp_path: Path, name: str, content: str, words: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_repo_config(tmp_path)
    assert words in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


# --- grader verdicts, judge files, rubrics, scripts ------------------------------------------

VERDICT = {"verdict": "satisfied", "criterion_results": [], "required_fixes": [], "iteration": 1,
           "rubric_version": "default@1"}


@pytest.mark.parametrize("iteration", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_verdict_iteration_must_be_a_finite_number(iteration: str) -> None:
    text = json.dumps(VERDICT).replace('"iteration": 1', f'"iteration": {iteration}')
    with pytest.raises(VerdictInvalid):
        validate_verdict_text(text)


def test_grade_record_on_non_utf8_stdin_is_an_error_envelope(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run([sys.executable, "-m", "launcher", "gate", "grade-record"], input=b"\xff{}",
                            capture_output=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is False and envelope["error_key"] == "file_unreadable"


SURVIVOR = {"id": 1, "fault": "f", "target": "t.py", "line": 3, "rationale": "r", "orig": "a", "mut": "b",
            "status": "SURVIVED", "ground_truth": "genuine", "label_rationale": "x"}


@pytest.mark.parametrize("entry", [{**SURVIVOR, "id": True}, {**SURVIVOR, "line": "3"}, {**SURVIVOR, "id": 1.0}])
def test_calibration_entries_are_strictly_typed(entry: dict[str, object]) -> None:
    text = json.dumps({"contract_version": "1", "description": "d", "calibration": [entry]})
    with pytest.raises(JudgeInputInvalid):
        parse_judge_text(text, CalibrationSet, where="cal.json")


def test_calibration_gate_with_an_unwritable_report_path_is_exit_2(tmp_path: Path) -> None:
    verdict = tmp_path / "verdict.json"
    verdict.write_text(json.dumps({"contract_version": "1", "verdicts": [
        {"id": 1, "classification": "genuine", "confidence": 0.9, "justification": "j"}]}))
    calibration = tmp_path / "cal.json"
    calibration.write_text(json.dumps({"contract_version": "1", "description": "d", "calibration": [SURVIVOR]}))
    with pytest.raises(JudgeInputInvalid) as caught:
        run_gate(verdict, calibration, report_path=tmp_path)  # a directory cannot be the report file
    assert caught.value.error_key == "report_unwritable"
    result = launcher_cli(tmp_path, "mutation", "gate", "--verdict", str(verdict), "--calibration",
                          str(calibration), "--report", "/dev/null/report.json")
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize("front", ["version: " + DEEP, "version: " + HUGE_INT, "name: !!python/name:os.system"])
def test_rubric_front_matter_garbage_is_a_rubric_error(front: str) -> None:
    with pytest.raises(RubricError):
        parse_rubric(f"---\n{front}\n---\n### C1. Works\n", "<x>")


def test_the_scripted_agent_rejects_a_bad_step_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"sleep": -1}]))
    assert scripted_main.main(str(script)) == 2
    assert "script step 0.sleep" in capsys.readouterr().err
    script.write_text(DEEP)
    assert scripted_main.main(str(script)) == 2


def test_a_journaled_plan_the_schema_now_refuses_is_a_plan_error_on_resume(repo: Path) -> None:
    import sqlite3

    report = run_plan(repo, [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}])
    with sqlite3.connect(repo / ".launcher" / "launcher.db") as db:  # as an older launcher wrote it
        plan = json.loads(db.execute("SELECT plan_json FROM runs WHERE id = ?", (report.run_id,)).fetchone()[0])
        plan["task"][0]["timeout_s"] = 0
        db.execute("UPDATE runs SET plan_json = ? WHERE id = ?", (json.dumps(plan), report.run_id))
    with pytest.raises(PlanError) as caught:
        resume(repo, report.run_id)
    assert f"journaled plan of run {report.run_id}" in (caught.value.where or "")
    assert "timeout_s" in caught.value.message


def test_a_plan_task_without_an_agent_runs_default_agent_or_is_refused(repo: Path) -> None:
    (repo / "plan.toml").write_text('[[task]]\nid = "a"\nprompt = "write a.txt"\n')
    refused = launcher_cli(repo, "run", "plan.toml")
    assert refused.returncode == ExitCode.USAGE
    assert "name no agent" in refused.stderr and "default_agent" in refused.stderr
    _assert_nothing_created(repo)

    (repo / "tools").mkdir()
    (repo / "tools" / "bot.py").write_text(
        "import json, os, pathlib, sys\n"
        "pathlib.Path('a.txt').write_text(sys.argv[1])\n"
        "pathlib.Path(os.environ['LAUNCHER_CONTRACT']).write_text(json.dumps({'contract_version': '1',"
        " 'task_id': 'a', 'status': 'done', 'summary': 's', 'files_changed': ['a.txt'], 'tests_added': [],"
        " 'decisions': [], 'blockers': [], 'llm_observations': 'wrote it'}))\n")
    (repo / "launcher.toml").write_text(
        'default_agent = "bot"\n[agents.bot]\nadapter = "command"\n'
        'command = ["python3", "tools/bot.py", "{prompt}"]\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a bot")
    ran = launcher_cli(repo, "run", "plan.toml")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (repo / "a.txt").read_text() == "write a.txt"


def test_an_unknown_default_agent_for_an_unnamed_task_is_refused_up_front(repo: Path) -> None:
    (repo / "plan.toml").write_text('[[task]]\nid = "a"\nprompt = "x"\n')
    (repo / "launcher.toml").write_text('default_agent = "nosuch"\n')
    refused = launcher_cli(repo, "run", "plan.toml")
    assert refused.returncode == ExitCode.USAGE, refused.stderr
    assert "default_agent 'nosuch'" in refused.stderr and "Traceback" not in refused.stderr
    _assert_nothing_created(repo)


def test_a_crashed_agents_message_starts_at_a_line_not_mid_word() -> None:
    from launcher.agents.base import exit_outcome
    from launcher.process import Supervised

    trace = "Traceback (most recent call last):\n" + "  File 'x.py', line 1, in <module>\n" * 20 + "ValueError: boom"
    outcome = exit_outcome(Supervised(returncode=1, duration_s=0.1, pid=1, stderr_tail=trace.encode()))
    assert outcome.message.startswith("exit code 1: ValueError: boom; its output ends: ")  # the reason first
    tail = outcome.message.split("its output ends: ", 1)[1]
    assert tail.startswith("  File") and tail.endswith("ValueError: boom")


def test_a_plan_cannot_turn_landing_off_it_is_told_to_use_no_merge(repo: Path) -> None:
    (repo / "plan.toml").write_text('[run]\nmerge = false\n\n[[task]]\nid = "a"\nagent = "scripted"\nprompt = "p"\n'
                                    'script = [{ write = "b.txt", content = "b\\n" }]\n')
    before = git(repo, "rev-parse", "main")
    refused = launcher_cli(repo, "run", "plan.toml", "--json")
    envelope = json.loads(refused.stdout)
    assert refused.returncode == 2 and envelope["error_key"] == "plan_invalid:extra_forbidden", refused.stdout
    assert "run.merge: not a plan setting (merge = False would be ignored)" in envelope["observations"]
    assert "--no-merge" in envelope["usage"]
    assert git(repo, "rev-parse", "main") == before and git(repo, "branch", "--list", "launcher/*") == ""


def test_a_plan_dumped_by_the_launcher_runs_its_merge_true_is_what_a_run_does_anyway(repo: Path) -> None:
    dumped = validate_plan({"task": [{"id": "a", "agent": "scripted", "prompt": "p",
                                      "script": [{"write": "b.txt", "content": "b\n"}]}]}, "p")
    (repo / "plan.json").write_text(json.dumps(dumped.model_dump(mode="json", by_alias=True, exclude_none=True)))
    done = launcher_cli(repo, "run", "plan.json", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["tasks"][0]["merged"] is True


def test_a_plan_journaled_with_its_merge_setting_still_reads_back() -> None:
    from launcher.models.plan import plan_from_journal

    journaled = validate_plan({"task": [{"id": "a"}]}, "p").model_dump(mode="json", by_alias=True)
    assert journaled["run"]["merge"] is True  # as every launcher journaled (and exported) it
    assert plan_from_journal({**journaled, "run": {**journaled["run"], "merge": False}}, "r1").tasks[0].id == "a"
