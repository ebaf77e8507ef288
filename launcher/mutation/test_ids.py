"""Test selections that mean the same tests in every process (issue 11, cause 1).

pytest names a parametrized case it cannot print (a tuple, an object) by its argument name and
position: `test_parse[case7]`, `test_parse[1-expected7]`, and a duplicate id gets a position
suffix (`[a0]`, `[a1]`). When the cases come from a set, positions follow the hash seed, which
differs in every interpreter: the coverage run's `case7` is another case, or no case at all, in
the process that runs a mutant. Such an id is replaced by its test function (all its cases),
which every process resolves the same way. A selection pytest still cannot resolve is widened
step by step (functions, then files, then the whole suite), never reported as an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# An id part pytest derived from a position: a name (or a printable value) ending in digits.
_POSITIONAL = re.compile(r"^[A-Za-z_][\w.]*?\d+$")
# What pytest prints when a node id given on its command line names nothing it collected.
UNRESOLVED_MARKERS = ("no match in any of", "ERROR: not found:")


def function_id(node_id: str) -> str:
    """The test function of a node id (`path::Class::test[params]` -> `path::Class::test`)."""
    return node_id.split("[", 1)[0] if node_id.endswith("]") else node_id


def stable_test_id(node_id: str) -> str:
    """The node id itself when its parameters are printed values; its test function when any
    part of them is positional (may name another case in another process)."""
    base, bracket, params = node_id.partition("[")
    if not bracket or not node_id.endswith("]"):
        return node_id
    parts = params[:-1].split("-")
    return base if any(_POSITIONAL.match(part) for part in parts) else node_id


def stable_selection(node_ids: Iterable[str]) -> tuple[str, ...]:
    """Sorted, deduplicated stable ids of these node ids."""
    return tuple(sorted({stable_test_id(t) for t in node_ids}))


def wider_selections(tests: Sequence[str]) -> list[list[str]]:
    """The broader selections to try, in order, when `tests` cannot be resolved: their test
    functions, their files, then the whole suite ([])."""
    steps: list[list[str]] = []
    for wider in (sorted({function_id(t) for t in tests}), sorted({t.split("::", 1)[0] for t in tests}), []):
        if wider != list(tests) and wider not in steps:
            steps.append(wider)
    return steps


def widened_note(tests: Sequence[str]) -> str:
    """Says which selection a run fell back to (`wider_selections`)."""
    if not tests:
        return "selection widened to the whole suite"
    return "selection widened to " + ", ".join(tests[:3]) + (" ..." if len(tests) > 3 else "")


def unresolved(output: str) -> bool:
    """Whether pytest's output says a selected node id matched nothing."""
    return any(marker in output for marker in UNRESOLVED_MARKERS)


def in_suite_order(tests: Sequence[str], run_order: Iterable[str]) -> list[str]:
    """`tests` in the order the whole suite ran them (`run_order`: node ids, as the coverage run
    reported them), ids it did not run last. Tests can depend on what ran before them in the
    session: semver's docs doctests use names an autouse fixture of `tests/conftest.py` puts in
    the session-wide `doctest_namespace`, and fail when they run first. A selection sorted by name
    would run them first: a kill on the clean code. A function id stands where its first case ran."""
    position: dict[str, int] = {}
    for index, node_id in enumerate(run_order):
        position.setdefault(node_id, index)
        position.setdefault(function_id(node_id), index)
    last = len(position)
    return sorted(tests, key=lambda test: position.get(test, last))
