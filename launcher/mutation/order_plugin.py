"""A pytest plugin run inside the project's test process: the tests a priority file names first.

Copied beside a worker tree as `_launcher_test_order.py` and loaded with `-p` (the project's
interpreter need not have the launcher installed), so it imports nothing but pytest and os. It
only reorders what pytest collected: the whole suite is still collected and, without a stop
line, every test still runs, so a passing run still means every test passed. The file (named by
LAUNCHER_TEST_ORDER) holds one entry a line: a node id, a test function (`path::test`, all its
cases) or a test file; the tests of the first entry run first, then the second's, then every
other test in pytest's own order. A line `!stop-after NODEID` deselects what follows that test
(the launcher's check that a reordered kill is not an artefact of the order). The launcher
never imports this module (it copies the file), so its own process needs no pytest.

It also keeps the session record (the file LAUNCHER_SESSION_RECORD names): a line when the
session starts, one when pytest was stopped (`pytest.exit`, a KeyboardInterrupt) and one when it
finishes. Exit status 0 alone reads as "every test passed"; a run whose record shows a start
without a finish (the process ended under pytest: `os._exit(0)`) or a stop
(`pytest.exit(returncode=0)`) did not run its tests to the end (`session_record`). A custom test
command's pytest loads it through PYTEST_PLUGINS, for the record only (no priority file lines).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

ORDER_ENV = "LAUNCHER_TEST_ORDER"
STOP_AFTER = "!stop-after "
RECORD_ENV = "LAUNCHER_SESSION_RECORD"
# The record file of each pytest session running in this process, outermost first. Only the
# outermost session records, and it takes the variable out of the environment: a test's own
# pytest runs (pytester in-process, a `python -m pytest` subprocess) may stop themselves on
# purpose, and are not the run the launcher judges.
_SESSIONS: list[str | None] = []


def _record(path: str | None, event: dict[str, Any]) -> None:
    if not path:
        return
    try:  # appended and closed at once: an os._exit right after must not lose it
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")
    except OSError:
        pass


def pytest_sessionstart(session: Any) -> None:
    worker = hasattr(session.config, "workerinput")  # a pytest-xdist worker: its controller records
    path = os.environ.pop(RECORD_ENV, None) if not _SESSIONS and not worker else None
    _SESSIONS.append(path)
    _record(path, {"ev": "start", "pid": os.getpid()})


def pytest_keyboard_interrupt(excinfo: Any) -> None:
    """pytest calls this for `pytest.exit(...)` as well as for a KeyboardInterrupt."""
    said = f"{type(excinfo.value).__name__}: {getattr(excinfo.value, 'msg', excinfo.value)}"
    _record(_SESSIONS[-1] if _SESSIONS else None, {"ev": "stopped", "pid": os.getpid(), "what": said[:200]})


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    path = _SESSIONS.pop() if _SESSIONS else None
    _record(path, {"ev": "finish", "pid": os.getpid(), "exitstatus": int(exitstatus)})


def _read(path: str) -> tuple[list[str], str | None]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line.rstrip("\n") for line in fh]
    except OSError:
        return [], None
    stop = next((line[len(STOP_AFTER) :] for line in lines if line.startswith(STOP_AFTER)), None)
    return [line for line in lines if line and not line.startswith(STOP_AFTER)], stop


def _function(node_id: str) -> str:
    return node_id.split("[", 1)[0] if node_id.endswith("]") else node_id


def _names(node_id: str) -> tuple[str, str, str]:
    """What a priority entry may call this test: itself, its function, its file."""
    return node_id, _function(node_id), node_id.split("::", 1)[0]


def _cut(items: list[Any], stop: str) -> int | None:
    """The index after which nothing runs: the stop test, or the last case of its function."""
    exact = [i for i, item in enumerate(items) if item.nodeid == stop]
    if exact:
        return exact[0]
    cases = [i for i, item in enumerate(items) if _function(item.nodeid) == _function(stop)]
    return cases[-1] if cases else None


@pytest.hookimpl(trylast=True)  # after any other reordering plugin: the priority wins
def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    path = os.environ.get(ORDER_ENV)
    if not path:
        return
    priority, stop = _read(path)
    rank: dict[str, int] = {}
    for position, entry in enumerate(priority):
        rank.setdefault(entry, position)
    if rank:
        unranked = len(priority)
        items.sort(key=lambda item: min((rank[n] for n in _names(item.nodeid) if n in rank), default=unranked))
    cut = _cut(items, stop) if stop is not None else None
    if cut is not None and cut + 1 < len(items):
        config.hook.pytest_deselected(items=items[cut + 1 :])
        del items[cut + 1 :]
