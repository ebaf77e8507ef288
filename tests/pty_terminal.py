"""`launcher ARGS` with a pty as its terminal: questions answered, Ctrl-C sent, as an operator does."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path


class LauncherTerminal:
    """The launcher CLI on a pseudo-terminal; `seen` is what it printed since the last question
    waited for, `all` everything."""

    def __init__(self, cwd: Path, *args: str) -> None:
        master, slave = os.openpty()
        self.master, self.seen, self.all = master, "", ""
        self.proc = subprocess.Popen([sys.executable, "-m", "launcher", *args], cwd=cwd, stdin=slave, stdout=slave,
                                     stderr=slave, env=os.environ.copy(), start_new_session=True)  # fmt: skip
        os.close(slave)

    def _read(self, timeout: float) -> bool:
        """Read what is there within `timeout`; False once the child closed the terminal."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # the child closed the terminal
            return False
        text = chunk.decode(errors="replace")
        self.seen += text
        self.all += text
        return bool(chunk)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """Wait until `text` is shown; returns what was shown up to and with it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            if time.monotonic() > deadline or not self._read(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{self.all}")
        found = self.seen
        self.seen = self.seen[self.seen.index(text) + len(text) :]
        return found

    def answer(self, question: str, reply: str) -> str:
        shown = self.wait_for(question)
        os.write(self.master, reply.encode() + b"\n")
        return shown

    def finish(self) -> int:
        code = self.proc.wait(timeout=30)
        os.close(self.master)
        return code

    def ctrl_c_at(self, question: str, signum: int = signal.SIGINT) -> int:
        """Ctrl-C (SIGINT; or `signum`) once `question` is asked; the exit code, which must come within 10 s."""
        self.wait_for(question)
        self.proc.send_signal(signum)
        deadline = time.monotonic() + 10
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"still waiting at its question 10 s after Ctrl-C; the terminal shows:\n{self.all}")
        while self._read(0.2) and self.seen:  # what it said on its way out
            self.seen = ""
        os.close(self.master)
        return self.proc.returncode
