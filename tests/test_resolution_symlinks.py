"""A symlink that both sides changed goes back to its author like any file git cannot mark: the
resolution merge replaces the link by a conflict note (the link itself, never written through),
so the agent may keep either side, its own included, with the command its feedback gives, and
the task lands with exactly that link."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import git, launcher_cli

AGENT = r"""
import json, os, re, subprocess, sys
tid = sys.argv[1]
fb = os.environ.get("LAUNCHER_FEEDBACK", "")
if fb and os.path.isfile(fb):
    text = open(fb).read()
    open(os.path.join(os.environ["OUT"], "feedback.md"), "w").write(text)
    # the link as the resolution merge left it, before anything is restored
    open(os.path.join(os.environ["OUT"], "left.txt"), "w").write(
        "link" if os.path.islink("link1") else open("link1").read())
    side = "your branch's version" if os.environ["KEEP"] == "own" else "main's version"
    for line in text.splitlines():
        found = re.search(side + r": (?:no file \()?(`+) ?(.*?) ?\1(?!`)", line)
        if line.startswith("- `link1`") and found:
            subprocess.run(["sh", "-c", found.group(2)], check=True)
else:
    os.remove("link1"); os.symlink("target-" + tid + ".txt", "link1")
    open("notes-" + tid + ".txt", "w").write(tid + "\n")
json.dump({"contract_version": "1", "task_id": tid, "status": "done", "summary": "s",
           "files_changed": ["link1", "notes-" + tid + ".txt"], "tests_added": [], "decisions": [], "blockers": [],
           "llm_observations": "o"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
"""


@pytest.mark.parametrize("keep", ["own", "main"])
def test_a_conflicted_symlink_lands_with_the_side_its_agent_keeps(repo: Path, tmp_path: Path, keep: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for name in ("target-base.txt", "target-a.txt", "target-b.txt"):
        (repo / name).write_text(f"{name}\n")
    (repo / "link1").symlink_to("target-base.txt")
    (repo / "agent.py").write_text(AGENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a link")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "run": {"max_parallel": 1, "on_conflict": "agent"},
        "agents": {"bot": {"adapter": "command", "command": [sys.executable, "agent.py", "{task_id}"],
                           "env": ["OUT", "KEEP"]}},
        "task": [{"id": "b", "agent": "bot", "prompt": "x"}, {"id": "a", "agent": "bot", "prompt": "x"}],
    }))
    env = {"OUT": str(out), "KEEP": keep}
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet", env=env).returncode == 0
    landed = launcher_cli(repo, "land", "--json", env=env)
    report = json.loads(landed.stdout)
    assert {t["id"]: t["merged"] for t in report["tasks"]} == {"a": True, "b": True}, landed.stdout
    assert landed.returncode == 0, landed.stdout
    # the agent found a conflict note where the link was, naming both sides
    left = (out / "left.txt").read_text()
    assert left.startswith("<<<<<<< launcher: unresolved merge conflict in link1 (symlink changed on both sides)")
    assert "- `link1`: symlink changed on both sides" in (out / "feedback.md").read_text()
    assert os.readlink(repo / "link1") == ("target-a.txt" if keep == "own" else "target-b.txt")
    for name in ("target-base.txt", "target-a.txt", "target-b.txt"):  # nothing written through a link
        assert (repo / name).read_text() == f"{name}\n"
    listed = subprocess.run(["git", "ls-files", "-s", "link1"], cwd=repo, capture_output=True, text=True).stdout
    assert listed.startswith("120000 ")
