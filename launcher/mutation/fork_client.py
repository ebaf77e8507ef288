"""The launcher's end of a `fork_worker` process: start it, send a job, follow its fork, stop it.

Both the fast executor's warm worker and the zygote (`zygote.py`) are `fork_worker` processes
spoken to in JSON lines. A job that forks answers twice: `forked` with the child's pid (tracked
here, so an interrupted launcher kills it with the rest), then its outcome; the worker enforces
the job's time limit itself, and this side gives up `MARGIN_S` later.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from launcher import process
from launcher.mutation import fork_worker

WORKER_SCRIPT = Path(fork_worker.__file__).resolve()
# Run the worker by path, not `-m launcher...`: the project's Python need not have the launcher,
# and `-c` puts the working directory first on sys.path, as `python -m pytest` does.
BOOTSTRAP = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"
ANSWER_S = 120.0  # the worker's checks before forking (reading and compiling one module)
MARGIN_S = 10.0  # past the job's time limit, which the worker enforces itself, before giving up
TAIL = 2000
_MAX_LINE = 64 * 1024 * 1024


class WorkerGone(Exception):
    """The worker exited or stopped answering."""


class WorkerClient:
    """One `fork_worker` process in `root`; its stderr (and what its imports print) goes to
    `log_path`. One request at a time."""

    def __init__(self, root: Path, python: str, env: Mapping[str, str], log_path: Path) -> None:
        self.root = root
        self.python = python
        self.env = dict(env)
        self.log_path = log_path
        self._proc: Process | None = None
        self._reader: BufferedByteReceiveStream | None = None
        self._child: int | None = None  # the running fork (its own process group)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def child_pid(self) -> int | None:
        """The fork running a job now (its group id too)."""
        return self._child

    async def start(self, hello: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Launch the worker and send `hello` (init or preload); its first answer, or an error
        message when it exited or did not answer in time (the worker is killed then)."""
        with self.log_path.open("ab") as log:
            proc = await process.open_tracked([self.python, "-c", BOOTSTRAP, str(WORKER_SCRIPT)], cwd=self.root,
                                              env=self.env, stdin=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        self._proc, self._reader = proc, BufferedByteReceiveStream(proc.stdout)
        try:
            await self.send(hello)
            with anyio.fail_after(timeout_s):
                return await self.receive()
        except (WorkerGone, TimeoutError):
            await self.kill()
            return {"ev": "error", "reason": "the worker exited or did not answer"}
        except BaseException:
            await self.kill()
            raise

    async def send(self, message: dict[str, Any]) -> None:
        if self._proc is None or self._proc.stdin is None:
            raise WorkerGone("not running")
        try:
            await self._proc.stdin.send((json.dumps(message) + "\n").encode())
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise WorkerGone(str(exc)) from exc

    async def receive(self) -> dict[str, Any]:
        if self._reader is None:
            raise WorkerGone("not running")
        closed = (anyio.EndOfStream, anyio.IncompleteRead, anyio.ClosedResourceError, anyio.BrokenResourceError)
        while True:
            try:
                line = await self._reader.receive_until(b"\n", _MAX_LINE)
            except closed as exc:
                raise WorkerGone("the worker exited") from exc
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and "ev" in message:
                    return message
            # Not ours: printed at interpreter start (a sitecustomize, a .pth) before the worker
            # moved its stdout aside.

    async def request(self, message: dict[str, Any], limit_s: float) -> dict[str, Any]:
        """Send a job and return its outcome. Raises WorkerGone or TimeoutError when the worker
        fails it (the caller kills the worker then); kills it and re-raises when cancelled."""
        try:
            await self.send(message)
            with anyio.fail_after(ANSWER_S):
                answer = await self.receive()
            if answer.get("ev") == "forked":
                self._child = int(answer["pid"])
                process.track_group(self._child)
                with anyio.fail_after(limit_s + MARGIN_S):
                    answer = await self.receive()
                # The worker has reaped it and killed its group: forget it (never signal a reaped id).
                process.untrack_group(self._child)
                self._child = None
            return answer
        except (WorkerGone, TimeoutError):
            raise
        except BaseException:
            await self.kill()  # cancelled mid-job: the protocol is out of step now
            raise

    async def kill(self, gently: bool = False) -> None:
        """Stop the worker and any fork; safe at any time, twice, after a failed start."""
        with anyio.CancelScope(shield=True):
            proc, self._proc, self._reader = self._proc, None, None
            if proc is not None:
                if proc.stdin is not None:
                    with contextlib.suppress(Exception):
                        await proc.stdin.aclose()  # EOF: the worker kills its fork and exits
                if gently and proc.returncode is None:
                    with anyio.move_on_after(2.0):
                        await proc.wait()
                await process.terminate_group(proc.pid, 1.0)  # the worker and what warming up started
                if proc.returncode is None:
                    await proc.wait()
                await proc.aclose()
                process.untrack_group(proc.pid)
            child, self._child = self._child, None
            if child is not None:
                process.signal_group(child, signal.SIGKILL)
                await process.terminate_group(child, 0.0)  # waits until no member runs
                process.untrack_group(child)

    def log_tail(self, limit: int = TAIL) -> str:
        return file_tail(self.log_path, limit)


async def shut_down(client: WorkerClient | None, work_dir: Path | None) -> None:
    """Stop a worker (gently: EOF first) and remove its work directory; either may be None."""
    with anyio.CancelScope(shield=True):
        if client is not None:
            await client.kill(gently=True)
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)


def file_tail(path: Path, limit: int = TAIL) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
