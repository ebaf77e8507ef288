"""The squash strategy lands a task's own change: a task that depends on another started from
its dependency's head, and once that dependency landed as one squashed commit, the dependent
lands on top of it without meeting the dependency's original commits as a conflict."""

from __future__ import annotations

from pathlib import Path

from helpers import git, run_plan


def _single_parent_history(repo: Path, since: str) -> list[int]:
    return [len(line.split()) - 1 for line in git(repo, "log", "--format=%H %P", f"{since}..main").splitlines()]


def test_a_dependent_lands_on_its_dependencys_squashed_commit(repo: Path) -> None:
    base = git(repo, "rev-parse", "main").strip()
    tasks = [
        {"id": "a", "script": [{"write": "lib.py", "content": "def g():\n    return 2\n"}]},
        {"id": "b", "depends_on": ["a"],
         "script": [{"replace": "lib.py", "old": "return 2", "new": "return 3"}]},
    ]

    report = run_plan(repo, tasks, strategy="squash", on_conflict="agent")

    assert {t.id: t.state for t in report.tasks} == {"a": "merged", "b": "merged"}, \
        [t.message for t in report.tasks]
    assert report.queue.returned == []  # no resolution round against its own dependency
    assert (repo / "lib.py").read_text() == "def g():\n    return 3\n"
    assert _single_parent_history(repo, base) == [1, 1]  # two squashed commits


def test_a_dependent_of_two_squashed_dependencies_lands(repo: Path) -> None:
    tasks = [
        {"id": "a", "script": [{"write": "a.py", "content": "A = 1\n"}]},
        {"id": "c", "script": [{"write": "c.py", "content": "C = 1\n"}]},
        {"id": "b", "depends_on": ["a", "c"],
         "script": [{"replace": "a.py", "old": "A = 1", "new": "A = 2"},
                    {"replace": "c.py", "old": "C = 1", "new": "C = 2"}]},
    ]

    report = run_plan(repo, tasks, strategy="squash")

    assert {t.id: t.state for t in report.tasks} == {"a": "merged", "c": "merged", "b": "merged"}, \
        [t.message for t in report.tasks]
    assert (repo / "a.py").read_text() == "A = 2\n" and (repo / "c.py").read_text() == "C = 2\n"


def test_a_real_conflict_of_a_dependent_is_still_found(repo: Path) -> None:
    """Its own change against another task's landed change on the same line still conflicts."""
    tasks = [
        {"id": "a", "script": [{"write": "lib.py", "content": "def g():\n    return 2\n"}]},
        {"id": "b", "depends_on": ["a"],
         "script": [{"replace": "lib.py", "old": "return 2", "new": "return 3"}]},
        {"id": "other", "depends_on": ["a"],
         "script": [{"replace": "lib.py", "old": "return 2", "new": "return 4"}]},
    ]

    report = run_plan(repo, tasks, strategy="squash")

    states = {t.id: t.state for t in report.tasks}
    assert states["a"] == "merged"
    assert sorted([states["b"], states["other"]]) == ["conflicted", "merged"]
