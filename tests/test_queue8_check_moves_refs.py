"""What an integration check does to the shared repository is put back after its run: a ref it
moved to the merge result it checks (or to a commit it made in its scratch tree) is never taken
for the user's commit, so no merge lands twice and nothing unchecked stays on the target; and a
worktree it registered (`git worktree add`) does not stay registered. The report agrees with
`git log --first-parent`, and no agent is blamed for what the check did."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, run_plan

from launcher.models.report import RunReport

MOVES_MAIN = "git commit -q --allow-empty -m CHECK-COMMIT && git update-ref refs/heads/main HEAD; true"
# Commits on the target's tip (not on the fold it was given), fast-forwards main there, and
# goes back: only its scratch tree's reflog says the commit was made there.
MOVES_MAIN_AND_HIDES = (
    "f=$(git rev-parse HEAD); git checkout -q --detach main && git commit -q --allow-empty -m CHECK-COMMIT"
    " && git update-ref refs/heads/main HEAD && git checkout -q --detach $f; true"
)
TASKS = [
    {"id": "t1", "script": [{"write": "f_t1.txt", "content": "t1\n"}]},
    {"id": "t2", "script": [{"write": "f_t2.txt", "content": "t2\n"}]},
]


def _first_parent_subjects(repo: Path) -> list[str]:
    return git(repo, "log", "--first-parent", "--format=%s", "main").splitlines()


def _report_agrees_with_git(repo: Path, report: RunReport) -> None:
    log = _first_parent_subjects(repo)
    for t in report.tasks:
        landed = sum(s.startswith(f"Merge {t.id} ") for s in log)
        assert landed == (1 if t.merged else 0), (t.id, t.merged, log)
        assert "the agent of task" not in t.message, t.message
    assert "CHECK-COMMIT" not in log, log
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize(("check", "reflogs"), [(MOVES_MAIN, "default"), (MOVES_MAIN_AND_HIDES, "default"),
                                                (MOVES_MAIN_AND_HIDES, "off")])
def test_a_check_that_moves_the_target_in_a_batch_of_one_fails_that_run_and_nothing_lands_twice(
    repo: Path, check: str, reflogs: str
) -> None:
    """Also with `core.logAllRefUpdates=false` (git keeps no reflog): the launcher keeps the
    scratch tree's own, so what the check committed there is still known to be the check's."""
    if reflogs == "off":
        git(repo, "config", "core.logAllRefUpdates", "false")
    base = git(repo, "rev-parse", "main").strip()

    report = run_plan(repo, TASKS, integration_check=check, batch=1, iteration_cap=1)

    _report_agrees_with_git(repo, report)
    assert git(repo, "rev-parse", "main").strip() == base  # nothing unchecked stayed on main
    for t in report.tasks:  # its code alone ran in the check: that run fails, naming the check
        assert t.state == "failed", t.message
        assert "the integration check moved refs of the shared repository" in t.message, t.message
    said = [n.message for n in report.notes]
    assert not any("not made by an agent of this run, left as it is" in m for m in said), said
    kept = git(repo, "for-each-ref", "--format=%(refname)", f"refs/launcher/{report.run_id}/_integration/moved/")
    assert kept.strip(), "what the check set is kept"


def test_a_check_that_moves_the_target_in_a_batch_of_several_is_put_back_noted_and_the_work_lands_once(
    repo: Path,
) -> None:
    report = run_plan(repo, TASKS, integration_check=MOVES_MAIN)

    assert {t.id: t.state for t in report.tasks} == {"t1": "merged", "t2": "merged"}, [t.message for t in report.tasks]
    _report_agrees_with_git(repo, report)
    assert report.status == "succeeded", report.message
    said = [n.message for n in report.notes]
    assert any(
        m.startswith("the integration check moved refs of the shared repository") and "none is failed" in m
        for m in said
    ), said
    assert not any("left as it is" in m for m in said), said
