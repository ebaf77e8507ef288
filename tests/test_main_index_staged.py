"""An agent that stages content into the main checkout's index (`GIT_INDEX_FILE=<common>/index
git update-index --cacheinfo`, the work-tree file untouched) fails, the entry is put back, and the
run never tells the user to commit it; the user's own staged work is left as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
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


# The user's own staging while an agent runs: the agent waits for the user's git command.
WAIT_FOR_USER = """
touch "{signals}/started"
for i in $(seq 1 300); do [ -f "{signals}/go" ] && break; sleep 0.1; done
echo new > b.txt
"""


def _waiting_agent(repo: Path, tmp_path: Path) -> None:
    _commit_agent(repo, WAIT_FOR_USER.format(signals=tmp_path))


def _run_while_the_agent_waits(repo: Path, tmp_path: Path, user_step: Callable[[], None]) -> tuple[int, dict[str, Any]]:
    """Run the plan; `user_step` runs in the main checkout while t1's agent runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    time.sleep(1.2)  # the user's files were written before the run, not during its first round
    run = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml", "--quiet", "--json"],
                           cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert (tmp_path / "started").exists(), run.communicate()
    user_step()
    (tmp_path / "go").touch()
    out, _err = run.communicate(timeout=120)
    return run.returncode, json.loads(out)


def _t1(report: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in report["tasks"] if t["id"] == "t1")


def test_the_users_git_add_under_autocrlf_during_a_round_is_left_and_blames_no_one(
        repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "core.autocrlf", "true")
    (repo / ".gitattributes").write_text("*.sh text eol=lf\n*.toml text eol=lf\n")
    git(repo, "add", ".gitattributes")  # committed with the agent
    _waiting_agent(repo, tmp_path)
    (repo / "notes.txt").write_bytes(b"my notes\r\nline two\r\n")  # CRLF, as autocrlf checks out

    _rc, report = _run_while_the_agent_waits(repo, tmp_path, lambda: git(repo, "add", "notes.txt"))

    assert _t1(report)["state"] == "approved", _t1(report)["message"]  # parked for the user's staged file
    assert git(repo, "diff", "--cached", "--name-only") == "notes.txt\n"
    assert git(repo, "show", ":notes.txt") == "my notes\nline two\n"
    assert "staged" not in json.dumps(report["notes"])


def test_the_users_git_add_through_a_run_start_clean_filter_is_left(repo: Path, tmp_path: Path) -> None:
    clean = tmp_path / "fake-lfs-clean"
    clean.write_text("#!/bin/sh\ndata=$(cat); printf 'version fake-lfs\\nsize %s\\n' \"${#data}\"\n")
    clean.chmod(0o755)
    git(repo, "config", "filter.lfs.clean", str(clean))
    git(repo, "config", "filter.lfs.smudge", "cat")
    (repo / ".gitattributes").write_text("*.bin filter=lfs -text\n")
    git(repo, "add", ".gitattributes")
    _waiting_agent(repo, tmp_path)
    (repo / "asset.bin").write_text("a large asset\n" * 100)

    _rc, report = _run_while_the_agent_waits(repo, tmp_path, lambda: git(repo, "add", "asset.bin"))

    assert _t1(report)["state"] == "approved", _t1(report)["message"]
    assert git(repo, "show", ":asset.bin").startswith("version fake-lfs\n")


def test_the_users_add_n_and_rm_cached_during_a_round_are_left(repo: Path, tmp_path: Path) -> None:
    _waiting_agent(repo, tmp_path)
    (repo / "new.py").write_text("print(1)\n")

    def user_step() -> None:
        git(repo, "add", "-N", "new.py")
        git(repo, "rm", "-q", "--cached", "README.md")

    _rc, report = _run_while_the_agent_waits(repo, tmp_path, user_step)

    assert _t1(report)["state"] == "approved", _t1(report)["message"]
    assert git(repo, "diff", "--name-only") == "new.py\n"  # still intent-to-add
    assert git(repo, "ls-files", "README.md") == ""  # still untracked, its file kept
    assert (repo / "README.md").exists()


def test_a_partial_staging_is_left_and_the_park_names_it_instead_of_asking_to_commit_it(
        repo: Path, tmp_path: Path) -> None:
    _waiting_agent(repo, tmp_path)
    app = (repo / "app.py").read_text()
    (repo / "app.py").write_text("# first edit\n" + app + "\n\ndef mul(a, b):\n    return a * b\n")

    def user_step() -> None:  # `git add -p` of the first hunk only
        staged = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input="# first edit\n" + app,
                                capture_output=True, text=True, check=True).stdout.strip()
        git(repo, "update-index", "--cacheinfo", f"100644,{staged},app.py")

    _rc, report = _run_while_the_agent_waits(repo, tmp_path, user_step)

    assert _t1(report)["state"] == "approved", _t1(report)["message"]
    assert git(repo, "show", ":app.py") == "# first edit\n" + app  # left as the user staged it
    assert "git diff --cached -- app.py" in report["message"], report["message"]
    assert "Commit or stash" not in json.dumps(report)
