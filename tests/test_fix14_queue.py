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

from helpers import git, run_plan, task


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
