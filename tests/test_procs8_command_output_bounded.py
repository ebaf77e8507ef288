"""A user's command (a check, setup, the integration check) that prints a flood costs the
launcher a bounded amount of memory: of each stream it keeps the start and the end (the middle
elided, with a marker), and a check's result is decoded from the last bytes only."""

from __future__ import annotations

from pathlib import Path

import anyio
from helpers import PeakRss

from launcher import process
from launcher.gates.checks import run_checks

MiB = 1024 * 1024


def test_a_check_printing_300_mb_of_binary_does_not_grow_the_launchers_memory(tmp_path: Path) -> None:
    flood = "head -c 150000000 /dev/urandom; head -c 150000000 /dev/urandom >&2; echo 'the end' >&2; exit 3"
    with PeakRss() as rss:
        (result,) = anyio.run(lambda: run_checks([flood], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout_s=120))
    assert not result.ok and result.exit_code == 3
    assert result.output_tail.endswith("the end\n") and len(result.output_tail) == 4000
    assert rss.growth < 48 * MiB, f"the launcher grew by {rss.growth // MiB} MiB for one check's output"


def test_a_commands_output_keeps_its_start_and_its_end(tmp_path: Path) -> None:
    done = anyio.run(
        lambda: process.run_command(["sh", "-c", "seq 1 3000000"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    )
    text = done.out
    assert text.startswith("1\n2\n3\n") and text.endswith("\n2999999\n3000000\n")
    assert "bytes elided from the middle of this output]" in text
    assert len(done.stdout) < process.COMMAND_KEEP + 200 and done.stdout_dropped > 0
