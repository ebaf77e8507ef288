"""A pytest zygote: a fresh test process for the price of a fork.

A `fork_worker` in preload mode imports pytest and the plugins pytest would load, and nothing of
the project. Each run forks it, and the child runs `pytest.main(args)`: it reads the
configuration, imports conftests, the tests and the code under test, and runs them, exactly as a
new `python -m pytest` in that directory would, without an interpreter start and pytest's own
imports each time (a third of a fresh run of toolz's whole suite).

Two uses:
  * the generic executor's test command (`run_tests`): the mutant is on disk, so a test that
    reads the file or starts a subprocess sees it, as in any fresh run;
  * the fast executor's fresh runs (`run_mutant`): the mutated module is served from memory by
    the child's import hook, nothing is written.
Either answers None when the zygote cannot be used (it imported the mutated file at start-up,
its process failed): the caller starts a real fresh process instead.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from launcher import process
from launcher.mutation import fork_child, fork_worker
from launcher.mutation.fork_client import WorkerClient, WorkerGone, shut_down


class Zygote:
    """One zygote for one worker tree; one run at a time. Start it with `start()` while the tree
    holds no mutant (what it imports then stays loaded in every child); it never starts by
    itself. Not started, a failed start or a worker that died: every run answers None. The
    worker also refuses a run when a file it imported at start-up changed since."""

    def __init__(self, root: Path, python: str, env: Mapping[str, str], *, startup_timeout_s: float = 120.0) -> None:
        self.root = root.absolute()
        self.python = python
        self.env = dict(env)
        self.startup_timeout_s = startup_timeout_s
        self.failure = ""  # why it is not used, once it failed
        self._tmp: Path | None = None
        self._client: WorkerClient | None = None
        self._lock = anyio.Lock()

    @property
    def pid(self) -> int | None:
        return self._client.pid if self._client is not None else None

    async def start(self) -> bool:
        if self._client is not None:
            return True
        if self.failure:
            return False
        self._tmp = Path(tempfile.mkdtemp(prefix="launcher-zygote-"))
        client = WorkerClient(self.root, self.python, self.env, self._tmp / "zygote.log")
        try:
            ready = await client.start({"op": "preload", "tmp": str(self._tmp)}, self.startup_timeout_s)
        except OSError as exc:  # no such interpreter, not executable
            ready = {"ev": "error", "reason": f"cannot start {self.python}: {exc}"}
        if ready.get("ev") != "ready":
            self.failure = f"{ready.get('reason', ready)}\n{client.log_tail()}".strip()
            await client.kill()
            return False
        self._client = client
        return True

    async def stop(self) -> None:
        client, self._client, work_dir, self._tmp = self._client, None, self._tmp, None
        await shut_down(client, work_dir)

    async def run_tests(
        self, args: Sequence[str], timeout_s: float, mutated: Path | None = None
    ) -> process.Completed | None:
        """`python -m pytest ARGS` in a fork, the tree as it is on disk. `mutated`: the file the
        caller changed (refused if the zygote imported it at start-up)."""
        message: dict[str, Any] = {"op": "pytest", "args": list(args), "timeout": timeout_s}
        if mutated is not None:
            message["path"] = str(mutated)
        return await self._run(message, timeout_s)

    async def run_mutant(
        self, spec: Mapping[str, Any], args: Sequence[str], timeout_s: float
    ) -> process.Completed | None:
        """`python -m pytest ARGS` in a fork whose import hook serves the mutated module (`spec`:
        path, offsets, replacement, as the fork worker takes them)."""
        message = {"op": "run", **spec, "tests": None, "args": list(args), "timeout": timeout_s}
        return await self._run(message, timeout_s)

    async def _run(self, message: dict[str, Any], timeout_s: float) -> process.Completed | None:
        async with self._lock:
            if self._client is None:  # not started, or gone: never started here, with a mutant on disk
                return None
            started = time.monotonic()
            try:
                answer = await self._client.request(message, timeout_s)
            except (WorkerGone, TimeoutError) as exc:
                self.failure = f"the zygote {'stopped answering' if isinstance(exc, TimeoutError) else 'exited'}"
                await self._client.kill()
                self._client = None
                return None
        return _completed([self.python, "-m", "pytest", *message["args"]], answer, time.monotonic() - started)


def _completed(argv: list[str], answer: Mapping[str, Any], duration: float) -> process.Completed | None:
    """The answer as a finished process; None for what only a fresh process can run. A
    compile error or a stale mutant comes back with the fork worker's own exit codes."""
    ev = answer.get("ev")
    if ev == "compile_error":
        return process.Completed(argv, fork_worker.EXIT_COMPILE, b"", str(answer.get("reason", "")).encode(), duration)
    if ev != "done" or int(answer.get("rc", 0)) == fork_child.EXIT_HARNESS:
        return None  # unsupported here, an error of the worker, or the fork's own machinery failed
    tail = str(answer.get("tail", ""))
    failed = answer.get("failed") or []
    missing = [node for node in failed if "<" not in node and f"FAILED {node}" not in tail]  # a cut-off tail
    out = (tail + "".join(f"\nFAILED {node}" for node in missing)).encode()
    return process.Completed(argv, int(answer["rc"]), out, b"", float(answer.get("duration_s", duration)),
                             bool(answer.get("timed_out")))  # fmt: skip

