"""The warm pytest worker of the fork executor. It runs inside the project's Python.

Stdlib and pytest only, and no `launcher` import: the project's interpreter need not have the
launcher installed, and whatever this module imports is also imported into the tests' process.
Its helpers, `fork_lookup.py` (finding the live function a mutant's code goes into),
`fork_mutant.py` (the mutated module and its import hook), `fork_session.py` (the pytest
glue) and `fork_child.py` (a job's forked child: started, waited for, read), are loaded from
beside this file under private names.
The executor starts it as `python -c <runpy bootstrap> .../fork_worker.py`, so `sys.path[0]` is
the working directory as with `python -m pytest` (`python -m launcher.mutation.fork_worker`
works too where the launcher is importable).

Warm mode (the default), JSON lines on stdin and stdout; EOF on stdin means stop:
  {"op": "init", "args": [...], "tmp": DIR}
      One `pytest.main(args)` for the worker's life (`fork_session`): it collects as any run
      does (conftests, test modules and the code under test get imported), and its
      `pytest_runtestloop` serves the jobs below instead of running the suite. Every function
      that runs until then is recorded (sys.setprofile): state it may have left in the process
      was computed by the unmutated code.
      -> {"ev": "ready", "rc": ..., "warmup_s": ..., ...}
  {"op": "run", "path", "start", "end", "replaced", "replacement", "function", "line", "tests",
   "args", "timeout"}
      Checks here, then fork. The child swaps the `__code__` of the outermost function around
      the mutant (nested functions come along, being constants of its code) and runs the
      collected items of `tests` ([] = all) as pytest's loop would; node ids the session lacks
      get a `pytest.main(args)` of their own. The worker enforces the timeout and kills the
      child's group.
      -> {"ev": "forked", "pid"} then {"ev": "done", "rc", "timed_out", "failed", "tail", ...},
      or {"ev": "unsupported" | "compile_error" | "error", "reason"} without forking.
  {"op": "clean", "tests", "args", "timeout"}
      The same fork and run with no mutant: whether the selection passes in a fork at all
      (code that refuses to run after a fork fails there, whatever the mutant).
  A module the warm process never imported is served mutated by an import hook in the child.

Zygote mode (`zygote.py`), the same protocol:
  {"op": "preload", "tmp": DIR}
      Import pytest and its entry-point plugins, nothing of the project. -> {"ev": "ready", ...}
  {"op": "run", ...}  as above with "tests": null: the child runs `pytest.main(args)` with the
      mutated module served by the import hook (refused if the zygote imported that file).
  {"op": "pytest", "args", "timeout", "path"?}
      `pytest.main(args)` in a child on the files as they are on disk (the generic executor
      wrote the mutant at `path`; refused if the zygote imported that file). Both are refused
      when a file of the tree imported at start-up now reads otherwise (`HeldSources`).

Fresh mode (`--fresh SPEC.json`): one mutant in a new interpreter, the mutated module served by
the import hook from its first import (no file is written), then `pytest.main(args)`.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

TAIL_BYTES = 8000
# Exit codes for a mutant the worker could not serve (pytest uses 0-5; a forked child's own, the
# harness failing or the child ending unfinished, are in fork_child.py).
EXIT_STALE = 95  # the file no longer holds the text the mutant replaces
EXIT_COMPILE = 96  # the mutated source does not compile
EXIT_PREIMPORTED = 98  # fresh mode: the module was imported before the hook could serve it
_CO_KINDS = 0x20 | 0x80 | 0x100 | 0x200  # generator, coroutine, iterable coroutine, async generator


def _sibling(name: str) -> types.ModuleType:
    """A module beside this file, also when this file runs by path (no package): then it is
    loaded under a private name, so nothing of the launcher's lands on the tests' sys.path."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    private = f"_launcher_{name}"
    if private not in sys.modules:
        spec = importlib.util.spec_from_file_location(private, os.path.join(os.path.dirname(__file__), f"{name}.py"))
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {name}.py beside {__file__}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module
        spec.loader.exec_module(module)
    return sys.modules[private]


lookup = _sibling("fork_lookup")
mutant_code = _sibling("fork_mutant")
pytest_glue = _sibling("fork_session")
forked = _sibling("fork_child")
Refused = lookup.Refused
real = lookup.real


read_source = mutant_code.read_source
Stale = mutant_code.Stale
mutate = mutant_code.mutate
MutantFinder = mutant_code.MutantFinder
_flush = forked.flush


# --------------------------------------------------------------------------- warm worker


