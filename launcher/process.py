"""The one subprocess wrapper.

Every child runs in its own session (so its whole process group can be signalled), with stdin
closed, output bounded, a wall-clock and an inactivity timeout, and SIGTERM → grace → SIGKILL
of the group. Groups still alive are tracked so that an interrupted launcher kills them all
(`launcher.process_groups`: signalling, liveness and that set; its names are re-exported here).
Who is told of each child started and ended is `launcher.spawn_observer`'s (re-exported here too);
what ends a supervised agent that has not exited, `launcher.agent_watchdog`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import anyio
from anyio.abc import ByteReceiveStream, Process

from launcher import child_watcher, process_threads
from launcher.agent_watchdog import Watchdog
from launcher.capped_log import (
    COMMAND_KEEP,
    COMMAND_KEEP_HEAD,
    DEFAULT_LOG_CAP,
    DEFAULT_MAX_LINE,
    CappedLog,
    HeadTail,
    LineFeed,
    Tail,
    kept_stream,
)
from launcher.errors import SpawnFailed
from launcher.process_groups import (  # re-exported: callers know them as `process.…`
    _LIVE_GROUPS,
    children_starting,
    group_alive,
    kill_all_live_groups,
    own_children,
    pid_alive,
    signal_group,
    starts_in_flight,
    terminate_group,
    track_group,
    tracked_groups,
    untrack_group,
    wait_for_starts,
)
from launcher.spawn_failure import spawn_failed
from launcher.spawn_observer import (  # re-exported: callers know them as `process.…`
    SpawnObserver,
    notify_ended,
    notify_started,
    observing_spawns,
)

__all__ = [
    "DEFAULT_KEEP", "DRAIN_AFTER_EXIT_S", "Completed", "SpawnObserver", "Supervised", "children_starting",
    "group_alive", "kill_all_live_groups", "observing_spawns", "open_tracked", "own_children", "pid_alive", "run",
    "run_command", "signal_group", "starts_in_flight",
    "supervise", "terminate_group", "track_group", "tracked_groups", "untrack_group",
    "wait_for_starts",
]


DEFAULT_KEEP = 2 * 1024 * 1024
# Once the leader has exited and its group is killed, the pipes normally reach EOF at once; only
# a process that left the group (setsid, a daemon) can still hold them. Stop reading after this.
DRAIN_AFTER_EXIT_S = 2.0


async def open_tracked(argv: list[str], *, cwd: Path | str | None, env: Mapping[str, str],
                       stdin: int | None = subprocess.DEVNULL, stderr: Any = subprocess.PIPE) -> Process:
    """`anyio.open_process` of a long-running child in its own session, its group registered (killed
    with the launcher, never taken for an orphan by the reaper) before anything else runs."""
    with process_threads.starting():
        proc = await anyio.open_process(argv, cwd=cwd, env=dict(env), stdin=stdin, stdout=subprocess.PIPE,
                                        stderr=stderr, start_new_session=True)
        _LIVE_GROUPS.add(proc.pid)
    return proc


@dataclass
class Completed:
    """A finished short command (git, a check, a setup step)."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes
    duration_s: float
    timed_out: bool = False
    stdout_dropped: int = 0  # bytes of stdout beyond `max_output` that were not kept (its start)

    @property
    def out(self) -> str:
        """stdout as Python decodes a file name (`os.fsdecode`: the file system encoding, a byte it
        cannot decode kept as a lone surrogate U+DC80-U+DCFF), so that a path git printed is the
        same bytes again when it is handed back to git or to the file system (`os.fsencode`),
        whatever the name's bytes and the locale. Text for people (a message, a patch) is `text`."""
        return os.fsdecode(self.stdout)

    @property
    def text(self) -> str:
        """stdout as text to show or to store (a command's output, a patch, a commit message): UTF-8,
        a byte that is not UTF-8 shown as U+FFFD. Never a path to hand back to git: that is `out`."""
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


async def _drain(stream: ByteReceiveStream | None, sink: Callable[[bytes], None]) -> None:
    if stream is None:
        return
    closed = (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)
    with contextlib.suppress(*closed):
        async for chunk in stream:
            sink(chunk)


async def _pump_until_exit(
    proc: Process, on_stdout: Callable[[bytes], None], on_stderr: Callable[[bytes], None]
) -> bool:
    """Feed both pipes to their sinks until the leader exits, then kill what is left of its group
    (orphans would hold our pipes open) and finish reading.

    Returns False if reading had to be cut short because something outside the group (a process
    that called setsid) still held a pipe `DRAIN_AFTER_EXIT_S` after the leader exited.
    """
    drained = anyio.Event()

    async def pumps() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, proc.stdout, on_stdout)
            tg.start_soon(_drain, proc.stderr, on_stderr)
        drained.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(pumps)
        await proc.wait()
        signal_group(proc.pid, signal.SIGKILL)
        with anyio.move_on_after(DRAIN_AFTER_EXIT_S):
            await drained.wait()
        tg.cancel_scope.cancel()
    return drained.is_set()


