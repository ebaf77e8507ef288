"""git itself running out of space is a full disk, as the launcher's own writes are: exit 3, "free
space, then `launcher resume`", the run left interrupted and its work kept. Never a failed task
(the finished agent's round is committed by `resume`, not run again), never "check that the
commits exist"."""

from __future__ import annotations

import errno
import json
from pathlib import Path

from helpers import git, git_on_path, launcher_cli

from launcher import process
from launcher.errors import OutOfSpace, disk_problem
from launcher.git.full_disk import out_of_space

ENOSPC_LINE = "fatal: unable to write loose object file: No space left on device"


def _git_out_of_space(tmp_path: Path, subcommand: str, flag: Path) -> dict[str, str]:
    """PATH whose git fails `git SUBCOMMAND` as git does on a full disk while `flag` exists
    (the disk is full); once it is removed (space freed) it is the real git again."""
    return git_on_path(tmp_path, f'if [ -e {flag} ]; then case " $* " in *" {subcommand} "*)\n'
                                 f'  echo "{ENOSPC_LINE}" >&2; exit 128;;\n'
                                 "esac; fi")


def _plan(repo: Path, rounds: Path) -> None:
    """One task whose agent notes each round it runs in `rounds` (outside the repository)."""
    script = f"echo round >> {rounds}; echo hi > small.txt"
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", ' + json.dumps(script) + ', "{prompt}"]\n'
        '[[task]]\nid = "t1"\nagent = "sh"\nprompt = "x"\n'
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def test_a_full_disk_when_the_agents_work_is_committed_stops_the_run_and_resume_commits_it(
    repo: Path, tmp_path: Path,
) -> None:
    rounds, full = tmp_path / "rounds.log", tmp_path / "disk-is-full"
    _plan(repo, rounds)
    full.touch()
    env = _git_out_of_space(tmp_path, "add -A", full)
    stopped = launcher_cli(repo, "run", "plan.toml", "--quiet", env=env)
    said = stopped.stdout + stopped.stderr
    assert stopped.returncode == 3, said
    assert "No space left on device" in said and "Fix: free space on the file system holding" in said
    assert "then run `launcher resume`" in said
    status = json.loads(launcher_cli(repo, "status", "--json").stdout)
    assert status["status"] == "interrupted"
    assert [t["state"] for t in status["tasks"]] != ["failed"]
    ran = rounds.read_text()
    assert ran  # the agent had finished its round (and its corrective round: it wrote no contract)

    full.unlink()  # space freed
    resumed = launcher_cli(repo, "resume", "--quiet", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (repo / "small.txt").read_text() == "hi\n"  # the agent's work, landed
    assert rounds.read_text() == ran  # its round was not run (or paid) twice


def test_land_on_a_full_disk_says_free_space_and_lands_once_there_is_room(repo: Path, tmp_path: Path) -> None:
    _plan(repo, tmp_path / "rounds.log")
    head = git(repo, "rev-parse", "main").strip()
    ran = launcher_cli(repo, "run", "plan.toml", "--quiet", "--no-merge")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    full = tmp_path / "disk-is-full"
    full.touch()
    env = _git_out_of_space(tmp_path, "commit-tree", full)
    refused = launcher_cli(repo, "land", "--quiet", env=env)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 3, said
    assert "check that the commits exist" not in said
    assert "`git commit-tree` could not write" in said and "Fix: free space on" in said
    assert git(repo, "rev-parse", "main").strip() == head  # nothing moved

    full.unlink()
    landed = launcher_cli(repo, "land", "--quiet", env=env)
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert (repo / "small.txt").read_text() == "hi\n"


def _failed(err: str) -> process.Completed:
    return process.Completed(["git"], 128, b"", err.encode(), 0.0)


def test_git_s_words_for_no_room_are_a_disk_problem_and_other_failures_are_not(tmp_path: Path) -> None:
    for said, code, key in (
        (ENOSPC_LINE, errno.ENOSPC, "disk_full"),
        ("fatal: sha1 file '.git/index.lock' write error. Out of diskspace", errno.ENOSPC, "disk_full"),
        ("error: unable to create '.git/refs/heads/x.lock': Disk quota exceeded", errno.EDQUOT, "disk_full"),
        ("fatal: could not open '.git/objects/x' for writing: Read-only file system", errno.EROFS,
         "read_only_file_system"),
    ):
        found = out_of_space(_failed(said), ["add", "-A"], tmp_path)
        assert isinstance(found, OutOfSpace) and found.errno == code, said
        problem = disk_problem(found)
        assert problem is not None and problem.error_key == key and int(problem.exit_code) == 3
        assert said.split(": ")[-1] in problem.message and "`git add` could not write" in problem.message
    # an answer, or a failure for another reason: not the disk
    assert out_of_space(_failed(""), ["rev-parse", "--verify", "x"], tmp_path) is None
    assert out_of_space(_failed("fatal: Needed a single revision"), ["rev-parse"], tmp_path) is None
    ok = process.Completed(["git"], 0, b"", b"warning: No space left on device", 0.0)
    assert out_of_space(ok, ["status"], tmp_path) is None
