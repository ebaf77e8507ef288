"""`launcher workflow start NAME --no-run --detach` is refused before anything is created (exit 2):
--no-run only creates the workflow, --detach runs its first phase in the background; given both,
--no-run was ignored and the phase's agents ran and landed on the target."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli


def test_no_run_with_detach_is_refused_and_nothing_is_created(repo: Path) -> None:
    (repo / "launcher.toml").write_text('[roles]\ndefault = "scripted"\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "cfg")
    head = git(repo, "rev-parse", "main")

    done = launcher_cli(repo, "workflow", "start", "feature-development", "--param", "feature=x",
                        "--no-run", "--detach", "--json")

    assert done.returncode == 2, done.stdout + done.stderr
    assert json.loads(done.stdout)["error_key"] == "usage:no_run_detach"
    assert "--no-run and --detach exclude each other" in done.stderr
    listed = launcher_cli(repo, "workflow", "list", "--json")
    assert json.loads(listed.stdout) in ([], {}), listed.stdout  # no workflow was created
    assert launcher_cli(repo, "runs", "--json").stdout.strip() == "[]"  # no phase ran
    assert git(repo, "rev-parse", "main") == head
