"""What a judge scored on a calibration set can see (DESIGN 7.4: labels are stripped before the
judge sees it): a judge that looks for the answer key, in its checkout, in its git history,
behind the packet's `report` and along every path it is given, finds none, and the code the
mutants came from is where the prompt says it is. Real repositories, the real CLI, a command judge
that reports what it found."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import git, write_files
from helpers import launcher_cli

DATA = Path(__file__).resolve().parent.parent / "launcher" / "data" / "mutation"
PYTHON_SET = DATA / "python-set" / "calibration-set.json"

# A judge that hunts for labels everywhere it is pointed, writes what it found to probe.json
# beside its packet, and calls every survivor genuine.
PROBE = r'''
import json, os, pathlib, subprocess, sys
packet_path = pathlib.Path(sys.argv[1])
packet = json.loads(packet_path.read_text())
found = []
label = '"ground' + '_truth":'  # as a labelled set spells it (this file does not)
def look(path):
    try:
        if label in pathlib.Path(path).read_text(errors="replace"):
            found.append(str(path))
    except OSError:
        pass
for folder, dirs, files in os.walk("."):
    for name in files:
        look(os.path.join(folder, name))
look(packet["report"])
for name, value in os.environ.items():
    if name.startswith("LAUNCHER_") and value and os.path.isdir(value):
        for folder, dirs, files in os.walk(value):
            for name in files:
                look(os.path.join(folder, name))
for folder in {packet_path.parent, packet_path.parent.parent, pathlib.Path(packet["report"]).parent}:
    for path in folder.rglob("*"):
        if path.is_file():
            look(path)
history = subprocess.run(["git", "log", "--all", "-p"], capture_output=True, text=True).stdout
if label in history:
    found.append("git history")
targets = [s["target"] for s in packet["survivors"]]
probe = {"labels_found": found, "targets_here": sum(os.path.isfile(t) for t in targets), "targets": len(targets),
         "report_keys": sorted(json.loads(pathlib.Path(packet["report"]).read_text())), "cwd": os.getcwd(),
         "listing": sorted(os.listdir("."))}
(packet_path.parent / "probe.json").write_text(json.dumps(probe))
print(json.dumps({"contract_version": "1", "calibration": {"precision": None, "recall": None},
                  "verdicts": [{"id": s["id"], "classification": "genuine", "confidence": 0.5,
                                "justification": "probe"} for s in packet["survivors"]]}))
'''

OWN_SET = {
    "contract_version": "1",
    "description": "our labels",
    "calibration": [
        {"id": i, "fault": "comparison", "target": "calc/core.py", "line": 2, "rationale": "r",
         "orig": "    return age >= 18", "mut": f"    return age {op} 18", "status": "SURVIVED",
         "ground_truth": truth, "label_rationale": f"secret rationale {i}", "labelled_by": "Ada <ada@example.com>"}
        for i, (op, truth) in enumerate([(">", "genuine"), ("<=", "genuine"), ("!=", "genuine"),
                                         ("==", "equivalent")], 1)
    ],
}  # fmt: skip


def project(root: Path, *, own_set: bool) -> Path:
    write_files(root, {
        "pyproject.toml": '[project]\nname = "calc"\n',
        "calc/__init__.py": "",
        "calc/core.py": "def is_adult(age):\n    return age >= 18\n",
        "tools/judge.py": PROBE,
        "launcher.toml": f'[agents.probe]\nadapter = "command"\n'
                         f'command = {json.dumps([sys.executable, "tools/judge.py", "{packet}"])}\n',
    })  # fmt: skip
    if own_set:
        write_files(root, {"mutation/calibration-set.json": json.dumps(OWN_SET, indent=1)})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "committed labels, as `launcher init` + `git add -A` leads to")
    return root


def probe(root: Path) -> dict[str, object]:
    out = next((root / ".launcher" / "calibration").iterdir())
    result: dict[str, object] = json.loads((out / "judge" / "probe.json").read_text())
    return result


def test_the_judge_finds_no_label_of_the_repositorys_committed_set(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", own_set=True)
    done = launcher_cli(root, "mutation", "judge", "--calibrate", "--agent", "probe", "--confirm-judge",
                        env={"XDG_CACHE_HOME": str(tmp_path / "cache")})  # fmt: skip
    assert "the repository's own labels" in done.stdout, done.stdout + done.stderr
    seen = probe(root)
    assert seen["labels_found"] == [], seen
    # the packet's report is a label-free copy: only what a survivor record has
    assert seen["report_keys"] == ["contract_version", "description", "survivors"]
    assert seen["targets_here"] == seen["targets"] == 4  # calc/core.py is in the judge's checkout
    assert not str(seen["cwd"]).startswith(str(root))
    # the labelled file itself is untouched, and scored as before (3 genuine of 4 called genuine: 75%)
    assert json.loads((root / "mutation" / "calibration-set.json").read_text()) == OWN_SET
    assert "precision 75.0%" in done.stdout


def test_the_shipped_sets_code_is_in_the_judges_checkout_and_its_labels_are_not(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", own_set=False)
    done = launcher_cli(root, "mutation", "judge", "--calibrate", "--agent", "probe", "--confirm-judge",
                        "--batch-size", "200", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})  # fmt: skip
    assert f"judging the shipped python set (157 mutants, {PYTHON_SET})" in done.stdout, done.stdout + done.stderr
    seen = probe(root)
    assert seen["labels_found"] == [], seen
    assert seen["targets_here"] == seen["targets"] == 157  # "The code the mutants came from is checked out at"
    # the projects beside the set, not its proofs (kills/ holds a killing test per genuine label)
    assert seen["listing"] == [".git", "cachetools-8.0.1", "calc", "launcher.toml", "parse-1.22.4",
                               "pyproject.toml", "tools", "toolz-1.2.0"]
    assert not Path(str(seen["cwd"])).exists()  # the scratch is gone afterwards


def test_a_set_named_outside_the_repository_is_judged_on_the_code_beside_it(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", own_set=False)
    elsewhere = tmp_path / "labels"
    shutil.copytree(PYTHON_SET.parent, elsewhere)
    done = launcher_cli(root, "mutation", "judge", "--calibrate", "--agent", "probe", "--confirm-judge",
                        "--calibration", str(elsewhere / "calibration-set.json"), "--batch-size", "200",
                        env={"XDG_CACHE_HOME": str(tmp_path / "cache")})  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    seen = probe(root)
    assert seen["labels_found"] == [] and seen["targets_here"] == 157


def test_two_calibrations_in_one_second_each_keep_their_own_report(tmp_path: Path) -> None:
    # Their folder and judge label carry a random part: the same UTC second used to give both one
    # folder (the second's report over the first's) and one label (a judge lock kills whatever
    # carries a dead judge's label, even in another repository).
    root = project(tmp_path / "proj", own_set=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    argv = [sys.executable, "-m", "launcher", "mutation", "judge", "--calibrate", "--agent", "probe",
            "--confirm-judge"]
    runs = [subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [1, 1], outs  # 75% precision: the gate fails, as above
    reports = sorted((root / ".launcher" / "calibration").glob("*/calibration-report.json"))
    assert len(reports) == 2, [p.parent.name for p in reports]
