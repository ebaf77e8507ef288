"""SIGKILL at random moments, then resume: the run ends exactly as if nothing had happened.

Each trial starts `launcher run` on a fresh copy of one repository and plan (the demo's: a
grading round, a dependency, a conflict, a failing check, a copied `.env`), kills it at a seeded
random moment — the launcher alone, or the launcher and every process it started — resumes it,
and checks what a user would: every task final, each approved task merged exactly once, no agent
commit lost, a clean `git status` with no MERGE_HEAD, a clean `git fsck`, no surviving process,
nothing left after `clean --all`, and the same outcome (task states and landed tree) as an
uninterrupted run.

CI runs a few trials; `LAUNCHER_CRASH_TRIALS=60 python -m pytest tests/test_crash_trials.py`
runs more (`LAUNCHER_CRASH_SEED` picks another sequence).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher.app.demo import demo_plan, make_sample_repo

TRIALS = int(os.environ.get("LAUNCHER_CRASH_TRIALS", "4"))
SEED = int(os.environ.get("LAUNCHER_CRASH_SEED", "20261204"))
FINAL = {"merged", "conflicted", "failed", "timed_out", "cancelled", "skipped", "deferred",
         "tech_debt", "blocked"}


@dataclass
class Outcome:
    states: dict[str, str]
    tree: str


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _plan_file(where: Path) -> Path:
    plan = demo_plan().model_dump(mode="json", by_alias=True, exclude_none=True)
    path = where / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _outcome(repo: Path, report: dict[str, object]) -> Outcome:
    tasks = report["tasks"]
    assert isinstance(tasks, list)
    return Outcome({t["id"]: t["state"] for t in tasks}, git(repo, "rev-parse", "main^{tree}").strip())


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _run_processes(run_id: str) -> list[int]:
    """Live processes carrying this run's id in their environment: nothing may outlive it."""
    marker = f"LAUNCHER_RUN_ID={run_id}".encode()
    live = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                live.append(int(entry.name))
        except OSError:
            continue
    return live


def _wait_gone(run_id: str, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _run_processes(run_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _run_id(repo: Path) -> str | None:
    db = repo / ".launcher" / "launcher.db"
    if not db.exists():
        return None
    try:
        row = sqlite3.connect(db).execute("SELECT id FROM runs").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _lost_agent_commits(repo: Path) -> list[str]:
    """Unreachable commits made on a task branch (agent work): none may exist."""
    fsck = subprocess.run(["git", "fsck", "--unreachable", "--no-reflogs", "--no-progress"],
                          cwd=repo, env=_env(), capture_output=True, text=True)
    lost = []
    for line in fsck.stdout.splitlines():
        kind, _, oid = line.partition(" ")[2].partition(" ")
        if kind != "commit":
            continue
        body = git(repo, "show", "-s", "--format=%B", oid)
        # The launcher's own merge commits carry Launcher-Verdict; a landing computed before a
        # crash and recomputed after it leaves such a commit behind, which holds no agent work.
        if "Launcher-Task:" in body and "Launcher-Verdict:" not in body:
            lost.append(f"{oid[:12]} {body.splitlines()[0]}")
    return lost


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("crash-pristine")
    return make_sample_repo(where / "repo"), _plan_file(where)


@pytest.fixture(scope="module")
def reference(pristine: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, float]:
    """The uninterrupted run: its outcome, and how long it takes (the range of kill moments)."""
    source, plan = pristine
    repo = tmp_path_factory.mktemp("crash-reference") / "repo"
    shutil.copytree(source, repo, symlinks=True)
    started = time.monotonic()
    done = launcher_cli(repo, "run", str(plan), "--json", env={"XDG_CACHE_HOME": str(repo.parent / "cache")})
    elapsed = time.monotonic() - started
    assert done.returncode in (0, 1), done.stderr
    return _outcome(repo, json.loads(done.stdout)), elapsed


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_at_a_random_moment_then_resume_matches_an_uninterrupted_run(
    trial: int, pristine: tuple[Path, Path], reference: tuple[Outcome, float], tmp_path: Path
) -> None:
    expected, duration = reference
    rng = random.Random(SEED * 1000 + trial)
    delay = rng.uniform(0.05, duration)
    whole_tree = rng.random() < 0.5
    source, plan = pristine
    repo = tmp_path / "repo"
    shutil.copytree(source, repo, symlinks=True)
    env = {**_env(), "XDG_CACHE_HOME": str(tmp_path / "cache")}

    proc = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--quiet"],
                            cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(delay)
    victims = [proc.pid] + (_descendants(proc.pid) if whole_tree else [])
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    where = f"trial {trial}: killed {'the tree' if whole_tree else 'the launcher'} at {delay:.2f}s"

    run_id = _run_id(repo)
    if run_id is None:  # killed before the run was journaled: the user simply runs it again
        done = launcher_cli(repo, "run", str(plan), "--json", env={"XDG_CACHE_HOME": env["XDG_CACHE_HOME"]})
        run_id = _run_id(repo)
    else:
        done = launcher_cli(repo, "resume", run_id, "--json", env={"XDG_CACHE_HOME": env["XDG_CACHE_HOME"]})
    assert run_id is not None, where
    assert done.returncode in (0, 1), f"{where}: {done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout)
    outcome = _outcome(repo, report)
    where += "; " + "; ".join(f"{t['id']}: {t['message']}" for t in report["tasks"])

    assert set(outcome.states.values()) <= FINAL, f"{where}: {outcome.states}"
    assert outcome == expected, f"{where}: {outcome} != {expected}"
    trailers = git(repo, "log", "--merges", "--format=%(trailers:key=Launcher-Task,valueonly)", "main")
    landed = sorted(line for line in trailers.splitlines() if line.strip())
    merged = sorted(t for t, s in outcome.states.items() if s == "merged")
    assert landed == merged, f"{where}: landed {landed}, merged {merged}"  # each exactly once
    assert git(repo, "status", "--porcelain") == "", where
    assert not (repo / ".git" / "MERGE_HEAD").exists(), where
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo, env=_env(),
                          capture_output=True, text=True)
    assert fsck.returncode == 0, f"{where}: {fsck.stderr}"
    assert _lost_agent_commits(repo) == [], where
    assert _wait_gone(run_id) == [], f"{where}: processes of the run survive"

    cache = {"XDG_CACHE_HOME": env["XDG_CACHE_HOME"]}
    cleaned = launcher_cli(repo, "clean", "--all", env=cache)
    assert cleaned.returncode == 0, f"{where}: {cleaned.stdout}{cleaned.stderr}"
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1, where
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/launcher/", "refs/heads/launcher/").split()
    for ref in refs:  # only what holds commits main does not reach stays, until --force
        assert git(repo, "rev-list", "--count", ref, "--not", "main").strip() != "0", f"{where}: {ref}"
    forced = launcher_cli(repo, "clean", "--all", "--force", env=cache)
    assert forced.returncode == 0, f"{where}: {forced.stdout}{forced.stderr}"
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/launcher/", "refs/heads/launcher/").split()
    assert refs == [], f"{where}: {refs}"
