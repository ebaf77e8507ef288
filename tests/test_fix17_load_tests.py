"""A sweep says when pytest leaves out tests the project's own unittest suite runs.

unittest's `load_tests` hook (more-itertools adds every module's doctests with it) is never
called by pytest: a mutant only those tests kill is reported Survived by a pytest sweep, which is
true of the tests pytest runs but not of the project's suite. The sweep cannot run them, so it
says so in its notes (and its output), naming the test modules and the two ways to count them.
"""

from __future__ import annotations

from pathlib import Path

from swept import project, record, sweep

from launcher.mutation.model import MutantStatus

CODE = '''\
def double(x):
    """
    >>> double(2)
    4
    """
    return x * 2
'''

HOOKED_TESTS = '''\
import doctest
import unittest

import calc


def load_tests(loader, tests, ignore):
    tests.addTests(doctest.DocTestSuite(calc))
    return tests


class Smoke(unittest.TestCase):
    def test_imports(self):
        self.assertEqual(calc.double(0), 0)  # x / 2 passes this too
'''


def test_a_load_tests_hook_is_named_beside_the_survivor_it_leaves(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"calc.py": CODE, "tests/test_calc.py": HOOKED_TESTS,
                                    "conftest.py": "import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n"})
    outcome = sweep(root, ["calc.py"], ["arithmetic"])
    assert record(outcome, "x / 2").status is MutantStatus.SURVIVED  # pytest never ran the doctest
    said = [note for note in outcome.notes if "load_tests" in note]
    assert said, outcome.notes
    assert "tests/test_calc.py" in said[0] and "--test-cmd 'python -m unittest'" in said[0]
    assert "reported Survived" in said[0]


def test_no_note_without_the_hook(tmp_path: Path) -> None:
    plain = HOOKED_TESTS.replace("def load_tests(", "def not_a_hook(")
    root = project(tmp_path / "p", {"calc.py": CODE, "tests/test_calc.py": plain,
                                    "conftest.py": "import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n"})
    outcome = sweep(root, ["calc.py"], ["arithmetic"])
    assert not [note for note in outcome.notes if "load_tests" in note], outcome.notes
