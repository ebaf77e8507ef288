"""The integration check runs the merged work's code, which may know where the main checkout
is: what it writes there is found and put back, as for a task's own checks, and that run of the
check fails saying what it wrote. The landing never parks on it as the user's local changes."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import git
from helpers import run_plan, task


def _writing_check(tmp_path: Path, repo: Path, when: str) -> str:
    """An integration check that appends to the main checkout's README.md when `when` (a Python
    expression on the scratch tree, the cwd) holds."""
    script = tmp_path / "check.py"
    script.write_text(
        "import pathlib\n"
        f"if {when}:\n"
        f"    with open({str(repo / 'README.md')!r}, 'a') as fh:\n"
        "        fh.write('written by the check\\n')\n"
    )
    return f"{sys.executable} {script}"


def test_a_task_whose_code_makes_the_check_write_into_the_main_checkout_is_its_culprit(
    repo: Path, tmp_path: Path
) -> None:
    tasks = [
        {"id": "quiet", "script": [{"write": "quiet.txt", "content": "q\n"}]},
        {"id": "writer", "script": [{"write": "writer.txt", "content": "w\n"}]},
    ]
    check = _writing_check(tmp_path, repo, "pathlib.Path('writer.txt').exists()")

    report = run_plan(repo, tasks, integration_check=check, iteration_cap=1)

    assert task(report, "quiet").state == "merged", task(report, "quiet").message
    writer = task(report, "writer")
    assert writer.state == "failed"
    assert "the integration check wrote into the main checkout: README.md (put back" in writer.message
    assert report.queue.culprits == ["writer"]
    assert (repo / "README.md").read_text() == "# sample\n"
    assert git(repo, "status", "--porcelain") == ""
    assert "written by the check" in "".join(
        p.read_text() for p in (repo / ".launcher" / "runs").rglob("intrusions/integration-check/README.md*")
    )


def test_a_check_that_always_writes_into_the_main_checkout_holds_the_landing_without_blaming_the_user(
    repo: Path, tmp_path: Path
) -> None:
    tasks = [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]

    report = run_plan(repo, tasks, integration_check=_writing_check(tmp_path, repo, "True"))

    assert task(report, "a").state == "approved"  # held back: the check fails on main itself
    assert "the integration check fails on main" in report.message
    assert "the integration check wrote into the main checkout: README.md (put back" in report.message
    assert "Commit or stash" not in report.message and "local changes" not in report.message
    assert (repo / "README.md").read_text() == "# sample\n"
    assert git(repo, "status", "--porcelain") == ""
    said = [n.message for n in report.notes]
    assert any(m.startswith("the integration check wrote into the main checkout: README.md") for m in said), said
