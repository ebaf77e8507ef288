"""What a new user reads is true: help text, the starter files, the layering, exit codes, config refusals."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
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

    from launcher.cli import help_format

    help_format._install_plain_text()  # what formatting a help screen does first
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


# 03: ARCHITECTURE.md says every layer imports only those below it; the base layer imported models.

ROOT = Path(__file__).resolve().parent.parent


def _layer_order() -> list[str]:
    """The layers as ARCHITECTURE.md lists them, top first (`cli      launcher/cli/ ...`)."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    return re.findall(r"^([a-z]+) +launcher/", text, flags=re.MULTILINE)


def _layer_of(module: str, order: list[str]) -> str | None:
    parts = module.split(".")
    if parts[0] != "launcher":
        return None
    if parts[1:] == ["__main__"]:
        return order[0]  # the console entry point, above everything
    return parts[1] if len(parts) > 1 and parts[1] in order else "base"


def _imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing package
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.lineno, node.module or ""


def upward_imports(package_dir: Path, order: list[str]) -> list[str]:
    rank = {name: at for at, name in enumerate(order)}
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        module = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts).removesuffix(".__init__")
        mine = _layer_of(module, order)
        assert mine is not None
        for line, target in _imports(path, module):
            theirs = _layer_of(target, order)
            if theirs is not None and rank[theirs] < rank[mine]:
                found.append(f"{path.relative_to(package_dir.parent)}:{line} ({mine}) imports {target} ({theirs})")
    return found


def test_architecture_lists_every_package_as_a_layer_ending_in_base():
    order = _layer_order()
    assert order[0] == "cli" and order[-1] == "base"
    packages = {path.parent.name for path in (ROOT / "launcher").glob("*/__init__.py")}
    assert packages <= set(order), packages - set(order)


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports(ROOT / "launcher", _layer_order()) == []


def test_the_import_scan_sees_an_upward_import_of_the_base_layer(tmp_path):
    package = tmp_path / "launcher"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models" / "__init__.py").write_text("")
    (package / "models" / "redact.py").write_text("from launcher.errors import LauncherError\n")
    (package / "errors.py").write_text("class LauncherError(Exception):\n    pass\n")
    (package / "capped_log.py").write_text("import os\n\ndef f():\n    from launcher.models.redact import x\n")
    (package / "models" / "plan.py").write_text("from ..cli import main\n")
    assert upward_imports(package, _layer_order()) == [
        "launcher/capped_log.py:4 (base) imports launcher.models.redact (models)",
        "launcher/models/plan.py:1 (models) imports launcher.cli (cli)",
    ]


# 04: a test interpreter without coverage/pytest (or a module the tests import) is an environment
# problem, exit 3, not the exit 1 of a failing suite or a score under --fail-under.

def _project(tmp_path: Path, test_body: str) -> Path:
    repo = _repo(tmp_path)
    (repo / "pkg").mkdir()
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "tests" / "test_pkg.py").write_text(f"from pkg import add\n\n\ndef test_add():\n{test_body}")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    return repo


def _sweep(repo: Path, python: str) -> tuple[int, dict[str, Any]]:
    done = launcher_cli(repo, "mutation", "sweep", "pkg", "--python", python, "--workers", "1", "--json",
                        timeout=300, env={"XDG_CACHE_HOME": str(repo.parent / "cache")})
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_a_test_python_without_coverage_and_pytest_is_an_environment_error(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    repo = _project(tmp_path, "    assert add(1, 2) == 3\n")
    code, envelope = _sweep(repo, str(tmp_path / "bare" / "bin" / "python"))
    assert (code, envelope["error_key"]) == (3, "mutation_sanity:tool_missing")
    assert "is not installed for" in envelope["observations"] and "pip install" in envelope["usage"]


def test_a_module_the_tests_import_missing_from_the_test_python_is_an_environment_error(tmp_path):
    repo = _project(tmp_path, "    import no_such_dependency_xyz  # noqa: F401\n    assert add(1, 2) == 3\n")
    code, envelope = _sweep(repo, sys.executable)
    assert (code, envelope["error_key"]) == (3, "mutation_sanity:module_missing")
    assert "no_such_dependency_xyz" in envelope["observations"]


def test_a_suite_failing_on_the_clean_tree_is_still_a_failure_exit_1(tmp_path):
    repo = _project(tmp_path, "    assert add(1, 2) == 4\n")
    code, envelope = _sweep(repo, sys.executable)
    assert (code, envelope["error_key"]) == (1, "mutation_sanity:clean_suite_failed")


# 05: with both launcher.toml and [tool.launcher] holding settings, neither is read: `launcher init`
# said "nothing to do" and told the user to edit launcher.toml; `workflow recommend` recommended
# actions that all refuse. Both now refuse as every command that reads the config does.

def _two_configs(tmp_path: Path) -> Path:
    repo = _repo(tmp_path)
    (repo / "launcher.toml").write_text('default_agent = "bot"\n[agents.bot]\ncommand = ["true"]\n')
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n'
                                         '[tool.launcher]\ndefault_agent = "bot"\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "two configs")
    return repo


def test_init_refuses_where_both_configs_hold_settings_naming_both_and_writes_nothing(tmp_path):
    repo = _two_configs(tmp_path)
    done = launcher_cli(repo, "init")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{repo / 'launcher.toml'} and {repo / 'pyproject.toml'} [tool.launcher]" in done.stderr
    assert "both configure the launcher" in done.stderr and "keep one" in done.stderr
    assert "Edit [agents.bot] in launcher.toml" not in done.stdout + done.stderr
    assert not (repo / ".worktreeinclude").exists() and not (repo / "rubrics").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_every_command_that_reads_the_config_refuses_both_and_watching_commands_do_not(tmp_path):
    repo = _two_configs(tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    refusing = [["init"], ["agents"], ["clean"], ["pool", "warm", "1"], ["run", "--task", "x"],
                ["mutation", "sweep", "pkg"], ["workflow", "plan", "add a login page"],
                ["workflow", "recommend"]]
    for argv in refusing:
        done = launcher_cli(repo, *argv, env=env)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert "both configure the launcher" in done.stderr, (argv, done.stderr)
    # Reading the journal or the workflow store, never the settings: these keep working.
    for argv in (["runs"], ["mutation", "list"], ["workflow", "list"]):
        done = launcher_cli(repo, *argv, env=env)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
