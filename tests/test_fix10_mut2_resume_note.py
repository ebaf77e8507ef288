"""A resumed sweep says truly why its earlier verdicts are settled again: after an upgrade of the
launcher (whose result keys differ) it says the launcher version, never that the code, tests or
configuration changed when nothing in the repository did; after an edit it says that.

The interrupted sweep is made by this launcher (stopped as Ctrl-C would stop it), then what an
older launcher would have left is made from it: its verdicts keyed differently, and its record of
what it keyed them on under another key schema (or none: the versions before that record). The
sweep is continued as the user does, `launcher mutation sweep --resume ID`."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from conftest import git, write_files
from helpers import launcher_cli

from launcher.app.mutation.sweep import SweepOptions, run_sweep

FILES = {
    ".gitignore": ".launcher/\n",
    "mod_a.py": "def f(x):\n    return x * 2\n",
    "mod_b.py": "def g(x):\n    return x + 1\n",
    "tests/test_a.py": "from mod_a import f\n\n\ndef test_f():\n    assert f(3) == 6\n",
    "tests/test_b.py": "from mod_b import g\n\n\ndef test_g():\n    assert g(1) == 2\n",
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
}


class Interrupt(Exception):
    pass


def _stop_after(runs: int) -> Callable[[str], None]:
    seen: list[str] = []

    def emit(line: str) -> None:
        seen.append(line)
        if len([s for s in seen if not s.endswith(("(not run)", "(resumed)", "(cached)"))]) >= runs:
            raise Interrupt

    return emit


def _interrupted_sweep(root: Path) -> tuple[str, Path]:
    """A sweep of `root` stopped after 2 mutants ran: its id and run dir."""
    write_files(root, FILES)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    options = SweepOptions(paths=["mod_a.py", "mod_b.py"], workers=1, python=sys.executable, use_cache=False)
    with pytest.raises(Interrupt):
        anyio.run(run_sweep, root, options, _stop_after(2))
    with sqlite3.connect(root / ".launcher" / "launcher.db") as db:
        (sweep_id,) = db.execute("SELECT id FROM mutation_sweeps").fetchone()
        keyed = db.execute("SELECT count(*) FROM mutation_results WHERE cache_key IS NOT NULL").fetchone()[0]
    assert keyed >= 2
    return sweep_id, root / ".launcher" / "mutation-runs" / sweep_id


def _as_an_older_launcher_left_it(root: Path, run_dir: Path, schema: str | None) -> None:
    """Its verdicts keyed as another key schema keys them; its record of what it keyed them on
    under `schema` (None: no record, as the launchers before it kept)."""
    with sqlite3.connect(root / ".launcher" / "launcher.db") as db:
        db.execute("UPDATE mutation_results SET cache_key = 'older-' || cache_key WHERE cache_key IS NOT NULL")
    planned = run_dir / "planned.json"
    data = json.loads(planned.read_text())
    if schema is None:
        data.pop("key_bases", None)
    else:
        data["key_bases"] = [{**basis, "result_key": schema} for basis in data.get("key_bases", [])]
    planned.write_text(json.dumps(data))


def _resume(root: Path, sweep_id: str) -> str:
    resumed = launcher_cli(root, "mutation", "sweep", "--resume", sweep_id, "--python", sys.executable, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return resumed.stdout + resumed.stderr


def test_after_an_upgrade_the_note_names_the_launcher_version_not_a_change_to_the_code(tmp_path: Path) -> None:
    sweep_id, run_dir = _interrupted_sweep(tmp_path / "p")
    _as_an_older_launcher_left_it(tmp_path / "p", run_dir, "launcher-result-key/1")
    said = _resume(tmp_path / "p", sweep_id)
    assert "were recorded by another launcher version, which keys verdicts differently: settled again" in said, said
    assert "changed since" not in said, said


def test_a_sweep_begun_before_the_launcher_recorded_its_keys_is_said_to_be_an_earlier_versions(
    tmp_path: Path,
) -> None:
    sweep_id, run_dir = _interrupted_sweep(tmp_path / "p")
    _as_an_older_launcher_left_it(tmp_path / "p", run_dir, None)
    said = _resume(tmp_path / "p", sweep_id)
    assert "were recorded by an earlier launcher version" in said, said
    assert "changed since" not in said, said


def test_with_the_same_launcher_an_edit_since_the_interruption_is_said_to_be_the_reason(tmp_path: Path) -> None:
    sweep_id, _ = _interrupted_sweep(tmp_path / "p")
    helper = tmp_path / "p" / "tests" / "conftest.py"  # uncommitted: every key covers it
    helper.write_text("# a conftest the sweep did not have\n")
    said = _resume(tmp_path / "p", sweep_id)
    assert "were for code, tests or configuration that changed since: settled again, not reused" in said, said
    assert "launcher version" not in said, said


def test_with_the_same_launcher_and_nothing_changed_every_verdict_is_resumed_without_a_note(tmp_path: Path) -> None:
    sweep_id, _ = _interrupted_sweep(tmp_path / "p")
    said = _resume(tmp_path / "p", sweep_id)
    assert "not reused" not in said, said
