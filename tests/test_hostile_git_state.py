"""Code the launcher runs outside an agent round (a task's checks, the integration check), and
what an agent leaves in the main checkout's git dir, never survive in the user's repository:
the shared git dir and the refs are put back, and the task whose code alone did it fails.
Hostile `command` agents (bash scripts committed in the repository) against real repositories,
the launcher run as the user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import git, launcher_cli

CONTRACT = """
contract() {
  python3 - "$@" <<'PY'
import json, os, sys
json.dump({"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
  "summary": "did it", "files_changed": sys.argv[1:], "tests_added": [], "decisions": [],
  "blockers": [], "llm_observations": "hostile test agent"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
PY
}
"""

# What a task's check (or the integration check) does from its tree: a filter, an attribute
# that applies it everywhere, and a hook, all in the shared git dir.
TAMPER = """common=$(git rev-parse --git-common-dir)
git config filter.evil.smudge "sh -c 'echo SMUDGE $PWD >> {marker}; cat'"
git config filter.evil.clean "sh -c 'echo CLEAN $PWD >> {marker}; cat'"
echo '* filter=evil' >> "$common/info/attributes"
printf '#!/bin/sh\\necho HOOK >> {marker}\\n' > "$common/hooks/post-checkout"
chmod +x "$common/hooks/post-checkout"
"""


def make_repo(root: Path, agents: dict[str, str], plan: str, extra: dict[str, str] | None = None) -> Path:
    """A repository whose agent `bot` runs the committed `agents/<task_id>.sh`."""
    (root / "agents").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "u@example.com")
    git(root, "config", "user.name", "user")
    (root / "a.txt").write_text("base\n")
    (root / "launcher.toml").write_text(
        'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = ["bash", "agents/{task_id}.sh"]\n'
    )
    (root / "agents" / "contract.sh").write_text(CONTRACT)
    for task_id, script in agents.items():
        (root / "agents" / f"{task_id}.sh").write_text(". agents/contract.sh\n" + script)
    for rel, text in (extra or {}).items():
        (root / rel).write_text(text)
    (root / "plan.toml").write_text(plan)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def run(root: Path) -> tuple[int, dict[str, Any]]:
    done = launcher_cli(root, "run", "plan.toml", "--json", timeout=240)
    return done.returncode, json.loads(done.stdout)


def states(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {t["id"]: (t["state"], t["message"]) for t in report["tasks"]}


def assert_git_dir_clean(root: Path) -> None:
    config = subprocess.run(
        ["git", "config", "--get-regexp", "^filter\\."], cwd=root, capture_output=True, text=True
    ).stdout
    assert config == "", config
    assert not (root / ".git" / "hooks" / "post-checkout").exists()
    attributes = root / ".git" / "info" / "attributes"
    assert not attributes.exists() or "filter=evil" not in attributes.read_text()


# --- 01: a task's checks plant a filter, an attribute and a hook ----------------------------


def test_a_check_that_plants_a_filter_and_hook_fails_its_task_and_is_put_back(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    agent = (
        f"echo new > b.txt\ncat > check.sh <<'C'\n{TAMPER.format(marker=marker)}exit 0\nC\ncontract b.txt check.sh\n"
    )
    root = make_repo(
        tmp_path / "repo", {"t1": agent}, '[[task]]\nid = "t1"\nprompt = "x"\nchecks = ["bash check.sh"]\n'
    )
    rc, report = run(root)
    state, message = states(report)["t1"]
    assert state == "failed", message
    assert "the checks of task t1 changed the repository's shared git directory" in message, message
    assert "hooks/post-checkout added" in message and "info/attributes added" in message, message
    assert rc == 1 and report["status"] == "failed"
    assert_git_dir_clean(root)
    ran = marker.read_text() if marker.exists() else ""
    assert f"SMUDGE {root}\n" not in ran, "the launcher ran the check's filter in the main checkout"
    assert git(root, "log", "-1", "--format=%s", "main").strip() == "base"


def test_an_integration_check_that_plants_a_filter_is_put_back_and_fails_the_one_task_batch(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    agent = (
        f"cat > check.sh <<'C'\n{TAMPER.format(marker=marker)}exit 0\nC\necho new > b.txt\ncontract b.txt check.sh\n"
    )
    plan = '[run]\nintegration_check = "bash check.sh"\n[[task]]\nid = "t1"\nprompt = "x"\n'
    root = make_repo(tmp_path / "repo", {"t1": agent}, plan, {"check.sh": "exit 0\n"})
    rc, report = run(root)
    state, message = states(report)["t1"]
    assert state == "failed", message
    assert "the integration check changed the repository's shared git directory" in message, message
    assert rc == 1
    assert_git_dir_clean(root)
    ran = marker.read_text() if marker.exists() else ""
    assert f"SMUDGE {root}\n" not in ran, "the launcher ran the check's filter in the main checkout"


# --- 02: a task's checks move and delete refs -------------------------------------------------


def test_refs_moved_by_a_check_are_put_back_kept_and_fail_the_task(tmp_path: Path) -> None:
    check = "git update-ref refs/heads/feature main~1\ngit update-ref refs/heads/main main~1\ngit tag -d v1\nexit 0\n"
    agent = f"echo new > b.txt\ncat > check.sh <<'C'\n{check}C\ncontract b.txt check.sh\n"
    root = make_repo(
        tmp_path / "repo", {"t1": agent}, '[[task]]\nid = "t1"\nprompt = "x"\nchecks = ["bash check.sh"]\n'
    )
    (root / "c.txt").write_text("second\n")
    git(root, "add", "c.txt")
    git(root, "commit", "-qm", "second")
    git(root, "tag", "v1")
    git(root, "branch", "feature")
    before = {ref: git(root, "rev-parse", ref).strip() for ref in ("main", "feature", "v1")}
    rc, report = run(root)
    state, message = states(report)["t1"]
    assert state == "failed", message
    assert "the checks of task t1 moved refs of the shared repository" in message, message
    assert rc == 1 and report["status"] == "failed"
    assert "main was not moved" not in json.dumps(report)
    assert {ref: git(root, "rev-parse", ref).strip() for ref in before} == before
    kept = git(root, "for-each-ref", "--format=%(refname)", f"refs/launcher/{report['run_id']}/t1/moved/")
    assert "moved/heads/main" in kept and "moved/heads/feature" in kept, kept
    assert git(root, "status", "--porcelain") == ""


# --- 05, 10, 09: an agent leaves the main checkout mid-operation, or cuts its history ---------

# An unreviewed commit of the agent's (tree: EVIL.txt) on top of main, for the fakes below.
EVIL_COMMIT = """common=$(git rev-parse --git-common-dir)
tree=$(printf '100644 blob %s\\tEVIL.txt\\n' "$(echo evil | git hash-object -w --stdin)" | git mktree)
evil=$(git commit-tree -p main -m "unreviewed agent commit" "$tree")
"""
MERGE_HEAD = (
    EVIL_COMMIT
    + """echo "$evil" > "$common/MERGE_HEAD"
echo "Merge evil" > "$common/MERGE_MSG"
: > "$common/MERGE_MODE"
"""
)
REBASE_MERGE = (
    EVIL_COMMIT
    + """mkdir -p "$common/rebase-merge"
echo refs/heads/main > "$common/rebase-merge/head-name"
echo "$evil" > "$common/rebase-merge/orig-head"
git rev-parse main > "$common/rebase-merge/onto"
: > "$common/rebase-merge/interactive"
: > "$common/rebase-merge/git-rebase-todo"
echo 1 > "$common/rebase-merge/msgnum"; echo 1 > "$common/rebase-merge/end"
"""
)
SHALLOW = """git rev-parse main > "$(git rev-parse --git-common-dir)/shallow"
"""


@pytest.mark.parametrize(
    ("script", "said", "left"),
    [
        (MERGE_HEAD, "MERGE_HEAD added", "MERGE_HEAD"),
        (REBASE_MERGE, "rebase-merge/ added", "rebase-merge"),
        (SHALLOW, "shallow added", "shallow"),
    ],
    ids=["merge-head", "fake-rebase", "shallow"],
)
def test_an_agent_leaving_the_main_checkout_mid_operation_or_shallow_fails_and_is_put_back(
    tmp_path: Path, script: str, said: str, left: str
) -> None:
    agent = script + "echo new > b.txt\ncontract b.txt\n"
    root = make_repo(tmp_path / "repo", {"t1": agent}, '[[task]]\nid = "t1"\nprompt = "x"\n')
    for n in (1, 2):  # some history a `shallow` file would hide
        (root / "a.txt").write_text(f"history {n}\n")
        git(root, "commit", "-qam", f"user history {n}")
    commits = git(root, "rev-list", "--count", "main").strip()
    rc, report = run(root)
    state, message = states(report)["t1"]
    assert state == "failed", message
    assert f"the agent of task t1 changed the repository's shared git directory ({said}" in message, message
    assert rc == 1 and report["status"] == "failed"
    assert not (root / ".git" / left).exists()
    status = git(root, "status")
    assert "merging" not in status and "rebase" not in status, status
    assert "being rebased" not in json.dumps(report)
    assert git(root, "rev-list", "--count", "main").strip() == commits
    (root / "c.txt").write_text("the user's next commit\n")
    git(root, "add", "c.txt")
    git(root, "commit", "-qm", "user's next commit")
    assert "unreviewed agent commit" not in git(root, "log", "--format=%s", "main")


# --- 08: a daemon with a cleared environment escapes its group -----------------------------


def test_a_setsid_daemon_with_a_cleared_environment_is_killed_and_another_tasks_work_is_not(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "daemon.pid"
    daemon = tmp_path / "daemon.sh"  # $1: the shared git dir
    daemon.write_text(
        f"echo $$ > {pidfile}\nsleep 2\n"
        'printf \'#!/bin/sh\\necho HOOK\\n\' > "$1/hooks/post-merge"; chmod +x "$1/hooks/post-merge"\n'
        "exec sleep 60\n"
    )
    t1 = (
        'common=$(cd "$(git rev-parse --git-common-dir)" && pwd)\n'
        f'setsid env -i PATH=/usr/bin:/bin /bin/sh {daemon} "$common" </dev/null >/dev/null 2>&1 &\n'
        "echo new > b.txt\ncontract b.txt\n"
    )
    # t2's agent outlives t1's round; a child of its own it orphans stays in its process group
    # (re-parented to the launcher meanwhile) and finishes its work.
    t2 = (
        "bash -c '( sleep 3; echo late > t2.txt ) & exit'\nwhile [ ! -f t2.txt ]; do sleep 0.1; done\ncontract t2.txt\n"
    )
    plan = '[run]\nmax_parallel = 2\n[[task]]\nid = "t1"\nprompt = "x"\n[[task]]\nid = "t2"\nprompt = "y"\n'
    root = make_repo(tmp_path / "repo", {"t1": t1, "t2": t2}, plan)
    try:
        rc, report = run(root)
        assert pidfile.exists()
        pid = int(pidfile.read_text())
        alive = Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
        assert not alive, f"the agent's setsid daemon {pid} outlived the run"
        time.sleep(2.5)  # when it would have planted its hook
        assert not (root / ".git" / "hooks" / "post-merge").exists()
        assert rc == 0, report
        assert {t: s for t, (s, _m) in states(report).items()} == {"t1": "merged", "t2": "merged"}
        assert git(root, "show", "main:t2.txt") == "late\n"
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
