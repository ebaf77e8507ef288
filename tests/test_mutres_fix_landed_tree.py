"""The sweep's other mutants are run against the tests a `launcher mutation fix` landed on the
commit the fix's run landed them on, whatever the main checkout holds by then: a fix stopped
(Ctrl-C) after its run landed the tests, then the user checked out another branch, then
`launcher mutation fix SWEEP` again records what those tests kill, measured on the landed tree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers import git, launcher_cli
from test_interrupts9_mutation_fix import _statuses, fix_stopped_once_its_tests_landed, swept_calc


def test_kills_recorded_later_are_measured_on_the_landed_commit_not_on_what_is_checked_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, sweep, before = swept_calc(tmp_path, monkeypatch)
    no_coverage = {m for m, s in before.items() if s == "NoCoverage"}
    assert no_coverage
    swept_commit = git(root, "rev-parse", "HEAD").strip()

    fix_stopped_once_its_tests_landed(root, sweep, tmp_path)
    landed = git(root, "rev-parse", "main").strip()
    assert landed != swept_commit and list((root / "tests").glob("test_kill_*.py"))

    # The user goes on with other work: a branch from before the fix is checked out now.
    git(root, "checkout", "-q", "-b", "other-work", swept_commit)
    assert not list((root / "tests").glob("test_kill_*.py"))

    again = launcher_cli(
        root, "mutation", "fix", sweep.name, "--all", "--python", sys.executable, "--json", timeout=300
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    (recorded,) = summary["recorded_earlier"].values()
    assert no_coverage <= set(recorded)  # the landed tests run `return "B"`, on the commit they landed on
    after = _statuses(sweep)
    assert "NoCoverage" not in after.values() and "Survived" not in after.values()
    (entry,) = json.loads((sweep / "fix.json").read_text())
    assert "note" not in entry, entry["note"]  # nothing said about tests that "did not pass"
    assert git(root, "rev-parse", "HEAD").strip() == swept_commit  # the checkout was left alone
