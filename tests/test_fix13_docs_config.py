"""A repository configured through `[tool.launcher]` in pyproject.toml keeps that configuration:
`launcher init` writes no launcher.toml beside it (a launcher.toml used to replace the whole table
without a word: its integration check stopped running and work it rejects landed, `succeeded`),
and a repository where both launcher.toml and [tool.launcher] hold settings is refused (exit 2,
naming both files and how to keep one), never read as one of them alone."""

from __future__ import annotations

from pathlib import Path

from helpers import git, launcher_cli

PYPROJECT = '[project]\nname = "x"\n\n[tool.launcher.merge]\nintegration_check = "test ! -e bad.txt"\n'
PLAN = ('[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\n'
        'script = [{ write = "bad.txt", content = "x\\n" }]\n')


def _commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)


def test_init_writes_no_launcher_toml_where_pyproject_configures_the_launcher(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "p.toml").write_text(PLAN)
    _commit_all(repo, "pyproject config")

    done = launcher_cli(repo, "init")

    assert done.returncode == 0, done.stderr
    assert not (repo / "launcher.toml").exists()
    assert "not written: launcher.toml" in done.stdout
    assert "[tool.launcher]" in done.stdout
    assert (repo / "plan.example.toml").exists()  # the other starter files are still written
    _commit_all(repo, "launcher: starter config")
    run = launcher_cli(repo, "run", "p.toml", "--quiet")
    assert run.returncode == 1, run.stdout + run.stderr  # the pyproject's integration check still applies
    assert "integration check failed" in run.stdout + run.stderr
    assert git(repo, "ls-tree", "main", "bad.txt") == ""


def test_both_launcher_toml_and_tool_launcher_are_refused_naming_both(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / "launcher.toml").write_text("[grading]\niteration_cap = 2\n")
    (repo / "p.toml").write_text(PLAN)
    _commit_all(repo, "two configs")

    run = launcher_cli(repo, "run", "p.toml", "--quiet")

    assert run.returncode == 2, run.stdout + run.stderr
    assert "launcher.toml and [tool.launcher] in pyproject.toml both configure the launcher" in run.stderr
    assert "keep one" in run.stderr
    assert git(repo, "ls-tree", "main", "bad.txt") == ""
    assert not list((repo / ".launcher").glob("runs/*")) if (repo / ".launcher").exists() else True


def test_a_pyproject_without_tool_launcher_leaves_launcher_toml_in_charge(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.ruff]\nline-length = 100\n')
    init = launcher_cli(repo, "init")
    assert init.returncode == 0, init.stderr
    assert (repo / "launcher.toml").exists()
    agents = launcher_cli(repo, "agents")
    assert agents.returncode == 0, agents.stderr
    assert "bot" in agents.stdout  # launcher.toml's agent
