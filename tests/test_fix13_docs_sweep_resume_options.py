"""`launcher mutation sweep --resume ID` continues that sweep with the options it started with. An
option that shapes a sweep (PATHS, --operators, --max-mutants, --since, --shard, --test-cmd,
--timeout-factor, --pytest-args, --no-cache), given with --resume and different from the sweep's
own, is refused (exit 2) naming it and what --resume keeps; it was dropped without a word (asked
for one mutant of one operator, the user got the whole sweep, exit 0). The sweep's own command
line again, plus --resume, still continues it."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from helpers import ADULT_PROJECT, launcher_cli, swept_project


def _interrupted(tmp_path: Path) -> tuple[Path, str]:
    root = swept_project(tmp_path / "p", ADULT_PROJECT, ["calc/core.py"])
    with sqlite3.connect(root / ".launcher" / "launcher.db") as db:
        (sweep_id,) = db.execute("SELECT id FROM mutation_sweeps").fetchone()
        db.execute("UPDATE mutation_sweeps SET status='interrupted', pid=NULL WHERE id=?", (sweep_id,))
    return root, sweep_id


def test_options_the_resumed_sweep_would_ignore_are_refused(tmp_path: Path) -> None:
    root, sweep_id = _interrupted(tmp_path)

    done = launcher_cli(root, "mutation", "sweep", "--resume", sweep_id, "--operators", "number",
                        "--max-mutants", "1", "--json")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "--max-mutants, --operators would be ignored" in done.stderr
    assert "only --workers, --python and --fail-under may change" in done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["error_key"] == "usage:resume_options"


def test_the_same_command_line_again_with_resume_continues_the_sweep(tmp_path: Path) -> None:
    root, sweep_id = _interrupted(tmp_path)

    done = launcher_cli(root, "mutation", "sweep", "calc/core.py", "--resume", sweep_id, "--workers", "1",
                        "--python", sys.executable, "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["sweep_id"] == sweep_id
