"""Merge-queue verdicts are true ones (README "Merge queue", DESIGN 8): a task is named culprit
only against the target as it is, never for what someone else did meanwhile (a teammate's commit,
the user's edit in the main checkout); a rebase landing lands a task's own change (after its
dependency's revision round, after its own resolution of a conflict); the check cannot delete
the fold it is judging; a best-of-N task whose selected attempt breaks the check is not failed
while rounds are left."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
from helpers import git, run_plan, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan


def _gated_check(tmp: Path, condition: str) -> str:
    """An integration check whose first run waits for `done` after touching `go` (so something
    can happen while it runs), then fails when the shell `condition` holds."""
    script = tmp / "check.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {tmp}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {tmp}/count\n"
        f"if [ $n = 1 ]; then touch {tmp}/go; while [ ! -f {tmp}/done ]; do sleep 0.05; done; fi\n"
        f"if {condition}; then echo failing; exit 1; fi\n"
        "exit 0\n")
    script.chmod(0o755)
    return str(script)


@contextmanager
def _meanwhile(tmp: Path, action: Callable[[], None]) -> Iterator[None]:
    """Run `action` (another process's doing, not the launcher's) while the check's first run waits."""
    def wait_then_act() -> None:
        while not (tmp / "go").exists():
            if stop.wait(0.05):
                return
        try:
            action()
        finally:
            (tmp / "done").touch()

    stop = threading.Event()
    worker = threading.Thread(target=wait_then_act)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        (tmp / "done").touch()
        worker.join()


def test_a_task_is_judged_on_the_target_it_lands_on_when_the_target_moves_during_the_check(
        repo: Path, tmp_path: Path) -> None:
    # t1 needs fix.txt, which a teammate commits to main while the check runs on (old main + t1).
    check = _gated_check(tmp_path, "[ -f f1.txt ] && [ ! -f fix.txt ]")

    def teammate_commits() -> None:
        (repo / "fix.txt").write_text("fix\n")
        git(repo, "add", "fix.txt")
        git(repo, "commit", "-q", "-m", "the fix")

    with _meanwhile(tmp_path, teammate_commits):
        report = run_plan(repo, [{"id": "t1", "script": [{"write": "f1.txt", "content": "1\n"}]}],
                          integration_check=check, iteration_cap=1)

    assert task(report, "t1").state == "merged", task(report, "t1").message
    assert report.queue.culprits == []
    assert git(repo, "show", "main:f1.txt") == "1\n" and git(repo, "show", "main:fix.txt") == "fix\n"


def test_the_users_edit_in_the_main_checkout_during_the_check_stays_and_blames_no_task(
        repo: Path, tmp_path: Path) -> None:
    # The check passes; while it runs, the user's editor saves app.py in the main checkout.
    check = _gated_check(tmp_path, "false")
    edited = (repo / "app.py").read_text() + "# my unsaved work\n" if (repo / "app.py").exists() else "mine\n"

    def user_saves() -> None:
        (repo / "app.py").write_text(edited)

    with _meanwhile(tmp_path, user_saves):
        report = run_plan(repo, [{"id": "t1", "script": [{"write": "f1.txt", "content": "1\n"}]}],
                          integration_check=check, iteration_cap=1)

    assert (repo / "app.py").read_text() == edited  # never moved out of the user's checkout
    assert report.queue.culprits == []
    # Not blamed: approved, its landing parked on the user's local change (as documented).
    assert task(report, "t1").state == "approved", task(report, "t1").message
    assert report.status == "parked" and "app.py" in report.message
    assert (tmp_path / "count").read_text().strip() == "2"  # run again on the same tree


NO_BROKEN = "sh -c '! grep -rq BROKEN --include=*.txt .'"


def test_rebase_lands_a_dependents_own_commit_after_its_dependencys_revision_round(repo: Path) -> None:
    # t1 breaks the check in round 1 and fixes f1.txt in round 2; t2 (started from t1's round-1
    # head) only adds f2.txt: it never conflicts in t1's file.
    report = run_plan(repo, [
        {"id": "t1", "script": [{"write": "f1.txt", "content": "BROKEN\n", "rounds": [1]},
                                {"write": "f1.txt", "content": "fixed\n", "rounds": [2]}]},
        {"id": "t2", "depends_on": ["t1"], "script": [{"write": "f2.txt", "content": "2\n"}]},
    ], strategy="rebase", integration_check=NO_BROKEN)

    assert {t.id: t.state for t in report.tasks} == {"t1": "merged", "t2": "merged"}, \
        [t.message for t in report.tasks]
    assert report.queue.culprits == ["t1"]
    assert git(repo, "show", "main:f1.txt") == "fixed\n" and git(repo, "show", "main:f2.txt") == "2\n"
    assert git(repo, "rev-list", "--merges", "main") == ""  # rebase: linear history


