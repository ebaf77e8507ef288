"""Before `launcher mutation fix` starts any agent: do the sweep's mutants still fit the code?

A mutant is a replacement at character offsets of the file the sweep read. The fix run's tasks
start at HEAD; if a target file there differs from the sweep's (a commit since the sweep, or a
sweep of uncommitted changes), every position is stale: an agent would be paid to write a test
against code that is not there, and the kill gate could not apply the mutant. The files are
compared by content (as a checkout of HEAD writes them), so commits that touch other files, or
the tests, do not matter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.app.mutation.fix_plan import Target
from launcher.errors import UsageProblem
from launcher.git.repo import GitRepo
from launcher.mutation.model import Mutant
from launcher.mutation.report_stryker import fits
from launcher.mutation.source_text import decode_source

RESWEEP = "launcher mutation sweep"


async def _text_at(repo: GitRepo, commit: str, rel: str) -> str | None:
    """The file as a checkout of `commit` writes it (eol and filter attributes applied), None
    when the commit lacks it or it does not decode."""
    done = await repo.git("cat-file", "--filters", f"{commit}:{rel}", check=False)
    if not done.ok:
        return None
    try:
        return decode_source(done.stdout, rel)
    except (UnicodeDecodeError, SyntaxError, LookupError):
        return None


def _fits(text: str, mutants: list[Mutant], recorded: Any) -> bool:
    if isinstance(recorded, str) and recorded:
        return text == recorded  # the text the sweep generated its mutants from
    return fits(text, mutants)  # an older sweep without its sources: the replaced text in place


async def check_fresh(repo: GitRepo, head: str, data: dict[str, Any], targets: list[Target], sweep_dir: Path) -> None:
    """Raise (exit 2, before any task exists) when a target file at `head` is not the one the
    sweep's mutants were generated from."""
    by_file: dict[str, list[Mutant]] = {}
    for target in targets:
        by_file.setdefault(target.mutant.target, []).append(target.mutant)
    files = data.get("files") or {}
    stale: list[str] = []
    for rel, mutants in sorted(by_file.items()):
        text = await _text_at(repo, head, rel)
        if text is None:
            stale.append(f"{rel} (not in HEAD)")
        elif not _fits(text, mutants, (files.get(rel) or {}).get("source")):
            stale.append(rel)
    if not stale:
        return
    swept = str(data.get("base_sha") or "")
    at = f"commit {swept[:12]}" if swept else "an unknown commit"
    first, names = "", ", ".join(stale)
    if swept and swept != head:
        since = f"{names} changed since (HEAD {head[:12]})"
    else:  # same commit: the sweep read uncommitted changes that HEAD lacks
        since = f"{names} at HEAD {head[:12]}: not the text the sweep read (uncommitted changes)"
        first = "commit the changes the sweep read (the tasks start from HEAD), or "
    raise UsageProblem(
        f"sweep {sweep_dir.name} was taken at {at}; {since}: the "
        "survivors' positions no longer match the code, so no test-writing agent was started",
        where=str(sweep_dir),
        fix=f"{first}re-run the sweep on the current code (`{RESWEEP}` with the same paths and options; then "
        "`launcher mutation judge` if you fix judged survivors) and run `launcher mutation fix` on the new "
        "sweep; or check out the sweep's commit",
        error_key="stale_sweep",
    )
