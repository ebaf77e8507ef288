"""A claim that names a changed file in another Unicode normalisation (the agent writes `café.txt`
as models do, NFC; the repository tracks it as macOS made it, NFD) is still a disagreement: git
keeps file names as bytes and a Linux file system holds both names as two files, so the launcher
does not decide they are one. But it says precisely what differs: the summary, `launcher status`
and the grader's packet spell both names by their bytes, as git does (`"caf\\303\\251.txt"`,
`"cafe\\314\\201.txt"`), and say they differ only in Unicode normalisation. Two names that print
alike are never listed on both sides with nothing to tell them apart."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from conftest import git
from helpers import launcher_cli

from launcher.gates.packet import build_packet
from launcher.gates.rubric import compose

NFC = unicodedata.normalize("NFC", "caf\u00e9.txt")
NFD = unicodedata.normalize("NFD", "caf\u00e9.txt")
NFC_BYTES, NFD_BYTES = '"caf\\303\\251.txt"', '"cafe\\314\\201.txt"'
AGENT = f"""\
import json, os
open({NFD!r}, "a").write("more\\n")
json.dump({{"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
           "summary": "edited it", "files_changed": [{NFC!r}], "tests_added": [], "decisions": [],
           "blockers": [], "llm_observations": "o"}}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
"""
PLAN = ('[agents.a]\nadapter = "command"\ncommand = ["python3", "agent.py"]\n'
        '[[task]]\nid = "t1"\nagent = "a"\nprompt = "x"\n')


def _run(root: Path) -> tuple[str, dict[str, object]]:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / NFD).write_text("x\n")
    (root / "agent.py").write_text(AGENT)
    (root / "plan.toml").write_text(PLAN)
    (root / ".gitignore").write_text(".launcher/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    done = launcher_cli(root, "run", "plan.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    (facts_file,) = (root / ".launcher" / "runs").glob("*/t1/facts.json")
    return done.stdout + done.stderr, json.loads(facts_file.read_text())


def test_the_two_spellings_are_told_apart_in_the_summary_and_in_status(tmp_path: Path) -> None:
    said, facts = _run(tmp_path / "p")
    assert (facts["claimed_not_changed"], facts["changed_not_claimed"]) == ([NFC], [NFD])  # exact, as git has them
    line = next(x for x in said.splitlines() if "contract and diff disagree" in x)
    assert f"claimed but not changed: {NFC_BYTES}; changed but not claimed: {NFD_BYTES}" in line, line
    assert f"{NFC_BYTES} (claimed, NFC) and {NFD_BYTES} (changed, NFD) differ only in Unicode normalisation" in line
    status = launcher_cli(tmp_path / "p", "status")
    assert f"claimed but not changed: {NFC_BYTES}" in status.stdout, status.stdout
    assert "differ only in Unicode normalisation" in status.stdout, status.stdout


def test_the_graders_packet_spells_both_names_by_their_bytes_and_says_why(tmp_path: Path) -> None:
    _, facts = _run(tmp_path / "p")
    packet = build_packet(task_record={"id": "t1"}, prompt="x", diff="", contract={"files_changed": [NFC]},
                          lessons=None, rubrics=compose(), facts=facts)  # fmt: skip
    assert f"- Claimed but not changed: `{NFC_BYTES}`" in packet
    assert f"- Changed but not claimed: `{NFD_BYTES}`" in packet
    assert "differ only in Unicode normalisation: git keeps file names as bytes" in packet


def test_names_that_differ_otherwise_are_listed_as_before(tmp_path: Path) -> None:
    packet = build_packet(task_record={"id": "t1"}, prompt="x", diff="", contract={}, lessons=None,
                          rubrics=compose(), facts={"claimed_not_changed": ["caf\u00e9.txt"],
                                                    "changed_not_claimed": ["cafe.txt"]})  # fmt: skip
    assert "- Claimed but not changed: `caf\u00e9.txt`" in packet and "Unicode" not in packet
