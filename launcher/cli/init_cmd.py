"""`launcher init`: the starter files (never overwrites; no launcher.toml beside [tool.launcher])."""

from __future__ import annotations

from pathlib import Path

from launcher.app import init as init_app
from launcher.cli.calls import call
from launcher.invocation import as_invoked


def init() -> None:
    """Write launcher.toml, .worktreeinclude, plan.example.toml, rubrics/ and mutation/ (never overwrites;
    no launcher.toml where pyproject.toml's [tool.launcher] configures the launcher; refused, exit 2, where both do)."""
    result = call(lambda: init_app.init_repo(Path.cwd()))
    for name in result.written:
        print(f"wrote {name}")
    if result.in_pyproject:
        print(init_app.PYPROJECT_NOTE)
    print(f"{len(result.written)} file(s) written" if result.written
          else "nothing to do: the starter files already exist")
    print(as_invoked("\n".join(init_app.next_steps(result.in_pyproject))))
