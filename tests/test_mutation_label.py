"""`launcher mutation label`: an operator confirms labels at a terminal (driven here through a pty)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import ADULT_PROJECT, swept_project
from pty_terminal import LauncherTerminal

from launcher.models.judge import CalibrationSet, load_judge_file

SEED_SET = Path(__file__).resolve().parent.parent / "launcher" / "data" / "mutation" / "calibration-set.json"
PROJECT = ADULT_PROJECT


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real sweep with two survivors (`>= 18` to `> 18`, and to `>= 19`)."""
    base = tmp_path_factory.mktemp("label")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        yield swept_project(base / "proj", PROJECT, ["calc/core.py"],
                            identity=("Ada Operator", "ada@example.com"))


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(swept, root, symlinks=True)
    return root


class Terminal(LauncherTerminal):
    """`launcher mutation label ...` with a pty as its terminal; answers typed when asked."""

    def __init__(self, cwd: Path, *args: str) -> None:
        super().__init__(cwd, "mutation", "label", *args)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        return super().wait_for(text, timeout)


def labels(root: Path) -> list[dict[str, Any]]:
    path = root / "mutation" / "calibration-set.json"
    load_judge_file(path, CalibrationSet)  # still a valid calibration set for the gate
    return list(json.loads(path.read_text())["calibration"])


def sweep_dir(root: Path) -> Path:
    return next((root / ".launcher" / "mutation-runs").iterdir())


def test_each_answer_is_appended_at_once_attributed_and_never_twice(proj: Path) -> None:
    (proj / "mutation").mkdir()
    shutil.copy(SEED_SET, proj / "mutation" / "calibration-set.json")  # the starter set: ids 1-8
    term = Terminal(proj)
    shown = term.answer("[g]enuine / [e]quivalent / [s]kip / [q]uit? ", "g")
    assert "--- a/calc/core.py" in shown and "-    return age >= 18" in shown and "+    return age > 18" in shown
    assert "covered by (1): tests/test_core.py::test_is_adult" in shown and "judge: not judged" in shown
    term.answer("rationale (optional, Enter for none): ", "is_adult(18) flips; no test at the boundary")
    term.wait_for("labelled genuine")
    written = labels(proj)  # on disk before the next question is answered
    assert len(written) == 1  # the first real label replaces the starter's 8 fictional examples
    term.answer("[q]uit? ", "q")
    assert term.finish() == 0

    first = labels(proj)[-1]
    assert first["id"] == 1 and first["ground_truth"] == "genuine" and first["mut"] == "return age > 18"
    assert first["labelled_by"] == "Ada Operator <ada@example.com>" and first["sweep"] == sweep_dir(proj).name
    assert first["label_rationale"] == "is_adult(18) flips; no test at the boundary" and first["mutant_id"]
    packet = load_judge_file(proj / "mutation" / "calibration-set.json", CalibrationSet).judge_packet("r")
    assert set(packet["survivors"][-1]) == {"id", "fault", "target", "line", "rationale", "orig", "mut", "status",
                                            "mutant_id"}  # the judge being scored sees no label nor labeller

    again = Terminal(proj)  # the labelled mutant is not asked again
    shown = again.answer("[q]uit? ", "e")
    assert "+    return age >= 19" in shown and "return age > 18\n" not in shown
    again.answer("rationale (optional, Enter for none): ", "")
    assert "1 label(s) written" in again.wait_for("already labelled")
    assert again.finish() == 0
    entries = labels(proj)
    assert [e["ground_truth"] for e in entries] == ["genuine", "equivalent"]
    assert len({e["mutant_id"] for e in entries}) == 2 and entries[-1]["label_rationale"]


def test_judge_calibrate_scores_only_the_operators_labels_not_the_starters_examples(proj: Path) -> None:
    """`launcher init` writes the starter (8 fictional mutants nobody here confirmed); one label
    later, `judge --calibrate` judges that one label, and says so."""
    (proj / "mutation").mkdir()
    shutil.copy(SEED_SET, proj / "mutation" / "calibration-set.json")
    term = Terminal(proj)
    term.answer("[g]enuine / [e]quivalent / [s]kip / [q]uit? ", "g")
    term.answer("rationale (optional, Enter for none): ", "")
    term.answer("[q]uit? ", "q")
    assert term.finish() == 0
    entries = labels(proj)
    assert [e["labelled_by"] for e in entries] == ["Ada Operator <ada@example.com>"]
    assert all((proj / e["target"]).is_file() for e in entries)  # real mutants of this repository
    (proj / "launcher.toml").write_text('[agents.j]\nadapter = "scripted-judge"\n')
    done = subprocess.run([sys.executable, "-m", "launcher", "mutation", "judge", "--calibrate", "--agent", "j",
                           "--confirm-judge"], cwd=proj, text=True, capture_output=True, timeout=120)  # fmt: skip
    assert done.stdout.startswith("judging the calibration set "), done.stdout + done.stderr
    assert "(1 mutants; the repository's own labels (1 labelled here, mutation/calibration-set.json))" in done.stdout
    assert "on 1 labelled survivors of" in done.stdout
    # One genuine label: no judge can pass the chance test on it; said before any judge call
    said = done.stdout.index("warning: this calibration set cannot show any judge better than chance")
    assert said < done.stdout.index("calibration gate:") and "the set needs 20 more equivalent label(s)" in done.stdout
    assert "the judge does no better than chance" not in done.stdout


