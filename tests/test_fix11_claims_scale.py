""""Claims changes but changed nothing" is explained in time linear in the claims, off the loop.

A formatter run over a 20,000-file tree that changed nothing and claims every file used to cost
claims x files string comparisons (a list membership and an `any(startswith)` per claim), on the
event loop: every other task's supervision stood still for seconds to a minute."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from helpers import git

from launcher.app.run import claims
from launcher.git.repo import GitRepo


class CountedFiles(list[str]):
    """The start commit's files, counting how often they are read whole."""

    reads = 0

    def __iter__(self) -> Iterator[str]:
        CountedFiles.reads += 1
        return super().__iter__()

    def __contains__(self, item: object) -> bool:  # a list's `in` is a read of the whole list
        CountedFiles.reads += 1
        return super().__contains__(item)


def test_the_files_at_start_are_read_once_however_many_files_are_claimed() -> None:
    paths = [f"services/svc{i % 20:02d}/mod{i // 20 % 10}/file_{i:05d}.py" for i in range(3000)]
    at_start = CountedFiles(paths)
    CountedFiles.reads = 0
    said = claims.empty_claim_failure([*paths, "services/svc00", "gone.txt"], [], at_start, "0" * 40)
    assert CountedFiles.reads <= 2  # was one read (or two) per claim: 6,000
    assert said is not None
    assert "already hold that content" in said and "gone.txt is not in the worktree" in said


def test_a_claimed_folder_counts_as_held_when_a_file_under_it_is() -> None:
    held = ["src/pkg/a.py", "docs/x.md"]
    said = claims.empty_claim_failure(["src", "src/pkg", "src/pk", "docs/x.md"], [], held, "1" * 40)
    assert said is not None
    there, lost = said.split(" already hold that content", 1)
    assert "docs/x.md, src, src/pkg" in there and "src/pk is not in the worktree" in lost


def test_the_explanation_is_worked_out_off_the_event_loop(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    ran_in: list[str] = []
    original = claims.empty_claim_failure

    def recorded(*args: object) -> str | None:
        ran_in.append(threading.current_thread().name)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(claims, "empty_claim_failure", recorded)

    async def explain() -> tuple[str | None, str]:
        found = await GitRepo.discover(repo)
        return await claims.empty_claim(found, ["app.py", "README.md", "lost.py"], [], head), \
            threading.current_thread().name

    said, loop_thread = anyio.run(explain)
    assert ran_in and ran_in[0] != loop_thread
    assert said is not None and "README.md, app.py already hold that content" in said
    assert "lost.py is not in the worktree" in said
