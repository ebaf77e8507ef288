"""Each benchmark under bench/ still runs against the launcher as it is now (a tiny size: the
numbers mean nothing here; a benchmark that no longer imports or runs is what this catches).
Exit 2 is a target missed, which a tiny size may well be; 1 is a failed or wrong run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("argv", [
    ["merge_queue.py", "--branches", "8", "--broken", "1", "--conflicting", "2"],
    ["fanout.py", "--files", "200", "--n", "2", "--rss-n", "0", "--repeat", "1", "--warm"],
    ["warm_floor.py", "--files", "200", "--n", "2", "--repeat", "1"],
], ids=["merge_queue", "fanout", "warm_floor"])  # fmt: skip
def test_a_benchmark_runs_at_a_tiny_size(argv: list[str], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(BENCH / argv[0]), *argv[1:]], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode in (0, 2), done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