def test_a_hand_made_mix_with_the_starters_examples_is_said_to_be_one(proj: Path) -> None:
    """A label added by hand beside the starter's examples: the set is judged as the operator
    made it, and the note says how many of its mutants are the starter's fictional ones."""
    starter = json.loads(SEED_SET.read_text())
    survivor = json.loads((sweep_dir(proj) / "survivors.jsonl").read_text().splitlines()[0])
    starter["calibration"].append({**survivor, "id": 9, "ground_truth": "genuine", "label_rationale": "by hand"})
    (proj / "mutation").mkdir()
    (proj / "mutation" / "calibration-set.json").write_text(json.dumps(starter))
    (proj / "launcher.toml").write_text('[agents.j]\nadapter = "scripted-judge"\n')
    done = subprocess.run([sys.executable, "-m", "launcher", "mutation", "judge", "--calibrate", "--agent", "j",
                           "--confirm-judge"], cwd=proj, text=True, capture_output=True, timeout=120)  # fmt: skip
    assert "the repository's own labels (1 labelled here, mutation/calibration-set.json); it still holds 8 of " \
           "the starter's fictional examples, scored too" in done.stdout, done.stdout + done.stderr


def test_from_verdict_accepts_or_flips_each_judge_call(proj: Path) -> None:
    survivors = [json.loads(line) for line in (sweep_dir(proj) / "survivors.jsonl").read_text().splitlines()]
    calls = [{"id": s["id"], "classification": "genuine", "confidence": 0.75, "justification": f"j{s['id']}"}
             for s in survivors]  # fmt: skip
    verdict = proj / "verdict-to-check.json"
    verdict.write_text(json.dumps({"contract_version": "1", "verdicts": calls}))
    term = Terminal(proj, "--from-verdict", str(verdict))
    shown = term.answer("[a]ccept genuine / [f]lip to equivalent / [s]kip / [q]uit? ", "a")
    assert "judge: genuine (confidence 0.75)" in shown
    term.answer("rationale (optional, Enter for none): ", "")
    term.answer("[f]lip to equivalent / [s]kip / [q]uit? ", "f")
    term.answer("rationale (optional, Enter for none): ", "19 is as good a boundary here")
    assert term.finish() == 0
    first, second = labels(proj)
    assert first["ground_truth"] == "genuine" and first["label_rationale"] == f"j{survivors[0]['id']}"
    assert second["ground_truth"] == "equivalent" and second["judge"] == {"classification": "genuine",
                                                                          "confidence": 0.75}  # fmt: skip


def test_without_a_terminal_it_exits_2_with_the_hint(proj: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "launcher", "mutation", "label"], cwd=proj, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, env=os.environ.copy(), timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "no terminal" in done.stderr and "run `launcher mutation label` in a terminal" in done.stderr
    assert not (proj / "mutation" / "calibration-set.json").exists()


def _one_label(mutant_id: str, line: int) -> dict[str, Any]:
    return {"id": line, "fault": "comparison", "target": "calc/core.py", "line": line, "rationale": "r",
            "orig": "return age >= 18", "mut": "return age > 18", "status": "SURVIVED",
            "ground_truth": "equivalent", "label_rationale": "by hand", "mutant_id": mutant_id}  # fmt: skip


_ONE, _TWO = json.dumps([_one_label("hand-1", 1)]), json.dumps([_one_label("hand-2", 2)])
_HUGE = json.dumps([{**_one_label("hand-1", 1), "judge": {"confidence": 0}}])
_HUGE = _HUGE.replace('"confidence": 0', '"confidence": 1e999')
_NAN = _ONE.replace('"line": 1', '"line": NaN')


