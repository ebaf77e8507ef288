"""Hostile input to the readers the first fuzz file (test_fuzz_readers.py) did not reach, and
hostile agents: each bad input is one structured error (what, where, how to fix), never an
internal error, and nothing is left half-made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.errors import PlanError, UsageProblem
from launcher.git.include import load_spec
from launcher.models.plan import validate_plan

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

# Gitignore patterns, with the ones pathspec cannot compile (`!`, a trailing backslash, a
# reversed character range) among them.
pattern_chars = st.sampled_from([*"ab/*?[]!\\-z.^ \t#", "\u202e", "\x00", "é", "**"])
patterns = st.one_of(st.lists(pattern_chars, max_size=8).map("".join),
                     st.sampled_from(["!", "\\", "a\\", "[z-a]", "[b-a]*", "![", "**/[9-0]", "src/", ".env"]))


def _one_task_plan(**task: Any) -> dict[str, Any]:
    return {"task": [{"id": "t", "agent": "scripted", "script": [
        {"write": "b.txt", "content": "b\n"}, {"commit": "add b"}], **task}]}


def _no_branch_nor_worktree(repo: Path) -> None:
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1


# --- gitignore patterns: a task's `scope`, and `.worktreeinclude` ------------------------------


@FUZZ
@given(scope=st.lists(patterns, max_size=4))
def test_any_scope_is_a_plan_or_a_plan_error(scope: list[str]) -> None:
    try:
        validate_plan(_one_task_plan(scope=scope), "fuzz.json")
    except PlanError as exc:
        assert "scope" in exc.message and exc.exit_code == 2


@FUZZ
@given(lines=st.lists(patterns, max_size=5))
def test_any_include_file_is_a_spec_or_a_usage_problem(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / ".worktreeinclude"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        load_spec(path)
    except UsageProblem as exc:
        assert exc.where and exc.where.startswith(str(path) + ":") and exc.fix


def test_a_scope_pathspec_cannot_compile_is_refused_before_any_agent_runs(repo: Path, tmp_path: Path) -> None:
    # It used to pass validation, let the agent work, then end the run as an internal error (70).
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_one_task_plan(scope=["src/", "[z-a]"])))
    result = launcher_cli(repo, "run", str(plan), "--quiet")
    assert result.returncode == 2, result.stderr
    assert "scope entry 2" in result.stderr and "[z-a]" in result.stderr and "internal error" not in result.stderr
    assert not (repo / ".launcher").exists()
    _no_branch_nor_worktree(repo)


def test_an_include_file_line_pathspec_cannot_compile_is_a_usage_error_naming_the_line(
        repo: Path, tmp_path: Path) -> None:
    (repo / ".worktreeinclude").write_text(".env\n!\n")
    (repo / ".env").write_text("KEY=1\n")
    git(repo, "add", ".worktreeinclude")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "include")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_one_task_plan()))
    result = launcher_cli(repo, "run", str(plan), "--quiet")
    assert result.returncode == 2, result.stderr
    assert f"{repo / '.worktreeinclude'}:2" in result.stderr and "internal error" not in result.stderr
    _no_branch_nor_worktree(repo)  # the run is journaled as "could not start", resumable once fixed
