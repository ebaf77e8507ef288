"""The final CI job (`launcher land --from DIR ...`) run again, or run where it cannot land:

- run again after its push succeeded, it lands nothing twice: each landing commit names the
  exported task it came from (`Launcher-Origin`), so a task already on the target is reported
  merged, even when someone reverted it or edited its lines since;
- run again in the same clone after the first was killed between moving the target and updating
  the main work tree, it (or a new `run`) first finishes that landing: the work tree is never
  left behind its target with the landed files staged as deleted;
- a target branch the clone has only as a remote-tracking branch is refused up front, saying
  how to create it; one behind its remote-tracking branch (a CI re-run's checkout of the
  workflow's original commit) is refused too, and the shipped workflow checks out the tip.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import git, launcher_cli

MANIFEST = "launcher-export.json"
ALPHA_DELTA = [
    {"id": "alpha", "script": [{"write": "alpha.txt", "content": "a\n"}]},
    {"id": "delta", "script": [{"replace": "shared.txt", "old": "line2", "new": "LINE2-delta"}]},
]


def _clone(remote: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(remote), str(where))
    git(where, "config", "user.name", "ci")
    git(where, "config", "user.email", "ci@example.invalid")
    return where


def _shard_exports(base: Path, plan: dict[str, Any], *, branch: str | None = None,
                   shards: int = 2) -> tuple[Path, list[Path]]:
    """A bare remote (main, and `branch` if given) and the exports of `shards` shard jobs of `plan`."""
    origin = base / "origin"
    origin.mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.name", "t")
    git(origin, "config", "user.email", "t@t")
    (origin / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (origin / "shared.txt").write_text("line1\nline2\nline3\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "initial")
    if branch:
        git(origin, "branch", branch)
    remote = base / "remote.git"
    git(base, "clone", "-q", "--bare", str(origin), str(remote))
    exports = []
    for index in range(1, shards + 1):
        job = _clone(remote, base / f"job{index}")
        if branch:
            git(job, "branch", "-q", branch, f"origin/{branch}")
        (job / "plan.json").write_text(json.dumps(plan))
        out = base / f"export{index}"
        done = launcher_cli(job, "run", "plan.json", "--shard", f"{index}/{shards}", "--no-merge",
                            "--export", str(out), "--quiet", env={"XDG_CACHE_HOME": str(base / "cache")})
        assert (out / MANIFEST).exists(), done.stdout + done.stderr
        exports.append(out)
    return remote, exports


def _git_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _land(final: Path, exports: list[Path], *extra: str, env: dict[str, str] | None = None) -> Any:
    return launcher_cli(final, "land", *[a for out in exports for a in ("--from", str(out))], *extra, env=env)


def _tasks(report: str) -> dict[str, tuple[str, str]]:
    return {t["id"]: (t["state"], t["message"]) for t in json.loads(report)["tasks"]}


@pytest.mark.parametrize("strategy", ["squash", "rebase"])
def test_the_final_job_run_again_after_its_push_lands_nothing_twice(strategy: str, tmp_path: Path) -> None:
    remote, exports = _shard_exports(tmp_path, {"run": {"strategy": strategy}, "task": ALPHA_DELTA})
    first = _clone(remote, tmp_path / "final")
    landed = _land(first, exports, "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    git(first, "push", "-q", "origin", "main")
    # Someone reverts alpha's landing on main and edits the line delta changed.
    human = _clone(remote, tmp_path / "human")
    alpha_landing = git(human, "log", "--format=%H", "-1", "--grep=Launcher-Task: alpha").strip()
    git(human, "revert", "--no-edit", alpha_landing)
    (human / "shared.txt").write_text("line1\nLINE2-human\nline3\n")
    git(human, "commit", "-q", "-am", "human edit")
    git(human, "push", "-q", "origin", "main")

    again = _clone(remote, tmp_path / "final-again")  # the re-run job's fresh checkout
    relanded = _land(again, exports, "--json")

    assert relanded.returncode == 0, relanded.stdout + relanded.stderr
    assert json.loads(relanded.stdout)["status"] == "succeeded"
    tasks = _tasks(relanded.stdout)
    for task_id in ("alpha", "delta"):
        state, message = tasks[task_id]
        assert state == "merged" and message.startswith("already landed on main by "), tasks
    assert git(again, "rev-parse", "main") == git(again, "rev-parse", "origin/main")  # nothing new
    assert not (again / "alpha.txt").exists()  # the revert stands
    assert (again / "shared.txt").read_text() == "line1\nLINE2-human\nline3\n"


# `spoof` is an agent that knows its run id (LAUNCHER_RUN_ID) and its sibling `other`'s id (the
# plan), and writes into its own commit message the line a landing commit of `other` would carry.
SPOOFED_ORIGIN = [
    {"id": "first", "script": [{"replace": "shared.txt", "old": "line2", "new": "LINE2-first"}]},
    {"id": "other", "script": [{"replace": "shared.txt", "old": "line2", "new": "LINE2-other"}]},
    {"id": "spoof", "script": [{"write": "spoof.txt", "content": "x\n"}, {"run": [
        "sh", "-c", 'git add -A && git commit -qm "innocent change\n\nLauncher-Origin: $LAUNCHER_RUN_ID/other"']},
        {"write": "spoof2.txt", "content": "y\n"}, {"commit": "and another"}]},  # (rebased: not the last)
]


@pytest.mark.parametrize("strategy", ["merge", "rebase"])
def test_an_origin_line_in_an_agents_commit_does_not_make_a_task_that_never_landed_merged(
        strategy: str, tmp_path: Path) -> None:
    remote, exports = _shard_exports(tmp_path, {"run": {"strategy": strategy}, "task": SPOOFED_ORIGIN},
                                     shards=1)
    first = _clone(remote, tmp_path / "final")
    landed = _land(first, exports, "--json")
    tasks = _tasks(landed.stdout)
    assert tasks["first"][0] == "merged" and tasks["spoof"][0] == "merged", tasks
    assert tasks["other"][0] != "merged", tasks  # it conflicts with first: not on main
    git(first, "push", "-q", "origin", "main")

    again = _clone(remote, tmp_path / "final-again")  # the CI re-run's fresh checkout
    relanded = _land(again, exports, "--json")

    tasks = _tasks(relanded.stdout)
    assert tasks["first"][1].startswith("already landed on main by "), tasks
    assert tasks["spoof"][1].startswith("already landed on main by "), tasks
    state, message = tasks["other"]
    assert state != "merged" and "already landed" not in message, tasks
    assert relanded.returncode != 0
    assert (again / "shared.txt").read_text() == "line1\nLINE2-first\nline3\n"


def _killing_git(where: Path) -> Path:
    """A `git` first on PATH that SIGKILLs its caller (the launcher) at its first `read-tree -m`:
    after the landing moved the target ref, before the main work tree followed."""
    where.mkdir()
    real = next(Path(d) / "git" for d in os.environ["PATH"].split(os.pathsep) if (Path(d) / "git").is_file())
    wrapper = where / "git"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *read-tree*-m*) [ -e "{where}/killed" ] || '
        f'{{ touch "{where}/killed"; kill -9 $PPID; exit 1; }};; esac\n'
        f'exec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return where


@pytest.mark.parametrize("next_command", ["land --from again", "a new run"])
def test_a_land_killed_before_the_work_tree_followed_is_finished_by_the_next_command(
        next_command: str, tmp_path: Path) -> None:
    remote, exports = _shard_exports(tmp_path, {"task": ALPHA_DELTA})
    final = _clone(remote, tmp_path / "final")
    killer = _killing_git(tmp_path / "killer")
    killed = _land(final, exports, "--quiet", env={"PATH": f"{killer}{os.pathsep}{os.environ['PATH']}"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert (final / "alpha.txt").exists() is False  # main moved, its work tree did not follow
    assert "D  alpha.txt" in git(final, "status", "--porcelain")

    if next_command == "land --from again":
        done = _land(final, exports, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        tasks = _tasks(done.stdout)
        assert all(state == "merged" and "already landed on main" in message
                   for state, message in tasks.values()), tasks
    else:
        (final / "more.json").write_text(json.dumps(
            {"task": [{"id": "gamma", "script": [{"write": "gamma.txt", "content": "g\n"}]}]}))
        done = launcher_cli(final, "run", "more.json", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        assert (final / "gamma.txt").read_text() == "g\n"
    assert "finished the landing run r-" in done.stderr + done.stdout
    assert (final / "alpha.txt").read_text() == "a\n"
    assert (final / "shared.txt").read_text() == "line1\nLINE2-delta\nline3\n"
    assert git(final, "status", "--porcelain", "--untracked-files=no") == ""  # HEAD, index, files agree
    # The killed land's tasks are recorded as landed, its landing finished.
    runs = launcher_cli(final, "runs")
    killed_run = runs.stdout.splitlines()[-1].split()[0]
    status = json.loads(launcher_cli(final, "status", killed_run, "--json").stdout)
    assert {t["id"]: t["state"] for t in status["tasks"]} == {"alpha": "merged", "delta": "merged"}


def test_a_killed_landing_that_cannot_be_finished_is_refused_naming_resume(tmp_path: Path) -> None:
    remote, exports = _shard_exports(tmp_path, {"task": ALPHA_DELTA})
    final = _clone(remote, tmp_path / "final")
    killer = _killing_git(tmp_path / "killer")
    killed = _land(final, exports, "--quiet", env={"PATH": f"{killer}{os.pathsep}{os.environ['PATH']}"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    # Someone commits an edit of their own on the new tip; the stale staged deletions stay.
    (final / "app.py").write_text("def add(a, b):\n    return b + a\n")
    git(final, "commit", "-q", "-m", "an edit of someone's", "--", "app.py")
    before = git(final, "rev-parse", "main")

    refused = _land(final, exports)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    killed_run = launcher_cli(final, "runs").stdout.split()[0]
    assert f"run {killed_run} left its landing into main unfinished" in refused.stderr
    assert f"`launcher resume {killed_run}`" in refused.stderr
    assert git(final, "rev-parse", "main") == before
    assert len(launcher_cli(final, "runs").stdout.splitlines()) == 1  # no new run journaled

    # Once nothing stale is staged (here: the tree reset to what the landing wrote), later
    # commands are not held up by it.
    git(final, "checkout", "-q", "HEAD", "--", ".")
    assert git(final, "status", "--porcelain", "--untracked-files=no") == ""
    landed = _land(final, exports, "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert f"run {killed_run} left its landing into main unfinished" in landed.stdout + landed.stderr


def test_a_target_the_final_clone_has_only_as_a_remote_branch_is_refused_up_front(tmp_path: Path) -> None:
    remote, exports = _shard_exports(tmp_path, {"run": {"into": "release"}, "task": ALPHA_DELTA},
                                     branch="release")
    final = _clone(remote, tmp_path / "final")  # as actions/checkout: only main is a local branch
    before = git(final, "for-each-ref", "--format=%(refname) %(objectname)")

    refused = _land(final, exports)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "branch 'release'" in refused.stderr and "does not exist" in refused.stderr
    assert "git branch release origin/release" in refused.stderr
    assert git(final, "for-each-ref", "--format=%(refname) %(objectname)") == before  # nothing fetched
    assert "r-" not in launcher_cli(final, "runs").stdout  # nothing journaled

    git(final, "branch", "-q", "release", "origin/release")
    landed = _land(final, exports, "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert git(final, "show", "release:alpha.txt") == "a\n"


def _workflow_step(name: str) -> str:
    import yaml

    workflow = yaml.safe_load((Path(__file__).resolve().parent.parent / "docs" / "github-actions-run.yml").read_text())
    steps = workflow["jobs"]["land"]["steps"]
    return str(next(step["run"] for step in steps if step.get("name") == name))


def test_a_rerun_of_the_land_job_lands_onto_the_targets_current_tip_and_lands_nothing_twice(
        tmp_path: Path) -> None:
    remote, exports = _shard_exports(tmp_path, {"task": ALPHA_DELTA})
    workflow_commit = git(remote, "rev-parse", "main").strip()
    first = _clone(remote, tmp_path / "final")
    assert _land(first, exports, "--quiet").returncode == 0
    git(first, "push", "-q", "origin", "main")
    # GitHub's "Re-run jobs": the job keeps the workflow's commit, and actions/checkout puts the
    # branch there although it has moved since (the push above).
    rerun = _clone(remote, tmp_path / "rerun")
    git(rerun, "checkout", "-q", "-B", "main", workflow_commit)

    refused = _land(rerun, exports)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "branch 'main', which the exports land into, is behind origin/main (" in refused.stderr
    assert "git checkout -B main origin/main" in refused.stderr
    assert git(rerun, "rev-parse", "main").strip() == workflow_commit  # nothing landed
    assert git(rerun, "branch", "--list", "launcher/*") == ""

    # The shipped workflow's land job first checks the target out at its current tip (keeping
    # the plan file as the shard jobs ran it, for --plan).
    (rerun / "plan.json").write_text(json.dumps({"task": ALPHA_DELTA}))
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    step = subprocess.run(["bash", "-e", "-c", _workflow_step("Check out the target branch at its current tip")],
                          cwd=rerun, env={**_git_env(), "TARGET": "main", "PLAN": "plan.json",
                                          "RUNNER_TEMP": str(runner_temp)}, capture_output=True, text=True)
    assert step.returncode == 0, step.stderr
    relanded = _land(rerun, exports, "--json", "--plan", str(runner_temp / "shards-plan" / "plan.json"))

    assert relanded.returncode == 0, relanded.stdout + relanded.stderr
    assert all(state == "merged" and message.startswith("already landed on main by ")
               for state, message in _tasks(relanded.stdout).values()), relanded.stdout
    assert git(rerun, "rev-parse", "main") == git(remote, "rev-parse", "main")  # the push has nothing to send
