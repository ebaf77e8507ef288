"""Verdicts on projects nobody tuned for (issue 11): each test is a class of defect found by
sweeping real PyPI projects (inflection, isodate, semver) against ground truth, reproduced on a
small generated project and swept for real."""

from __future__ import annotations

from pathlib import Path

from test_mutation_verdicts import make_repo, sweep

from launcher.mutation.model import MutantStatus

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


# semver's doctests: `docs/*.rst` use names that an autouse fixture of `tests/conftest.py` puts in
# pytest's session-wide `doctest_namespace`. The full suite runs `tests` first (`testpaths`), so
# the doctest passes; run first, on its own, it fails with a NameError on the clean code.
SESSION_STATE = {
    "pytest.ini": "[pytest]\ntestpaths = tests docs\naddopts = --doctest-glob=*.rst\n",
    "pkg/__init__.py": "",
    "pkg/text.py": "def shout(word):\n    note = 'unread'\n    return word.upper() + '!'\n",
    "tests/conftest.py": (
        "import pytest\n\nimport pkg.text\n\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def add_text(doctest_namespace):\n"
        "    doctest_namespace['text'] = pkg.text\n"
    ),
    "tests/test_text.py": "from pkg.text import shout\n\n\ndef test_shout():\n    assert shout('a') == 'A!'\n",
    "docs/guide.rst": "Shout:\n\n>>> text.shout('hi')\n'HI!'\n",
}


def test_selected_tests_run_in_the_suites_order_so_order_dependent_tests_do_not_kill(tmp_path: Path) -> None:
    """semver 3.0.4 (`deprecated.<locals>.wrapper`): the fork ran the covering tests sorted by name,
    the docs doctest first, which failed on its own (NameError): a kill of a mutant the whole suite
    lets survive. Run in the suite's order, the selection behaves as in the whole suite."""
    root = make_repo(tmp_path / "p", SESSION_STATE)
    for use_fork in (True, False):
        outcome = sweep(root, paths=["pkg/text.py"], operators=["string"], use_fork=use_fork)
        found = {r.mutant.line: r for r in outcome.results}
        assert found[2].status is MutantStatus.SURVIVED, (use_fork, found[2].note, found[2].killed_by)
        assert found[3].status is MutantStatus.KILLED, use_fork
        assert "tests/test_text.py::test_shout" in found[3].killed_by, use_fork
