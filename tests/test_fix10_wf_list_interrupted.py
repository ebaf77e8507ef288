"""A workflow whose runner stopped in the middle of a phase (killed, Ctrl-C) is run by nothing:
`launcher workflow list` shows it as `workflow status` does, `running  (interrupted)`, with the
phase it stopped in and the command that continues it, never as plainly `running`. And a Ctrl-C
in `launcher demo --workflow` points at `launcher workflow status`, which names the phase and
the resume command. Real repositories, the real CLI."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from tests.helpers import launcher_cli, start_launcher, wait_for_file
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def test_list_shows_a_workflow_whose_runner_was_killed_mid_phase_as_interrupted_as_status_does(
        wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    started, release = tmp_path / "started", tmp_path / "release"
    wait = (f"import os, time; open({str(started)!r}, 'w').close(); "
            f"[time.sleep(0.1) for _ in range(600) if not os.path.exists({str(release)!r})]")
    wid = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [{"run": [sys.executable, "-c", wait]}]}))
    runner = start_launcher(wf_repo, "workflow", "next", wid, "--quiet")
    try:
        wait_for_file(started, runner)
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.communicate()
        release.touch()

    status = launcher_cli(wf_repo, "workflow", "status", wid)
    listed = launcher_cli(wf_repo, "workflow", "list")
    assert status.returncode == 0 and listed.returncode == 0, (status.stderr, listed.stderr)
    assert status.stdout.splitlines()[0] == f"{wid}  mini  running  (interrupted)", status.stdout
    line = listed.stdout.strip()
    assert line.startswith(wid) and "running  (interrupted)" in line, line
    assert "phase plan" in line and f"`launcher workflow resume {wid}` continues it" in line, line
    # the JSON of both says `interrupted` as its status (a client's poll ends on it), with the flag
    rows = json.loads(launcher_cli(wf_repo, "workflow", "list", "--json").stdout)
    assert [(r["id"], r["status"], r["interrupted"]) for r in rows] == [(wid, "interrupted", True)]


def test_list_of_a_workflow_paused_on_a_phase_names_that_phase_and_a_ready_one_only_its_status(
        wf_repo: Path) -> None:  # noqa: F811
    ready = _create(wf_repo, _scripts(wf_repo))
    listed = launcher_cli(wf_repo, "workflow", "list").stdout.strip()
    assert listed.split() == [ready, "mini", "ready"], listed
    nothing = _create(wf_repo, _scripts(wf_repo, **{"plan-architect": [{"run": [sys.executable, "-c", "pass"]}]}))
    launcher_cli(wf_repo, "workflow", "next", nothing, "--quiet")
    lines = launcher_cli(wf_repo, "workflow", "list").stdout.splitlines()
    paused = next(line for line in lines if line.startswith(nothing))
    assert paused.split()[2:] == ["paused", "phase", "plan"], paused


def test_ctrl_c_in_the_workflow_demo_points_at_workflow_status(tmp_path: Path) -> None:
    demo = start_launcher(tmp_path, "demo", "--workflow", "--where", "demo", "--quiet")
    deadline = time.monotonic() + 60
    while not list((tmp_path / "demo").glob("calc-repo*/.launcher/workflows/wf_*")) \
            and demo.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(demo.pid, signal.SIGINT)
    _out, err = demo.communicate(timeout=60)
    assert demo.returncode == 130, err
    assert "launcher workflow status` shows where" in err and "workflow list" not in err, err
    repo = next((tmp_path / "demo").glob("calc-repo*"))
    launcher_cli(repo, "clean", "--all", "--force")
