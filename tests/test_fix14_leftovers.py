"""Holes left open by the fourteenth review.

- `launcher logs -f` masks what the run passes (`env`, `check_env`) in the log as it grows: a
  value the agent wrote in two pieces, read in two polls, is masked whole (the end a value may be
  starting in is held back until the next read or the end); and the follow ends with a last read,
  so what the agent wrote between the last poll and the task's end is shown too.
- The integration check's output is masked before its tail is cut: a value across the tail's
  edge never shows its end.
- A stopped `launcher run --json` whose stdout's reader reads nothing (a full pipe) still ends:
  its interrupted report and the last flush of stdout are given a bounded wait, then dropped.
- `launcher workflow workflows` lists the shipped workflows outside a git repository too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from launcher.app import inspect as inspect_app
from launcher.git.integration_check import run_integration_check
from launcher.git.repo import GitRepo
from launcher.models.redact import StreamMask, mask
from tests.helpers import full_pipe, git, launcher_cli, sigterm_once_agent_runs

SECRET = "db-pass-FAKE-7a1c93"
MARK = "***(DB_PASSWORD)"


def _env(secret: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "DB_PASSWORD"}
    if secret:
        env["DB_PASSWORD"] = SECRET
    return env


# --- logs -f: masked across reads, and a last read ------------------------------------------


def test_a_value_fed_in_pieces_is_masked_whole_wherever_it_is_split() -> None:
    secrets = {SECRET: "DB_PASSWORD", "other-value-42": "OTHER"}
    text = f"connecting with {SECRET} and other-value-42, then {SECRET}{SECRET}.\n"
    for first in range(len(text) + 1):
        for second in (first, min(first + 3, len(text)), len(text)):
            stream = StreamMask(secrets)
            shown = stream.feed(text[:first]) + stream.feed(text[first:second]) + stream.feed(text[second:])
            shown += stream.end()
            assert shown == mask(text, secrets), (first, second)
    # The part that cannot hold a value's start is shown at once (only a value's length is held).
    stream = StreamMask(secrets)
    assert stream.feed("x" * 100) == "x" * (100 - len(SECRET) + 1)


def test_the_follow_reads_what_was_written_before_the_task_was_seen_ending(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_bytes(b"working\n")
    got: list[bytes] = []

    def done() -> bool:  # the agent wrote its last words after the last read, then its task ended
        with log.open("ab") as f:
            f.write(b"last words\n")
        return True

    anyio.run(inspect_app.follow, log, got.append, done)
    assert b"".join(got) == b"working\nlast words\n"


def test_logs_follow_masks_a_value_the_agent_wrote_in_two_pieces(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    agent = tmp_path / "agent.sh"
    agent.write_text("#!/bin/sh\nprintf 'key=db-pass-'\nsleep 2\nprintf 'FAKE-7a1c93 done\\n'\n"
                     "echo x >> app.py; git add -A; git commit -qm w\n")
    agent.chmod(0o755)
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[agents.bot]\nadapter = "command"\ncommand = ["{agent}"]\nenv = ["DB_PASSWORD"]\n\n'
                    '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n')
    run = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--no-merge", "--quiet"],
                           cwd=repo, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, log = time.monotonic() + 60, None
        while time.monotonic() < deadline and log is None:
            found = list((repo / ".launcher" / "runs").glob("*/t/agent.log"))
            if found and b"db-pass-" in found[0].read_bytes():
                log = found[0]
            time.sleep(0.05)
        assert log is not None, "the agent never wrote the first piece"
        # Followed from the first piece: the second comes in a later read.
        followed = subprocess.run([sys.executable, "-m", "launcher", "logs", "-f", log.parent.parent.name, "t"],
                                  cwd=repo, env=_env(), capture_output=True, text=True, timeout=90)
        assert run.wait(90) in (0, 1)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert f"key={MARK} done" in followed.stdout, followed.stdout + followed.stderr
    assert "FAKE-7a1c93" not in followed.stdout + followed.stderr


# --- the integration check: masked, then cut ---------------------------------------------------


def test_the_integration_checks_output_is_masked_before_its_tail_is_cut(repo: Path, tmp_path: Path) -> None:
    # The value ends 10 characters into the last 4000 (the tail's edge): none of it may show.
    command = f"printf '%s' \"$DB_PASSWORD\"; head -c {4000 - 10} /dev/zero | tr '\\0' x"

    async def check() -> tuple[bool, str]:
        git_repo = await GitRepo.discover(repo)
        head = (await git_repo.git("rev-parse", "HEAD")).out.strip()
        return await run_integration_check(
            git_repo, head, command, tmp_path / "wt" / "run" / "_integration" / "c", timeout=60,
            env=lambda tree: {"PATH": os.environ["PATH"], "DB_PASSWORD": SECRET},
            secrets={SECRET: "DB_PASSWORD"})

    ok, output = anyio.run(check)
    assert ok
    assert "7a1c93" not in output  # its end was shown: "AKE-7a1c93xxx..."
    assert output.endswith("x" * (4000 - 10))


# --- a stopped run whose stdout's reader reads nothing still ends ---------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="a one-page pipe (F_SETPIPE_SZ)")
def test_sigterm_ends_a_json_run_whose_stdout_reader_reads_nothing(repo: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    (repo / "plan.toml").write_text(
        '[agents.bot]\nadapter = "command"\n'
        f'command = ["sh", "-c", "echo $$ > {marks}/agent.pid; sleep 300"]\n'
        '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    r, w = full_pipe()  # `launcher run --json plan | consumer` whose consumer is stuck
    with (tmp_path / "stderr.txt").open("wb") as err:
        rc = sigterm_once_agent_runs(repo, _env(secret=False), marks / "agent.pid", stdout=w, stderr=err,
                                     read_end=r, wait_s=30)
    assert rc == 130, "the launcher stayed alive after SIGTERM, blocked writing its report to stdout"
    assert "interrupted: state saved" in (tmp_path / "stderr.txt").read_text()
    status = json.loads(launcher_cli(repo, "status", "--json").stdout)
    assert status["status"] == "interrupted"  # the journal says it, whatever became of the report


# --- workflows listed outside a repository ------------------------------------------------------


def test_the_shipped_workflows_are_listed_and_shown_outside_any_repository(tmp_path: Path, repo: Path) -> None:
    nowhere = tmp_path / "not-a-repo"
    nowhere.mkdir()
    listed = launcher_cli(nowhere, "workflow", "workflows", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert "feature-development" in names  # the shipped ones
    shown = launcher_cli(nowhere, "workflow", "workflow", "feature-development")
    assert shown.returncode == 0, shown.stderr
    assert "feature-development:" in shown.stdout
    assert not list(nowhere.iterdir())  # nothing written where there is no repository
    # Inside one, its own `workflows/` are listed with them.
    (repo / "workflows").mkdir()
    shipped = Path(inspect_app.__file__).parent.parent / "data" / "workflows" / "feature-development.toml"
    (repo / "workflows" / "mine.toml").write_text(
        shipped.read_text().replace('name = "feature-development"', 'name = "mine"', 1))
    inside = launcher_cli(repo, "workflow", "workflows", "--json")
    assert inside.returncode == 0, inside.stderr
    rows = {row["name"]: row for row in json.loads(inside.stdout)}
    assert "mine" in rows and names <= set(rows)
