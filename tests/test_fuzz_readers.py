"""Property: every reader turns ANY input into a value or the project's own error (issue 12).

Random and structured garbage (deep nesting, huge integers, NaN and infinities, wrong types,
non-UTF-8 bytes, unknown keys) goes through each reader the launcher has; the only exceptions
allowed out are the project's. The CLI entry points get fewer examples: rejected input must exit
with the documented code and create no `.launcher/`, branch or worktree.

Kept CI-fast by a bounded number of examples per property; set LAUNCHER_FUZZ_EXAMPLES=2000 (say)
to search harder.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from launcher.agents import scripted_main
from launcher.agents.cli_common import parse_json_text
from launcher.cli.main import app
from launcher.errors import ConfigError, ContractInvalid, LauncherError, PlanError
from launcher.gates.verdict import grade_record
from launcher.models.config import load_repo_config
from launcher.models.contract import check_contract, last_json_object, parse_contract_text
from launcher.models.judge import CalibrationSet, JudgeInputInvalid, JudgeVerdict, parse_judge_text
from launcher.models.plan import load_plan, parse_plan_text, validate_plan
from launcher.models.rubric import RubricError, parse_rubric
from launcher.models.verdict import VerdictInvalid, check_verdict, parse_grader_output, validate_verdict_text
from tests.helpers import git

EXAMPLES = int(os.environ.get("LAUNCHER_FUZZ_EXAMPLES", "40"))
CLI_EXAMPLES = max(3, EXAMPLES // 8)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
FUZZ_CLI = settings(max_examples=CLI_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# --- strategies ---------------------------------------------------------------------------------

PLAN_KEYS = ["run", "agents", "task", "tasks", "id", "agent", "prompt", "script", "timeout_s", "budget_usd",
             "max_parallel", "merge", "into", "base", "grader", "depends_on", "attempts", "select_from",
             "command", "adapter", "sleep", "write", "content", "replace", "exit", "log_cap_mb",
             "max_paralel", "verdict", "criterion_results", "iteration", "rubric_version", "contract_version",
             "status", "calibration", "verdicts", "confidence", "ground_truth", "1", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**301),
    st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0, 1e-12, 1e308]),
    st.text(max_size=20), st.sampled_from(PLAN_KEYS), st.sampled_from(["../x", "-x", "HEAD", "main.lock", "{task_id}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(PLAN_KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)


def _deep(opening: str, depth: int) -> str:
    return opening * depth


structured_garbage = st.one_of(
    st.builds(_deep, st.sampled_from(["[", "{", '{"a":', "a = [", "a: [", "- ", "{b=", "[[", "x = {y = "]),
              st.integers(min_value=1, max_value=120_000)),
    st.integers(min_value=4290, max_value=9000).map(lambda n: "1" * n),
    st.integers(min_value=4290, max_value=9000).map(lambda n: '{"iteration": ' + "9" * n + "}"),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", '{"iteration": NaN}', "nan", "inf", '"\\ud800"',
                     '{"a": "\\udfff"}', "!!python/name:os.system", "1: x", "? [a]\n: b", "*a", "&a [*a]"]),
)


def _as_json(value: Any) -> str:
    return json.dumps(value, allow_nan=True, default=str)


def _as_yaml(value: Any) -> str:
    try:
        return yaml.safe_dump(value)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return "a: 1"


def _as_toml(value: Any) -> str:
    """A rough TOML rendering (not always valid: that is the point)."""
    if not isinstance(value, dict):
        return f"a = {_as_json(value)}"
    return "\n".join(f"{k} = {_as_json(v)}" for k, v in value.items())


texts = st.one_of(
    st.text(), structured_garbage, values.map(_as_json), values.map(_as_yaml), values.map(_as_toml),
    st.tuples(structured_garbage, values.map(_as_json)).map(lambda pair: pair[1] + "\n" + pair[0]),
)
raw_bytes = st.one_of(st.binary(max_size=200), texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.binary(min_size=1, max_size=20).map(lambda b: b'[[task]]\nid = "' + b + b'\xff"\n'))

plan_like = st.fixed_dictionaries(
    {"task": st.lists(st.dictionaries(st.sampled_from(PLAN_KEYS), values, max_size=6)
                      .map(lambda d: {"id": "a", **d}), max_size=3)},
    optional={"run": st.dictionaries(st.sampled_from(PLAN_KEYS), values, max_size=6),
              "agents": st.dictionaries(st.text(max_size=6), values, max_size=3),
              "zz_unknown": values},
)


def _value_or_ours(read: Callable[[], Any], error_type: type[Exception]) -> Any:
    """The reader's value, or its error, which must be the project's own and structured: a
    message, an error key and an exit code (the CLI maps it; never a traceback)."""
    try:
        return read()
    except error_type as exc:
        assert isinstance(exc, (LauncherError, scripted_main.ScriptInvalid))
        if isinstance(exc, LauncherError):
            assert exc.message.strip() and exc.error_key and exc.exit_code in (1, 2)
        return exc


# --- readers -----------------------------------------------------------------------------------


@FUZZ
@given(text=texts, suffix=st.sampled_from([".toml", ".yaml", ".json"]))
def test_plan_text_is_a_plan_or_a_plan_error(text: str, suffix: str) -> None:
    _value_or_ours(lambda: validate_plan(parse_plan_text(text, suffix, "fuzz" + suffix), "fuzz" + suffix), PlanError)


@FUZZ
@given(data=st.one_of(plan_like, values))
def test_plan_data_is_a_plan_or_a_plan_error(data: Any) -> None:
    _value_or_ours(lambda: validate_plan(data, "fuzz.toml"), PlanError)


@FUZZ
@given(content=raw_bytes, suffix=st.sampled_from([".toml", ".yaml", ".yml", ".json"]))
def test_plan_files_of_any_bytes_are_a_plan_or_a_plan_error(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"plan{suffix}"
    path.write_bytes(content)
    _value_or_ours(lambda: load_plan(path), PlanError)


@FUZZ
@given(text=texts)
def test_contract_text_is_a_contract_or_contract_invalid(text: str) -> None:
    _value_or_ours(lambda: parse_contract_text(text, "t"), ContractInvalid)
    found = last_json_object(text)
    assert found is None or isinstance(found, dict)
    parse_json_text(text)
    if found is not None:
        _value_or_ours(lambda: check_contract(found, "t"), ContractInvalid)


@FUZZ
@given(data=values)
def test_structured_contract_output_is_a_contract_or_contract_invalid(data: Any) -> None:
    _value_or_ours(lambda: check_contract(data, "t"), ContractInvalid)


@FUZZ
@given(text=texts)
def test_grader_text_is_a_verdict_or_verdict_invalid(text: str) -> None:
    for reader in (validate_verdict_text, parse_grader_output):
        _value_or_ours(partial(reader, text), VerdictInvalid)
    code, envelope = grade_record(text)
    assert code in (0, 1) and envelope["ok"] is (code == 0)
    json.dumps(envelope)  # printable


@FUZZ
@given(data=values, criteria=st.none() | st.lists(st.text(max_size=3), max_size=3))
def test_parsed_verdicts_are_verdicts_or_verdict_invalid(data: Any, criteria: list[str] | None) -> None:
    _value_or_ours(lambda: check_verdict(data, expected_criteria=criteria), VerdictInvalid)


@FUZZ
@given(text=st.one_of(texts, values.map(lambda v: _as_json({"contract_version": "1", "verdicts": v,
                                                               "calibration": v, "description": "d"}))))
def test_judge_files_are_values_or_judge_input_invalid(text: str) -> None:
    for model in (JudgeVerdict, CalibrationSet):
        _value_or_ours(partial(parse_judge_text, text, model, where="fuzz.json"), JudgeInputInvalid)


@FUZZ
@given(front=texts, body=st.text(max_size=200))
def test_rubrics_are_rubrics_or_rubric_errors(front: str, body: str) -> None:
    for text in (f"---\n{front}\n---\n### C1. Works\n{body}", front, f"---\nversion: 1\nname: x\n---\n{body}"):
        _value_or_ours(partial(parse_rubric, text, "<x>"), RubricError)


@FUZZ
@given(content=raw_bytes, name=st.sampled_from(["launcher.toml", "pyproject.toml"]))
def test_repository_config_is_a_config_or_a_config_error(tmp_path: Path, content: bytes, name: str) -> None:
    root = tmp_path / "cfg"
    root.mkdir(exist_ok=True)
    for old in root.iterdir():
        old.unlink()
    (root / name).write_bytes(content)
    _value_or_ours(lambda: load_repo_config(root), ConfigError)


@FUZZ
@given(data=values)
def test_repository_config_tables_are_a_config_or_a_config_error(tmp_path: Path, data: Any) -> None:
    root = tmp_path / "cfgt"
    root.mkdir(exist_ok=True)
    (root / "launcher.toml").write_text(_as_toml(data if isinstance(data, dict) else {"grading": data}))
    _value_or_ours(lambda: load_repo_config(root), ConfigError)


@FUZZ
@given(data=st.one_of(values, st.lists(st.dictionaries(st.sampled_from(PLAN_KEYS), values, max_size=3))))
def test_script_files_are_steps_or_a_script_error(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "script.json"
    path.write_text(_as_json(data))
    _value_or_ours(lambda: scripted_main.load_steps(str(path)), scripted_main.ScriptInvalid)


def test_the_decoders_accept_ordinary_documents() -> None:
    """The guard rails do not reject what every plan and contract contains."""
    assert tomllib.loads('a = [1, {b = 2}]') == parse_plan_text('a = [1, {b = 2}]', ".toml", "x")
    assert parse_plan_text('{"a": [1.5, {"b": null}]}', ".json", "x") == {"a": [1.5, {"b": None}]}


# --- CLI entry points: exit codes, and nothing created by rejected input ----------------------

runner = CliRunner()


@contextmanager
def _inside(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _nothing_created(repo: Path) -> None:
    assert not (repo / ".launcher").exists()
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1


@FUZZ_CLI
@given(content=st.one_of(raw_bytes, plan_like.map(lambda d: _as_toml({**d, "zz_unknown": 1}).encode())),
       suffix=st.sampled_from([".toml", ".yaml", ".json"]))
def test_launcher_run_on_garbage_exits_2_and_creates_nothing(repo: Path, content: bytes, suffix: str) -> None:
    plan = repo.parent / f"fuzz-plan{suffix}"
    plan.write_bytes(content)
    with _inside(repo):
        result = runner.invoke(app, ["run", str(plan), "--quiet"])
    if result.exit_code == 2:
        _nothing_created(repo)
    else:  # garbage that happens to be a valid plan: it ran, and ended like any run
        assert result.exit_code in (0, 1, 4), result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception


@FUZZ_CLI
@given(content=raw_bytes)
def test_grade_record_file_exits_0_or_1_with_an_envelope(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "verdict.json"
    path.write_bytes(content)
    result = runner.invoke(app, ["gate", "grade-record", "--file", str(path)])
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.stdout)["ok"] is (result.exit_code == 0)


@FUZZ_CLI
@given(verdict=raw_bytes, calibration=raw_bytes)
def test_mutation_gate_exits_as_documented_and_writes_no_report_for_bad_input(
    tmp_path: Path, verdict: bytes, calibration: bytes,
) -> None:
    (tmp_path / "v.json").write_bytes(verdict)
    (tmp_path / "c.json").write_bytes(calibration)
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    result = runner.invoke(app, ["mutation", "gate", "--verdict", str(tmp_path / "v.json"),
                                 "--calibration", str(tmp_path / "c.json"), "--report", str(report)])
    assert result.exit_code in (0, 1, 2, 3), result.output
    assert report.exists() is (result.exit_code != 2)


_json_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)  # surrogates too
_json_values = st.recursive(st.none() | st.booleans() | st.integers() | _json_text,
                            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_json_text, inner, max_size=4),
                            max_leaves=12)


@FUZZ
@given(value=_json_values, garbage=raw_bytes)
def test_the_mcp_line_reader_passes_only_text_the_sdk_can_read_and_changes_nothing_else(
        value: Any, garbage: bytes) -> None:
    from pydantic_core import from_json

    from launcher.cli.mcp_stdin import clean_line
    line = json.dumps(value).encode() + b"\n"
    cleaned = clean_line(line)
    parsed = from_json(cleaned)  # the SDK's parser: no lone surrogate gets through
    as_sent = json.loads(line)  # Python's reader keeps lone surrogates
    if not any("\ud800" <= ch <= "\udfff" for ch in json.dumps(as_sent, ensure_ascii=False)):
        assert parsed == as_sent
    assert clean_line(garbage) in (garbage, clean_line(garbage))  # never raises, even on garbage
