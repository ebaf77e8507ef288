"""launcher.process, specified with real subprocesses (tiny Python scripts run with `-c`).

What must hold: every child runs in its own process group with stdin closed; output is captured
but bounded; both timeouts and cancellation kill the whole group (SIGTERM, grace, SIGKILL), so no
grandchild survives; nothing the launcher started is left in its table of live groups.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from helpers import PeakRss

from launcher import process
from launcher.process import (
    CappedLog,
    Completed,
    Supervised,
    group_alive,
    kill_all_live_groups,
    run,
    supervise,
    terminate_group,
)

PY = sys.executable

# The child starts a grandchild in its own group (it inherits stdout/stderr) and prints its pid.
SPAWN_GRANDCHILD = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(g.pid, flush=True)\n"
)
HANG = SPAWN_GRANDCHILD + "time.sleep(60)\n"
IGNORE_TERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


# ----------------------------------------------------------------------------- helpers


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting to be reaped does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_members(pgid: int) -> list[int]:
    """Every running (non-zombie) process whose process group is `pgid`."""
    found = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def first_pid(output: bytes) -> int:
    return int(output.split()[0])


@pytest.fixture
def open_stdin() -> Iterator[None]:
    """Make our fd 0 a pipe that never ends, so a child inheriting it would block on reading."""
    read_end, write_end = os.pipe()
    saved = os.dup(0)
    os.dup2(read_end, 0)
    os.close(read_end)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(write_end)


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids a test may leave behind if it fails (or on purpose): killed at teardown."""
    pids: list[int] = []
    yield pids
    kill_all_live_groups()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if "sleep" in " ".join(proc.cmdline()):
                proc.kill()
        except psutil.Error:
            pass


HANG_RECORDING = """
import os, pathlib, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
pathlib.Path({path!r}).write_text(f"{{os.getpid()}} {{child.pid}}")
time.sleep(60)
"""


def sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return anyio.run(functools.partial(func, *args, **kwargs))


def sup(tmp_path: Path, code: str, **kwargs: Any) -> Supervised:
    kwargs.setdefault("log_path", tmp_path / "logs" / "agent.log")
    kwargs.setdefault("timeout_s", 20.0)
    result = sync(supervise, [PY, "-c", code], cwd=tmp_path, env=dict(os.environ), **kwargs)
    assert isinstance(result, Supervised)
    return result