class Lines:
    """JSON lines from a raw fd, readable without blocking when select says so."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def fill(self) -> bool:
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def next(self) -> dict[str, Any] | None:
        while b"\n" not in self.buf:
            if self.eof or not self.fill():
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message


class Worker:
    def __init__(self) -> None:
        self.reply_fd = os.dup(1)  # the protocol channel: fd 1 itself goes to the log below
        os.dup2(2, 1)  # so nothing printed by an import or by pytest can corrupt the protocol
        self.log_fd = os.dup(2)  # to recognise the log among a child's inherited descriptors
        self.session: Any = None  # pytest's session, collected once (inside `init`)
        self.items: dict[str, Any] = {}  # its items by node id
        self._profile: Any = None
        self._started = 0.0
        self.lines = Lines(os.dup(0))  # a copy: pytest's capture puts /dev/null on fd 0
        self.child: int | None = None
        self.ran: set[tuple[str, int, str]] = set()  # (real file, first line, name) run while warming
        self.modules: dict[str, list[types.ModuleType]] = {}
        self.sources: dict[str, str] = {}
        self.tmp = ""
        self.held: Any = None  # zygote mode: the tree's files imported at start-up (`HeldSources`)
        self._pdeathsig: Any = None
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum: int, frame: Any) -> None:
        if self.child is not None:
            forked.kill_group(self.child)
        os._exit(128 + signum)

    def reply(self, **message: Any) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.reply_fd, data) :]

    # -- warm-up

    def init(self, message: dict[str, Any]) -> None:
        """Start the one pytest session; its `pytest_runtestloop` calls `_ready`, which serves the
        jobs from inside it until EOF. A session that never gets that far (collection failed)
        answers its exit code instead."""
        if self.session is not None:
            return self.reply(ev="error", reason="already initialised")
        self.tmp = message["tmp"]
        self._started = time.monotonic()
        import threading

        import pytest

        seen: dict[int, types.CodeType] = {}

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "call":
                code = frame.f_code
                seen[id(code)] = code  # by id: hashing a code object hashes its bytecode

        self._profile = seen
        sys.setprofile(profile)
        threading.setprofile(profile)
        try:
            rc = int(pytest.main(list(message["args"]), plugins=[pytest_glue.warm_session(self._ready)]))
        finally:
            self._stop_profiling()
        if self.session is None:
            _flush()
            self.reply(ev="ready", rc=rc, pid=os.getpid(), warmup_s=time.monotonic() - self._started)
        return None

    def _stop_profiling(self) -> None:
        import threading

        sys.setprofile(None)
        threading.setprofile(None)

    def _ready(self, session: Any) -> None:
        """Collection is over: record what ran and what got imported, then serve jobs."""
        self._stop_profiling()
        self.session = session
        self.items = {item.nodeid: item for item in session.items}
        for code in self._profile.values():
            if not code.co_filename.startswith("<"):
                self.ran.add((real(code.co_filename), code.co_firstlineno, code.co_name))
        self._profile = None
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and file.endswith(".py"):
                group = self.modules.setdefault(real(file), [])
                if all(m is not module for m in group):
                    group.append(module)
        self._arm_pdeathsig()
        _flush()
        rc = 0 if session.items else pytest_glue.EXIT_NO_TESTS
        self.reply(
            ev="ready", rc=rc, pid=os.getpid(), warmup_s=time.monotonic() - self._started,
            modules=len(self.modules), ran=len(self.ran), python=sys.version.split()[0], items=len(session.items),
        )  # fmt: skip
        self.serve()

    def _arm_pdeathsig(self) -> None:
        try:  # Linux: a child dies with the worker, whatever kills the worker
            import ctypes

            self._pdeathsig = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            self._pdeathsig = None

    def preload(self, message: dict[str, Any]) -> None:
        """Zygote mode: import pytest and its plugins, nothing of the project; each job then
        forks a child that runs `pytest.main` as a fresh interpreter would."""
        self.tmp = message["tmp"]
        started = time.monotonic()
        plugins = pytest_glue.preload_plugins()
        self.held = pytest_glue.HeldSources(os.getcwd())
        self._arm_pdeathsig()
        _flush()
        self.reply(ev="ready", rc=0, pid=os.getpid(), warmup_s=time.monotonic() - started, plugins=plugins,
                   python=sys.version.split()[0])  # fmt: skip

    # -- one job

    def plan(self, job: dict[str, Any]) -> tuple[list[tuple[types.FunctionType, types.CodeType]], Any]:
        path = job["path"]
        source = self.sources.get(path)
        if source is None:
            source = self.sources[path] = read_source(path)
        mutated = mutate(source, job)
        loaded = self.modules.get(real(path), [])
        filename = loaded[0].__file__ if loaded and loaded[0].__file__ else path
        module_code = compile(mutated, filename, "exec", dont_inherit=True)
        if not loaded:
            if self.session is None and _imported(path):
                raise Refused(f"{path} was imported when the zygote started (by a plugin?)")
            if self.session is None and self.held is not None and (why := self.held.changed()):
                raise Refused(why)
            return [], MutantFinder(path, module_code, mutated, real)  # imported, if at all, in the child
        swaps: list[tuple[types.FunctionType, types.CodeType]] = []
        for module in loaded:
            candidates, outer = lookup.live_function(module, job["function"])
            new = lookup.new_code(module_code, outer, int(job["line"]))
            live = lookup.of_code(candidates, new, path) or lookup.of_code(
                [f for c in candidates for f in lookup.wrapped_functions(c)], new, path
            )
            if len(live) != 1:
                raise Refused(f"{outer}: the loaded object is not the function of the file (wrapped or replaced?)")
            old = live[0].__code__
            if (real(old.co_filename), old.co_firstlineno, old.co_name) in self.ran:
                raise Refused(
                    f"{outer} ran during import or collection: what it computed then may be kept "
                    "in the warm process, unmutated"
                )
            if old.co_freevars != new.co_freevars or (old.co_flags ^ new.co_flags) & _CO_KINDS:
                raise Refused(f"{outer}: the mutant changes the function's closure or kind")
            swaps.append((live[0], new))
        return swaps, None

    def run(self, job: dict[str, Any]) -> None:
        try:
            swaps, finder = ([], None) if job.get("op") == "clean" else self.plan(job)
        except Refused as exc:
            return self.reply(ev="unsupported", reason=str(exc))
        except Stale as exc:
            return self.reply(ev="error", reason=str(exc))
        except (SyntaxError, ValueError) as exc:
            return self.reply(ev="compile_error", reason=f"{type(exc).__name__}: {exc}")

        def body(result: str) -> int:
            for function, new in swaps:
                function.__code__ = new  # every reference (imports, registries, bound methods) sees it
            if finder is not None:
                sys.meta_path.insert(0, finder)
            tests = job.get("tests")
            items = None
            if self.session is not None and tests is not None:
                items = list(self.session.items) if not tests else pytest_glue.select(self.items, tests)
            if items is not None:
                return int(pytest_glue.run_items(self.session, items, result))
            return int(pytest_glue.run_pytest(job["args"], result))

        return self._fork(body, float(job["timeout"]))

    def pytest(self, job: dict[str, Any]) -> None:
        """Zygote mode: `pytest.main(args)` in a child, on the tree as it is on disk."""
        path = job.get("path")
        if path and _imported(path):
            return self.reply(ev="unsupported", reason=f"{path} was imported when the zygote started")
        if self.held is not None and (why := self.held.changed()):
            return self.reply(ev="unsupported", reason=why)
        return self._fork(lambda result: int(pytest_glue.run_pytest(job["args"], result)), float(job["timeout"]))

    def _fork(self, body: Callable[[str], int], timeout: float) -> None:
        """Run `body(result_path)` in a forked child with its own group and log (fork_child.py),
        wait for it or the deadline, and answer `forked` then `done`."""
        log = os.path.join(self.tmp, "child.log")
        result = os.path.join(self.tmp, "child.json")
        started = time.monotonic()
        pid = forked.start(body, log, result, pdeathsig=self._pdeathsig, close=(self.reply_fd, self.lines.fd),
                           redirect_log=lambda fd: pytest_glue.redirect_inherited(fd, self.log_fd))
        self.child = pid
        self.reply(ev="forked", pid=pid)
        status, timed_out = forked.wait(pid, timeout, self.lines)
        self.child = None
        rc, failed, tail = forked.outcome(status, result, log)
        self.reply(
            ev="done", rc=rc, timed_out=timed_out, failed=failed,
            duration_s=time.monotonic() - started, tail=tail,
        )  # fmt: skip

    def serve(self) -> None:
        while True:
            message = self.lines.next()
            if message is None:
                return  # EOF: the executor stopped us
            op = message.get("op")
            try:
                if op == "init":
                    self.init(message)
                elif op == "preload":
                    self.preload(message)
                elif op in ("run", "clean"):  # clean: the same selection, no mutant (`ForkExecutor.forks_clean`)
                    self.run(message)
                elif op == "pytest":
                    self.pytest(message)
                else:
                    self.reply(ev="error", reason=f"unknown op {op!r}")
            except Exception:  # report it and keep serving
                self.reply(ev="error", reason=traceback.format_exc()[-TAIL_BYTES:])


def _imported(path: str) -> bool:
    target = real(path)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and real(file) == target:
            return True
    return False


# --------------------------------------------------------------------------- fresh mode


def fresh(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as fh:
        job = json.load(fh)
    path = job["path"]
    try:
        mutated = mutate(read_source(path), job)
    except Stale as exc:
        print(f"stale mutant: {exc}", file=sys.stderr)
        return EXIT_STALE
    try:
        code = compile(mutated, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        print(f"the mutant does not compile: {exc}", file=sys.stderr)
        return EXIT_COMPILE
    if _imported(path):
        print(f"{path} was imported at interpreter start, before the mutant could be served", file=sys.stderr)
        return EXIT_PREIMPORTED
    sys.meta_path.insert(0, MutantFinder(path, code, mutated, real))
    return int(pytest_glue.run_pytest(job["args"], job["result"]))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fresh"]:
        return fresh(argv[1])
    Worker().serve()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    if sys.argv[1:2] == ["--fresh"]:
        forked.join_threads()  # as interpreter shutdown would: a thread the tests left running hangs the run
    _flush()
    os._exit(code)  # skip the rest of interpreter teardown
