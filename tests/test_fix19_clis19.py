"""What the agent CLIs and the graders really print, read right (review19, clis19).

- A grader whose prose gives a draft verdict and then its corrected verdict as broken JSON (a
  trailing comma, or cut off by an output limit) is not approved on the draft: the last word is
  `invalid_json` (another attempt, then an escalation), never the "satisfied" draft before it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
from helpers import task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport


def command_graded(repo: Path, tmp_path: Path, grader_source: str, tasks: list[dict[str, Any]],
                   **run: Any) -> RunReport:
    script = tmp_path / "grader.py"
    script.write_text(grader_source)
    plan = validate_plan({"run": {"grader": "g", **run},
                          "agents": {"g": {"adapter": "command",
                                           "command": [sys.executable, str(script), "{packet}"]}},
                          "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)


# A grader that thinks aloud: a draft that passes every criterion of its packet, then "wait", and
# its corrected verdict failing C1, with a trailing comma (CUT: cut off mid-answer instead).
SECOND_THOUGHTS = r"""
import json, re, sys
ids = re.findall(r"^### ([A-Za-z][A-Za-z0-9_-]*)\. ", open(sys.argv[1]).read(), re.M)
def verdict(word, failing):
    return json.dumps({"verdict": word, "criterion_results": [
        {"criterion": c, "pass": c not in failing, "justification": "looked"} for c in ids],
        "required_fixes": [f"add the missing test ({c})" for c in failing], "iteration": 1,
        "rubric_version": "default@1"}, indent=1)
corrected = verdict("needs_revision", {"C1"})
corrected = corrected[:200] if CUT else corrected[:-1].rstrip() + ",\n}"
print("Draft verdict:\n```json\n" + verdict("satisfied", set()) + "\n```\n"
      "Wait: re-reading the diff, C1 is not met. Corrected verdict:\n```json\n" + corrected)
"""


def test_a_graders_corrected_verdict_that_is_broken_json_is_never_read_as_its_draft(
    repo: Path, tmp_path: Path
) -> None:
    for cut in (False, True):
        report = command_graded(repo, tmp_path, SECOND_THOUGHTS.replace("CUT", str(cut)),
                                [{"id": f"t{int(cut)}", "script": [{"write": f"t{int(cut)}.txt", "content": "x"}]}])
        graded = task(report, f"t{int(cut)}")
        assert graded.state == "escalated", (cut, graded.state, graded.message)
        assert "invalid_json" in graded.message, graded.message
