"""Batches with bisection and the conflict matrix order (review19, bisect19).

- An epic's landing folds the approved work again without a member that cannot land: a task the
  queue named culprit in one of those folds, that then landed in the final fold, was still
  reported a culprit (`queue.culprits`, the summary's `culprit(s):`) and its facts.json kept the
  failing run (`launcher logs RUN TASK --checks` showed a failing integration check for merged
  work). A culprit verdict of a fold that does not land is withdrawn, as one judged while the
  target moved is.
- A task waiting for a dependency that itself waits (for a culprit sent back to its agent) was
  told its dependency was "sent back to its agent"; it names the dependency that one waits for.
- A check that failed on everything (a service it needs was down) parks the run; once the
  service is back, `launcher land` read the failures journaled by that earlier pass back for the
  batch and its first task's prefix, took them for two failing runs and sent the first task back
  to its agent as a culprit, without running the check on its tree. Failures journaled by a pass
  that found the check failing on the target itself only steer the search: the task's tree is
  checked again before it is blamed (a resumed ordinary landing still runs no tree twice).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import git
from helpers import launcher_cli, run_plan, task


def _clash_check(tmp_path: Path, *pairs: tuple[str, str]) -> str:
    """An integration check that fails when both files of a pair are in the tree (each passes alone)."""
    script = tmp_path / "clash.py"
    script.write_text(
        "import pathlib, sys\n"
        f"for a, b in {list(pairs)!r}:\n"
        "    if pathlib.Path(a).exists() and pathlib.Path(b).exists():\n"
        "        print(f'{a} and {b} clash'); sys.exit(1)\n"
        "print('ok')\n")
    return f"{sys.executable} {script}"


def test_a_task_named_culprit_in_a_fold_an_epic_threw_away_and_then_landed_is_no_culprit(
        repo: Path, tmp_path: Path) -> None:
    # Fold 1 (e1, e2, x): e1+e2 fails, e2 is the culprit; x lands on e1. The epic cannot land
    # whole: fold 2 (e2, x) without e1: e2 passes alone, e2+x fails, x is named culprit. e2 is
    # taken out too: fold 3 (x) lands x. x's culprit verdict was of a fold that never landed.
    tasks = [{"id": "e1", "epic": "login", "script": [{"write": "e1.txt", "content": "e1\n"}]},
             {"id": "e2", "epic": "login", "script": [{"write": "e2.txt", "content": "e2\n"}]},
             {"id": "x", "script": [{"write": "x.txt", "content": "x\n"}]}]

    report = run_plan(repo, tasks, iteration_cap=1,
                      integration_check=_clash_check(tmp_path, ("e1.txt", "e2.txt"), ("e2.txt", "x.txt")))

    assert task(report, "x").state == "merged" and "x.txt" in git(repo, "ls-tree", "--name-only", "main")
    assert task(report, "e2").state == "failed" and task(report, "e1").state == "skipped"
    assert report.queue.culprits == ["e2"]
    facts = json.loads((Path(report.artifacts) / "x" / "facts.json").read_text())
    assert not [c for c in facts["checks"] if "integration check on" in c["command"]], facts["checks"]
    e2_facts = json.loads((Path(report.artifacts) / "e2" / "facts.json").read_text())
    failing = [c for c in e2_facts["checks"] if "integration check on" in c["command"]]
    assert len(failing) == 1 and "e1.txt and e2.txt clash" in failing[0]["output_tail"], failing


def test_a_dependent_of_a_waiting_dependent_is_not_told_its_dependency_went_back_to_its_agent(
        repo: Path, tmp_path: Path) -> None:
    # a breaks the check: it goes back to its agent. b depends on a and waits; c depends on b and
    # waits too, but b was never sent back to its agent: c's note said it was.
    tasks = [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]},
             {"id": "b", "depends_on": ["a"], "script": [{"write": "b.txt", "content": "b\n"}]},
             {"id": "c", "depends_on": ["b"], "script": [{"write": "c.txt", "content": "c\n"}]}]

    report = run_plan(repo, tasks, iteration_cap=2, integration_check=_clash_check(tmp_path, ("a.txt", "a.txt")))

    said = {(n.task, n.message) for n in report.notes}
    assert ("b", "waits for its dependency 'a', sent back to its agent") in said, said
    assert ("c", "waits for its dependency 'b', which waits for its own dependency 'a'") in said, said
    assert not any(t == "c" and "sent back" in m for t, m in said), said


def test_failures_journaled_while_a_service_was_down_blame_no_task_once_it_is_back(
        repo: Path, tmp_path: Path) -> None:
    down = tmp_path / "database-down"
    down.write_text("")
    script = tmp_path / "needs_db.py"
    script.write_text("import pathlib, sys\n"
                      f"if pathlib.Path({str(down)!r}).exists():\n"
                      "    print('database is down'); sys.exit(1)\n"
                      "print('ok')\n")
    tasks = [{"id": name, "script": [{"write": f"{name}.txt", "content": f"{name}\n"}]} for name in "abc"]
    report = run_plan(repo, tasks, integration_check=f"{sys.executable} {script}")
    assert report.status == "parked" and report.queue.culprits == [], report.message

    down.unlink()  # the database is back
    landed = launcher_cli(repo, "land", report.run_id, "--json")

    after = json.loads(landed.stdout)
    assert [t["state"] for t in after["tasks"]] == ["merged"] * 3, after["tasks"]
    assert after["queue"]["culprits"] == [] and after["queue"]["returned"] == [], after["queue"]
    assert landed.returncode == 0, landed.stderr
    assert any("in an earlier landing pass and passes on that same tree now" in n["message"]
               for n in after["notes"]), after["notes"]