def timed(func: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    value = func()
    return value, time.monotonic() - start


# ----------------------------------------------------------------------------- run()


def test_run_captures_stdout_stderr_and_returncode(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "print('out', os.environ['PROBE'], os.getcwd())\n"
        "print('err', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    env = {**os.environ, "PROBE": "p-value"}
    done = sync(run, [PY, "-c", code], cwd=tmp_path, env=env, timeout=20)
    assert isinstance(done, Completed)
    assert done.returncode == 3
    assert done.out == f"out p-value {tmp_path}\n"
    assert done.err == "err\n"
    assert not done.timed_out and not done.ok
    assert done.argv == [PY, "-c", code]
    assert not process._LIVE_GROUPS


def test_run_ok_and_bounded_output() -> None:
    done = sync(run, [PY, "-c", "print('x' * 1000 + 'END', end='')"], max_output=100)
    assert done.ok
    assert done.stdout == b"x" * 97 + b"END"


def test_run_stdin_is_closed(open_stdin: None) -> None:
    code = "import sys; data = sys.stdin.read(); print(repr(data))"
    done, took = timed(lambda: sync(run, [PY, "-c", code], timeout=5))
    assert done.out.strip() == "''"
    assert done.ok and not done.timed_out
    assert took < 4


def test_run_child_runs_in_its_own_group() -> None:
    done = sync(run, [PY, "-c", "import os; print(os.getpid(), os.getpgrp(), os.getsid(0))"])
    pid, pgid, sid = map(int, done.out.split())
    assert pid == pgid == sid
    assert pgid != os.getpgrp()


def test_run_timeout_kills_child_and_grandchild(leftovers: list[int]) -> None:
    done, took = timed(lambda: sync(run, [PY, "-c", HANG], timeout=1.0, grace_s=2.0))
    grandchild = first_pid(done.stdout)
    leftovers.append(grandchild)
    assert done.timed_out and not done.ok
    assert done.returncode == -signal.SIGTERM
    assert 1.0 <= took < 4
    assert not alive(grandchild)
    assert not process._LIVE_GROUPS


def test_run_returns_when_grandchild_holds_the_pipes(leftovers: list[int]) -> None:
    done, took = timed(lambda: sync(run, [PY, "-c", SPAWN_GRANDCHILD], timeout=30))
    grandchild = first_pid(done.stdout)
    leftovers.append(grandchild)
    assert done.ok and not done.timed_out
    assert took < 5
    assert not alive(grandchild)


def test_cancelling_run_kills_the_group_and_its_grandchild_promptly(leftovers: list[int]) -> None:
    # `run` reads its child in a worker thread: a cancellation must not wait for that thread.
    async def main() -> bool:
        with anyio.move_on_after(1.0) as scope:
            await run([PY, "-c", HANG], timeout=60, grace_s=1.0)
        return scope.cancelled_caught

    cancelled, took = timed(lambda: anyio.run(main))
    assert cancelled
    assert took < 4
    assert not process._LIVE_GROUPS


def test_cancelled_run_leaves_no_process_of_its_group(leftovers: list[int], tmp_path: Path) -> None:
    marker = tmp_path / "pids"
    code = HANG_RECORDING.format(path=str(marker))

    async def main() -> None:
        with anyio.move_on_after(1.0):
            await run([PY, "-c", code], timeout=60, grace_s=1.0)

    anyio.run(main)
    pids = [int(x) for x in marker.read_text().split()]
    leftovers.extend(pids)
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)


def test_run_missing_program_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sync(run, [str(tmp_path / "no-such-program")])
    assert not process._LIVE_GROUPS


def test_run_a_flood_keeps_only_the_last_bytes() -> None:
    done = sync(run, [PY, "-c", "import sys; sys.stdout.write('x' * 3_000_000 + 'END')"], max_output=1000)
    assert done.ok and len(done.stdout) == 1000 and done.stdout.endswith(b"END")


def test_a_quick_command_does_not_wait_behind_many_long_ones() -> None:
    # Each `run` reads its child in a worker thread: a shared pool of 40 would make the 41st
    # command (a quick `git status` of another task) wait until a long check ended.
    async def main() -> float:
        quick = 0.0
        async with anyio.create_task_group() as group:
            for _ in range(45):
                group.start_soon(functools.partial(run, [PY, "-c", "import time; time.sleep(3)"]))
            await anyio.sleep(0.5)  # all 45 started
            began = time.monotonic()
            done = await run([PY, "-c", "pass"])
            quick = time.monotonic() - began
            assert done.ok
        return quick

    assert anyio.run(main) < 2.0


# ----------------------------------------------------------------------------- supervise()


def test_supervise_timeout_kills_whole_group(tmp_path: Path, leftovers: list[int]) -> None:
    spawned: list[int] = []
    result, took = timed(
        lambda: sup(tmp_path, HANG, timeout_s=1.0, grace_s=5.0, on_spawn=spawned.append)
    )
    grandchild = first_pid(result.stdout_tail)
    leftovers.append(grandchild)
    assert spawned == [result.pid]
    assert result.timed_out and not result.stalled
    assert result.returncode == -signal.SIGTERM
    # Both obey SIGTERM: the grace period must not be sat out.
    assert 1.0 <= took < 4
    assert not alive(grandchild)
    assert group_members(result.pid) == []
    assert not group_alive(result.pid)
    assert not process._LIVE_GROUPS


def test_supervise_sigkills_a_child_ignoring_sigterm(tmp_path: Path) -> None:
    spawned: list[int] = []
    result, took = timed(
        lambda: sup(tmp_path, IGNORE_TERM, timeout_s=0.5, grace_s=1.0, on_spawn=spawned.append)
    )
    assert result.stdout == "ready\n"
    assert result.timed_out
    assert result.returncode == -signal.SIGKILL
    assert 1.5 <= took < 4.5  # timeout + the full grace, then SIGKILL
    assert group_members(spawned[0]) == []


def test_supervise_child_in_own_group_and_on_spawn_gets_pid(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []

    def on_spawn(pid: int) -> None:
        seen.append((pid, os.getpgid(pid)))

    # It lingers so that it surely still exists when on_spawn looks at it.
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(1)"
    result = sup(tmp_path, code, on_spawn=on_spawn)
    assert result.returncode == 0
    assert seen == [(result.pid, result.pid)]
    assert first_pid(result.stdout_tail) == result.pid
    assert result.pid != os.getpgrp()


def test_supervise_stdin_is_closed(tmp_path: Path, open_stdin: None) -> None:
    code = "import sys; print(repr(sys.stdin.read()))"
    result, took = timed(lambda: sup(tmp_path, code, timeout_s=5))
    assert result.stdout.strip() == "''"
    assert result.returncode == 0 and not result.timed_out and not result.stalled
    assert took < 4


def test_supervise_keeps_only_last_keep_bytes(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "data = ''.join(str(i % 10) for i in range(10000))\n"
        "sys.stdout.write(data); sys.stderr.write(data[::-1])\n"
    )
    data = "".join(str(i % 10) for i in range(10000))
    log = tmp_path / "agent.log"
    result = sup(tmp_path, code, keep_bytes=100, log_path=log)
    assert result.stdout_tail == data[-100:].encode()
    assert result.stderr_tail == data[::-1][-100:].encode()
    assert result.stdout_bytes == result.stderr_bytes == 10000
    assert not result.log_truncated and result.notes == []
    assert log.stat().st_size == 20000  # the log, under its cap, holds everything


def test_supervise_inactivity_kills_a_silent_child(tmp_path: Path, leftovers: list[int]) -> None:
    code = SPAWN_GRANDCHILD + "print('working', flush=True)\ntime.sleep(60)\n"
    result, took = timed(lambda: sup(tmp_path, code, inactivity_s=0.5, grace_s=2.0))
    grandchild = first_pid(result.stdout_tail)
    leftovers.append(grandchild)
    assert result.stalled and not result.timed_out
    assert "working" in result.stdout
    assert result.returncode == -signal.SIGTERM
    assert 0.5 <= took < 3
    assert not alive(grandchild)
    assert group_members(result.pid) == []


def test_supervise_steady_output_is_not_inactivity(tmp_path: Path) -> None:
    # Every 0.1 s for 1.5 s, alternating stdout and stderr: both count as activity.
    code = (
        "import sys, time\n"
        "for i in range(15):\n"
        "    print(i, file=sys.stdout if i % 2 else sys.stderr, flush=True)\n"
        "    time.sleep(0.1)\n"
    )
    result = sup(tmp_path, code, inactivity_s=0.5)
    assert not result.stalled and not result.timed_out
    assert result.returncode == 0
    assert result.duration_s >= 1.4
    assert "13" in result.stdout and "14" in result.stderr


def test_supervise_activity_probe_counts_as_activity(tmp_path: Path) -> None:
    result = sup(
        tmp_path,
        "import time; time.sleep(60)",
        inactivity_s=0.3,
        timeout_s=1.0,
        grace_s=1.0,
        activity_probe=time.monotonic,
    )
    assert result.timed_out and not result.stalled


def test_supervise_flood_is_capped_in_log_and_memory(tmp_path: Path) -> None:
    chunk, count = 1 << 20, 200
    code = (
        "import sys\n"
        "w = sys.stdout.buffer.write\n"
        "w(b'BEGIN-OF-OUTPUT\\n')\n"
        f"for i in range({count}):\n"
        f"    w(bytes([65 + i % 26]) * {chunk})\n"
        "w(b'\\nEND-OF-OUTPUT\\n')\n"
    )
    total = 16 + count * chunk + 15
    cap = 1 << 20
    log = tmp_path / "agent.log"
    with PeakRss() as memory:
        result, took = timed(lambda: sup(tmp_path, code, log_path=log, log_cap=cap))

    assert result.returncode == 0
    assert result.stdout_bytes == total
    assert result.log_truncated and result.notes
    assert len(result.stdout_tail) == process.DEFAULT_KEEP
    assert result.stdout_tail.endswith(b"R" * 1000 + b"\nEND-OF-OUTPUT\n")

    text = log.read_bytes()
    assert len(text) <= cap + cap // 10
    tail_cap = cap // 4
    head_cap = cap - tail_cap
    head = b"BEGIN-OF-OUTPUT\n" + b"A" * (head_cap - 16)
    tail = b"R" * (tail_cap - 15) + b"\nEND-OF-OUTPUT\n"  # the last chunk is the 200th: "R"
    marker = f"\n[launcher: {total - cap} bytes elided from the middle of this log]\n".encode()
    assert text == head + marker + tail

    assert memory.growth < 60 * 1024 * 1024, f"launcher RSS grew by {memory.growth / 2**20:.0f} MiB"
    assert took < 15


def test_supervise_returns_when_leader_exits_but_grandchild_holds_stdout(
    tmp_path: Path, leftovers: list[int]
) -> None:
    result, took = timed(lambda: sup(tmp_path, SPAWN_GRANDCHILD, timeout_s=30))
    grandchild = first_pid(result.stdout_tail)
    leftovers.append(grandchild)
    assert result.returncode == 0
    assert not result.timed_out and not result.stalled
    assert took < 5
    assert result.notes == []  # the orphan was killed with the group, not waited out
    assert not alive(grandchild)
    assert group_members(result.pid) == []
    assert not process._LIVE_GROUPS


def test_supervise_returns_when_an_escaped_process_holds_stdout(
    tmp_path: Path, leftovers: list[int]
) -> None:
    # A grandchild that left the group (setsid) cannot be killed with it, but it must not make
    # the launcher wait on the pipe it holds until it exits.
    code = (
        "import subprocess, sys\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'],"
        " start_new_session=True)\n"
        "print(g.pid, flush=True)\n"
    )
    result, took = timed(lambda: sup(tmp_path, code, timeout_s=20))
    escaped = first_pid(result.stdout_tail)
    leftovers.append(escaped)
    assert result.returncode == 0 and not result.timed_out
    assert took < process.DRAIN_AFTER_EXIT_S + 3
    assert any("outside the agent's group" in note for note in result.notes)
    done, took = timed(lambda: sync(run, [PY, "-c", code], timeout=20))
    leftovers.append(first_pid(done.stdout))
    assert done.ok and not done.timed_out
    assert took < process.DRAIN_AFTER_EXIT_S + 3


@pytest.mark.parametrize("code", [HANG, IGNORE_TERM], ids=["obeys-sigterm", "ignores-sigterm"])
def test_cancelling_supervise_kills_the_group(
    tmp_path: Path, leftovers: list[int], code: str
) -> None:
    spawned: list[int] = []
    reached_end: list[bool] = []

    async def main() -> bool:
        with anyio.move_on_after(0.5) as scope:
            await supervise(
                [PY, "-c", code],
                cwd=tmp_path,
                env=dict(os.environ),
                log_path=tmp_path / "agent.log",
                grace_s=1.0,
                on_spawn=spawned.append,
            )
            reached_end.append(True)
        return scope.cancelled_caught

    cancelled, took = timed(lambda: anyio.run(main))
    assert cancelled and not reached_end  # the cancellation propagates out of supervise
    (pgid,) = spawned
    pids = [int(x) for x in (tmp_path / "agent.log").read_text().split() if x.isdigit()]
    leftovers.extend(pids)
    assert all(not alive(pid) for pid in pids)
    assert group_members(pgid) == []
    assert not process._LIVE_GROUPS
    assert took < 3


def test_on_spawn_failure_still_kills_the_group(tmp_path: Path, leftovers: list[int]) -> None:
    spawned: list[int] = []

    def on_spawn(pid: int) -> None:
        spawned.append(pid)
        raise RuntimeError("bookkeeping failed")

    with pytest.raises(RuntimeError, match="bookkeeping"):
        sup(tmp_path, HANG, grace_s=1.0, on_spawn=on_spawn)
    leftovers.extend(spawned)
    assert group_members(spawned[0]) == []
    assert not process._LIVE_GROUPS


def test_supervise_missing_program_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sync(
            supervise,
            [str(tmp_path / "no-such-agent")],
            cwd=tmp_path,
            env=dict(os.environ),
            log_path=tmp_path / "agent.log",
        )
    assert not process._LIVE_GROUPS


def test_kill_all_live_groups_kills_a_running_agent(tmp_path: Path, leftovers: list[int]) -> None:
    spawned: list[int] = []
    results: list[Supervised] = []

    async def agent() -> None:
        results.append(
            await supervise(
                [PY, "-c", HANG],
                cwd=tmp_path,
                env=dict(os.environ),
                log_path=tmp_path / "agent.log",
                on_spawn=spawned.append,
            )
        )

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(agent)
            with anyio.fail_after(10):
                while not (tmp_path / "agent.log").exists() or not spawned:
                    await anyio.sleep(0.02)
                await anyio.sleep(0.3)  # let it start its grandchild
            assert spawned[0] in process._LIVE_GROUPS
            kill_all_live_groups()

    anyio.run(main)
    (result,) = results
    leftovers.append(first_pid(result.stdout_tail))
    assert result.returncode == -signal.SIGKILL
    assert not result.timed_out
    assert group_members(result.pid) == []
    assert not alive(first_pid(result.stdout_tail))
    assert not process._LIVE_GROUPS


# ----------------------------------------------------------------------------- building blocks


def test_group_alive_ignores_zombies() -> None:
    # A child in its own group that exited but was not reaped yet: still signalable, not alive.
    child = subprocess.Popen([PY, "-c", "pass"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.killpg(child.pid, 0)  # the kernel still knows the group...
        assert not group_alive(child.pid)  # ...but nothing in it runs
        _, took = timed(lambda: sync(terminate_group, child.pid, 5.0))
        assert took < 1  # no grace period sat out waiting for a zombie
    finally:
        child.wait()
    assert not group_alive(child.pid)


def test_terminate_group_escalates_to_sigkill() -> None:
    child = subprocess.Popen(
        [PY, "-c", IGNORE_TERM], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        assert group_alive(child.pid)
        _, took = timed(lambda: sync(terminate_group, child.pid, 0.5))
        assert 0.5 <= took < 2
        assert child.wait(timeout=5) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
        if child.stdout:
            child.stdout.close()


def test_capped_log_keeps_head_and_tail(tmp_path: Path) -> None:
    data = bytes(range(256)) + bytes(range(44))  # 300 distinct-enough bytes
    path = tmp_path / "sub" / "log"
    path.parent.mkdir()
    path.write_bytes(b"previous\n")  # it appends
    log = CappedLog(path, cap=100)
    for i in range(0, len(data), 7):
        log.write(data[i : i + 7])
    log.close()
    log.close()  # idempotent
    assert log.truncated and log.dropped == 200
    marker = b"\n[launcher: 200 bytes elided from the middle of this log]\n"
    assert path.read_bytes() == b"previous\n" + data[:75] + marker + data[-25:]


@pytest.mark.parametrize("size", [0, 60, 75, 90, 100])
def test_capped_log_under_cap_is_verbatim(tmp_path: Path, size: int) -> None:
    data = bytes(range(size))
    log = CappedLog(tmp_path / "new" / "log", cap=100)  # creates the directory
    log.write(data[:33])
    log.write(data[33:])
    log.close()
    assert not log.truncated
    assert (tmp_path / "new" / "log").read_bytes() == data
