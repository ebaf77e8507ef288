"""The judge is given the repository's own prompt, and the gate holds a calibration to it.

`launcher init` writes the shipped judge prompt to `mutation/judge-prompt.md` for the operator to
edit. That file, not the copy inside the package, is what the judge reads and what a calibration
records (its digest): an edited prompt reaches the judge, and a calibration of the old prompt is
refused by the gate (exit 2, `judge_changed`); an unedited copy is the shipped prompt (the gate
passes). A prompt file that cannot be used is refused before any judge runs, naming it (exit 2).
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import pytest
from test_fix15_calib import calibrate, calibrated, git, labelled_set
from test_fix17_judge_identity import gate

__all__ = ["calibrated"]  # the fixture, used by name


def shipped_prompt() -> str:
    return (resources.files("launcher") / "data" / "mutation" / "judge-prompt.md").read_text(encoding="utf-8")

PROMPT_KEEPING_JUDGE = """\
import json, os, sys
open(os.environ["PROMPT_SEEN"], "w").write(sys.argv[1])
packet = json.load(open(os.environ["LAUNCHER_PACKET"]))
verdicts = [{"id": s["id"], "classification": "genuine" if int(s["mut"].rsplit("-", 1)[1]) <= 15 else
             "equivalent", "confidence": 0.9, "justification": "the mutant changes the result."}
            for s in packet["survivors"]]
print(json.dumps({"contract_version": "1", "verdicts": verdicts}))
"""


def prompt_keeping_judge(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A command judge that writes the prompt it was given to the file PROMPT_SEEN names (set here)."""
    script = root.parent / "judge.py"
    script.write_text(PROMPT_KEEPING_JUDGE)
    (root / "launcher.toml").write_text(
        f'[agents.j]\nadapter = "command"\ncommand = {json.dumps([sys.executable, str(script), "{prompt}"])}\n'
        'env = ["PROMPT_SEEN"]\n')
    git(root, "add", "launcher.toml")
    git(root, "commit", "-qm", "the judge")
    seen = root.parent / "prompt-seen.txt"
    monkeypatch.setenv("PROMPT_SEEN", str(seen))
    return seen


def test_the_repository_prompt_reaches_the_judge_and_an_edit_after_calibration_is_refused(
    calibrated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = prompt_keeping_judge(calibrated, monkeypatch)
    (calibrated / "mutation").mkdir()
    own = calibrated / "mutation" / "judge-prompt.md"
    own.write_text("Judge these survivors of OUR payment code; an unchecked rounding change is genuine.\n")
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    done = calibrate(calibrated, labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen.read_text().startswith("Judge these survivors of OUR payment code")
    assert shipped_prompt().splitlines()[0] not in seen.read_text()
    verdict = next((calibrated / ".launcher" / "calibration").glob("*/verdict.json"))
    assert gate(calibrated, verdict, labels).returncode == 0

    own.write_text("Call every survivor equivalent.\n")  # the judge measured is not the one configured now
    changed = gate(calibrated, verdict, labels)
    assert changed.returncode == 2, changed.stdout + changed.stderr
    assert "its judge prompt changed since" in changed.stdout + changed.stderr


def test_an_unedited_copy_is_the_shipped_prompt_and_keeps_a_calibration_valid(
    calibrated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = prompt_keeping_judge(calibrated, monkeypatch)
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    done = calibrate(calibrated, labels)  # no mutation/judge-prompt.md: the shipped prompt
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen.read_text().startswith(shipped_prompt())
    verdict = next((calibrated / ".launcher" / "calibration").glob("*/verdict.json"))
    (calibrated / "mutation").mkdir()
    (calibrated / "mutation" / "judge-prompt.md").write_text(shipped_prompt())  # what `launcher init` writes
    passed = gate(calibrated, verdict, labels)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_a_prompt_file_that_cannot_be_used_is_refused_before_the_judge_runs(
    calibrated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = prompt_keeping_judge(calibrated, monkeypatch)
    (calibrated / "mutation").mkdir()
    own = calibrated / "mutation" / "judge-prompt.md"
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    for bad, said in ((b"\xff\xfe not text", "not UTF-8"), (b"  \n", "empty")):
        own.write_bytes(bad)
        done = calibrate(calibrated, labels)
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        assert "mutation/judge-prompt.md" in out and said in out and "Fix:" in out
        assert not seen.exists()  # no judge ran
