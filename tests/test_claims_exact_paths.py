"""Claimed versus changed files are compared as git reports paths (POSIX): a backslash is a
character of a file name, never a `/`, and the changed files are reported exactly as git names
them."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

from launcher.app.run.claims import disagreements

AGENT = """\
import json, os, sys
write, claim = json.loads(sys.argv[1])
for name in write:
    open(name, "w").write("x\\n")
json.dump({"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
           "summary": "did it", "files_changed": claim, "tests_added": [], "decisions": [], "blockers": [],
           "llm_observations": "-"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
"""


def test_a_backslash_in_a_file_name_is_not_a_directory_separator(repo: Path) -> None:
    (repo / "agent.py").write_text(AGENT)
    (repo / "plan.toml").write_text(
        '[agents.py]\nadapter = "command"\ncommand = ["python3", "agent.py", "{prompt}"]\n'
        '[[task]]\nid = "wrongclaim"\nagent = "py"\nprompt = \'[["back\\\\slash"], ["back/slash"]]\'\n'
        '[[task]]\nid = "noclaim"\nagent = "py"\nprompt = \'[["other\\\\name"], []]\'\n'
        '[[task]]\nid = "rightclaim"\nagent = "py"\nprompt = \'[["right\\\\name"], ["./right\\\\name"]]\'\n'
    )
    git(repo, "add", "agent.py", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    done = launcher_cli(repo, "run", "plan.toml", "--json", "--no-merge")
    tasks = {t["id"]: t for t in json.loads(done.stdout)["tasks"]}
    wrong, unclaimed, right = tasks["wrongclaim"], tasks["noclaim"], tasks["rightclaim"]
    assert wrong["files"] == ["back\\slash"]
    assert (wrong["claimed_not_changed"], wrong["changed_not_claimed"]) == (["back/slash"], ["back\\slash"])
    assert (unclaimed["claimed_not_changed"], unclaimed["changed_not_claimed"]) == ([], ["other\\name"])
    assert (right["claimed_not_changed"], right["changed_not_claimed"]) == ([], [])


def test_a_file_name_keeps_its_spaces() -> None:
    assert disagreements([" a.py"], [" a.py", "b.py "]) == ([], ["b.py "])
    assert disagreements(["a.py"], [" a.py"]) == (["a.py"], [" a.py"])
