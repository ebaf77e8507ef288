"""The fork worker's pytest glue (`fork_worker`): one collected session, tests run by item.

Stdlib and pytest only, and no `launcher` import, like the worker that loads it: it runs inside
the project's Python. pytest is imported inside the functions, never at import time: the
launcher's own process imports `fork_worker` (for its constants), and need not have pytest.

The warm worker runs `pytest.main(args)` once with a `WarmSession` plugin. Collection happens as
in any run (conftests, test modules and the code under test get imported); then, instead of
running the tests, the plugin hands the session to the worker, which serves jobs from inside
`pytest_runtestloop`. A forked child runs its mutant's tests straight from the collected items,
as pytest's own loop (and pytest-xdist's workers) do: no configuration parsed, no module
collected again, only the selected tests' own time. Node ids the session does not know are
widened (`select`): the test function's cases, the file, or the whole session.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

EXIT_NO_TESTS = 5  # pytest's ExitCode.NO_TESTS_COLLECTED


class Recorder:
    """A pytest plugin: the node ids that failed (the mutant's killers)."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.failed.append(report.nodeid or "<collection>")


def _write_failed(result_path: str, recorder: Recorder) -> None:
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump({"failed": recorder.failed}, fh)


def run_pytest(args: list[str], result_path: str) -> int:
    """A whole pytest run of its own (a fresh interpreter, or a node id the session lacks)."""
    import pytest

    recorder = Recorder()
    rc = int(pytest.main(list(args), plugins=[recorder]))
    _write_failed(result_path, recorder)
    return rc


def preload_plugins() -> int:
    """Import what `pytest.main` will: pytest, and the plugins installed for it (its `pytest11`
    entry points) unless PYTEST_DISABLE_PLUGIN_AUTOLOAD says not to. The number loaded."""
    import pytest  # noqa: F401

    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return 0
    from importlib import metadata

    loaded = 0
    for entry in metadata.entry_points(group="pytest11"):
        try:
            entry.load()
        except Exception:  # pytest reports a broken plugin itself, in the child
            continue
        loaded += 1
    return loaded


class HeldSources:
    """The tree's files a zygote imported at start-up (its plugins, a project that is one), with
    their content then. Those modules stay loaded in every child: a run on a tree where one of
    these files now reads otherwise (a mutant on disk) would test the code the zygote holds, not
    the file, so such a run belongs in a fresh process."""

    def __init__(self, root: str) -> None:
        base = os.path.realpath(root) + os.sep
        self.files: dict[str, bytes] = {}
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            path = os.path.realpath(file) if isinstance(file, str) else ""
            if path.startswith(base) and path not in self.files:
                self.files[path] = _content(path)

    def changed(self) -> str:
        """Why a run on the tree now would not test the files on disk (a held file whose content
        differs from the one imported), or ""."""
        changed = next((path for path, data in self.files.items() if _content(path) != data), None)
        return f"{changed} changed since the zygote imported it at start-up" if changed else ""


def _content(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""  # gone (or unreadable): differs from any file that was imported


def warm_session(on_ready: Callable[[Any], None]) -> Any:
    """The plugin for the warm worker's one `pytest.main`: once collection is over it calls
    `on_ready(session)`, which serves jobs until told to stop; the suite itself is never run."""
    import pytest

    class WarmSession:
        @pytest.hookimpl(tryfirst=True)
        def pytest_runtestloop(self, session: Any) -> bool | None:
            option = session.config.option
            if (session.testsfailed and not option.continue_on_collection_errors) or option.collectonly:
                return None  # pytest's own loop stops the run (collection errors) and says why
            on_ready(session)
            return True  # the tests were run by the children, one selection each

    return WarmSession()


def select(items: Mapping[str, Any], node_ids: Sequence[str]) -> list[Any] | None:
    """The collected items (`items`: by node id) of these node ids, in collection order. An id the
    session lacks (a parametrized case named by position, which another process numbered
    otherwise) is widened, never an error: to its test function's cases, else its file's items,
    else every item (as `launcher.mutation.test_ids` widens a command line)."""
    chosen: dict[int, Any] = {}
    for node_id in dict.fromkeys(node_ids):
        found = [items[node_id]] if node_id in items else _widened(items, node_id)
        chosen.update((id(item), item) for item in found)
    # In collection order, as the whole suite runs them: a test may depend on an earlier one.
    position = {id(item): index for index, item in enumerate(items.values())}
    return sorted(chosen.values(), key=lambda item: position.get(id(item), len(position)))


def _widened(items: Mapping[str, Any], node_id: str) -> list[Any]:
    function = node_id.split("[", 1)[0] if node_id.endswith("]") else node_id
    same_function = [item for nid, item in items.items() if nid.split("[", 1)[0] == function]
    if same_function:
        return same_function
    path = node_id.split("::", 1)[0]
    same_file = [item for nid, item in items.items() if nid.split("::", 1)[0] == path]
    return same_file or list(items.values())


def run_items(session: Any, items: list[Any], result_path: str) -> int:
    """In the forked child: run these items as pytest's own loop does (fixtures set up and torn
    down by scope; `-x` honoured, and pytest tears every fixture down after the item that stops
    the run). The session is not finished: the plugins' session-end work (reports,
    pytest-benchmark's machine survey: 0.1 s a fork) would cost every fork, and whatever it
    could decide is decided again, as a survivor is re-run in a complete fresh session before
    it counts."""
    recorder = Recorder()
    config = session.config
    config.pluginmanager.register(recorder, "launcher-recorder")
    exitstatus = EXIT_NO_TESTS if not items else 0
    try:
        for i, item in enumerate(items):
            nextitem = items[i + 1] if i + 1 < len(items) else None
            config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldfail or session.shouldstop:
                break
        if session.testsfailed:
            exitstatus = 1  # ExitCode.TESTS_FAILED
    except KeyboardInterrupt:  # a SIGINT: pytest's own banner says so (`no_verdict`), never a kill
        print("\n!!!!!!!!!!!!!!!!!!!! KeyboardInterrupt !!!!!!!!!!!!!!!!!!!!", flush=True)
        exitstatus = 2  # ExitCode.INTERRUPTED
    _write_failed(result_path, recorder)
    return exitstatus


def redirect_inherited(target_fd: int, like_fd: int) -> None:
    """Point every descriptor of this process that refers to the same file as `like_fd` (the
    worker's log: pytest's capture keeps copies of it, to restore after each test) at
    `target_fd` instead, so a child's output lands in the child's log."""
    try:
        like = os.fstat(like_fd)
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd in (target_fd, like_fd):
            continue
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (like.st_dev, like.st_ino):
            os.dup2(target_fd, fd)
