"""The shipped Python calibration set (issue 15 part 3): real survivors of cachetools 8.0.1,
toolz 1.2.0 and parse 1.22.4, labelled; every genuine label proven by a killing test that fails
with the mutant applied and passes on the original; `judge --calibrate` uses it for Python sweeps;
and the equivalence pre-filter measured on it."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from launcher.app.mutation.calibration_default import default_calibration_set, python_set_file, shipped_mutation_dir
from launcher.models.judge import CalibrationSet, load_judge_file
from launcher.mutation.equivalence import EQUIVALENT, prefilter
from launcher.mutation.model import Mutant

SET_DIR = python_set_file().parent
LICENCES = {"cachetools-8.0.1": "LICENSE", "toolz-1.2.0": "LICENSE.txt", "parse-1.22.4": "LICENSE"}


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_kills", SET_DIR / "check_kills.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_set_is_real_labelled_licensed_and_large_enough() -> None:
    labelled = load_judge_file(python_set_file(), CalibrationSet)
    entries = labelled.calibration
    assert len(entries) >= 100
    assert sum(e.ground_truth == "equivalent" for e in entries) >= 25
    for entry in entries:
        project = entry.target.split("/", 1)[0]
        assert project in LICENCES, entry.target  # named with project and version
        assert (SET_DIR / entry.target).is_file(), entry.target  # the sdist's file, to apply the mutant to
        assert entry.label_rationale.strip() and entry.status == "SURVIVED"
    for project, licence in LICENCES.items():
        assert (SET_DIR / project / licence).is_file()


def test_every_genuine_label_is_proven_by_a_test_that_passes_on_the_original_and_fails_on_the_mutant() -> None:
    done = subprocess.run([sys.executable, str(SET_DIR / "check_kills.py")], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    outcome = json.loads(done.stdout)
    genuine = [e for e in load_judge_file(python_set_file(), CalibrationSet).calibration if e.ground_truth == "genuine"]
    assert outcome["problems"] == [] and done.returncode == 0
    assert sorted(r["id"] for r in outcome["results"]) == sorted(e.id for e in genuine)
    for result in outcome["results"]:
        assert result["original"] == "pass" and result["mutant"].startswith("fail"), result


def test_the_checker_refuses_a_killing_test_that_does_not_kill(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "set"
    shutil.copytree(SET_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    kills = copy / "kills" / "test_toolz.py"
    kills.write_text(kills.read_text(encoding="utf-8").replace(
        "    assert raises(ValueError, lambda: 1) is False", "    assert not raises(ValueError, lambda: 1)"),
        encoding="utf-8")  # fmt: skip
    outcome = _checker().check(copy)
    assert outcome["problems"] == ["#1299: test_kill_1299 passes with the mutant applied: it does not kill it"]


def _as_mutant(entry: dict[str, object], checker: ModuleType) -> Mutant:
    """A calibration entry as the sweep's Mutant: the whole file replaced by its mutated text."""
    source = (SET_DIR / str(entry["target"])).read_text(encoding="utf-8")
    mutated = checker.apply_mutant(source, entry["line"], entry["orig"], entry["mut"])
    line = int(str(entry["line"]))
    return Mutant(id=str(entry["id"]), index=int(str(entry["id"])), fault=str(entry["fault"]),
                  target=str(entry["target"]), line=line, col=1, end_line=line, end_col=1, function="?",
                  scope_hash="", scope_lines=(line, line), rationale=str(entry["rationale"]),
                  orig=str(entry["orig"]), mut=str(entry["mut"]), start=0, end=len(source), replaced=source,
                  replacement=mutated)  # fmt: skip


def test_prefilter_precision_and_recall_of_equivalent_on_the_set(capsys: object) -> None:
    entries = json.loads(python_set_file().read_text(encoding="utf-8"))["calibration"]
    checker = _checker()
    mutants = [_as_mutant(e, checker) for e in entries]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    findings, _summary = asyncio.run(prefilter(SET_DIR, mutants, sys.executable, env))
    truth = {str(e["id"]): e["ground_truth"] for e in entries}
    flagged = [mid for mid, finding in findings.items() if finding.kind == EQUIVALENT]
    wrong = [mid for mid in flagged if truth[mid] != "equivalent"]
    equivalents = sum(label == "equivalent" for label in truth.values())
    precision = None if not flagged else (len(flagged) - len(wrong)) / len(flagged)
    recall = (len(flagged) - len(wrong)) / equivalents
    print(f"pre-filter on the Python set: {len(flagged)} flagged equivalent of {len(entries)} mutants "
          f"({equivalents} labelled equivalent); precision {precision}, recall {recall:.3f}")  # fmt: skip
    assert wrong == []  # precision 1.0: it never calls a proven-genuine mutant equivalent


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_calibrate_defaults_to_the_python_set_for_python_and_keeps_the_starter_for_shell(tmp_path: Path) -> None:
    starter = (shipped_mutation_dir() / "calibration-set.json").read_text(encoding="utf-8")
    python_repo, shell_repo, own_repo = tmp_path / "py", tmp_path / "sh", tmp_path / "own"
    _write(python_repo / "pyproject.toml", "[project]\nname = 'x'\n")
    _write(python_repo / "mutation" / "calibration-set.json", starter)  # `launcher init`'s untouched starter
    assert default_calibration_set(python_repo) == python_set_file()
    shell_set = _write(shell_repo / "mutation" / "calibration-set.json", starter)
    _write(shell_repo / ".launcher" / "mutation-runs" / "m-1" / "mutants.json",
           json.dumps({"files": {"bin/deploy.sh": {"language": "shell"}}}))  # fmt: skip
    assert default_calibration_set(shell_repo) == shell_set
    _write(own_repo / "pyproject.toml", "")
    renamed = _write(own_repo / "mutation" / "calibration-set.json", starter.replace("Starter", "Our"))
    assert default_calibration_set(own_repo) == python_set_file()  # a new description is no label
    relabelled = json.loads(starter)
    relabelled["calibration"][0]["label_rationale"] = "read again: our own reason"
    own = _write(renamed, json.dumps(relabelled))
    assert default_calibration_set(own_repo) == own  # an operator's own labels win
    assert default_calibration_set(tmp_path / "empty") is None
