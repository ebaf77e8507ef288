"""A task whose agent gave no completion contract fails with what the launcher saw (its exit
code, no change), never "agent reports failure": that agent reported nothing."""

from __future__ import annotations

from pathlib import Path

from helpers import run_shell, task, with_submodule

from launcher.models.states import TaskState


def test_an_agent_that_exits_0_with_no_change_and_no_contract_is_not_said_to_report_anything(repo: Path) -> None:
    report = run_shell(repo, "true", "quiet")
    found = task(report, "quiet")
    assert found.state == TaskState.FAILED
    assert "agent reports" not in found.message
    assert found.message.startswith("the agent changed no file and gave no completion contract (")


def test_an_agent_that_exits_non_zero_without_a_contract_is_named_by_its_exit_code(repo: Path) -> None:
    report = run_shell(repo, "echo half > README.md; exit 3", "broke")
    found = task(report, "broke")
    assert found.state == TaskState.FAILED
    assert "agent reports" not in found.message
    assert "exit" in found.message and "3" in found.message, found.message


def test_an_agent_that_only_edits_inside_a_submodule_is_not_said_to_have_changed_no_file(tmp_path: Path) -> None:
    superproject = with_submodule(tmp_path)
    report = run_shell(superproject, "echo EDIT >> vendor/lib/lib.txt", "sub")
    found = task(report, "sub")
    assert found.state == TaskState.FAILED
    assert "changed no file" not in found.message
    assert "vendor/lib" in found.message, found.message
