"""The calibration gate holds a verdict to the judge it measured, no more and no less.

A setting that does not change the judge (the order of its `env` pass-through list, a name listed
twice) is not a changed judge; a model chosen through the environment (a variable the agent's
`env` passes whose name ends in MODEL, or the variable the adapter's CLI reads for its model when
`model` is not set: ANTHROPIC_MODEL, GEMINI_MODEL, AIDER_MODEL) is part of the judge: a verdict
measured with another model is refused (exit 2), naming the variable but never its value.
Verdicts written before the model's variables were recorded are judged as before.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from test_fix15_calib import calibrate, calibrated, labelled_set, launcher, set_judge

from launcher.gates.judge_identity import judge_identity
from launcher.models.plan import AgentConfig

__all__ = ["calibrated"]  # the fixture, used by name


def gate(root: Path, verdict: Path, labels: Path) -> subprocess.CompletedProcess[str]:
    return launcher(root, "mutation", "gate", "--verdict", str(verdict), "--calibration", str(labels),
                    "--report", str(root.parent / "gate-report.json"))  # fmt: skip


def judge_passes(root: Path, env: str) -> None:
    toml = root / "launcher.toml"
    text = toml.read_text().split("env = ")[0].rstrip("\n")
    toml.write_text(f"{text}\nenv = {env}\n")


def calibrated_verdict(root: Path, tmp_path: Path, env: str) -> tuple[Path, Path]:
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    set_judge(root, genuine=15)
    judge_passes(root, env)
    done = calibrate(root, labels)
    assert done.returncode == 0, done.stdout + done.stderr
    return next((root / ".launcher" / "calibration").glob("*/verdict.json")), labels


def test_the_order_or_repetition_of_env_names_is_the_same_judge_and_a_model_variable_is_not(
    calibrated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGE_MODEL", "big-careful-model")
    verdict, labels = calibrated_verdict(calibrated, tmp_path, '["HOME", "LANG", "JUDGE_MODEL"]')
    recorded = json.loads(verdict.read_text())["judged"]["judge"]
    assert list(recorded["model_env"]) == ["JUDGE_MODEL"]
    assert "big-careful-model" not in verdict.read_text()  # a digest, never the value
    for same in ('["LANG", "JUDGE_MODEL", "HOME"]', '["JUDGE_MODEL", "HOME", "LANG", "HOME"]'):
        judge_passes(calibrated, same)
        done = gate(calibrated, verdict, labels)
        assert done.returncode == 0, f"{same}: {done.stdout}{done.stderr}"
        assert "calibration gate: pass" in done.stdout
    monkeypatch.setenv("JUDGE_MODEL", "tiny-cheap-model")
    changed = gate(calibrated, verdict, labels)
    said = changed.stdout + changed.stderr
    assert changed.returncode == 2, said
    assert "model from the environment (JUDGE_MODEL: another value then, this one now) changed since" in said
    assert "tiny-cheap-model" not in said and "big-careful-model" not in said
    monkeypatch.delenv("JUDGE_MODEL")
    unset = gate(calibrated, verdict, labels)
    assert unset.returncode == 2 and "JUDGE_MODEL: set then, unset now" in unset.stdout + unset.stderr


def test_a_verdict_recorded_before_model_variables_is_judged_as_before(
    calibrated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGE_MODEL", "big-careful-model")
    verdict, labels = calibrated_verdict(calibrated, tmp_path, '["LANG", "JUDGE_MODEL"]')
    old = json.loads(verdict.read_text())
    config = AgentConfig.model_validate(tomllib.loads((calibrated / "launcher.toml").read_text())["agents"]["j"])
    del old["judged"]["judge"]["model_env"]  # as the previous launcher wrote it: `env` hashed as listed
    old["judged"]["judge"]["setup_sha256"] = judge_identity("j", config, for_old_records=True)["setup_sha256_as_listed"]
    verdict.write_text(json.dumps(old))
    monkeypatch.setenv("JUDGE_MODEL", "tiny-cheap-model")  # not recorded then: not compared
    done = gate(calibrated, verdict, labels)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("adapter", "variable"), [("claude", "ANTHROPIC_MODEL"), ("gemini", "GEMINI_MODEL"),
                                                   ("aider", "AIDER_MODEL")])  # fmt: skip
def test_a_built_in_adapters_model_variable_is_part_of_the_judge_unless_model_is_set(
    adapter: str, variable: str
) -> None:
    from launcher.agents import aider, claude, gemini

    assert variable in {"claude": claude, "gemini": gemini, "aider": aider}[adapter].PASSTHROUGH
    config = AgentConfig.model_validate({"adapter": adapter})
    then = judge_identity("j", config, {variable: "model-a"})
    assert then["model_env"].keys() == {variable}
    assert judge_identity("j", config, {variable: "model-b"})["model_env"] != then["model_env"]
    pinned = AgentConfig.model_validate({"adapter": adapter, "model": "pinned"})
    assert judge_identity("j", pinned, {variable: "model-a"})["model_env"] == {}
