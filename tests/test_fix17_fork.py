"""Verdicts of the fast paths match a fresh `python -m pytest` (review17 mutruth 07, 08, 10).

  * 07: code that refuses to run after a fork (a connection pool that keeps its pid from import
    time) fails every forked run, whatever the mutant. A fork's kill counts only when the same
    selection passes in a fork without the mutant; otherwise a fresh test process decides.
  * 08: a mutant that leaves a non-daemon thread running keeps `python -m pytest` from ever
    exiting after its tests pass (CI times out: detected). A forked run does at its end what
    interpreter exit does (joins those threads), so it hangs too and its limit makes it Timeout.
  * 10: a whole-suite mutant's narrow stage collects only its likely killers' files; another test
    file may set up at import what the mutated module holds. A narrow kill stands only when the
    whole suite, collected, fails the same way.
Each scenario is a real repository swept end to end, checked against the same mutant applied by
hand and run with a real `python -m pytest`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
from test_mutation_verdicts import make_repo, sweep

from launcher.app.mutation.sweep_options import SweepOutcome
from launcher.mutation.discover import read_source
from launcher.mutation.executor import MutantJob
from launcher.mutation.executor_fork import ForkExecutor
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.python_ops import generate_mutants

IMPORT_SRC = 'import sys\nsys.path.insert(0, "src")\n'


def status_of(outcome: SweepOutcome, target: str, line: int, fault: str) -> MutantStatus:
    where = [(r.mutant.target, r.mutant.line, r.mutant.fault) for r in outcome.results]
    found = [r.status for r, at in zip(outcome.results, where, strict=True) if at == (target, line, fault)]
    assert len(found) == 1, where
    return found[0]


def pytest_with(root: Path, rel: str, old: str, new: str, timeout: float = 30) -> int | None:
    """`python -m pytest` on the tree with `old` replaced by `new` in `rel` (restored after):
    its exit code, None when it did not end within `timeout`."""
    path = root / rel
    original = path.read_text()
    path.write_text(original.replace(old, new, 1))
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                              capture_output=True, timeout=timeout)  # fmt: skip
        return done.returncode
    except subprocess.TimeoutExpired:
        return None
    finally:
        path.write_text(original)


# --------------------------------------------------------------------------- 07

PID_GUARD = {
    "src/db.py": (
        "import os\n\n"
        "_PID = os.getpid()\n\n\n"
        "def connect():\n"
        "    if os.getpid() != _PID:\n"
        '        raise RuntimeError("connection pool used after fork")\n'
        '    return "conn"\n\n\n'
        "def query(x):\n"
        "    connect()\n"
        "    return x + 1\n"
    ),
    "tests/test_db.py": IMPORT_SRC + "from db import query\n\n\ndef test_query():\n    assert query(1) == 2\n",
}


def _string_mutant(root: Path) -> Mutant:
    found = generate_mutants(root / "src/db.py", read_source(root / "src/db.py"), "src/db.py", ["string"])
    return next(m for m in found if m.line == 9)


def test_a_fork_kill_of_code_that_refuses_to_run_after_a_fork_is_no_kill(tmp_path: Path) -> None:
    """`return "conn"` -> `return "XXconnXX"`: no test reads the text, so `python -m pytest`
    passes with it; in a fork of the warm worker `connect()` raises whatever the mutant. The
    fork executor, asked alone, sees that the selection fails in a fork unmutated too and lets a
    fresh test process decide: Survived. The sweep agrees, and still kills what the suite kills."""
    root = make_repo(tmp_path / "p", PID_GUARD)
    assert pytest_with(root, "src/db.py", 'return "conn"', 'return "XXconnXX"') == 0

    async def fork_alone() -> tuple[MutantStatus, str]:
        executor = ForkExecutor(root, None, [], sys.executable)
        await executor.start()
        try:
            result = await executor.run(MutantJob(_string_mutant(root), ["tests/test_db.py::test_query"], 20))
        finally:
            await executor.stop()
        return result.status, result.output_tail

    status, tail = anyio.run(fork_alone)
    assert status is MutantStatus.SURVIVED, tail
    assert "fail in a fork without the mutant too" in tail

    outcome = sweep(root, paths=["src/db.py"], operators=["string", "arithmetic"])
    assert status_of(outcome, "src/db.py", 9, "string") is MutantStatus.SURVIVED
    assert status_of(outcome, "src/db.py", 14, "arithmetic") is MutantStatus.KILLED  # x + 1 -> x - 1


# --------------------------------------------------------------------------- 08

THREADS = {
    "src/pool.py": (
        "import queue\nimport threading\n\n"
        "_jobs = queue.Queue()\n\n\n"
        "def _worker():\n"
        "    while True:\n"
        "        item, out = _jobs.get()\n"
        "        out.put(item * 2)\n\n\n"
        "threading.Thread(target=_worker, daemon=True).start()  # at import: the generic executor's\n\n\n"
        "def submit(x):\n"
        "    out = queue.Queue()\n"
        "    _jobs.put((x, out))\n"
        "    return out.get(timeout=2)\n"
    ),
    "src/ticker.py": (
        "import threading\nimport time\n\n\n"
        "def _tick():\n"
        "    while True:\n"
        "        time.sleep(0.05)\n\n\n"
        "def background():  # in a test only: the fork executor's\n"
        "    thread = threading.Thread(target=_tick, daemon=True)\n"
        "    thread.start()\n"
        "    return thread.is_alive()\n"
    ),
    "tests/test_pool.py": IMPORT_SRC + "from pool import submit\n\n\ndef test_submit():\n    assert submit(21) == 42\n",
    "tests/test_ticker.py": IMPORT_SRC + "from ticker import background\n\n\n"
    "def test_background():\n    assert background()\n",
}


def test_a_mutant_that_leaves_a_non_daemon_thread_running_times_out(tmp_path: Path) -> None:
    """`daemon=True` -> `daemon=False`: the tests pass, then `python -m pytest` waits for the
    thread forever. Both such mutants (one run at import, one inside a test) are Timeout, not
    Survived; the unmutated suite ends, and `while True` -> `while False` is still Killed."""
    root = make_repo(tmp_path / "p", THREADS)
    assert pytest_with(root, "src/pool.py", "daemon=True", "daemon=False", timeout=10) is None
    assert pytest_with(root, "src/pool.py", "daemon=True", "daemon=True", timeout=30) == 0
    outcome = sweep(root, paths=["src/pool.py", "src/ticker.py"], operators=["boolean"], timeout_min_s=2.0)
    assert status_of(outcome, "src/pool.py", 13, "boolean") is MutantStatus.TIMEOUT
    assert status_of(outcome, "src/ticker.py", 11, "boolean") is MutantStatus.TIMEOUT
    assert status_of(outcome, "src/pool.py", 8, "boolean") is MutantStatus.KILLED


# --------------------------------------------------------------------------- 10

IMPORT_TIME_SETUP = {
    "src/app.py": (
        'CONFIG = {"strict": False}\n\n\n'
        "def check(x):\n"
        '    if CONFIG["strict"] and x < 0:\n'
        "        raise ValueError(x)\n"
        "    return x\n"
    ),
    "tests/test_a_setup.py": IMPORT_SRC + "import app\n\n"
    'app.CONFIG["strict"] = True\n\n\ndef test_setup():\n    assert app.CONFIG["strict"]\n',
    "tests/test_b.py": IMPORT_SRC + "from app import check\n\n\ndef test_zero():\n    assert check(0) == 0\n",
}


def test_a_narrow_stage_kill_the_whole_suite_does_not_give_is_no_kill(tmp_path: Path) -> None:
    """`"strict"` -> `"XXstrictXX"` in import-time code: `tests/test_b.py` alone fails (the key is
    missing), but the whole suite imports `tests/test_a_setup.py`, which sets the key at import,
    and passes. The narrow stage (test_b.py, the file of the likely killer) must not decide."""
    root = make_repo(tmp_path / "p", IMPORT_TIME_SETUP)
    assert pytest_with(root, "src/app.py", '"strict": False', '"XXstrictXX": False') == 0
    outcome = sweep(root, paths=["src/app.py"], operators=["string"])
    assert status_of(outcome, "src/app.py", 1, "string") is MutantStatus.SURVIVED
