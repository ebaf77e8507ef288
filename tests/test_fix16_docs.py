"""What a new user reads is true: help text, the starter files, the layering, exit codes, config refusals."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from launcher.cli import main as cli_main
from launcher.cli.lazy_commands import LAZY_GROUPS, _load
from tests.helpers import git, launcher_cli

BRACKETED = re.compile(r"\[[^\[\]]+\]")


def _flat(text: str) -> str:
    """Rendered help with its box drawing and line wrapping taken out."""
    return " ".join(text.replace("│", " ").split())


def _every_command() -> Iterator[tuple[list[str], Any]]:
    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name in list(getattr(command, "commands", {})):
            sub = _load(name) if not path and name in LAZY_GROUPS else command.commands[name]
            yield from walk(sub, [*path, name])
    yield from walk(typer.main.get_command(cli_main.app), [])


def _help_texts(command: Any) -> list[str]:
    return [command.help or ""] + [param.help for param in command.params
                                   if getattr(param, "help", None) and not getattr(param, "hidden", False)]


# 01: rich markup ate `[tool.launcher]` from `launcher init -h`.

def test_init_help_names_the_pyproject_table_it_defers_to(tmp_path):
    own = launcher_cli(tmp_path, "init", "-h", env={"COLUMNS": "300"})
    listing = launcher_cli(tmp_path, "-h", env={"COLUMNS": "300"})
    assert own.returncode == 0 and listing.returncode == 0
    assert "pyproject.toml's [tool.launcher] configures the launcher" in _flat(own.stdout)
    assert "pyproject.toml's [tool.launcher] configures the launcher" in _flat(listing.stdout)


def test_every_bracketed_word_of_every_commands_help_is_shown_by_its_help():
    runner = CliRunner()
    commands = list(_every_command())
    assert len(commands) > 30 and any(path == ["mutation", "judge"] for path, _ in commands)
    missing = []
    for path, command in commands:
        words = [word for text in _help_texts(command) for word in BRACKETED.findall(text)]
        if not words:
            continue
        shown = runner.invoke(cli_main.app, [*path, "-h"], env={"COLUMNS": "2000", "NO_COLOR": "1"})
        assert shown.exit_code == 0, (path, shown.output)
        missing += [(" ".join(path), word) for word in words if _flat(word) not in _flat(shown.output)]
    assert missing == []


def test_a_help_text_is_shown_as_written_even_where_it_looks_like_markup():
    from typer import rich_utils

    from launcher.cli import help_format  # noqa: F401  (the override under test)

    text = rich_utils._make_rich_text(text="see [bold] and [agents.NAME] and \\[x]",
                                      markup_mode=rich_utils.MARKUP_MODE_RICH)
    assert text.plain == "see [bold] and [agents.NAME] and \\[x]"


# 02: the starter launcher.toml suggested the setup the README forbids.

def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("hi\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return repo


def test_the_starter_config_suggests_a_setup_the_readme_recommends(tmp_path):
    repo = _repo(tmp_path)
    assert launcher_cli(repo, "init").returncode == 0
    config = (repo / "launcher.toml").read_text()
    setup_lines = [line for line in config.splitlines() if "setup" in line]
    assert setup_lines[0].startswith('# setup = "npm ci"')
    assert not any("pip install -e ." in line.split("never")[0] for line in setup_lines)
    assert "Python projects need no setup for their" in config
    assert tomllib.loads(config)["default_agent"] == "bot"  # still a valid config, setup commented out
    assert "setup" not in tomllib.loads(config)
