"""Verdicts on projects nobody tuned for (issue 11): each test is a class of defect found by
sweeping real PyPI projects (inflection, isodate, semver) against ground truth, reproduced on a
small generated project and swept for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from conftest import git, write_files

from launcher.app.mutation_sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.mutation.model import MutantStatus


def make_repo(root: Path, files: dict[str, str]) -> Path:
    write_files(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


def sweep(root: Path, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("use_cache", False)
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None)


# semver's __main__.py: with `==` turned into `!=`, importing the module runs the command line,
# which exits: pytest reports the SystemExit as an INTERNALERROR (exit 3), and the whole suite
# fails on it.
MAIN_GUARD = {
    "pkg/__init__.py": "",
    "pkg/cli.py": (
        "import sys\n\n\n"
        "def main(argv):\n"
        "    return 2 if argv else 0\n\n\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(main(['--help']))\n"
    ),
    "tests/__init__.py": "",
    "tests/test_cli.py": "from pkg.cli import main\n\n\ndef test_main():\n    assert main([]) == 0\n",
}


def test_a_mutant_that_crashes_pytest_at_import_is_killed_not_unclassified(tmp_path: Path) -> None:
    """semver 3.0.4 (`__main__.py`): the only mutant ended `RuntimeError` (exit 3) and the sweep
    exited 3, while the whole suite fails on it: the crash runs through the mutated file."""
    root = make_repo(tmp_path / "p", MAIN_GUARD)
    outcome = sweep(root, paths=["pkg/cli.py"], operators=["comparison"])
    (record,) = [r for r in outcome.results if r.mutant.line == 8]
    assert record.status is MutantStatus.KILLED
    assert "crashes pytest: SystemExit: 2 (raised through pkg/cli.py:9)" in record.note
    assert outcome.exit_code == 0
