"""With `core.autocrlf = true` and `core.safecrlf = true`, git refuses to stage the LF line ends
most agents write. The task fails saying so, with the setting that refuses it and the way out, and
the agent's file stays in its kept worktree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import git, launcher_cli

AGENT = """
import json, os
open("new.txt", "w").write("one\\ntwo\\n")
json.dump({"contract_version": "1", "task_id": "t1", "status": "done", "summary": "s",
           "files_changed": ["new.txt"], "tests_added": [], "decisions": [], "blockers": [],
           "llm_observations": "o"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
"""


def test_safecrlf_refusal_names_the_setting_and_keeps_the_work(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "core.autocrlf", "true")
    git(repo, "config", "core.safecrlf", "true")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "agents": {"bot": {"adapter": "command", "command": [sys.executable, "-c", AGENT]}},
        "task": [{"id": "t1", "agent": "bot", "prompt": "x"}],
    }))
    done = launcher_cli(repo, "run", str(plan), "--json", "--quiet")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    task = report["tasks"][0]
    assert task["state"] == "failed" and task["merged"] is False
    assert "LF would be replaced by CRLF in new.txt" in task["message"]
    assert "core.safecrlf=true refuses the line endings the agent wrote" in task["message"]
    assert "git config core.safecrlf warn" in task["message"]
    kept = Path(task["worktree"])
    assert (kept / "new.txt").read_bytes() == b"one\ntwo\n"
