"""`launcher mutation sweep`'s progress lines never hold the sweep up: with a stderr whose reader
reads nothing (`launcher mutation sweep 2>&1 | less` not scrolled, a log shipper under
back-pressure) the sweep runs every mutant to its end, and SIGTERM (a CI cancel) stops the
command at once (exit 130), its results kept."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_files
from rich.console import Console

from launcher.cli.mutation_progress import PlainProgress
from tests.helpers import full_pipe, git

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a one-page pipe (F_SETPIPE_SZ)")

# Sixty functions, one tested: many mutants settled at once (no test covers them), a line each.
_FILES = {
    "app.py": "".join(f"def f{i}(a, b):\n    return a + b * {i} - (a > b)\n\n" for i in range(60)),
    "tests/test_app.py": "import app\n\n\ndef test_some():\n    assert app.f1(2, 1) == 2\n",
}



def _sweep(db_file: Path) -> tuple[str, int] | None:
    """The sweep's status and how many mutants it has settled, once it is recorded."""
    if not db_file.exists():
        return None
    try:
        with sqlite3.connect(db_file, timeout=5) as db:
            row = db.execute("SELECT status, (SELECT count(*) FROM mutation_results r WHERE r.sweep_id = s.id) "
                             "FROM mutation_sweeps s").fetchone()
    except sqlite3.Error:
        return None
    return (str(row[0]), int(row[1])) if row else None


def test_a_sweep_runs_to_its_end_and_stops_on_sigterm_while_stderr_s_reader_reads_nothing(tmp_path: Path) -> None:
    repo = write_files(tmp_path / "repo", _FILES)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "weakly tested")
    r, w = full_pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    with (tmp_path / "stdout").open("wb") as out:
        sweep = subprocess.Popen([sys.executable, "-m", "launcher", "mutation", "sweep", "app.py", "--workers", "1",
                                  "--max-mutants", "120", "--python", sys.executable],
                                 cwd=repo, env=env, stdout=out, stderr=w, start_new_session=True)
    os.close(w)
    db_file = repo / ".launcher" / "launcher.db"
    seen = None
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and sweep.poll() is None:
            seen = _sweep(db_file)
            if seen is not None and seen[0] == "done":
                break
            time.sleep(0.25)
        sweep.send_signal(signal.SIGTERM)  # a CI cancel; still nobody reads stderr
        try:
            rc: int | None = sweep.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
        os.close(r)
    assert seen is not None and seen[0] == "done", f"the sweep did not run to its end while stderr was stuck: {seen}"
    assert seen[1] >= 100  # far more lines than the page its reader left room for
    assert rc == 130, "SIGTERM did not stop the sweep while its stderr was stuck"


def test_plain_progress_writes_out_its_lines_at_close_and_drops_them_on_a_stop(tmp_path: Path) -> None:
    path = tmp_path / "progress.log"
    with path.open("w") as stream:
        progress = PlainProgress(Console(file=stream, soft_wrap=True))
        progress.say("phase: measuring the suite\r")  # no control character reaches the log
        progress.close()
    assert path.read_text() == "phase: measuring the suite\n"
    r, w = full_pipe()
    try:
        with open(w, "w", closefd=False) as stream:
            progress = PlainProgress(Console(file=stream, soft_wrap=True))
            started = time.monotonic()
            for i in range(50):
                progress.say(f"[{i}/50] Killed app.py:{i}")  # queued, never waited for
            progress.started("s1", 50, 0, False)
            line = progress.interrupted()  # a stop: waits briefly, then drops what is left
            progress.close()
            assert time.monotonic() - started < 5
            assert "sweep s1 saved" in line
    finally:
        os.close(r)
        os.close(w)
    memory = io.StringIO()  # an in-memory stream (no descriptor) is written directly
    progress = PlainProgress(Console(file=memory, soft_wrap=True))
    progress.say("mutants: 3 to run on 1 worker(s)")
    assert memory.getvalue() == "mutants: 3 to run on 1 worker(s)\n"
