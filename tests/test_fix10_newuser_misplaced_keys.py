"""A launcher.toml key spelt right but written in the wrong place: TOML puts a key written below a
[table] header into that table, so `setup = ...` appended to the starter file (which ends with
[mutation]) is `mutation.setup`. The error says where the key belongs, as it does for a plan."""

from __future__ import annotations

from pathlib import Path

from helpers import git, launcher_cli


def _configure(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "config")


def test_top_level_keys_appended_after_a_table_are_said_to_belong_above_it(repo: Path) -> None:
    assert launcher_cli(repo, "init").returncode == 0
    starter = (repo / "launcher.toml").read_text()
    _configure(repo, "launcher.toml", starter + 'setup = "true"\nworktree_root = "../wt"\n')

    done = launcher_cli(repo, "run", "plan.example.toml")

    assert done.returncode == 2, done.stderr
    for key in ("setup", "worktree_root"):
        assert (f"mutation.{key}: unknown key (`{key}` is a top-level key, not a key of [mutation]: "
                "TOML puts every key written below a [table] header into that table; "
                "move it above the first [table] header of the file)") in done.stderr
    assert not (repo / ".launcher").exists()  # nothing created


def test_a_key_of_another_table_or_of_the_top_level_is_named_as_such(repo: Path) -> None:
    _configure(repo, "launcher.toml", "\n".join([
        "[merge]", 'grader = "judge"',
        "[grading]", 'default_agent = "bot"',
        "[agents.bot]", 'adapter = "scripted"', 'worktree_root = "../wt"', "",
    ]))

    done = launcher_cli(repo, "run", "--task", "x", "--agent", "scripted")

    assert done.returncode == 2, done.stderr
    assert "merge.grader: unknown key (`grader` is a key of [grading], not of [merge])" in done.stderr
    assert "grading.default_agent: unknown key (`default_agent` is a top-level key, not a key of [grading]" \
        in done.stderr
    assert "agents.bot.worktree_root: unknown key (`worktree_root` is a top-level key, not a key of [agents.bot]" \
        in done.stderr


def test_in_pyproject_the_top_level_is_tool_launcher(repo: Path) -> None:
    _configure(repo, "pyproject.toml", '[tool.launcher.merge]\nsetup = "true"\n')

    done = launcher_cli(repo, "run", "--task", "x", "--agent", "scripted")

    assert done.returncode == 2, done.stderr
    assert ("`setup` is a top-level key, not a key of [tool.launcher.merge]: TOML puts every key written "
            "below a [table] header into that table; move it directly under [tool.launcher], "
            "above the first [table] header below it") in done.stderr


def test_a_misspelt_key_still_gets_did_you_mean(repo: Path) -> None:
    _configure(repo, "launcher.toml", '[merge]\nstrategie = "squash"\n')

    done = launcher_cli(repo, "run", "--task", "x", "--agent", "scripted")

    assert done.returncode == 2, done.stderr
    assert "did you mean `strategy`?" in done.stderr


def test_a_plan_key_of_another_table_is_named_too(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('[run]\nprompt = "x"\n\n[[task]]\nid = "a"\nmax_parallel = 2\nscript = []\n')

    done = launcher_cli(repo, "run", str(plan))

    assert done.returncode == 2, done.stderr
    assert "run.prompt: unknown key (`prompt` is a key of [[task]], not of [run])" in done.stderr
    assert "task[0] (id 'a').max_parallel: unknown key (`max_parallel` is a key of [run], not of [[task]])" \
        in done.stderr
