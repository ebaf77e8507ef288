"""Plans: TOML/YAML/JSON, the --task form, and errors that name the task and the key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.errors import ConfigError, ContractInvalid, ExitCode, PlanError
from launcher.models.config import load_repo_config
from launcher.models.contract import parse_contract_text
from launcher.models.decoding import yaml_load
from launcher.models.plan import load_plan, plan_from_cli, validate_plan

TOML_PLAN = """
[run]
max_parallel = 2

[agents.bot]
adapter = "command"
command = ["python3", "bot.py", "{prompt}"]

[[task]]
id = "api-login"
title = "Login endpoint"
role = "backend"
agent = "bot"
prompt = "Implement POST /login"
checks = ["true"]

[[task]]
id = "docs"
agent = "scripted"
depends_on = ["api-login"]
"""


def test_toml_yaml_and_json_plans_load_to_the_same_model(tmp_path: Path) -> None:
    toml_file = tmp_path / "plan.toml"
    toml_file.write_text(TOML_PLAN)
    plan = load_plan(toml_file)
    assert [t.id for t in plan.tasks] == ["api-login", "docs"]
    assert plan.agents["bot"].command == ["python3", "bot.py", "{prompt}"]
    assert plan.run.max_parallel == 2

    data = plan.model_dump(mode="json", by_alias=True)
    del data["run"]["merge"]  # journaled, never written in a plan (`launcher run --no-merge` decides)
    json_file = tmp_path / "plan.json"
    json_file.write_text(json.dumps(data))
    yaml_file = tmp_path / "plan.yaml"
    import yaml

    yaml_file.write_text(yaml.safe_dump(data))
    assert load_plan(json_file) == plan
    assert load_plan(yaml_file) == plan


def test_cycle_is_an_error_naming_the_task_and_key() -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan(
            {"task": [
                {"id": "a", "depends_on": ["c"]},
                {"id": "b", "depends_on": ["a"]},
                {"id": "c", "depends_on": ["b"]},
            ]},
            "plan.toml",
        )
    err = caught.value
    assert err.error_key == "plan_invalid:dependency_cycle"
    assert "a -> c -> b -> a" in err.what
    assert "task 'a'.depends_on" in (err.where or "")
    assert err.exit_code == ExitCode.USAGE


def test_unknown_agent_names_the_task_and_key() -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan({"task": [{"id": "x", "agent": "gpt-9000"}]}, "plan.toml")
    assert caught.value.error_key == "plan_invalid:unknown_agent"
    assert "task 'x'.agent" in (caught.value.where or "")
    assert "scripted" in (caught.value.fix or "")


def test_unknown_dependency_and_duplicate_ids() -> None:
    with pytest.raises(PlanError, match="unknown task 'nope'"):
        validate_plan({"task": [{"id": "x", "depends_on": ["nope"]}]}, "p")
    with pytest.raises(PlanError, match="used twice"):
        validate_plan({"task": [{"id": "x"}, {"id": "x"}]}, "p")


@pytest.mark.parametrize("bad", ["../../etc", "A", "-x", "a/b", "a..b", "x.lock", "", "a" * 65])
def test_hostile_task_ids_are_rejected(bad: str) -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan({"task": [{"id": bad}]}, "plan.toml")
    assert "task[0]" in (caught.value.where or "")


def test_typo_in_a_key_is_reported_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text('[[task]]\nid = "a"\ndepens_on = []\n')
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert "task[0] (id 'a').depens_on" in (caught.value.where or "")


@pytest.mark.parametrize(("table", "says"), [
    ('[grading]\ngrader = "scripted-grader"\n', ["launcher.toml", "`grader`", "[run]"]),
    ('[merge]\nstrategy = "squash"\n', ["launcher.toml", "`strategy`", "`on_conflict`", "[run]"]),
    ('[mutation]\njudge = "j"\n', ["launcher.toml", "not of a plan"]),
    ('default_agent = "bot"\n', ["launcher.toml", "not a plan's"]),
    ('max_parallel = 2\n', ["[run]"]),
])
def test_a_launcher_toml_table_or_a_run_setting_in_a_plan_names_where_it_belongs(
        tmp_path: Path, table: str, says: list[str]) -> None:
    # README's plan example: `grader = "judge"  # ... (or set [grading] grader)` -- in launcher.toml.
    path = tmp_path / "plan.toml"
    path.write_text(table + '\n[[task]]\nid = "a"\nagent = "scripted"\n')
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.what == "unknown key"
    for words in says:
        assert words in (caught.value.fix or ""), caught.value.fix


@pytest.mark.parametrize(("text", "says"), [
    ("[run]\nmax_parallel = 2\n", "[run] is a table of a plan"),
    ('[[task]]\nid = "a"\n', "tasks belong in a plan file"),
    ('grader = "scripted-grader"\n', "`grader` goes in [grading]"),
    ("max_parallel = 2\n", "a plan's [run] setting"),
])
def test_a_plans_key_in_launcher_toml_names_where_it_belongs(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "launcher.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_repo_config(tmp_path)
    assert says in (caught.value.fix or ""), caught.value.fix


def test_syntax_errors_say_where(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"task": [}')
    with pytest.raises(PlanError, match="invalid JSON") as caught:
        load_plan(path)
    assert str(path) in (caught.value.where or "")


@pytest.mark.parametrize(("name", "text", "where"), [
    ("plan.yaml", 'task:\n  - id: a\n    prompt: x\n    checks: ["false"]\n    checks: ["true"]\n', ":5:5"),
    ("plan.json", '{"task": [{"id": "a", "prompt": "x",\n  "checks": ["false"], "checks": ["true"]}]}', ":2:24"),
])
def test_a_key_given_twice_is_an_error_naming_it_as_toml_does(tmp_path: Path, name: str, text: str,
                                                               where: str) -> None:
    # Not the last one silently winning: the failing check would be dropped without a word.
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.error_key == "plan_invalid:syntax"
    assert "duplicate key" in caught.value.what and "checks" in caught.value.what
    assert (caught.value.where or "").endswith(f"{name}{where}")


def test_a_yaml_merge_key_may_still_be_overridden() -> None:
    text = "defaults: &d\n  prompt: from defaults\n  agent: scripted\ntask:\n  <<: *d\n  prompt: its own\n"
    assert yaml_load(text)["task"] == {"prompt": "its own", "agent": "scripted"}


def test_task_flags_build_a_plan() -> None:
    plan = plan_from_cli(["write a", "write b"], "scripted")
    assert [t.prompt for t in plan.tasks] == ["write a", "write b"]
    assert {t.agent for t in plan.tasks} == {"scripted"}


CONTRACT = {
    "contract_version": "1", "task_id": "t", "status": "done", "summary": "s",
    "files_changed": [], "tests_added": [], "decisions": [], "blockers": [],
    "llm_observations": "obs",
}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "empty_input"),
        ("{nope", "invalid_json"),
        ("[1]", "not_an_object"),
        (json.dumps({k: v for k, v in CONTRACT.items() if k != "summary"}), "missing_key:summary"),
        (json.dumps({"task_id": "t"}), "missing_key:contract_version"),
        (json.dumps({**CONTRACT, "contract_version": "2"}), "contract_version_invalid"),
        (json.dumps({**CONTRACT, "task_id": "other"}), "task_id_mismatch"),
        (json.dumps({**CONTRACT, "status": "great"}), "status_invalid_enum"),
        (json.dumps({**CONTRACT, "files_changed": "a.py"}), "files_changed_not_array"),
        (json.dumps({**CONTRACT, "llm_observations": "  "}), "llm_observations_empty"),
        (json.dumps(CONTRACT)[:-1] + ', "status": "failed"}', "invalid_json"),  # a key twice
    ],
)
def test_contract_validation_reports_the_first_failure_in_order(text: str, key: str) -> None:
    with pytest.raises(ContractInvalid) as caught:
        parse_contract_text(text, "t")
    envelope = caught.value.envelope()
    assert envelope["ok"] is False
    assert envelope["error_key"] == key
    assert envelope["observations"]
    assert "LAUNCHER_CONTRACT" in envelope["usage"]


def test_valid_contract_parses() -> None:
    contract = parse_contract_text(json.dumps(CONTRACT), "t")
    assert contract.status == "done" and contract.source == "agent"


def test_every_dependency_cycle_is_reported_at_once() -> None:
    # README: "every problem is reported at once": fixing one cycle must not reveal the next.
    with pytest.raises(PlanError) as caught:
        validate_plan({"task": [
            {"id": "a", "depends_on": ["b"]}, {"id": "b", "depends_on": ["a"]},
            {"id": "c", "depends_on": ["d"]}, {"id": "d", "depends_on": ["c"]},
            {"id": "e", "depends_on": ["e"]},
            {"id": "f", "depends_on": ["a"]},  # waits on a cycle, is not on one
        ]}, "plan.toml")
    what = caught.value.what
    assert "3 problems" in what
    for cycle in ("a -> b -> a", "c -> d -> c", "e -> e"):
        assert cycle in what
    assert "'f'" not in what


def test_a_cycle_through_a_task_with_another_error_is_listed_with_that_error() -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan({"task": [
            {"id": "a", "depends_on": ["b"]}, {"id": "b", "depends_on": ["a"]},
            {"id": "c", "depends_on": ["d"]}, {"id": "d", "depends_on": ["c"], "timeout_s": 0},
        ]}, "plan.toml")
    what = caught.value.what
    assert "3 problems" in what
    assert "task[3] (id 'd').timeout_s" in what
    for cycle in ("a -> b -> a", "c -> d -> c"):  # all at once, not the second after a fix
        assert cycle in what


def test_tasks_tangled_in_more_than_one_cycle_are_all_named() -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan({"task": [
            {"id": "a", "depends_on": ["b", "c"]}, {"id": "b", "depends_on": ["a"]},
            {"id": "c", "depends_on": ["a"]},
        ]}, "plan.toml")
    assert "dependency cycle: a -> b -> a" in caught.value.what
    assert "tasks a, b, c all wait on one another" in caught.value.what


def test_a_long_chain_closed_into_one_cycle_is_found_without_recursion() -> None:
    tasks = [{"id": f"t{i}", "depends_on": [f"t{(i + 1) % 3001}"]} for i in range(3001)]
    with pytest.raises(PlanError) as caught:
        validate_plan({"task": tasks}, "plan.toml")
    assert caught.value.error_key == "plan_invalid:dependency_cycle"
    assert caught.value.what.startswith("dependency cycle: t0 -> t1 -> ")


def test_a_plan_path_that_is_a_named_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.toml"
    os.mkfifo(fifo)  # nothing will ever write to it: reading would block for ever
    with pytest.raises(PlanError) as caught:
        load_plan(fifo)
    assert caught.value.error_key == "plan_invalid:unreadable"
    assert "not a regular file" in caught.value.what
