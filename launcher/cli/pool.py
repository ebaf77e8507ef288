"""`launcher pool warm N`: worktrees ready at the base commit, taken by the next run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from launcher.app.run import pool as pool_app
from launcher.cli import help_format
from launcher.cli.calls import call

pool_app_cli = typer.Typer(
    no_args_is_help=True, help="Keep worktrees ready so that a run takes them instead of creating them.",
    context_settings=help_format.CONTEXT_SETTINGS,
)


@pool_app_cli.command()
def warm(
    count: Annotated[int, typer.Argument(min=0, max=256, help="How many worktrees to keep ready.")],
    base: Annotated[str, typer.Option(help="Commit they are detached at.")] = "HEAD",
) -> None:
    """Top the pool up to COUNT detached worktrees (`launcher clean --all` removes them)."""
    created, ready, filling, elsewhere = call(lambda: pool_app.warm(Path.cwd(), count, base))
    # Another launcher's warm still checking out: part of the pool, not added again, and said.
    being = f", {filling} more being checked out by another launcher" if filling else ""
    # Worktrees warmed earlier at another commit count too (never re-made): said, not passed for `base`'s.
    older = (f"; {elsewhere} of them at another commit than {base}, which a run checks out the difference "
             "of when it takes one (`launcher clean --all` empties the pool)") if elsewhere else ""
    print(f"warm pool: {ready} worktree(s) ready ({len(created)} new{being}{older})")
