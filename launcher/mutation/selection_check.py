"""A verdict from a narrowed selection, checked against the suite around it (review15 mutation 01, 03).

A mutant runs only the tests that execute its line (and the readers `cache_readers` and
`test_state` add). Tests share the process, so both verdicts of such a run can be wrong:
  * `Killed`: a selected test may pass in the suite only because an earlier, unselected test set
    it up (`test_configure` then `test_format_after_configure`). Alone it fails on the unmutated
    tree too, so it "kills" every mutant it covers. A kill therefore counts only when the same
    selection passes on the unmutated tree (run once per selection, the answer kept for the
    sweep); when it does not, the selection is widened to every test the suite runs up to its
    last one, then to the whole suite, and the mutant runs again.
  * `Survived`: code can leave state behind that a later, unselected test reads (a settings object
    changed through its own method, a module attribute of another module). The tests that run
    before the first selected one never see the mutated code; the tests from it on can. A
    survivor of a narrowed selection is therefore confirmed with every test the suite runs from
    its first selected test on, in a fresh process on the real file; only a survivor of that
    run is `Survived`.
  * `Timeout`: a narrowed selection's limit comes from its tests' measured times, which leave out
    what an earlier, unselected test paid for them in the suite (a session fixture's set-up). A
    timeout counts (as detected) only when the same selection finishes in time on the unmutated
    tree; when it does not, the mutant runs again with the whole suite, under the whole suite's
    limit (measured with everything it sets up), and that run decides.
  * Flaky tests: a selection failing (or timing out: a busy machine) without the mutant runs once
    more the same way, and the second run's outcome is kept for the sweep; a test that
    failed in one of the two runs and not the other is flaky for the rest of the sweep, and a kill
    by flaky tests alone is not a kill (the mutant is then confirmed as a survivor is). The
    selection passes clean when its re-run does. (A flaky test that passes every clean run it is
    in is not noticed: that would take repeated runs of every kill.)
Widening never narrows: each step adds tests, the last is the whole suite (whose clean run the
coverage run has already seen pass).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from launcher import process
from launcher.mutation.executor import MutantJob
from launcher.mutation.test_ids import function_id, in_suite_order


class CleanRunner(Protocol):
    async def run_unmutated(self, tests: Sequence[str], timeout: float) -> process.Completed: ...


@dataclass
class SelectionCheck:
    """Per sweep, shared by its workers: the suite's order and each checked selection's clean outcome."""

    durations: Mapping[str, float]  # the suite's tests (node ids) in the order it runs them: their seconds
    timeout_factor: float
    timeout_min_s: float
    _clean: dict[tuple[str, ...], bool] = field(default_factory=dict)
    # Tests seen failing without the mutant in one clean run and not in its re-run (flaky): their
    # failure under a mutant kills nothing.
    flaky: set[str] = field(default_factory=set)

    def _positions(self, tests: Sequence[str]) -> list[int]:
        order = list(self.durations)
        wanted = set(tests)
        return [i for i, t in enumerate(order) if t in wanted or function_id(t) in wanted]

    def after(self, tests: Sequence[str]) -> list[str] | None:
        """Every test the suite runs from the first of `tests` on (with `tests`); None when that
        adds none (or the tests are not the suite's: nothing to tell)."""
        found = self._positions(tests)
        if not tests or not found:
            return None
        order = list(self.durations)
        wider = in_suite_order(list(dict.fromkeys([*order[found[0]:], *tests])), order)
        return None if set(wider) <= set(tests) else wider

    def before(self, tests: Sequence[str]) -> list[str]:
        """Every test the suite runs up to the last of `tests` (with `tests`); [] (the whole suite)
        when that adds none."""
        found = self._positions(tests)
        if not found:
            return []
        order = list(self.durations)
        wider = in_suite_order(list(dict.fromkeys([*order[: found[-1] + 1], *tests])), order)
        return [] if set(wider) <= set(tests) else wider

    def _is_prefix(self, tests: Sequence[str]) -> bool:
        """The first tests the suite runs, in its order: they ran just so in the coverage run."""
        order = list(self.durations)
        return len(tests) <= len(order) and list(tests) == order[: len(tests)]

    def deciders(self, tests: Sequence[str]) -> list[list[str]]:
        """Every selection whose run can decide the verdict of a job selecting `tests`: the tests
        themselves (a kill whose selection passes clean), the suite from their first on (a
        confirmed survivor), the suite up to their last (a widened kill), the whole suite ([]).
        A verdict is cached under the key of the one that decided it (`result_key`)."""
        found: list[list[str]] = []
        for each in ([*tests], self.after(tests), self.before(tests), []):
            if each is not None and (each := self.normal(each)) not in found:
                found.append(each)
        return found

    def normal(self, tests: Sequence[str]) -> list[str]:
        """`tests`, or [] when they are every test of the suite (a run of the whole suite)."""
        return [] if self.durations and set(self.durations) <= set(tests) else list(tests)

    def job(self, job: MutantJob, tests: list[str]) -> MutantJob:
        """The same mutant with `tests` ([] = the whole suite) and their time limit."""
        if not tests:
            return replace(job, tests=[], timeout_s=max(job.timeout_s, job.suite_timeout_s))
        wanted = set(tests)
        base = sum(d for t, d in self.durations.items() if t in wanted or function_id(t) in wanted)
        return replace(job, tests=tests, timeout_s=max(job.timeout_s, self.timeout_factor * base + self.timeout_min_s))

    async def passes_clean(self, runner: CleanRunner, job: MutantJob, in_time: bool = False) -> bool:
        """Whether the job's selection passes on the unmutated tree within the job's time limit
        (asked once per selection). `in_time`: the question is the time (a mutant's Timeout), which
        the coverage run of the suite's first tests does not answer (it ran under coverage, with
        no limit)."""
        key = tuple(job.tests)
        if not key or (self._is_prefix(key) and not in_time):
            return True  # the whole suite, or its first tests: the coverage run saw them pass
        if key not in self._clean:
            done = await runner.run_unmutated(job.tests, job.timeout_s)
            passed = done.returncode == 0 and not done.timed_out
            if not passed:  # re-checked: a failure that does not repeat is flakiness, a timeout may be load
                again = await runner.run_unmutated(job.tests, job.timeout_s)
                if not done.timed_out and not again.timed_out:
                    self.flaky |= failing(done) ^ failing(again)
                passed = again.returncode == 0 and not again.timed_out
            self._clean[key] = passed
        return self._clean[key]

    def only_flaky(self, killed_by: Sequence[str]) -> bool:
        """Whether every test that failed under the mutant also failed without it, once, and not
        when run again the same way (`flaky`): such a failure is no kill."""
        return bool(killed_by) and all(t in self.flaky or function_id(t) in self.flaky for t in killed_by)


_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)


def failing(done: process.Completed) -> set[str]:
    """The tests pytest's short summary names failed (or in error) in a run."""
    return set(_FAILED.findall(done.text)) if done.returncode != 0 else set()


def describe(tests: Sequence[str]) -> str:
    return f"{len(tests)} test(s)" if tests else "the whole suite"
