"""The reaper reports only processes it really killed: never one of the launcher's own children
(its git commands, collected while the reaper reads /proc), never a process that was already dead
(a zombie). A run whose agents start no background process has no "escaped" note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher.engine import reaper

linux_subreaper = pytest.mark.skipif(
    not sys.platform.startswith("linux") or reaper._children() is None,
    reason="the kernel keeps no list of children here (Linux CONFIG_PROC_CHILDREN)",
)

EXITING_ORPHAN = (
    "import os\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.setsid()\n"
    "    os._exit(0)\n"  # the daemon exits at once: a zombie re-parented to the subreaper
    "print(pid, flush=True)\n"
)


@linux_subreaper
def test_an_own_child_collected_while_the_reaper_reads_is_neither_killed_nor_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not reaper.become_subreaper():
        pytest.skip("no child subreaper here")
    # A short command of the launcher's own (no run variables, like its git), still running when
    # the reaper lists its children, exits and is collected before the reaper asks which are its own.
    child = subprocess.Popen(["sleep", "0.3"])
    real = reaper._own_children

    def own_children_after_the_child_was_collected(tries: int = 5) -> set[int] | None:
        child.wait()
        return real(tries)

    monkeypatch.setattr(reaper, "_own_children", own_children_after_the_child_was_collected)
    assert reaper.reap_escaped("r-test-own-child") == []
    assert child.returncode == 0  # it ended by itself, never killed


@linux_subreaper
def test_an_escaped_daemon_that_already_exited_is_collected_but_not_reported_killed() -> None:
    if not reaper.become_subreaper():
        pytest.skip("no child subreaper here")
    env = {**os.environ, "LAUNCHER_RUN_ID": f"r-test-{os.getpid()}", "LAUNCHER_TASK_ID": "t1"}
    made = subprocess.run([sys.executable, "-c", EXITING_ORPHAN], env=env, capture_output=True, text=True, check=True)
    orphan = int(made.stdout.split()[0])
    deadline = time.monotonic() + 5
    while (reaper.proc_stat(orphan) or (b"", 0, 0))[1] != os.getpid() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reaper.proc_stat(orphan) == (b"Z", os.getpid(), orphan)  # a zombie, re-parented to us

    assert reaper.reap_escaped(env["LAUNCHER_RUN_ID"], "t1") == []
    assert not os.path.exists(f"/proc/{orphan}")  # collected all the same


def test_a_run_whose_agents_start_no_background_process_says_nothing_was_killed(repo: Path) -> None:
    contract = (
        "python3 - \"$@\" <<'PY'\nimport json, os, sys\njson.dump({\"contract_version\": \"1\", \"task_id\": "
        "os.environ[\"LAUNCHER_TASK_ID\"], \"status\": \"done\", \"summary\": \"did it\", \"files_changed\": "
        "sys.argv[1:], \"tests_added\": [], \"decisions\": [], \"blockers\": [], \"llm_observations\": \"t\"}, "
        "open(os.environ[\"LAUNCHER_CONTRACT\"], \"w\"))\nPY\n")
    plan = '[agents.sh]\nadapter = "command"\ncommand = ["bash", "agents/{task_id}.sh"]\n[run]\nmax_parallel = 4\n'
    (repo / "agents").mkdir()
    for task in ("t1", "t2", "t3", "t4"):
        (repo / "agents" / f"{task}.sh").write_text(f"echo {task} > {task}.txt\nsleep 1\nset -- {task}.txt\n"
                                                     + contract)
        plan += f'[[task]]\nid = "{task}"\nagent = "sh"\nprompt = "x"\nchecks = ["test -f {task}.txt"]\n'
    (repo / "plan.toml").write_text(plan)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "agents")

    for attempt in range(2):
        done = launcher_cli(repo, "run", "plan.toml", "--quiet", "--json")
        report = json.loads(done.stdout)
        assert done.returncode == 0, report["message"]
        assert "escaped their process group" not in json.dumps(report["notes"]), (attempt, report["notes"])
        git(repo, "rm", "-q", "t1.txt", "t2.txt", "t3.txt", "t4.txt")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "again")


@linux_subreaper
def test_an_own_exited_child_the_launcher_tracks_is_left_for_its_waiter_without_listing_every_object(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The launcher's own child (its group tracked by the process wrapper) exited and is not
    # collected yet: a zombie the reaper must leave to its waiter (else Popen.wait would report
    # exit 0 for whatever it was); known as own from the tracked groups alone, with no look at
    # every Python object (`own_children`, milliseconds per call with 32 tasks running).
    from launcher import process

    child = subprocess.Popen(["sh", "-c", "exit 7"], start_new_session=True)
    process.track_group(child.pid)
    try:
        deadline = time.monotonic() + 5
        while reaper.proc_stat(child.pid) is not None and reaper.proc_stat(child.pid)[0] != b"Z":  # type: ignore[index]
            assert time.monotonic() < deadline
            time.sleep(0.01)

        def no_object_scan(tries: int = 5) -> set[int] | None:
            raise AssertionError("the own children were listed for a tracked zombie")

        monkeypatch.setattr(reaper, "_own_children", no_object_scan)
        assert reaper.reap_orphan_zombies() == 0
        assert child.wait(timeout=5) == 7  # its own status, collected by its waiter
    finally:
        process.untrack_group(child.pid)


@linux_subreaper
def test_a_child_being_started_is_waited_for_not_looked_up_among_every_object(monkeypatch: pytest.MonkeyPatch) -> None:
    # A child runs (its exec done) before its starter registers its group: the reaper, seeing a
    # child it does not know while one is being started, reads the groups again shortly, and
    # neither kills it nor falls back to looking at every Python object.
    import threading

    from launcher import process, process_threads

    if not reaper.become_subreaper():
        pytest.skip("no child subreaper here")
    registered = threading.Event()
    with process_threads.starting():
        child = subprocess.Popen(["sleep", "5"], start_new_session=True)

        def register_soon() -> None:
            time.sleep(0.03)
            process.track_group(child.pid)
            registered.set()

        threading.Thread(target=register_soon).start()

        def no_object_scan(tries: int = 5) -> set[int] | None:
            raise AssertionError("every object was looked at for a child being started")

        monkeypatch.setattr(reaper, "_own_children", no_object_scan)
        try:
            assert reaper.escaped("r-test-starting") == []
            assert registered.is_set()
            assert child.poll() is None  # alive: never killed
        finally:
            process.untrack_group(child.pid)
            child.kill()
            child.wait()


@linux_subreaper
def test_two_tasks_sweeping_at_once_count_each_escaped_daemon_once() -> None:
    # Daemons with a cleared environment belong to no task: both tasks' sweeps, run at once (one
    # thread each, as after two rounds that end together), may take them; each is killed and
    # counted once in all.
    import threading

    if not reaper.become_subreaper():
        pytest.skip("no child subreaper here")
    n = 6
    for _ in range(5):
        spawner = subprocess.Popen(
            ["sh", "-c", " ".join(["setsid env -i sleep 1000 </dev/null >/dev/null 2>&1 &"] * n) + " sleep 0.2"],
            start_new_session=True)
        spawner.wait()
        time.sleep(0.1)
        killed: dict[str, list[int]] = {}
        barrier = threading.Barrier(2)

        def sweep(task_id: str, barrier: threading.Barrier, killed: dict[str, list[int]]) -> None:
            barrier.wait()
            killed[task_id] = reaper.reap_escaped("r-test-two-sweeps", task_id)

        threads = [threading.Thread(target=sweep, args=(t, barrier, killed)) for t in ("ta", "tb")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not set(killed["ta"]) & set(killed["tb"])
        assert len(killed["ta"]) + len(killed["tb"]) == n
