"""The grading packet is bounded whatever the number of changed files.

A codemod of 5,000 files made a 1.5 MB packet: the diff kept its 200,000-character budget, but
the note on what it left out named every omitted path, the contract was pasted whole (5,000
claimed paths) and the facts listed every file twice; the rubrics and the verdict contract the
grader must answer with sat past line 20,000. Now each long list shows its first 50 items, how
many there are and how they spread over folders, and says where the whole is; a list of the
sections with their line numbers follows the title."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import git

from launcher.gates.packet import DIFF_BUDGET, build_packet
from launcher.gates.packet_bounds import LIST_SHOWN, folder_counts
from launcher.gates.rubric import compose

START, HEAD = "a" * 40, "b" * 40


def _codemod_packet(count: int, tmp_path: Path) -> str:
    files = [f"services/svc{i % 20:02d}/pkg{i // 20 % 15:02d}/mod/file_{i:05d}.py" for i in range(count)]
    diff = "".join(f"diff --git a/{f} b/{f}\n--- a/{f}\n+++ b/{f}\n@@ -1,2 +1,2 @@\n def f(x):\n"
                   f"-    return x + 1\n+    return (x) + 1\n" for f in files)
    facts = {"files_changed": files, "claimed_files": files, "claimed_not_changed": [],
             "changed_not_claimed": [], "checks": [], "start_sha": START, "head_sha": HEAD}
    return build_packet(
        task_record={"task_id": "codemod", "start_sha": START, "head_sha": HEAD}, prompt="wrap returns",
        diff=diff, contract={"task_id": "codemod", "status": "done", "files_changed": files,
                             "llm_observations": "x" * 50_000},
        lessons=None, rubrics=compose(role="backend"), facts=facts, artifacts=tmp_path / "artifacts")


def test_a_5000_file_codemod_makes_a_packet_of_about_the_diff_budget(tmp_path: Path) -> None:
    packet = _codemod_packet(5000, tmp_path)
    assert len(packet) < DIFF_BUDGET + 60_000  # was 1.5 MB
    # every section is there, the verdict contract last
    for title in ("# 6. Rubrics", "# 7. Launcher facts", "# 8. Verdict contract"):
        assert packet.count(f"\n{title}") == 1


def test_what_the_diff_leaves_out_is_counted_by_folder_and_the_whole_diff_is_named(tmp_path: Path) -> None:
    packet = _codemod_packet(5000, tmp_path)
    note = next(line for line in packet.splitlines() if "more file(s) not shown" in line)
    assert len(note) < 8_000
    assert re.search(r"and [\d,]+ more \(by folder: `services/svc\d\d/` \d+", note)
    assert f"The whole diff: `git diff {START} {HEAD}` in your working directory" in packet
    assert str(tmp_path / "artifacts" / "diff.patch") in packet


def test_the_contract_and_the_facts_show_the_first_paths_and_say_what_was_cut(tmp_path: Path) -> None:
    packet = _codemod_packet(5000, tmp_path)
    contract = packet.split("\n# 4. Completion contract\n", 1)[1].split("\n# 5. LESSONS.md\n", 1)[0]
    assert (f"`files_changed`: the first {LIST_SHOWN} of 5,000 items; `llm_observations`: the first 20,000 "
            "of 50,000 characters") in contract
    assert str(tmp_path / "artifacts" / "contract.json") in contract
    facts = packet.split("\n# 7. Launcher facts", 1)[1].split("\n# 8. Verdict contract\n", 1)[0]
    really = next(line for line in facts.splitlines() if line.startswith("- Files really changed (git): "))
    assert f"and {5000 - LIST_SHOWN:,} more (5,000 in all; by folder: `services/svc00/` 250" in really
    shown = json.loads(re.search(r"```json\n(.*?)\n```", facts, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert len(shown["files_changed"]) == LIST_SHOWN
    assert shown["lists_cut"] == {"files_changed": 5000, "claimed_files": 5000}
    assert f"`git diff --name-only {START} {HEAD}` in your working directory" in facts


def test_the_sections_are_listed_with_their_line_numbers_after_the_title(tmp_path: Path) -> None:
    packet = _codemod_packet(5000, tmp_path)
    lines = packet.split("\n")
    listed = re.findall(r"^- (\d\. .*): line (\d+)$", packet, re.MULTILINE)
    assert [title[:2] for title, _ in listed] == [f"{n}." for n in range(1, 9)]
    for title, line in listed:
        assert lines[int(line) - 1] == f"# {title}"
    assert "- 8. Verdict contract: line" in "\n".join(lines[:20])  # found from the top, in its first lines


def test_folders_are_counted_at_the_deepest_level_that_names_twenty_or_fewer() -> None:
    paths = [f"a/b{i % 5}/c{i % 50}/f{i}.py" for i in range(1000)] + ["top.txt"]
    counts, more = folder_counts(paths)
    assert counts[0] == ("a/b0/", 200) and len(counts) == 6 and more == 0  # 5 folders and the top level
    assert ("(top level)", 1) in counts
    many, more = folder_counts([f"d{i}/x" for i in range(30)])
    assert len(many) == 20 and more == 10


def test_the_scripted_grader_sees_every_changed_file_when_the_packet_shows_the_first_ones(
        repo: Path, tmp_path: Path) -> None:
    # 300 source files and one test file sorted last: the facts list shows the first 50; the
    # grader asks git for the whole list in its working directory and finds the test.
    from helpers import run_plan

    script = [{"write": f"src/mod_{i:03d}.py", "content": f"x = {i}\n"} for i in range(300)]
    script.append({"write": "zz/tests/test_all.py", "content": "def test_x():\n    assert True\n"})
    report = run_plan(repo, [{"id": "wide", "script": script}], merge=False, grader="scripted-grader",
                      iteration_cap=1, on_cap="defer")
    [task] = report.tasks
    packet = (Path(report.artifacts) / "wide" / "grading" / "1-packet.md").read_text()
    assert '"lists_cut": {' in packet and '"files_changed": 301' in packet
    assert "zz/tests/test_all.py" not in packet.split("\n# 7. Launcher facts", 1)[1].split("```json", 1)[1]
    assert task.state == "approved", task.message  # the rule saw the test file: satisfied
    assert git(repo, "status", "--porcelain") == ""
