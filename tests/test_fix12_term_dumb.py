"""On a terminal that cannot redraw in place (TERM=dumb: Emacs `M-x shell` and `compile`, some CI
pseudo-terminals) `launcher run` prints the plain lines as the run goes (README: "a live table
when stdout is a TTY ... plain lines in every other case"): the run's id and each task's state
are seen while the agent works, not one frame once the run has ended."""

from __future__ import annotations

import fcntl
import os
import select
import shlex
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.helpers import commit_shell_plan

AGENT = ('touch {marker}; sleep 4; echo "$1" > t.txt; '
         'printf \'%s\' \'{"contract_version":"1","task_id":"t","status":"done","summary":"s",'
         '"files_changed":["t.txt"],"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"o"}\''
         ' > "$LAUNCHER_CONTRACT"')


def run_on_a_terminal(repo: Path, term: str) -> tuple[str, str, int]:
    """`launcher run plan.toml` on a pty with TERM=`term`: what the terminal showed while the
    agent worked, everything it showed, and the exit code."""
    marker = repo.parent / "agent-started"
    commit_shell_plan(repo, AGENT.replace("{marker}", shlex.quote(str(marker))))
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["TERM"] = term
    for key in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        env.pop(key, None)
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml"], cwd=repo, stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    shown, while_working = b"", None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if while_working is None and marker.exists():
                time.sleep(1.5)  # the agent works 4 s: a redraw at 4 a second has had its chance
                while_working = shown + _read_now(master)
                shown = while_working
            chunk = _read_chunk(master, 0.2)
            if chunk is None:
                break
            if not chunk and proc.poll() is not None:
                break
            shown += chunk
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return (while_working or b"").decode(errors="replace"), shown.decode(errors="replace"), code


def _read_chunk(master: int, wait: float) -> bytes | None:
    """What the terminal has within `wait` (b"": nothing yet); None once it is closed."""
    if not select.select([master], [], [], wait)[0]:
        return b""
    try:
        return os.read(master, 65536) or None
    except OSError:
        return None


def _read_now(master: int) -> bytes:
    got = b""
    while chunk := _read_chunk(master, 0.1):
        got += chunk
    return got


def test_a_dumb_terminal_gets_the_plain_lines_while_the_run_goes(repo: Path) -> None:
    while_working, shown, code = run_on_a_terminal(repo, "dumb")
    assert code == 0
    assert " run r-" in while_working  # `HH:MM:SS run r-... on main`: the run id, at once
    assert " t running agent sh round 1" in while_working
    assert "\x1b[" not in shown  # no cursor movement sent to a terminal that cannot do it


def test_a_terminal_that_redraws_still_gets_the_live_table(repo: Path) -> None:
    while_working, _, code = run_on_a_terminal(repo, "xterm-256color")
    assert code == 0
    assert "\x1b[" in while_working  # the table, redrawn in place
    assert " t running agent sh round 1" not in while_working