@pytest.mark.parametrize(("text", "said"), [
    # a hand merge of two label sessions: the first list would be dropped by a lenient reader
    (f'{{"contract_version": "1", "description": "d", "calibration": {_ONE},\n "calibration": {_TWO}}}',
     'duplicate key "calibration" (an object names it twice) at line 2 column 2'),
    (f'{{"contract_version": "1", "description": "d", "calibration": {_HUGE}}}',
     "1e999 is out of range for a number at line 1"),
    (f'{{"contract_version": "1", "calibration": {_NAN}}}', "NaN is not a JSON number at line 1"),
    ('{"calibration": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than 64 levels"),
])  # fmt: skip
def test_a_set_it_cannot_read_faithfully_is_refused_and_never_rewritten(proj: Path, text: str, said: str) -> None:
    """The strict reader the gate uses: a key named twice, a number JSON has not, a document
    nested too deep: exit 2 naming the file and line, before any question, the file untouched
    (a lenient read then a rewrite would drop the operator's labels, or write `NaN`)."""
    (proj / "mutation").mkdir()
    path = proj / "mutation" / "calibration-set.json"
    path.write_text(text)
    term = Terminal(proj)
    shown = term.wait_for("nothing was written")
    assert term.finish() == 2
    assert "the calibration set is not valid JSON: " + said in shown, shown
    assert "mutation/calibration-set.json:" in shown and "RecursionError" not in shown and "internal error" not in shown
    assert path.read_text() == text


LABEL_ONE = """\
import sys, time
from pathlib import Path
from launcher.app.mutation.label import append_label
path, mutant, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))  # every session answers at the same instant
entry = {"fault": "comparison", "target": "calc/core.py", "line": 2, "rationale": "r", "orig": "a < b",
         "mut": f"a <= b  # {mutant}", "status": "SURVIVED", "ground_truth": "genuine", "label_rationale": "x",
         "mutant_id": mutant}
print("written" if append_label(path, entry) else "already there")
"""


def test_labels_written_by_sessions_at_once_are_all_kept_each_with_its_own_id(tmp_path: Path) -> None:
    path = tmp_path / "mutation" / "calibration-set.json"
    path.parent.mkdir()
    earlier = [{"id": i, "fault": "comparison", "target": "old.py", "line": i, "rationale": "r", "orig": f"a{i} < b",
                "mut": f"a{i} <= b", "status": "SURVIVED", "ground_truth": "genuine" if i % 2 else "equivalent",
                "label_rationale": "x", "mutant_id": f"old{i}"} for i in range(1, 20001)]  # a wide write window
    for attempt in range(3):
        path.write_text(json.dumps({"contract_version": "1", "description": "d", "calibration": earlier}))
        start = time.time() + 3.0
        sessions = [subprocess.Popen([sys.executable, "-c", LABEL_ONE, str(path), f"new{attempt}-{n}", str(start)],
                                     stdout=subprocess.PIPE, text=True) for n in range(4)]  # fmt: skip
        said = [s.communicate(timeout=120)[0].strip() for s in sessions]
        assert said == ["written"] * 4
        entries = json.loads(path.read_text())["calibration"]
        new = sorted(e["mutant_id"] for e in entries if e["mutant_id"].startswith("new"))
        assert new == [f"new{attempt}-{n}" for n in range(4)], f"attempt {attempt}: labels said written are lost"
        assert sorted(e["id"] for e in entries) == list(range(1, 20005))  # no id given twice
        load_judge_file(path, CalibrationSet)  # the gate takes the set


def test_a_fifo_at_the_calibration_set_is_refused_by_label_and_judge_calibrate_never_waited_on(proj: Path) -> None:
    (proj / "mutation").mkdir()
    fifo = proj / "mutation" / "calibration-set.json"
    os.mkfifo(fifo)
    term = Terminal(proj)
    shown = term.wait_for("nothing was written")
    assert term.finish() == 2
    assert "cannot read the calibration set: not a regular file: it is a FIFO" in shown, shown
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # refused, not replaced by a new set
    judged = subprocess.run([sys.executable, "-m", "launcher", "mutation", "judge", "--calibrate", "--agent",
                             "scripted-judge", "--confirm-judge"], cwd=proj, capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    assert judged.returncode == 2, judged.stdout + judged.stderr
    assert f"{fifo}: cannot read it (not a regular file: it is a FIFO)" in judged.stderr


def test_mutants_a_seed_format_set_already_labels_are_not_asked_again(proj: Path) -> None:
    """The seed's format (a survivors.jsonl line + ground_truth + label_rationale, no `mutant_id`),
    written by hand or by another tool: its mutants are there, by the gate's notion of the same
    mutant (file, line, change), so they are neither asked nor appended a second time."""
    lines = (sweep_dir(proj) / "survivors.jsonl").read_text().splitlines()
    seed = [{**json.loads(line), "ground_truth": "genuine", "label_rationale": "by hand"} for line in lines[:1]]
    (proj / "mutation").mkdir()
    path = proj / "mutation" / "calibration-set.json"
    path.write_text(json.dumps({"contract_version": "1", "description": "by hand", "calibration": seed}))
    term = Terminal(proj)
    shown = term.answer("[g]enuine / [e]quivalent / [s]kip / [q]uit? ", "e")  # only the other survivor is asked
    assert "[1/2]" not in shown and "[2/2]" in shown and seed[0]["mut"] not in shown
    term.answer("rationale (optional, Enter for none): ", "")
    assert "1 label(s) written" in term.wait_for("1 already labelled")
    assert term.finish() == 0
    entries = labels(proj)  # a set the gate takes: no mutant listed twice
    assert [e["ground_truth"] for e in entries] == ["genuine", "equivalent"] and entries[0] == {**seed[0]}


def test_a_symlinked_set_keeps_its_link_and_the_set_keeps_its_mode(proj: Path) -> None:
    shared = proj / "shared" / "labels.json"
    shared.parent.mkdir()
    shared.write_text(json.dumps({"contract_version": "1", "description": "shared labels", "calibration": []}))
    shared.chmod(0o640)
    (proj / "mutation").mkdir()
    link = proj / "mutation" / "calibration-set.json"
    link.symlink_to(Path("..") / "shared" / "labels.json")
    term = Terminal(proj)
    term.answer("[g]enuine / [e]quivalent / [s]kip / [q]uit? ", "g")
    term.answer("rationale (optional, Enter for none): ", "")
    term.wait_for("labelled genuine")
    term.answer("[q]uit? ", "q")
    assert term.finish() == 0
    assert link.is_symlink() and link.resolve() == shared.resolve()  # the link is kept, its target updated
    assert [e["ground_truth"] for e in json.loads(shared.read_text())["calibration"]] == ["genuine"]
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640

    link.unlink()  # a new set: a new file's mode, not a temporary file's 0600
    term = Terminal(proj)
    term.answer("[g]enuine / [e]quivalent / [s]kip / [q]uit? ", "e")
    term.answer("rationale (optional, Enter for none): ", "")
    term.wait_for("labelled equivalent")
    term.answer("[q]uit? ", "q")
    assert term.finish() == 0
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(link.stat().st_mode) == 0o666 & ~umask


def test_a_set_over_the_value_limit_is_said_to_be_too_large_and_left_as_it_is(proj: Path) -> None:
    (proj / "mutation").mkdir()
    path = proj / "mutation" / "calibration-set.json"
    text = json.dumps({"contract_version": "1", "description": "d", "calibration": [{"notes": [0] * 1_000_001}]})
    path.write_text(text)
    term = Terminal(proj)
    shown = term.wait_for("nothing was written")
    assert term.finish() == 2
    assert "the calibration set is too large: it holds more than 1000000 values" in shown and "size limit" in shown
    assert "not valid JSON" not in shown and path.read_text() == text


_VERDICT = {"contract_version": "1", "calibration": {"precision": None, "recall": None},
            "verdicts": [{"id": 1, "classification": "genuine", "confidence": 0.9, "justification": "j"}]}


@pytest.mark.parametrize(("change", "key", "where"), [
    ({"contract_version": "2"}, "invalid:literal_error", "$.contract_version"),
    ({"calibration": [{**_one_label("hand-1", 1), "id": "1"}]}, "invalid:int_type", "$.calibration[0].id"),
    ({"calibration": [_one_label("hand-1", 1), {**_one_label("hand-2", 2), "id": 1}]}, "invalid:value_error", "$"),
])  # fmt: skip
def test_a_set_the_gate_would_refuse_is_refused_with_the_gates_error_before_any_question(
    proj: Path, change: dict[str, Any], key: str, where: str
) -> None:
    """Labels appended to a set `launcher mutation gate` refuses would be lost with it: `label`
    reads the set as the gate does and refuses it with the gate's own error (what, where, how to
    fix), exit 2, before any question; the file is left byte for byte."""
    (proj / "mutation").mkdir()
    path = proj / "mutation" / "calibration-set.json"
    text = json.dumps({"contract_version": "1", "description": "by hand", "calibration": [_one_label("hand-1", 1)],
                       **change}, indent=1) + "\n"  # fmt: skip
    path.write_text(text)
    verdict = proj / "verdict.json"
    verdict.write_text(json.dumps(_VERDICT))
    gate = subprocess.run([sys.executable, "-m", "launcher", "mutation", "gate", "--verdict", str(verdict),
                           "--calibration", str(path), "--json"], cwd=proj, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert gate.returncode == 2, gate.stdout + gate.stderr
    refused = json.loads(gate.stdout)
    assert refused["error_key"] == key and f"{path} {where}: " in refused["observations"], refused
    term = Terminal(proj)
    shown = term.wait_for("nothing was asked nor written")
    assert term.finish() == 2
    assert "[g]enuine" not in shown and "internal error" not in shown
    assert refused["observations"] in shown.replace("\r\n", "\n"), shown
    assert refused["usage"] in shown.replace("\r\n", "\n"), shown
    assert path.read_text() == text
