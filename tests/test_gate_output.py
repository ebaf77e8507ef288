"""The standalone gates print what the seed's scripts print: ONE JSON line other orchestrators
parse, with the seed's leading fields (`ok, subcommand, task_id, status, ...`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "mutation" / "calibration-set.json"


def launcher(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")})


def _verdict(**changes: Any) -> str:
    data = {"verdict": "needs_revision",
            "criterion_results": [{"criterion": "C1", "pass": True, "justification": "ok"},
                                  {"criterion": "C2", "pass": False, "justification": "no test"}],
            "required_fixes": ["tests/test_x.py:1 — add a test (C2)"], "iteration": 2,
            "rubric_version": "1", **changes}
    return json.dumps(data)


def _one_line(stdout: str) -> dict[str, Any]:
    assert stdout.endswith("\n") and stdout.count("\n") == 1, stdout
    parsed: dict[str, Any] = json.loads(stdout)
    return parsed


def test_an_invalid_verdict_is_the_seeds_one_error_line(tmp_path: Path) -> None:
    done = launcher(tmp_path, "gate", "grade-record", "--task-id", "api-login",
                    stdin=_verdict(verdict="great"))
    assert done.returncode == 1
    envelope = _one_line(done.stdout)
    assert list(envelope) == ["ok", "subcommand", "task_id", "status", "error_key", "observations", "usage"]
    assert envelope["ok"] is False and envelope["subcommand"] == "grade-record"
    assert envelope["task_id"] == "api-login" and envelope["status"] == "error"
    assert envelope["error_key"] == "verdict_invalid_enum"
    assert done.stdout.startswith('{"ok":false,"subcommand":"grade-record","task_id":"api-login",')


def test_unreadable_input_is_an_error_line_too(tmp_path: Path) -> None:
    done = launcher(tmp_path, "gate", "grade-record", "--file", str(tmp_path / "missing.json"))
    assert done.returncode == 1
    envelope = _one_line(done.stdout)
    assert (envelope["status"], envelope["error_key"], envelope["task_id"]) == ("error", "file_not_found", None)


def test_a_valid_verdict_is_one_line_whose_status_is_the_verdict(tmp_path: Path) -> None:
    verdict = tmp_path / "verdict.json"
    verdict.write_text(_verdict(task_id="api-login"))  # a task_id in the input is echoed
    done = launcher(tmp_path, "gate", "grade-record", "--file", str(verdict))
    assert done.returncode == 0, done.stderr
    envelope = _one_line(done.stdout)
    assert list(envelope)[:4] == ["ok", "subcommand", "task_id", "status"]
    assert envelope["ok"] is True and envelope["task_id"] == "api-login"
    assert envelope["status"] == envelope["verdict"] == "needs_revision"
    assert envelope["failed"] == ["C2"]


def test_a_verdict_for_another_task_is_refused_as_inside_a_run(tmp_path: Path) -> None:
    verdict = tmp_path / "verdict.json"
    verdict.write_text(_verdict(task_id="api-login"))
    other = launcher(tmp_path, "gate", "grade-record", "--file", str(verdict), "--task-id", "api-logout")
    assert other.returncode == 1
    envelope = _one_line(other.stdout)
    assert (envelope["ok"], envelope["task_id"], envelope["error_key"]) == (False, "api-logout", "task_id_mismatch")
    assert "'api-login', not 'api-logout'" in envelope["observations"]
    same = launcher(tmp_path, "gate", "grade-record", "--file", str(verdict), "--task-id", "api-login")
    assert same.returncode == 0 and _one_line(same.stdout)["task_id"] == "api-login"
    unnamed = launcher(tmp_path, "gate", "grade-record", "--task-id", "api-logout", stdin=_verdict())
    assert unnamed.returncode == 0 and _one_line(unnamed.stdout)["task_id"] == "api-logout"


def test_a_verdict_naming_a_key_twice_is_invalid_json_naming_it(tmp_path: Path) -> None:
    # Never validated on the last one: which `verdict` did the grader mean?
    text = _verdict(verdict="needs_revision")[:-1] + ', "verdict": "satisfied"}'
    done = launcher(tmp_path, "gate", "grade-record", stdin=text)
    assert done.returncode == 1
    envelope = _one_line(done.stdout)
    assert envelope["error_key"] == "invalid_json"
    assert 'duplicate key "verdict"' in envelope["observations"]


def test_a_task_id_that_is_not_a_string_is_invalid_not_dropped(tmp_path: Path) -> None:
    for value in (5, ["api-login"], ""):
        done = launcher(tmp_path, "gate", "grade-record", stdin=_verdict(task_id=value))
        assert done.returncode == 1, (value, done.stdout)
        envelope = _one_line(done.stdout)
        assert (envelope["error_key"], envelope["task_id"]) == ("task_id_not_string", None)
    null = launcher(tmp_path, "gate", "grade-record", stdin=_verdict(task_id=None))  # no claim
    assert null.returncode == 0 and _one_line(null.stdout)["task_id"] is None


def test_mutation_gate_json_is_one_line_for_a_result_and_for_bad_input(tmp_path: Path) -> None:
    labelled = json.loads(SHIPPED.read_text())
    verdict = tmp_path / "verdict.json"
    verdict.write_text(json.dumps({
        "contract_version": "1", "calibration": {"precision": None, "recall": None},
        "verdicts": [{"id": e["id"], "classification": e["ground_truth"], "confidence": 0.9,
                      "justification": "read it"} for e in labelled["calibration"]],
    }))
    passed = launcher(tmp_path, "mutation", "gate", "--verdict", str(verdict), "--calibration",
                      str(SHIPPED), "--json")
    assert passed.returncode == 0, passed.stderr
    assert _one_line(passed.stdout)["gate_verdict"] == "pass"
    verdict.write_text("{")
    bad = launcher(tmp_path, "mutation", "gate", "--verdict", str(verdict), "--calibration",
                   str(SHIPPED), "--json")
    assert bad.returncode == 2
    assert _one_line(bad.stdout)["ok"] is False


def _ascii_line(stdout: bytes) -> dict[str, Any]:
    """The line a JSON parser reads: ASCII JSON, whatever bytes the names held."""
    assert stdout.isascii() and stdout.count(b"\n") == 1, stdout
    parsed: dict[str, Any] = json.loads(stdout)
    return parsed


def _raw(cwd: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=cwd, input=stdin,
                          capture_output=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")})


def test_a_task_id_holding_a_byte_that_is_not_utf8_is_written_escaped_in_the_json_line(tmp_path: Path) -> None:
    named = tmp_path / "named.json"  # a grader's own JSON may escape such a character
    named.write_text('{"task_id": "t\\udce9", "verdict": "satisfied"}')
    from_file = _raw(tmp_path, "gate", "grade-record", "--file", str(named))
    assert _ascii_line(from_file.stdout)["task_id"] == "t\udce9"
    argument = _raw(tmp_path, "gate", "grade-record", "--task-id", "t\udce9",  # the raw byte 0xe9
                    stdin=b'{"verdict": "satisfied"}')
    assert _ascii_line(argument.stdout)["task_id"] == "t\udce9"


def test_mutation_gate_json_names_a_file_whose_name_is_not_utf8_as_ascii_json(tmp_path: Path) -> None:
    labelled = json.loads(SHIPPED.read_text())
    verdict = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"verdict-\xe9.json")))
    verdict.write_text(json.dumps({
        "contract_version": "1", "calibration": {"precision": None, "recall": None},
        "verdicts": [{"id": e["id"], "classification": e["ground_truth"], "confidence": 0.9,
                      "justification": "read it"} for e in labelled["calibration"]],
    }))
    passed = _raw(tmp_path, "mutation", "gate", "--verdict", str(verdict), "--calibration", str(SHIPPED), "--json")
    assert passed.returncode == 0, passed.stderr
    assert _ascii_line(passed.stdout)["verdict_file"] == str(verdict)
