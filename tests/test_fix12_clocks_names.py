"""Copies and refs the launcher names by the second never overwrite an earlier one: two git-dir
put-backs in the same second (two tasks' checks ending together, the same time of day on another
day, a clock stepped back) each keep what they put back where their message says."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest

from launcher.app.run.containment import put_back_git_dir
from launcher.git import guard
from launcher.git.ref_updates import unused_ref
from launcher.git.repo import GitRepo

INSTANT = 1_796_601_600.0  # every name below is taken in this one second


@pytest.fixture
def one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    real_gmtime, real_localtime, real_strftime = time.gmtime, time.localtime, time.strftime
    monkeypatch.setattr(time, "gmtime", lambda secs=None: real_gmtime(INSTANT if secs is None else secs))
    monkeypatch.setattr(time, "localtime", lambda secs=None: real_localtime(INSTANT if secs is None else secs))
    monkeypatch.setattr(time, "strftime", lambda fmt, t=None: real_strftime(fmt, real_localtime(INSTANT)
                                                                            if t is None else t))


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def test_two_git_dir_put_backs_in_one_second_keep_both_copies(repo: Path, tmp_path: Path, one_second: None) -> None:
    async def scenario() -> list[str]:
        git_repo = await GitRepo.discover(repo)
        ctx = SimpleNamespace(repo=git_repo, git_dir_snapshot=guard.take_snapshot(repo / ".git"),
                              files=SimpleNamespace(run_dir=tmp_path / "run"), worktree_root=tmp_path / "trees",
                              run_id="r-1", note=lambda *a: None)
        messages = []
        for key in ("KEY-OF-AGENT-A", "KEY-OF-AGENT-B"):
            _git(repo, "config", "core.sshCommand", f"ssh -i {key}")
            undone = await put_back_git_dir(ctx)  # type: ignore[arg-type]
            assert undone is not None
            messages.append(undone[0])
        return messages

    first, second = anyio.run(scenario)
    kept = [Path(m.split("what it was is kept in ")[1].split(";")[0]) for m in (first, second)]
    assert kept[0] != kept[1]
    assert "KEY-OF-AGENT-A" in (kept[0] / "config").read_text()
    assert "KEY-OF-AGENT-B" in (kept[1] / "config").read_text()
    assert subprocess.run(["git", "config", "core.sshCommand"], cwd=repo).returncode == 1  # put back


def test_a_ref_named_by_the_second_is_never_one_already_there(repo: Path) -> None:
    async def scenario() -> list[str]:
        git_repo = await GitRepo.discover(repo)
        names = []
        for _ in range(3):
            name = await unused_ref(git_repo, "refs/launcher/r-1/t/interrupted-1796601600")
            _git(repo, "update-ref", name, "HEAD")
            names.append(name)
        judge = await unused_ref(git_repo, "refs/launcher/judge/20261207-000000")
        _git(repo, "update-ref", f"{judge}/refs/heads/main", "HEAD")  # a judge's kept refs sit under it
        names.append(judge)
        names.append(await unused_ref(git_repo, "refs/launcher/judge/20261207-000000"))
        return names

    assert anyio.run(scenario) == [
        "refs/launcher/r-1/t/interrupted-1796601600", "refs/launcher/r-1/t/interrupted-1796601600.2",
        "refs/launcher/r-1/t/interrupted-1796601600.3",
        "refs/launcher/judge/20261207-000000", "refs/launcher/judge/20261207-000000.2"]
