"""A Ctrl-C or SIGTERM while the `launcher` command is still loading its CLI: the user is told
that it stopped and that nothing was done (README, "Task states and exit codes": 130), on a
file or a pipe alike: the line is never left in a buffer the exit throws away."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The real entry point, with the slow import of the CLI replaced by one that gets the signal:
# the moment a user's Ctrl-C lands in, after out_streams has replaced stdout and stderr.
_SIGNAL_WHILE_LOADING = """
import importlib.abc, importlib.util, os, signal, sys, time

class _SlowCli(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "launcher.cli.main" else None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        os.kill(os.getpid(), signal.{signame})
        time.sleep(10)

sys.meta_path.insert(0, _SlowCli())
from launcher.cli import entry
entry.main()
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_cli_loads_says_nothing_was_done(signame: str) -> None:
    code = _SIGNAL_WHILE_LOADING.format(signame=signame)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130
    assert done.stderr == f"launcher: stopped by {signame} while starting; nothing was done\n"


def test_what_is_written_to_stderr_goes_out_at_once() -> None:
    # Python's own stderr is unbuffered; the launcher's replacement must be too, or a line written
    # just before an immediate exit (os._exit, a crash) is lost.
    code = ("import os, sys\n"
            "from launcher.cli import out_streams\n"
            "out_streams.install()\n"
            "sys.stderr.write('a line, then an exit that flushes nothing\\n')\n"
            "sys.stderr.write('and half a line')\n"
            "os._exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stderr == "a line, then an exit that flushes nothing\nand half a line"
