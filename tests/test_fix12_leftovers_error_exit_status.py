"""A run stopped by an error (here: the disk full while the landing writes its commit, exit 3)
is `interrupted` (its state saved, `launcher resume` continues it), and what is recorded agrees
with what the command said: `launcher status --exit-status` exits with the command's own code
(3), not 130, which says Ctrl-C or a signal stopped it; the message says it was an error, which
one, and how to go on. Once resumed to its end, the run's code is its outcome's again."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, git_on_path, launcher_cli

ENOSPC_LINE = "fatal: unable to write loose object file: No space left on device"


def _full_disk_for(tmp_path: Path, subcommand: str, flag: Path) -> dict[str, str]:
    """git fails `git SUBCOMMAND` as on a full disk while `flag` exists."""
    return git_on_path(tmp_path, f'if [ -e {flag} ]; then case " $* " in *" {subcommand} "*)\n'
                                 f'  echo "{ENOSPC_LINE}" >&2; exit 128;;\n'
                                 "esac; fi")


def _plan(repo: Path) -> None:
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", "echo hi > small.txt", "{prompt}"]\n'
        '[[task]]\nid = "t1"\nagent = "sh"\nprompt = "x"\n'
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def _status(repo: Path) -> dict[str, object]:
    done = launcher_cli(repo, "status", "--json")
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_a_run_stopped_by_an_error_while_landing_exits_status_with_the_errors_code(
    repo: Path, tmp_path: Path
) -> None:
    _plan(repo)
    full = tmp_path / "disk-is-full"
    full.touch()
    env = _full_disk_for(tmp_path, "commit-tree", full)
    stopped = launcher_cli(repo, "run", "plan.toml", "--quiet", env=env)
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr

    report = _status(repo)
    assert report["status"] == "interrupted"  # resumable: the agent's work is kept
    assert report["error_exit_code"] == 3
    assert str(report["message"]).startswith("stopped by an error (exit 3): ")
    assert "No space left on device" in str(report["message"])
    assert "launcher resume" in str(report["message"])
    assert launcher_cli(repo, "status", "--exit-status").returncode == 3

    full.unlink()  # space freed
    resumed = launcher_cli(repo, "resume", "--quiet", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _status(repo)["error_exit_code"] is None
    assert launcher_cli(repo, "status", "--exit-status").returncode == 0


def test_launcher_land_stopped_by_an_error_is_recorded_with_its_code(repo: Path, tmp_path: Path) -> None:
    _plan(repo)
    ran = launcher_cli(repo, "run", "plan.toml", "--quiet", "--no-merge")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    full = tmp_path / "disk-is-full"
    full.touch()
    refused = launcher_cli(repo, "land", "--quiet", env=_full_disk_for(tmp_path, "commit-tree", full))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    status = launcher_cli(repo, "status", "--exit-status")
    assert status.returncode == 3, status.stdout + status.stderr
    assert "stopped by an error (exit 3)" in status.stdout
