"""`launcher diff RUN TASK` streams git's patch to its reader with a limit on git's *silence*, not
its wall time: a reader that takes its time (`launcher diff | less` left open) gets the whole
patch however long it waits, and a git that prints nothing while it is read (a lazy fetch from
an unreachable promisor remote, an NFS stall) is stopped at the git time limit and said, never
waited on for ever."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.helpers import git, launcher_cli

_BIG_LINES = 40000  # ~1.3 MB of patch: far more than the pipes between git, the launcher and the reader hold


def _run_with_a_big_change(repo: Path) -> str:
    (repo / "plan.toml").write_text(
        '[agents.bot]\nadapter = "command"\n'
        f'command = ["python3", "-c", "open(\'big.txt\', \'w\').write(\'\'.join(f\'line {{i}} of the change\\\\n\' '
        f'for i in range({_BIG_LINES})))"]\n'
        '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n')
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    ran = launcher_cli(repo, "run", "plan.toml", "--no-merge", "--quiet")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return sorted(p.name for p in (repo / ".launcher" / "runs").iterdir())[0]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(extra)
    return env


def test_a_reader_slower_than_the_git_limit_gets_the_whole_patch(repo: Path) -> None:
    run_id = _run_with_a_big_change(repo)
    diff = subprocess.Popen([sys.executable, "-m", "launcher", "diff", run_id, "t"], cwd=repo,
                            env=_env(LAUNCHER_GIT_TIMEOUT="1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert diff.stdout is not None and diff.stderr is not None
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(diff.stderr.read()) if diff.stderr else None)
    reader.start()
    time.sleep(4)  # the reader takes nothing for 4 s: git waits on it, which is no hang
    patch = diff.stdout.read()
    rc = diff.wait(60)
    reader.join(10)
    assert rc == 0, errors
    added = [line for line in patch.decode().splitlines() if line.startswith("+line ")]
    assert len(added) == _BIG_LINES  # the whole patch, never cut


def test_a_git_that_prints_nothing_is_stopped_at_the_git_limit_and_said(repo: Path, tmp_path: Path) -> None:
    run_id = _run_with_a_big_change(repo)
    fake = tmp_path / "bin"
    fake.mkdir()
    real_git = shutil.which("git")
    (fake / "git").write_text(
        "#!/bin/sh\n# a git whose diff gets stuck: prints nothing, never ends\n"
        f'for a in "$@"; do [ "$a" = diff ] && {{ echo $$ > "{tmp_path}/stuck.pid"; exec sleep 300; }}; done\n'
        f'exec {real_git} "$@"\n')
    (fake / "git").chmod(0o755)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "launcher", "diff", run_id, "t"], cwd=repo,
                              env=_env(LAUNCHER_GIT_TIMEOUT="2", PATH=f"{fake}:{os.environ['PATH']}"),
                              capture_output=True, text=True, timeout=60)
    finally:
        stuck = tmp_path / "stuck.pid"
        if stuck.exists():
            with contextlib.suppress(ProcessLookupError):  # the launcher stopped it, as it should
                os.kill(int(stuck.read_text()), 9)
    took = time.monotonic() - started
    assert done.returncode != 0
    assert "printed nothing for 2 s and was stopped" in done.stderr
    assert "LAUNCHER_GIT_TIMEOUT" in done.stderr  # how to raise the limit
    assert "not a whole patch" in done.stderr
    assert took < 40
