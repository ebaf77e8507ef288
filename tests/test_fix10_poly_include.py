""".worktreeinclude at a real dependency tree's size: a `node_modules` whose paths together are
more than the system takes on one command line (Linux: 2 MiB of arguments and environment) is
copied into the task's worktree and the task lands; every copied file, whatever its name, is
still known to the landing's content guard."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import anyio
from helpers import git, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.models.states import TaskState


def run_shell(repo: Path, script: str, **run: Any) -> RunReport:
    plan = validate_plan({"run": run, "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", script]}},
                          "task": [{"id": "t", "agent": "sh", "prompt": "x"}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def include(repo: Path, directory: str) -> None:
    (repo / ".gitignore").write_text((repo / ".gitignore").read_text() + f"{directory}/\n")
    (repo / ".worktreeinclude").write_text(f"{directory}/\n")
    git(repo, "add", ".gitignore", ".worktreeinclude")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", f"include {directory}")


def on_main(repo: Path, path: str) -> str | None:
    shown = subprocess.run(["git", "show", f"main:{path}"], cwd=repo, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def test_an_include_set_longer_than_a_command_line_is_copied_and_the_task_lands(repo: Path) -> None:
    package = repo / "node_modules" / "pkg"
    package.mkdir(parents=True)
    names = [f"f{number:05d}_" + "x" * 230 + ".js" for number in range(9000)]  # 2.2 MB of paths
    for number, name in enumerate(names):
        (package / name).write_text(f"//{number}\n")
    include(repo, "node_modules")
    report = run_shell(repo, f"test -f node_modules/pkg/{names[-1]} && ls node_modules/pkg | wc -l > copied.txt")
    t = task(report, "t")
    assert t.state == TaskState.MERGED, t.message
    assert "E2BIG" not in t.message
    assert on_main(repo, "copied.txt") == "9000\n"
    assert on_main(repo, f"node_modules/pkg/{names[0]}") is None  # the include files never land


def test_a_copied_file_with_a_newline_or_a_quote_in_its_name_is_still_guarded(repo: Path) -> None:
    vendor = repo / "vendor"
    vendor.mkdir()
    (vendor / "plain.txt").write_text("plain content of a vendored file 1\n")
    (vendor / '"quoted.txt').write_text("quoted content of a vendored file 2\n")
    (vendor / "new\nline.txt").write_text("newline content of a vendored file 3\n")
    (vendor / "back\\slash\tand tab.txt").write_text("backslash content of a vendored file 4\n")
    include(repo, "vendor")
    report = run_shell(repo, "cp 'vendor/\"quoted.txt' a.txt; cp \"vendor/new\nline.txt\" b.txt;"
                             " cp \"vendor/back\\\\slash\tand tab.txt\" c.txt")
    t = task(report, "t")
    assert t.state != TaskState.MERGED
    for added, copied in (("a.txt", 'vendor/"quoted.txt'), ("b.txt", "vendor/new\nline.txt"),
                          ("c.txt", "vendor/back\\slash\tand tab.txt")):
        assert f"adds {added}, whose content is the copied include file {copied}" in t.message, t.message
    assert on_main(repo, "a.txt") is None and on_main(repo, "b.txt") is None and on_main(repo, "c.txt") is None