def test_rebase_lands_a_culprits_resolution_of_its_conflict_with_the_target(repo: Path, tmp_path: Path) -> None:
    # t1 and t2 both rewrite README.md; t1 also breaks the check. t2 lands, t1's revision round
    # gets main merged in, resolves README.md (both lines) and fixes f1.txt.
    agent = tmp_path / "agent.sh"
    agent.write_text(
        "#!/bin/sh\n"
        'case "$LAUNCHER_TASK_ID" in\n'
        "  t2) printf '# from t2\\n' > README.md ;;\n"
        '  t1) if [ "$LAUNCHER_ITERATION" = 1 ]; then printf \'# from t1\\n\' > README.md; '
        "printf 'BROKEN\\n' > f1.txt\n"
        "      else sed -i -e '/^<<<<<<< /d' -e '/^=======$/d' -e '/^>>>>>>> /d' README.md; "
        "printf 'fixed\\n' > f1.txt; fi ;;\n"
        "esac\n")
    agent.chmod(0o755)
    plan = validate_plan({"run": {"strategy": "rebase", "integration_check": NO_BROKEN},
                          "agents": {"a": {"adapter": "command", "command": [str(agent)]}},
                          "task": [{"id": "t1", "agent": "a", "prompt": "x"},
                                   {"id": "t2", "agent": "a", "prompt": "x"}]}, "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)

    assert {t.id: t.state for t in report.tasks} == {"t1": "merged", "t2": "merged"}, \
        [t.message for t in report.tasks]
    readme = git(repo, "show", "main:README.md")
    assert "# from t1" in readme and "# from t2" in readme and "<<<<<<<" not in readme
    assert git(repo, "show", "main:f1.txt") == "fixed\n"
    assert git(repo, "rev-list", "--merges", "main") == ""  # landed as one commit: still linear


def test_a_check_that_prunes_the_repository_cannot_delete_the_fold_it_judges(repo: Path) -> None:
    # The checked code runs `git gc --prune=now` in its scratch tree (the object store is shared):
    # while bisection checks t1+t2, the fold's later commits are in no branch.
    report = run_plan(repo, [
        *({"id": f"t{n}", "script": [{"write": f"f{n}.txt", "content": f"{n}\n"}]} for n in (1, 2, 3)),
        {"id": "t4", "script": [{"write": "f4.txt", "content": "BROKEN\n", "rounds": [1]},
                                {"write": "f4.txt", "content": "ok\n", "rounds": [2]}]},
    ], integration_check="git gc -q --prune=now; ! grep -rq BROKEN --include=*.txt .")

    assert report.status == "succeeded", report.message
    assert {t.state for t in report.tasks} == {"merged"}
    assert report.queue.culprits == ["t4"] and report.queue.bisections > 0
    assert git(repo, "for-each-ref", "refs/launcher/") == ""  # the fold's ref is gone with it


def _best_of_two(repo: Path, tmp_path: Path, first: str, **run: object) -> object:
    """t1, best of 2 (both approved): attempt 1 runs the shell `first` (the smaller diff: it is
    selected), attempt 2 writes f1.txt = fine and f1b.txt."""
    agent = tmp_path / "attempt.sh"
    agent.write_text("#!/bin/sh\n"
                     f'if [ "$LAUNCHER_BEST_OF_ATTEMPT" = 1 ]; then {first}\n'
                     "else printf 'fine\\n' > f1.txt; printf 'more\\n' > f1b.txt; fi\n")
    agent.chmod(0o755)
    plan = validate_plan({"run": run, "agents": {"a": {"adapter": "command", "command": [str(agent)]}},
                          "task": [{"id": "t1", "agent": "a", "prompt": "x", "attempts": 2}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def test_a_best_of_task_whose_selected_attempt_breaks_the_check_lands_its_next_approved_attempt(
        repo: Path, tmp_path: Path) -> None:
    report = _best_of_two(repo, tmp_path, "printf 'BROKEN\\n' > f1.txt", integration_check=NO_BROKEN)

    assert task(report, "t1").state == "merged", task(report, "t1").message  # type: ignore[arg-type]
    assert git(repo, "show", "main:f1.txt") == "fine\n"
    assert "t1.attempt-1 did not land (breaks the integration check)" in \
        task(report, "t1.attempt-2").message  # type: ignore[arg-type]
    kept = git(repo, "for-each-ref", "--format=%(refname)", "refs/launcher/")
    assert "t1.attempt-1/not-selected" in kept  # the attempt that did not land: its commits kept


def test_a_best_of_task_whose_selected_attempt_conflicts_lands_its_next_approved_attempt(
        repo: Path, tmp_path: Path) -> None:
    # Attempt 1 rewrites README.md; a teammate commits another README.md to main while the
    # landing checks, so the fold made again onto the new main conflicts for attempt 1.
    def teammate_commits() -> None:
        (repo / "README.md").write_text("theirs\n")
        git(repo, "commit", "-q", "-am", "theirs")

    with _meanwhile(tmp_path, teammate_commits):
        report = _best_of_two(repo, tmp_path, "printf 'mine\\n' > README.md",
                              integration_check=_gated_check(tmp_path, "false"), on_conflict="agent")

    assert task(report, "t1").state == "merged", task(report, "t1").message  # type: ignore[arg-type]
    assert "t1.attempt-1 did not land (conflicts with main in README.md)" in \
        task(report, "t1.attempt-2").message  # type: ignore[arg-type]
    assert git(repo, "show", "main:f1.txt") == "fine\n"
    assert git(repo, "show", "main:README.md") == "theirs\n"