async def _reap(proc: Process, grace_s: float) -> None:
    """Make sure the group is gone and the leader reaped, whatever interrupted us."""
    with anyio.CancelScope(shield=True):
        if proc.returncode is None or group_alive(proc.pid):
            await terminate_group(proc.pid, grace_s)
            await proc.wait()
        _LIVE_GROUPS.discard(proc.pid)


async def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    max_output: int = 64 * 1024 * 1024,
    grace_s: float = 2.0,
    stdout_to: BinaryIO | None = None,
    stdin_from: Path | None = None,
    keep_head: int = 0,
    idle: bool = False,
    secrets: Mapping[str, str] | None = None,
) -> Completed:
    """Run a short command to completion, keeping the last `max_output` bytes of each stream
    (`stdout_dropped` says how much of stdout's start went), or writing all of stdout to
    `stdout_to`. With `keep_head`, that many of the `max_output` bytes kept are the stream's
    start instead, and the middle is elided with a marker (`secrets` masked in what is kept before
    the middle goes: capped_log.HeadTail, for output masked later). stdin is closed, or the file
    `stdin_from` (a command's input written first: `git update-ref --stdin`), never a pipe to
    the launcher. With `idle`, `timeout` is a limit on the child's silence instead of its wall time:
    it counts from the start and from each output read, never the time a write to a slow `stdout_to`
    (`launcher diff | less` left open) took.

    The child is started and read in worker threads (`process_threads`), so the event loop never
    waits for a child to start; everything else (journal, timeout, kill) happens here."""
    start = time.monotonic()
    out, err = kept_stream(max_output, keep_head, secrets), kept_stream(max_output, keep_head, secrets)

    def on_stdout(chunk: bytes) -> None:
        if stdout_to is not None:
            stdout_to.write(chunk)
        else:
            out.add(chunk)
    holder: list[subprocess.Popen[bytes]] = []

    def started(proc: subprocess.Popen[bytes]) -> None:
        _LIVE_GROUPS.add(proc.pid)
        holder.append(proc)

    observer: SpawnObserver | None = None
    stop = threading.Event()
    timed_out = False
    try:
        # A limiter of its own per call: anyio's default one (40 threads for the whole process)
        # would make a quick `git status` wait behind 40 long-running checks.
        try:
            await anyio.to_thread.run_sync(process_threads.spawn, argv, cwd, env, started, stdin_from,
                                           limiter=anyio.CapacityLimiter(1))
        except (OSError, ValueError) as exc:  # exec refused it (E2BIG, ENOENT...) or a NUL byte
            raise spawn_failed(exc, argv, cwd=cwd, env=env) from exc
        proc = holder[0]
        observer = notify_started(proc.pid, argv, "command")
        deadline = None if timeout is None else start + timeout
        timed_out = await anyio.to_thread.run_sync(
            process_threads.collect, proc, on_stdout, err.add, deadline, stop, DRAIN_AFTER_EXIT_S,
            timeout if idle else None, abandon_on_cancel=True, limiter=anyio.CapacityLimiter(1),
        )
    finally:
        stop.set()  # a reader abandoned by a cancellation stops within its poll interval
        if holder:
            with anyio.CancelScope(shield=True):
                await _end_group(holder[0], grace_s)
                notify_ended(observer, holder[0].pid)
    proc = holder[0]
    rc = proc.returncode if proc.returncode is not None else -9
    dropped = out.dropped if isinstance(out, HeadTail) else out.total - len(out.data)
    return Completed(list(argv), rc, bytes(out.data), bytes(err.data), time.monotonic() - start, timed_out,
                     dropped)


