"""A landing whose main-work-tree update git refuses (a file it changes has uncommitted edits, a
file of the user's is in the way) parks, and the undo of that update touches only what the update
itself wrote: the launcher's uncommitted ledger rows and a file the user saved during the landing
are kept, and the park message says what was left."""

from __future__ import annotations

from pathlib import Path

from helpers import commit_shell_plan, git, git_on_path, launcher_cli

LEDGER = "# Technical debt\n\n| Date | Run | Task | Criteria failing | Note |\n|---|---|---|---|---|\n"
ROW = "| 2026-01-01 | r-x | t | c1 | UNCOMMITTED ROW |\n"



def test_a_refused_landing_keeps_the_uncommitted_rows_of_the_debt_ledger(repo: Path) -> None:
    (repo / "TECHNICAL_DEBT.md").write_text(LEDGER)
    git(repo, "add", "TECHNICAL_DEBT.md")  # committed with the plan
    commit_shell_plan(repo, "echo '- agent line' >> TECHNICAL_DEBT.md")
    with (repo / "TECHNICAL_DEBT.md").open("a") as ledger:
        ledger.write(ROW)  # as `launcher choose RUN TASK tech-debt` leaves it: not committed
    head = git(repo, "rev-parse", "main")
    parked = launcher_cli(repo, "run", "plan.toml", "--quiet")
    assert parked.returncode == 4, parked.stdout + parked.stderr
    assert "not uptodate" in parked.stdout
    assert (repo / "TECHNICAL_DEBT.md").read_text() == LEDGER + ROW
    assert "it had changed nothing there, so the work tree is as before" in parked.stdout
    assert git(repo, "rev-parse", "main") == head


def test_a_file_the_user_saves_where_the_landing_adds_one_is_kept(repo: Path, tmp_path: Path) -> None:
    commit_shell_plan(repo, "echo agent > new.txt")
    saves = f'[ "$PWD" = "{repo}" ] && [ "$1 $2 $3" = "read-tree -m -u" ] && echo USER-WORK > new.txt'
    env = git_on_path(tmp_path, saves)  # the user saves new.txt just as the landing updates the main work tree
    parked = launcher_cli(repo, "run", "plan.toml", "--quiet", env=env)
    assert parked.returncode == 4, parked.stdout + parked.stderr
    assert "would be overwritten" in parked.stdout
    assert (repo / "new.txt").read_text() == "USER-WORK\n"
    assert "left alone, as they hold neither what was there before nor what the landing writes" in parked.stdout
    assert "new.txt" in parked.stdout and "the work tree is as before" not in parked.stdout
