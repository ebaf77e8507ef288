"""The narrow first stage of a whole-suite pytest run (issue 11, speed).

A mutant in import-time code runs the whole suite in a fresh process. With the likely killers
first (`test_order`) a killed one stops after a few tests, but the run still collects, and so
imports, every test file of the suite: on a small suite that is most of its cost. The narrow
stage first runs, in the same order and with `-x`, only the test files holding the first few
likely killers:
  - a test failing there is a kill candidate: checked like any reordered kill, with the same
    narrow selection on the unmutated tree (unless the killer ran alone and is the suite's first
    test: `ran_alone`, `TestOrder.first_in_suite`), then confirmed by the whole suite, collected
    (its other test files may set up at import what the mutated module holds), in the same
    order and stopping after the killer: the kill stands only when that killer fails there too;
  - a file failing to collect is decided by the whole suite;
  - anything else -- every narrow test passed, a timeout, a crash -- runs the whole suite as
    before, and that run's verdict is the mutant's: a survivor always ran the whole suite.
    (A timeout of any reordered run is decided by the whole suite in pytest's order: a test
    that hangs under the mutant, moved before one that fails, must not turn a kill into one.)
The stage is skipped where it cannot pay: no killed neighbour and no reader of the mutated
names to put first, narrow files holding most of the suite's tests, or a mutated file whose
last few whole-suite mutants would not have been killed in their narrow files (a stage that
keeps passing costs a second run each time). That last rule looks at results, never at timings,
so the same results make the same choices.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

NARROW_TESTS = 4  # the narrow files: those of the first this-many likely killers
NARROW_SHARE = 0.5  # skipped when they hold more than this share of the suite's tests
MISSES_TO_SKIP = 3  # skipped in a mutated file whose last this-many stages would not have killed

_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")
_SUMMARY_LINE = re.compile(r"^=*\s*(?:\d+ \w+(?:, )?)+.* in [\d.]+s", re.MULTILINE)


def test_file(node_id: str) -> str:
    return node_id.split("::", 1)[0]


def ran_alone(output: str) -> bool:
    """Whether pytest's final summary counts exactly one test that ran (passed, failed, errored,
    skipped or xfailed): the failing test ran first in its process, so no other test's order
    could have set it up to fail. Unreadable output says no (the kill is then checked)."""
    lines = _SUMMARY_LINE.findall(output)
    if not lines:
        return False
    return sum(int(n) for n, _ in _COUNT.findall(lines[-1])) == 1


class NarrowStage:
    """One sweep's choice of narrow files, shared by its workers (see the module doc)."""

    def __init__(self) -> None:
        self._tests_in: dict[str, int] = {}  # test file -> how many tests it holds
        self._seconds_in: dict[str, float] = {}  # test file -> its tests' seconds on the clean tree
        self._total = 0
        self._hits: dict[str, list[bool]] = {}  # mutated file -> per whole-suite mutant: killed in its narrow files

    def learn(self, durations: Mapping[str, float], root: Path) -> None:
        """The suite's tests (node ids of the coverage run, their seconds); files must exist under `root`."""
        for test, seconds in durations.items():
            if "::" in test and (root / test_file(test)).is_file():
                self._tests_in[test_file(test)] = self._tests_in.get(test_file(test), 0) + 1
                self._seconds_in[test_file(test)] = self._seconds_in.get(test_file(test), 0.0) + seconds
                self._total += 1

    def time_limit(self, files: Sequence[str], suite_limit: float, allowance: float) -> float:
        """The whole suite's limit scaled to these files' share of its test time (the start-up
        `allowance` kept whole): a test that hangs in the narrow stage costs that much, not the
        whole suite's limit, before the whole suite decides."""
        total = sum(self._seconds_in.values())
        share = sum(self._seconds_in.get(f, 0.0) for f in files) / total if total > 0 else 1.0
        return min(suite_limit, allowance + max(0.0, suite_limit - allowance) * share)

    def candidate(self, likely: Sequence[str]) -> list[str]:
        """The narrow files for these likely killers (likeliest first), or [] when they are
        unknown or hold most of the suite."""
        files = list(dict.fromkeys(test_file(t) for t in likely[:NARROW_TESTS]))
        if not files or not self._total or any(f not in self._tests_in for f in files):
            return []
        share = sum(self._tests_in[f] for f in files) / self._total
        return files if share <= NARROW_SHARE else []

    def worth_trying(self, target: str) -> bool:
        recent = self._hits.get(target, [])[-MISSES_TO_SKIP:]
        return len(recent) < MISSES_TO_SKIP or any(recent)

    def record(self, target: str, files: Sequence[str], killed_by: Sequence[str]) -> None:
        """A whole-suite mutant's result: would (or did) its narrow files kill it?"""
        self._hits.setdefault(target, []).append(any(test_file(t) in files for t in killed_by))