async def run_command(argv: Sequence[str], **options: Any) -> Completed:
    """`run` for the user's own commands (checks, setup, the integration check): one that cannot
    be started (E2BIG, no /bin/sh, its directory gone) is a failed command, exit 127 with the
    reason on stderr, as a shell reports a program it cannot find; never an error of the run.
    Of each stream the first and last bytes are kept (`COMMAND_KEEP` in all), never all of it."""
    options.setdefault("max_output", COMMAND_KEEP)
    options.setdefault("keep_head", min(COMMAND_KEEP_HEAD, options["max_output"] // 4))
    try:
        return await run(argv, **options)
    except SpawnFailed as exc:
        return Completed(list(argv), 127, b"", f"[launcher] {exc.message}\n".encode(), 0.0, False)


async def _end_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """Make sure the group is gone and the leader reaped, whatever interrupted us."""
    if proc.poll() is None or group_alive(proc.pid):
        await terminate_group(proc.pid, grace_s)
        await anyio.to_thread.run_sync(proc.wait, limiter=anyio.CapacityLimiter(1))
    _LIVE_GROUPS.discard(proc.pid)


@dataclass
class Supervised:
    """What happened to a long-running agent process."""

    returncode: int | None
    duration_s: float
    pid: int
    timed_out: bool = False
    stalled: bool = False
    last_stream: str = "stdout"  # the stream it printed to last ("stdout" or "stderr")
    stdout_tail: bytes = b""
    stderr_tail: bytes = b""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    log_truncated: bool = False
    notes: list[str] = field(default_factory=list)
    # What the `stdout_lines` reader raised (it was called no more after it), if it did.
    reader_error: str | None = None
    # Why it was ended early: what `give_up` returned (its CLI said it cannot go on, e.g. it retries forever).
    gave_up: str | None = None

    @property
    def stdout(self) -> str:
        return self.stdout_tail.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.stderr_tail.decode("utf-8", "replace")


async def supervise(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    timeout_s: float | None = None,
    inactivity_s: float | None = None,
    grace_s: float = 5.0,
    log_cap: int = DEFAULT_LOG_CAP,
    keep_bytes: int = DEFAULT_KEEP,
    on_spawn: Callable[[int], None] | None = None,
    activity_probe: Callable[[], float] | None = None,
    stdout_lines: Callable[[bytes], None] | None = None,
    max_line: int = DEFAULT_MAX_LINE,
    stderr_lines: Callable[[bytes], None] | None = None,
    give_up: Callable[[], str | None] | None = None,
    stderr_is_activity: bool = True,
) -> Supervised:
    """Run an agent: stream its output into a capped log, enforce both timeouts, kill its group.

    `activity_probe` returns the time (monotonic) of the agent's latest non-output activity
    (for example a file change); output counts as activity, stderr's only if `stderr_is_activity`
    (a CLI that logs its retries there is not making progress). Cancelling the caller
    (Ctrl-C) kills the group before the cancellation propagates.

    An agent ends only by its own exit, the wall-clock `timeout_s`, `inactivity_s` of no
    activity or its adapter's `give_up` (a state its CLI is known never to leave headless): never
    for a prompt it printed (a question it got EOF for may be followed by silent work).
    `last_stream` tells which stream it printed to last, for a diagnosis of a kill.

    `stdout_lines` is given every complete stdout line as it streams (up to `max_line` bytes;
    longer lines are skipped and noted), however much is printed: what it counts is exact while
    only the last `keep_bytes` are kept. If it raises, it is called no more and the error is in
    `reader_error`; the process is supervised to its end all the same. `stderr_lines` is the
    same for stderr (its errors are not kept). `give_up` is asked every tick, for an agent whose
    CLI said it cannot go on but waits anyway (a browser login, a network it retries forever):
    the reason it returns ends the group and is `gave_up` (the adapter decides from what its
    readers saw, e.g. a bounded number and duration of retries).
    """
    child_watcher.install()
    start = time.monotonic()
    log = CappedLog(log_path, log_cap)
    out, err = Tail(keep_bytes), Tail(keep_bytes)
    lines = LineFeed(stdout_lines, max_line) if stdout_lines is not None else None
    err_lines = LineFeed(stderr_lines, max_line) if stderr_lines is not None else None
    dog = Watchdog(start, timeout_s, inactivity_s, activity_probe, give_up)
    last_written = [out]  # the stream the agent printed to last

    try:
        proc = await open_tracked(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL)
    except (OSError, ValueError) as exc:  # exec refused it (E2BIG, ENOENT...) or a NUL byte
        log.close()
        raise spawn_failed(exc, argv, cwd=cwd, env=env) from exc
    except BaseException:
        log.close()
        raise

    def sink(tail: Tail, feed: LineFeed | None = None) -> Callable[[bytes], None]:
        def take(chunk: bytes) -> None:
            if tail is out or stderr_is_activity:
                dog.last_activity = time.monotonic()
            last_written[0] = tail
            log.write(chunk)
            tail.add(chunk)
            if feed is not None:
                feed.add(chunk)

        return take

    drained = True
    observer: SpawnObserver | None = None
    try:
        observer = notify_started(proc.pid, argv, "supervised")
        if on_spawn is not None:
            on_spawn(proc.pid)
        async with anyio.create_task_group() as tg:
            tg.start_soon(dog.watch, proc, grace_s)
            drained = await _pump_until_exit(proc, sink(out, lines), sink(err, err_lines))
            tg.cancel_scope.cancel()
    finally:
        try:
            await _reap(proc, min(grace_s, 2.0))
            notify_ended(observer, proc.pid)
        finally:
            log.close()
            with anyio.CancelScope(shield=True):
                await proc.aclose()
    result = Supervised(
        returncode=proc.returncode,
        duration_s=time.monotonic() - start,
        pid=proc.pid,
        timed_out=dog.timed_out,
        stalled=dog.stalled,
        last_stream="stderr" if last_written[0] is err else "stdout",
        stdout_tail=bytes(out.data),
        stderr_tail=bytes(err.data),
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        log_truncated=log.truncated,
        gave_up=dog.gave_up,
    )
    if err_lines is not None:
        err_lines.close()
    if lines is not None:
        lines.close()
        if lines.error is not None:
            result.reader_error = f"{type(lines.error).__name__}: {lines.error}"
        if lines.overlong:
            result.notes.append(
                f"{lines.overlong} stdout line(s) longer than {max_line} bytes were not read"
            )
    if log.truncated:
        result.notes.append(f"log capped at {log_cap} bytes; {log.dropped} bytes elided")
    if not drained:
        result.notes.append(
            "a process outside the agent's group still held its output open after it exited; "
            "stopped reading"
        )
    return result
