"""Start-up and git-process economy: what every `launcher` process pays before its work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import launcher_cli

HEAVY = ("launcher.mutation", "launcher.app.workflow", "launcher.app.mutation_sweep", "libcst", "mcp")


def test_the_cli_loads_without_the_mutation_engine_the_workflow_engine_or_mcp() -> None:
    probe = ("import sys, launcher.cli.main\n"
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {{'libcst', 'mcp'}} "
             f"or any(m == h or m.startswith(h + '.') for h in {HEAVY!r})))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "[]"


def test_the_lazy_groups_are_listed_and_run_when_invoked(repo: Path) -> None:
    listing = launcher_cli(repo, "--help")
    assert "mutation" in listing.stdout and "Mutation sweeps for CI" in listing.stdout
    assert "workflow" in listing.stdout and "Multi-phase workflows" in listing.stdout
    sub = launcher_cli(repo, "mutation", "--help")
    assert sub.returncode == 0 and "sweep" in sub.stdout and "--install-completion" not in sub.stdout
    listed = launcher_cli(repo, "workflow", "workflows", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.lstrip().startswith("[")
