"""An agent that stages content into the main checkout's index (`GIT_INDEX_FILE=<common>/index
git update-index --cacheinfo`, the work-tree file untouched) fails, the entry is put back, and the
run never tells the user to commit it; the user's own staged work is left as it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli

STAGE_INTO_MAIN = """
echo new > b.txt
common=$(git rev-parse --git-common-dir)
blob=$(echo "evil a" | git hash-object -w --stdin)
GIT_INDEX_FILE="$common/index" git update-index --cacheinfo 100644,$blob,app.py
"""
CONTRACT = """python3 - <<'PY'
import json, os
json.dump({"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
  "summary": "did it", "files_changed": ["b.txt"], "tests_added": [], "decisions": [],
  "blockers": [], "llm_observations": "a test agent"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
PY
"""


def _commit_agent(repo: Path, agent: str) -> None:
    (repo / "agent.sh").write_text(agent + CONTRACT)
    (repo / "plan.toml").write_text('[agents.sh]\nadapter = "command"\ncommand = ["bash", "agent.sh"]\n'
                                    '[[task]]\nid = "t1"\nagent = "sh"\nprompt = "x"\n')
    git(repo, "add", "agent.sh", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "agent")


def _run(repo: Path) -> tuple[int, dict[str, Any]]:
    done = launcher_cli(repo, "run", "plan.toml", "--quiet", "--json")
    report = json.loads(done.stdout)
    return done.returncode, report


def test_content_an_agent_stages_into_the_main_index_is_put_back_and_fails_it(repo: Path) -> None:
    _commit_agent(repo, STAGE_INTO_MAIN)
    rc, report = _run(repo)
    t1 = next(t for t in report["tasks"] if t["id"] == "t1")
    assert rc == 1
    assert t1["state"] == "failed", t1
    assert "staged app.py in the main checkout's git index" in t1["message"], t1["message"]
    assert git(repo, "diff", "--cached", "--name-only") == ""  # the user's index is as before
    assert "evil a" not in git(repo, "show", ":app.py")
    assert "Commit or stash" not in json.dumps(report)


def test_the_users_own_staged_change_is_not_taken_for_an_agents(repo: Path) -> None:
    _commit_agent(repo, "echo new > b.txt\n")
    (repo / "README.md").write_text("# the user's staged edit\n")
    git(repo, "add", "README.md")
    _rc, report = _run(repo)
    t1 = next(t for t in report["tasks"] if t["id"] == "t1")
    assert t1["state"] != "failed", t1
    assert git(repo, "diff", "--cached", "--name-only") == "README.md\n"
    assert git(repo, "show", ":README.md") == "# the user's staged edit\n"
