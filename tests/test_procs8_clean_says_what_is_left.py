"""`launcher clean` never reports a worktree removed that it could not delete (a file its agent
made immutable, a directory it made read-only): it says what is left, where, and how to remove
it, and a later `launcher clean` still finds it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import launcher_cli

# What the agent leaves: a file root cannot delete (`chattr +i`), or for another user a
# directory it cannot write to; then its work and its contract.
_STUCK = (
    "mkdir -p ro && echo x > ro/f && { if [ $(id -u) = 0 ]; then chattr +i ro/f; else chmod 555 ro; fi; } && "
    "echo y > work.txt && printf '%s' "
    '\'{"contract_version":"1","task_id":"stuck","status":"done","summary":"did it","files_changed":["work.txt"],'
    '"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"-"}\' > "$LAUNCHER_CONTRACT"'
)


@pytest.fixture
def undeletable(tmp_path: Path) -> Iterator[Path]:
    """Where the worktrees go; whatever is left undeletable there is made deletable again after."""
    root = tmp_path / "wt"
    yield root
    subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True, check=False)
    subprocess.run(["chmod", "-R", "u+w", str(root)], capture_output=True, check=False)


def test_clean_says_which_worktree_it_could_not_remove_and_finds_it_again(
    repo: Path, tmp_path: Path, undeletable: Path
) -> None:
    (repo / "launcher.toml").write_text(f'worktree_root = "{undeletable}"\n')
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", _STUCK]}},
        "task": [{"id": "stuck", "agent": "sh", "prompt": "x"}],
    }))  # fmt: skip
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    tree = undeletable / run_id / "stuck"
    if os.access(tree / "ro", os.W_OK) and os.geteuid() != 0:
        pytest.skip("this user can delete a read-only directory's files")

    cleaned = launcher_cli(repo, "clean", "--all", "--force")
    assert tree.exists()  # it could not be deleted...
    assert f"worktree {tree}\n" not in cleaned.stdout  # ...and is not said to be
    assert f"kept {tree}: could not remove it ({tree}/ro" in cleaned.stdout, cleaned.stdout
    assert f"`chattr -R -i {tree}`" in cleaned.stdout and f"`rm -rf {tree}`" in cleaned.stdout
    assert "kept 1" in cleaned.stdout.splitlines()[-1]

    again = launcher_cli(repo, "clean", "--all", "--force")  # still found, still said
    assert f"kept {tree}: could not remove it" in again.stdout, again.stdout

    subprocess.run(["chattr", "-R", "-i", str(tree)], capture_output=True, check=False)
    subprocess.run(["chmod", "-R", "u+w", str(tree)], capture_output=True, check=False)
    last = launcher_cli(repo, "clean", "--all", "--force")
    assert not tree.exists() and "could not remove" not in last.stdout, last.stdout


def test_landing_says_which_merged_worktree_it_could_not_remove(repo: Path, tmp_path: Path, undeletable: Path) -> None:
    """The landing's clean-up of a merged task: its work is on the target, its directory could
    not be deleted, and the run's notes say so (with how to remove it) instead of nothing."""
    (repo / "launcher.toml").write_text(f'worktree_root = "{undeletable}"\n')
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", _STUCK]}},
        "task": [{"id": "stuck", "agent": "sh", "prompt": "x"}],
    }))  # fmt: skip
    done = launcher_cli(repo, "run", str(plan), "--json")
    report = json.loads(done.stdout)
    run_id = report["run_id"]
    tree = undeletable / run_id / "stuck"
    if not tree.exists():
        pytest.skip("this user could delete the agent's read-only files")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [t["merged"] for t in report["tasks"]] == [True]
    notes = [n["message"] for n in report["notes"]]
    assert any(n.startswith(f"kept {tree}: could not remove it") and f"`rm -rf {tree}`" in n for n in notes), notes
