"""`launcher logs` reads the task's directory, which its agent can write (in the repository's
`.launcher/`): what it left there is read only as a regular file, never following a
link, never blocking, bounded. A FIFO or a link left as `agent.log` is said, not followed (a FIFO
would block `logs` for ever, a link to /proc/self/mem crash it); a big log is shown as its tail;
a `facts.json` that is no longer the launcher's is no check output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import launcher_cli


def _run(repo: Path, tmp_path: Path) -> tuple[str, Path]:
    """A finished run whose task `t` said hello and failed its check; (run id, its directory)."""
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "task": [
                    {
                        "id": "t",
                        "checks": ["echo the check said this; false"],
                        "script": [{"say": "hello from the agent"}, {"write": "t.txt", "content": "t"}],
                    }
                ]
            }
        )
    )
    done = launcher_cli(repo, "run", str(plan), "--json")
    run_id = json.loads(done.stdout)["run_id"]
    return run_id, repo / ".launcher" / "runs" / run_id / "t"


@pytest.mark.parametrize(("left", "kind"), [("fifo", "a FIFO"), ("mem", "a symbolic link")])
@pytest.mark.parametrize("follow", [False, True])
def test_logs_of_an_agent_log_the_agent_replaced_say_so(
    repo: Path, tmp_path: Path, left: str, kind: str, follow: bool
) -> None:
    run_id, task_dir = _run(repo, tmp_path)
    log = task_dir / "agent.log"
    log.unlink()
    if left == "fifo":
        os.mkfifo(log)
    else:
        log.symlink_to("/proc/self/mem")

    shown = launcher_cli(repo, "logs", run_id, "t", *(["-f"] if follow else []), timeout=30)

    assert shown.returncode == 1
    assert f"agent.log: cannot show it: not a regular file ({kind})" in shown.stderr
    assert f"`launcher diff {run_id} t`" in shown.stderr
    assert "Traceback" not in shown.stderr and "internal error" not in shown.stderr


def test_a_big_agent_log_is_shown_as_its_tail(repo: Path, tmp_path: Path) -> None:
    run_id, task_dir = _run(repo, tmp_path)
    (task_dir / "agent.log").write_bytes(b"x" * (5 << 20) + b"\nTHE END\n")

    shown = launcher_cli(repo, "logs", run_id, "t")

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("[launcher: the first ")
    assert "bytes of" in shown.stdout.splitlines()[0] and "are not shown" in shown.stdout.splitlines()[0]
    assert "THE END" in shown.stdout and len(shown.stdout) < (4 << 20) + 1000


def test_check_output_is_read_only_from_the_launcher_s_own_facts(repo: Path, tmp_path: Path) -> None:
    run_id, task_dir = _run(repo, tmp_path)
    assert "the check said this" in launcher_cli(repo, "logs", run_id, "t", "--checks").stdout
    (task_dir / "facts.json").unlink()
    os.mkfifo(task_dir / "facts.json")

    checks = launcher_cli(repo, "logs", run_id, "t", "--checks", timeout=30)
    shown = launcher_cli(repo, "logs", run_id, "t", timeout=30)

    assert checks.returncode == 0 and "task t ran no checks" in checks.stdout
    assert shown.returncode == 0 and "hello from the agent" in shown.stdout


@pytest.mark.parametrize("follow", [False, True])
def test_logs_prints_the_agent_log_then_the_checks_output_followed_or_not(
    repo: Path, tmp_path: Path, follow: bool
) -> None:
    run_id, _ = _run(repo, tmp_path)

    shown = launcher_cli(repo, "logs", run_id, "t", *(["-f"] if follow else []), timeout=30)

    assert shown.returncode == 0, shown.stderr
    assert "hello from the agent" in shown.stdout
    assert "--- check: echo the check said this; false  (FAILED, exit 1)" in shown.stdout
    assert shown.stdout.index("hello from the agent") < shown.stdout.index("the check said this")


def test_land_or_resume_of_a_mistyped_run_id_is_refused_not_the_latest_run(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "t", "script": [{"write": "t.txt", "content": "t"}]}]}))
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--json").returncode == 0
    before = (repo / ".git" / "refs" / "heads" / "main").read_text()

    for command in ("land", "resume"):
        refused = launcher_cli(repo, command, "r-typo", "--json", timeout=60)

        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        assert json.loads(refused.stdout)["error_key"] == "run_not_found"
        assert "no run 'r-typo'" in refused.stderr
    assert (repo / ".git" / "refs" / "heads" / "main").read_text() == before  # nothing landed
    assert not (repo / "t.txt").exists()
