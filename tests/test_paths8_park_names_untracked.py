"""A landing parks when updating the main work tree would lose files of the user's, and its
message names every one of them, and each directory involved. Where a task replaces a directory
by a file or a symlink, the user's untracked files in that directory are named (git's own
refusal said only "Updating 'd2f' would lose untracked files in it", and nothing of the second
directory), as ignored files there already were; and nothing of theirs is touched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import git, launcher_cli

AGENT = r"""
import json, os, shutil, sys
tid = sys.argv[1]
if tid == "tofile":
    shutil.rmtree("d2f"); open("d2f", "w").write("file now\n")
else:
    shutil.rmtree("symdir"); os.symlink("target1.txt", "symdir")
json.dump({"contract_version": "1", "task_id": tid, "status": "done", "summary": "s",
           "files_changed": [], "tests_added": [], "decisions": [], "blockers": [],
           "llm_observations": "o"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
"""


def test_untracked_files_in_directories_a_landing_replaces_are_named_and_kept(repo: Path, tmp_path: Path) -> None:
    (repo / "d2f").mkdir()
    (repo / "d2f" / "inner.txt").write_text("i\n")
    (repo / "symdir").mkdir()
    (repo / "symdir" / "s.txt").write_text("s\n")
    (repo / "target1.txt").write_text("t\n")
    (repo / "agent.py").write_text(AGENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "dirs")
    plan = tmp_path / "plan.json"
    agent = {"adapter": "command", "command": [sys.executable, "agent.py", "{task_id}"]}
    tasks = [{"id": "tofile", "agent": "bot", "prompt": "x"}, {"id": "tolink", "agent": "bot", "prompt": "x"}]
    plan.write_text(json.dumps({"agents": {"bot": agent}, "task": tasks}))
    (repo / "d2f" / "local.txt").write_text("mine\n")  # the user's, never committed
    (repo / "symdir" / "mine.txt").write_text("mine too\n")
    head = git(repo, "rev-parse", "main")

    ran = launcher_cli(repo, "run", str(plan), "--json")

    assert ran.returncode == 4, ran.stdout + ran.stderr  # parked
    message = json.loads(ran.stdout)["message"]
    assert "untracked files of yours" in message and "d2f/local.txt, symdir/mine.txt" in message, message
    assert "the landing replaces the directories d2f by a file and symdir by a symlink" in message, message
    assert "Move d2f/local.txt, symdir/mine.txt out of the work tree, then run `git merge --ff-only" in message
    assert git(repo, "rev-parse", "main") == head
    assert (repo / "d2f" / "local.txt").read_text() == "mine\n"
    assert (repo / "symdir" / "mine.txt").read_text() == "mine too\n"
    assert git(repo, "status", "--porcelain") == "?? d2f/local.txt\n?? symdir/mine.txt\n"
