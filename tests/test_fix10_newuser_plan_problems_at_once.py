"""A plan's grader and rubrics are checked with the rest of the plan: every problem at once, under
the plan file's name (README, "Plan format": "every problem is reported at once (exit 2, file and
key named, nothing created)"), as an unknown task agent is."""

from __future__ import annotations

from pathlib import Path

from helpers import git, launcher_cli

_TASK = '[[task]]\nid = "a"\nagent = "scripted"\nprompt = "x"\nscript = [{ write = "a.txt", content = "a" }]\n'


def _nothing_created(repo: Path) -> bool:
    return not (repo / ".launcher").exists() and git(repo, "branch", "--format=%(refname:short)").split() == ["main"]


def test_an_unknown_grader_and_an_unknown_rubric_are_reported_together_with_the_file(repo: Path) -> None:
    (repo / "myplan.toml").write_text('[run]\ngrader = "scripted-gradr"\n\n' + _TASK + 'rubrics = ["nope"]\n')

    done = launcher_cli(repo, "run", "myplan.toml")

    assert done.returncode == 2, done.stderr
    assert "error: myplan.toml: 2 problems:" in done.stderr
    assert "run.grader: unknown grader agent 'scripted-gradr' (did you mean `scripted-grader`?" in done.stderr
    assert "task 'a'.rubrics: no rubric named 'nope'" in done.stderr
    assert _nothing_created(repo)


def test_they_are_listed_with_the_plans_other_problems(repo: Path) -> None:
    (repo / "myplan.toml").write_text(
        '[run]\ngrader = "ghost"\n\n' + _TASK + 'rubrics = ["nope"]\n\n'
        '[[task]]\nid = "b"\nagent = "claud"\nprompt = "y"\n\n'
        '[[task]]\nid = "c"\nprompt = "z"\ncolour = "red"\n')

    done = launcher_cli(repo, "run", "myplan.toml")

    assert done.returncode == 2, done.stderr
    assert "error: myplan.toml: 4 problems:" in done.stderr
    for said in ("task[2] (id 'c').colour: unknown key",
                 "task 'b'.agent: unknown agent 'claud' (did you mean `claude`?",
                 "run.grader: unknown grader agent 'ghost'",
                 "task 'a'.rubrics: no rubric named 'nope'"):
        assert said in done.stderr
    assert _nothing_created(repo)


def test_the_grader_of_launcher_toml_is_named_as_launcher_toml_s(repo: Path) -> None:
    (repo / "launcher.toml").write_text('[grading]\ngrader = "ghost"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "config")
    (repo / "myplan.toml").write_text(_TASK + 'rubrics = ["nope"]\n')

    with_plan = launcher_cli(repo, "run", "myplan.toml")
    alone = launcher_cli(repo, "run", "--task", "x", "--agent", "scripted")

    assert with_plan.returncode == 2, with_plan.stderr
    assert "error: myplan.toml: 2 problems:" in with_plan.stderr
    assert "grading.grader (in launcher.toml): unknown grader agent 'ghost'" in with_plan.stderr
    assert alone.returncode == 2, alone.stderr
    assert f"error: {repo / 'launcher.toml'}: grading.grader: unknown grader agent 'ghost'" in alone.stderr
    assert _nothing_created(repo)
