"""A plain `launcher clean` after a crash (the launcher killed with -9 while an agent worked, the
natural "tidy up" instead of `resume`) loses nothing and leaves nothing running: the dead
launcher's agents still running in the worktrees it removes are killed, as `resume` kills them,
and uncommitted work in a task's worktree is saved under `refs/launcher/<run>/<task>/interrupted-*`
(kept until `clean --force`), as `resume` saves it."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import git, kill_the_launcher_once_written, launcher_cli, wait_group_gone


def _kill_the_launcher_once_the_agent_wrote(repo: Path, tmp_path: Path, script: list[dict[str, object]],
                                            wrote: str) -> tuple[str, int]:
    """A one-task run whose launcher is SIGKILLed once the agent wrote `wrote`."""
    return kill_the_launcher_once_written(repo, tmp_path, {"task": [{"id": "one", "script": script}]}, "one", wrote)


def _saved_refs(repo: Path, run_id: str) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", f"refs/launcher/{run_id}/one/").split()


def test_clean_after_a_crash_saves_the_agents_uncommitted_work(repo: Path, tmp_path: Path) -> None:
    # Finding 6: the agent finished after its launcher died, leaving its work uncommitted (the
    # launcher commits it after the round); `clean` removed the worktree and the branch with it.
    run_id, pgid = _kill_the_launcher_once_the_agent_wrote(
        repo, tmp_path, [{"write": "work.txt", "content": "PRECIOUS\n"}, {"sleep": 0.5}], "work.txt")
    assert wait_group_gone(pgid, timeout=10) == []  # the agent finished on its own

    cleaned = launcher_cli(repo, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    (saved,) = _saved_refs(repo, run_id)
    assert saved.startswith(f"refs/launcher/{run_id}/one/interrupted-")
    assert git(repo, "show", f"{saved}:work.txt") == "PRECIOUS\n"
    assert "saved the uncommitted work in " in cleaned.stdout and f"`git stash apply {saved}`" in cleaned.stdout
    assert f"kept ref {saved}" in cleaned.stdout
    assert not list((tmp_path / "cache").glob(f"launcher/worktrees/*/{run_id}/one"))  # the tree went

    # The saved work comes back where the user wants it; `--force` is what deletes it.
    git(repo, "stash", "apply", saved)
    assert (repo / "work.txt").read_text() == "PRECIOUS\n"
    forced = launcher_cli(repo, "clean", run_id, "--force")
    assert forced.returncode == 0 and _saved_refs(repo, run_id) == [], forced.stdout


def test_clean_after_a_crash_kills_the_agents_still_running_there(repo: Path, tmp_path: Path) -> None:
    # Finding 7: `clean` removed the worktree under a still-running agent and left it running
    # (a paid CLI keeps spending, its output discarded).
    run_id, pgid = _kill_the_launcher_once_the_agent_wrote(
        repo, tmp_path, [{"write": "partial.txt", "content": "half done\n"}, {"sleep": 60}], "partial.txt")
    os.killpg(pgid, 0)  # the agent is still at work (ProcessLookupError if not)

    cleaned = launcher_cli(repo, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert wait_group_gone(pgid) == [], "the dead launcher's agent survived `launcher clean`"
    assert f"killed 1 orphaned process(es) of run {run_id}'s dead launcher" in cleaned.stdout
    (saved,) = _saved_refs(repo, run_id)  # what it had written so far is kept too
    assert git(repo, "show", f"{saved}:partial.txt") == "half done\n"
    assert cleaned.stdout.strip().endswith("kept 1")  # the worktree and branch removed, the ref kept


def test_clean_after_a_killed_land_removes_its_integration_scratch_tree_without_calling_it_kept(
        repo: Path, tmp_path: Path) -> None:
    # The land was SIGKILLed during its integration check: `_integration/<sha>` is the
    # launcher's own scratch tree (a commit that exists elsewhere), not anyone's work to keep.
    import json
    import signal
    import subprocess
    import sys
    import time
    marker = tmp_path / "check-started"
    (repo / "launcher.toml").write_text(f'[merge]\nintegration_check = "touch {marker}; sleep 30"\n')
    git(repo, "add", "launcher.toml")
    git(repo, "commit", "-qm", "check")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    land = subprocess.Popen([sys.executable, "-m", "launcher", "land"], cwd=repo, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and land.poll() is None, "the integration check never started"
        time.sleep(0.05)
    os.kill(land.pid, signal.SIGKILL)
    land.wait()
    assert list((tmp_path / "cache").glob("launcher/worktrees/*/*/_integration/*"))  # left behind

    cleaned = launcher_cli(repo, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "kept worktree" not in cleaned.stdout and "Copy what you want" not in cleaned.stdout, cleaned.stdout
    assert not list((tmp_path / "cache").glob("launcher/worktrees/*/*/_integration"))
    assert "integration" not in git(repo, "worktree", "list")
