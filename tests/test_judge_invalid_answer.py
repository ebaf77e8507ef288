"""A judge whose answer breaks the verdict contract three times: the operator is told what is wrong,
where (the JSON path in the answer; the judge's log and the last error sent to it), and how to fix
it (DESIGN 13), in the text output and in `--json`'s message alike."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ADULT_PROJECT, swept_in

JUDGE = """\
import json, os, sys
packet = json.load(open(os.environ["LAUNCHER_PACKET"]))
shape = sys.argv[1]
verdicts = []
for s in packet["survivors"]:
    v = {"id": s["id"], "classification": "genuine", "confidence": 0.9, "justification": "j"}
    if shape == "no-confidence":
        del v["confidence"]
    elif shape == "string-id":
        v["id"] = str(s["id"])
    elif shape == "capitalised":
        v["classification"] = "Genuine"
    verdicts.append(v)
print(json.dumps({"contract_version": "1", "verdicts": verdicts}))
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real sweep with two survivors."""
    yield from swept_in(tmp_path_factory, "judge-invalid", ADULT_PROJECT)


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(swept, root, symlinks=True)
    return root


def use_command_judge(root: Path, script_dir: Path, shape: str) -> None:
    script_dir.mkdir()
    (script_dir / "judge.py").write_text(JUDGE)
    command = [sys.executable, str(script_dir / "judge.py"), shape]
    (root / "launcher.toml").write_text(f'[agents.j]\nadapter = "command"\ncommand = {json.dumps(command)}\n')


def judge(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "launcher", "mutation", "judge", "--agent", "j", "--confirm-judge", *args]
    return subprocess.run(argv, cwd=root, text=True, capture_output=True, stdin=subprocess.DEVNULL,
                          env=os.environ.copy(), timeout=180)  # fmt: skip


@pytest.mark.parametrize(("shape", "place", "what"), [
    ("no-confidence", "$.verdicts[0].confidence", "required key is missing"),
    ("string-id", "$.verdicts[0].id", "must be a whole number"),
    ("capitalised", "$.verdicts[0].classification", "'Genuine'"),
])  # fmt: skip
def test_the_last_invalid_answer_is_named_with_its_place_the_files_to_read_and_the_fix(
    proj: Path, tmp_path: Path, shape: str, place: str, what: str
) -> None:
    use_command_judge(proj, tmp_path / "judge-script", shape)
    done = judge(proj)
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("the judge gave no usable verdict: batch 1/1: no valid verdict 3 times in a row")
    assert f"judge answer {place}: " in first and what in first  # what, and where in the answer
    assert "fix the judge (a judge verdict is {" in first  # how to fix
    record = next((proj / ".launcher" / "mutation-runs").iterdir()) / "judge"
    assert f"{record / 'agent.log'}" in first and (record / "agent.log").is_file()  # the judge's answers
    hint = re.search(r"the last error it was sent in (\S+\.json)", first)
    assert hint is not None and Path(hint.group(1)).parent == record
    assert place in json.loads(Path(hint.group(1)).read_text())["observations"]  # the error the judge was sent

    as_json = judge(proj, "--json")
    assert as_json.returncode == 1
    message = json.loads(as_json.stdout)["message"]
    assert f"judge answer {place}: " in message and "agent.log" in message and "fix the judge" in message
