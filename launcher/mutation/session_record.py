"""Whether a pytest run that exited 0 ran its tests to the end (the session record).

Exit status 0 reads as "every test passed". A mutant can end the test process with status 0
before that is true: code under test that calls `os._exit(0)` (the process is gone, pytest never
finishes), or a conftest or fixture that now reaches `pytest.exit(..., returncode=0)` ("no
tests ran", exit 0). Neither is a survivor: the suite never completed. The generic executor's
pytest runs (and a custom test command's, through PYTEST_PLUGINS) load the launcher's plugin
(`order_plugin`, copied beside the worker tree), which appends a line to the record when the
session starts, when pytest is stopped, and when it finishes. (The fork executor's children
catch `os._exit(0)` by the result file they never wrote, `fork_child.outcome`; every survivor of
theirs is re-checked in a fresh process, which keeps a record.) A run whose record has no start
(the plugin was not loaded: `python -m unittest`, a tox that filters the environment) says
nothing here: its exit status stands. A suite that stops itself the same way on the unmutated
tree gives no kill (`GenericExecutor._clean_ends`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from launcher import process
from launcher.mutation.no_verdict import Death

RECORD_ENV = "LAUNCHER_SESSION_RECORD"  # names the record file (the plugin's own constant too)
_MARK = "[launcher] "  # starts the line the reason is appended to a run's stderr with (`marked`)
_MARKED = re.compile(r"^" + re.escape(_MARK) + r"(.+)$", re.MULTILINE)
_PYTEST_EXIT = re.compile(r"^!+ (_pytest\.outcomes\.Exit: .*?) !+\s*$", re.MULTILINE)  # pytest.exit's banner
UNRECORDED = ("the test command's pytest cannot import the launcher's plugin {plugin!r} (does it set its own "
              "PYTHONPATH?): a mutant ending the run with exit status 0 before its tests finished (os._exit(0), "
              "pytest.exit(returncode=0)) reads as Survived; prepend to PYTHONPATH instead of replacing it")


def _events(record: Path) -> list[dict[str, object]]:
    try:
        lines = record.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short by the process ending mid-write
        if isinstance(event, dict):
            events.append(event)
    return events


def after_session(record: Path, done: process.Completed) -> Death | None:
    """A run whose process exited otherwise than its (one) pytest session finished: something
    ran after pytest was done -- an `atexit` handler's `os._exit(3)` (a leak check), which fails
    `python -m pytest` in CI. Whose doing (the mutant's, or a check that fails anyway) the runs
    around it decide, as for a death (`no_verdict`)."""
    finishes = [e for e in _events(record) if e.get("ev") == "finish"]
    if done.timed_out or done.returncode <= 0 or len(finishes) != 1:
        return None
    status = finishes[0].get("exitstatus")
    if not isinstance(status, int) or status == done.returncode:
        return None
    what = f"the test process exited {done.returncode} after its pytest session finished with {status}"
    return Death(("after-session", done.returncode), what,
                 f"no verdict: {what} (an exit handler's doing: the mutant's, or one that fails on any tree?)")


def unfinished(record: Path) -> str | None:
    """Why the run that wrote `record` did not run its tests to the end; None when it did, or
    when the record cannot tell (no session start recorded)."""
    events = _events(record)
    starts = [e for e in events if e.get("ev") == "start"]
    if not starts:
        return None
    stopped = [str(e.get("what", "")) for e in events if e.get("ev") == "stopped"]
    if stopped:
        return f"pytest was stopped ({stopped[0]})"
    if len([e for e in events if e.get("ev") == "finish"]) < len(starts):
        return "its pytest session never finished (the process ended under it, e.g. os._exit(0))"
    return None


def marked(why: str) -> bytes:
    """The line appended to an unfinished run's stderr, which `note` reads back."""
    return f"\n{_MARK}{why}\n".encode()


def note(err: str, output: str) -> str:
    """The Killed note of a run that exited 0 before its tests finished (`EXIT_UNFINISHED`)."""
    said, stopped = _MARKED.search(err), _PYTEST_EXIT.search(output)
    ended = (f": {said.group(1)}" if said else f": pytest was stopped ({stopped.group(1)[:200]})" if stopped
             else " (the mutant ended it, e.g. os._exit(0))")  # fmt: skip
    return f"the test process exited with status 0 before its tests finished{ended}"


def unloadable(output: str, plugin: str) -> bool:
    """pytest said it could not import the plugin (a command that replaces PYTHONPATH)."""
    return f'Error importing plugin "{plugin}"' in output
