"""Settings that both a plan's `[run]` and launcher.toml may set (`[merge]`, `[grading]`,
`setup`): the plan's value when it sets one, else launcher.toml's, else the default; a plan
that says nothing never shadows the repository's config with a default of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import git, run_plan, task

from launcher.models.config import RepoConfig, settings_of
from launcher.models.plan import validate_plan

# setting -> (where launcher.toml has it, a repository value, a plan value, the default)
KEYS: dict[str, tuple[tuple[str, ...], Any, Any, Any]] = {
    "strategy": (("merge", "strategy"), "squash", "rebase", "merge"),
    "integration_check": (("merge", "integration_check"), "make check", "make test", None),
    "batch": (("merge", "batch"), 3, 5, None),
    "on_conflict": (("merge", "on_conflict"), "agent", "keep", "keep"),
    "iteration_cap": (("grading", "iteration_cap"), 5, 2, 3),
    "grader": (("grading", "grader"), "g1", "g2", None),
    "setup": (("setup",), "make deps", "make env", None),
}


def _config(where: tuple[str, ...], value: Any) -> RepoConfig:
    data: dict[str, Any] = {where[0]: value} if len(where) == 1 else {where[0]: {where[1]: value}}
    return RepoConfig.model_validate(data)


@pytest.mark.parametrize("key", sorted(KEYS))
def test_the_plan_wins_else_launcher_toml_else_the_default(key: str) -> None:
    where, repo_value, plan_value, default = KEYS[key]
    silent = validate_plan({"task": [{"id": "a"}]}, "plan")
    speaking = validate_plan({"run": {key: plan_value}, "task": [{"id": "a"}]}, "plan")

    assert getattr(settings_of(silent, RepoConfig()), key) == default
    assert getattr(settings_of(silent, _config(where, repo_value)), key) == repo_value
    assert getattr(settings_of(speaking, _config(where, repo_value)), key) == plan_value


def _commit_config(repo: Path, text: str) -> None:
    (repo / "launcher.toml").write_text(text)
    git(repo, "add", "launcher.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "config")


def _parents(repo: Path, rev: str) -> int:
    return len(git(repo, "log", "-1", "--format=%P", rev).split())


@pytest.mark.parametrize("strategy", ["squash", "rebase"])
def test_the_strategy_of_launcher_toml_lands_the_work(repo: Path, strategy: str) -> None:
    _commit_config(repo, f'[merge]\nstrategy = "{strategy}"\n')

    report = run_plan(repo, [{"id": "a", "script": [{"write": "new.txt", "content": "new\n"}]}])

    assert task(report, "a").state == "merged", task(report, "a").message
    assert (repo / "new.txt").read_text() == "new\n"
    assert _parents(repo, "main") == 1  # not a --no-ff merge commit


def test_a_plan_strategy_overrides_launcher_toml(repo: Path) -> None:
    _commit_config(repo, '[merge]\nstrategy = "squash"\n')

    report = run_plan(repo, [{"id": "a", "script": [{"write": "new.txt", "content": "new\n"}]}],
                      strategy="merge")

    assert task(report, "a").state == "merged"
    assert _parents(repo, "main") == 2


def test_rebase_from_launcher_toml_gives_no_resolution_round(repo: Path) -> None:
    _commit_config(repo, '[merge]\nstrategy = "rebase"\non_conflict = "agent"\n')
    same_line = [{"id": f"p{n}", "script": [{"replace": "app.py", "old": "return a + b",
                                             "new": f"return a + b + {n}"}]} for n in (1, 2)]

    report = run_plan(repo, same_line)

    assert {t.id: t.state for t in report.tasks} == {"p1": "merged", "p2": "conflicted"}
    assert report.queue.returned == []  # a rebase would drop the resolving merge
    assert "branch kept" in task(report, "p2").message
