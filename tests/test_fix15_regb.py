"""Review 15, regress15b: what the fixes promise.

- 02: a mutation sweep copies git-ignored test data into its worker trees, but never the
  launcher's own trees inside the repository (an in-repo `worktree_root`, a `$XDG_CACHE_HOME`
  inside it) nor a worktree or nested clone (a directory holding `.git`): pytest would collect
  their tests against their own unmutated code, and the clean suite could fail.
- 01: a workflow whose later phase changed the lines an earlier phase wrote keeps going after the
  user squashes the target (the combined work is all there); work really gone pauses `next`
  with exit 1, and the way back it names works (no `git merge` of unrelated histories).
- 03: an editable install another guard of the repository re-pointed into its trees (a run's, a
  workflow's test command, `mutation judge`, a `mutation fix` re-settle) is no "before": that
  guard's record, wherever the launcher keeps it, says what was there; the user's own install
  comes back whichever of them ends last.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files
from editable_project import fake_install, fake_uninstall, user_env
from helpers import launcher_cli

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.app.workflow import integrity
from launcher.engine import site_installs
from launcher.engine.site_installs import RECORD, SiteGuard
from launcher.git.repo import GitRepo
from launcher.models.workflow import PhaseState, PhaseStatus, WorkflowState
from launcher.mutation.model import MutantStatus
from launcher.mutation.worker_files import ignored_beside_tracked, missing_ignored

CALC = {
    "pkg/__init__.py": "",
    "pkg/calc.py": "def double(x):\n    return x * 2\n",
    "tests/test_calc.py": "from pkg.calc import double\n\n\ndef test_double():\n    assert double(3) == 6\n",
}


def project(root: Path, files: dict[str, str]) -> Path:
    write_files(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def copied_to_workers(root: Path) -> tuple[list[str], list[str]]:
    return anyio.run(lambda: ignored_beside_tracked(GitRepo(root, root / ".git"), set()))


def sweep(root: Path, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("python", sys.executable)
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None)


# --- 02: the launcher's own trees are not test data ----------------------------------------


def test_a_kept_task_worktree_under_an_in_repo_worktree_root_is_not_copied_and_the_sweep_runs(
        tmp_path: Path) -> None:  # fmt: skip
    root = project(tmp_path / "repo", {**CALC, "launcher.toml": 'worktree_root = "wt"\n'})
    with (root / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("/wt/\n")  # as the launcher keeps an in-repo worktree root out of git
    git(root, "worktree", "add", "-q", "-b", "launcher/run_x/t", "wt/run_x/t")  # a kept task tree
    # ... whose copied test would fail (it clashes with tests/test_calc.py by basename)
    write_files(root, {"wt/run_x/t/tests/test_calc.py": "def test_broken():\n    assert False\n"})

    copied, notes = copied_to_workers(root)
    assert copied == [] and notes == []
    assert anyio.run(missing_ignored, GitRepo(root, root / ".git"), tmp_path / "empty") == []

    outcome = sweep(root, paths=["pkg/calc.py"])
    assert outcome.results and all(r.status is MutantStatus.KILLED for r in outcome.results), outcome.results


def test_the_launcher_cache_inside_the_repository_is_not_copied_but_other_data_beside_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    root = project(tmp_path / "repo", {**CALC, ".gitignore": "cache/\n"})
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    write_files(root, {
        "cache/launcher/worktrees/repo-1234abcd/run_x/t/tests/test_calc.py": "def test_x():\n    pass\n",
        "cache/launcher/ports.json": "{}\n",
        "cache/fixtures/sample.csv": "1,2,3\n",  # the project's own fetched data
    })  # fmt: skip

    copied, _notes = copied_to_workers(root)
    assert copied == ["cache/fixtures/sample.csv"]


def test_an_ignored_worktree_or_nested_clone_is_not_copied_as_test_data(tmp_path: Path) -> None:
    root = project(tmp_path / "repo", {**CALC, ".gitignore": "vendor/\ntests/data/\n"})
    write_files(root, {"vendor/lib/tests/test_lib.py": "def test_lib():\n    pass\n",
                       "vendor/notes/readme.txt": "kept\n",
                       "tests/data/sample.csv": "1,2,3\n"})  # fmt: skip
    git(root / "vendor" / "lib", "init", "-q")  # a nested clone inside a wholly ignored directory
    write_files(root, {"tests/data/clone/x.txt": "x\n"})
    git(root / "tests" / "data" / "clone", "init", "-q")

    copied, _notes = copied_to_workers(root)
    assert sorted(copied) == ["tests/data/sample.csv", "vendor/notes/readme.txt"]


# --- 01: the lost-work check after a rewrite of the target ----------------------------------

THREE = """name = "three"
[[phase]]
id = "build"
artifacts = ["build/log.md"]
[[phase.primary]]
role = "a"
prompt = "build"
[[phase]]
id = "refine"
artifacts = ["refine/log.md"]
[[phase.primary]]
role = "r"
prompt = "go on from {artifacts}"
[[phase]]
id = "last"
artifacts = ["last/log.md"]
[[phase.primary]]
role = "x"
prompt = "finish"
"""
SCRIPTS = {"build-a": [{"write": "a.txt", "content": "value = 1\n"}],
           "refine-r": [{"replace": "a.txt", "old": "value = 1", "new": "value = 2"}],  # the same line
           "last-x": [{"write": "x.txt", "content": "x\n"}]}  # fmt: skip


def workflow(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    quiet = ["--quiet"] if args[0] in ("start", "next", "resume") else []
    done = launcher_cli(repo, "workflow", *args, "--json", *quiet)
    return done.returncode, json.loads(done.stdout)


@pytest.fixture
def two_phases_landed(repo: Path) -> tuple[Path, dict[str, Any]]:
    """Phases build and refine landed (refine rewrote build's line); phase last is to run."""
    write_files(repo, {"workflows/three.toml": THREE, "launcher.toml": '[roles]\ndefault = "scripted"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "workflows")
    scripts = repo.parent / "scripts.json"
    scripts.write_text(json.dumps(SCRIPTS))
    _, state = workflow(repo, "start", "three", "--scripts", str(scripts))
    code, state = workflow(repo, "next", state["id"])
    assert code == 0 and [p["status"] for p in state["phases"]] == ["succeeded", "succeeded", "pending"], state
    return repo, state


def rewrite_main(repo: Path, tree: str) -> None:
    """main becomes one new root commit of `tree`: none of its old commits are in its history."""
    squashed = git(repo, "commit-tree", tree, "-m", "squashed").strip()
    git(repo, "reset", "-q", "--hard", squashed)


def test_a_squash_keeping_work_a_later_phase_rewrote_does_not_pause_the_workflow(
        two_phases_landed: tuple[Path, dict[str, Any]]) -> None:  # fmt: skip
    repo, state = two_phases_landed
    build = state["phases"][0]["landed_sha"]
    rewrite_main(repo, git(repo, "rev-parse", "main^{tree}").strip())
    assert subprocess.run(["git", "merge-base", "--is-ancestor", build, "main"], cwd=repo).returncode == 1

    code, done = workflow(repo, "next", state["id"])
    assert code == 0 and done["status"] == "completed", done
    assert (repo / "a.txt").read_text() == "value = 2\n" and (repo / "x.txt").exists()


def test_work_a_rewrite_dropped_pauses_next_with_exit_1_and_a_way_back_that_works(
        two_phases_landed: tuple[Path, dict[str, Any]]) -> None:  # fmt: skip
    repo, state = two_phases_landed
    rewrite_main(repo, git(repo, "rev-parse", f"{state['base_sha']}^{{tree}}").strip())  # squashed, work gone

    code, paused = workflow(repo, "next", state["id"])
    assert code == 1 and paused["status"] == "paused" and paused["lost_work"] == ["build", "refine"], paused
    assert "git merge" not in paused["message"], paused["message"]  # refused: unrelated histories
    assert not (repo / "x.txt").exists()

    for command in re.findall(r"`(git diff [^`]+)`", paused["message"]):  # the way back it names
        subprocess.run(command, shell=True, cwd=repo, check=True)
    git(repo, "commit", "-q", "-m", "the workflow's work, put back")
    assert (repo / "a.txt").read_text() == "value = 2\n"
    code, resumed = workflow(repo, "resume", state["id"])
    assert code == 0 and resumed["lost_work"] == [], resumed
    code, done = workflow(repo, "next", state["id"])
    assert code == 0 and done["status"] == "completed", done


def test_a_reset_that_loses_the_last_phase_work_still_pauses_and_names_git_merge(
        two_phases_landed: tuple[Path, dict[str, Any]]) -> None:  # fmt: skip
    repo, state = two_phases_landed
    build, refine = (row["landed_sha"] for row in state["phases"][:2])
    git(repo, "reset", "-q", "--hard", build)  # refine's work leaves main; build's stays

    code, paused = workflow(repo, "next", state["id"])
    assert code == 1 and paused["lost_work"] == ["refine"], paused
    assert f"git merge {refine[:12]}" in paused["message"], paused["message"]



def test_a_task_whose_lines_a_later_task_of_the_same_phase_changed_is_held_after_a_squash(repo: Path) -> None:
    start = git(repo, "rev-parse", "main").strip()
    write_files(repo, {"a.txt": "value = 1\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "task a")
    first = git(repo, "rev-parse", "main").strip()
    write_files(repo, {"a.txt": "value = 2\n"})  # task b, built on a, rewrites its line
    git(repo, "commit", "-q", "-am", "task b")
    second = git(repo, "rev-parse", "main").strip()
    tasks = [{"id": "a", "merged": True, "commit": first}, {"id": "b", "merged": True, "commit": second}]
    state = WorkflowState(id="wf_1", template="t", target="main", base_sha=start, phases=[
        PhaseState(id="build", name="build", status=PhaseStatus.SUCCEEDED, start_sha=start, landed_sha=second,
                   tasks=tasks)])  # fmt: skip
    gitrepo = GitRepo(repo, repo / ".git")

    rewrite_main(repo, git(repo, "rev-parse", "main^{tree}").strip())  # squashed: both tasks' work there
    assert anyio.run(integrity.lost_work, gitrepo, state) == []

    rewrite_main(repo, git(repo, "rev-parse", f"{start}^{{tree}}").strip())  # squashed without it
    assert [lost.row.id for lost in anyio.run(integrity.lost_work, gitrepo, state)] == ["build"]

# --- 03: every guard's record is found by every other ---------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("user-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    return next((venv / "lib").glob("python3*/site-packages"))


install = fake_install
uninstall = fake_uninstall


def points_to(site: Path) -> str | None:
    pth = site / "pkg-editable.pth"
    return pth.read_text().strip() if pth.exists() else None


def run_guard(repo: Path, run: str) -> SiteGuard:
    guard = SiteGuard()
    guard.bind(repo / "wt" / run, repo / ".launcher" / "runs" / run / RECORD)
    return guard


# (its trees' folder, its record, the state dir it is given) as the launcher lays them out
OTHER_GUARDS = {
    "workflow test command": ("wt/wf_1", ".launcher/workflows/wf_1/" + RECORD, None),
    "mutation judge": ("wt/judge", ".launcher/mutation-runs/m-1/" + RECORD, ".launcher"),
    "mutation fix re-settle": ("wt/fix-resettle", "wt/fix-resettle/r-x." + RECORD, ".launcher"),
}


@pytest.mark.parametrize("kind", sorted(OTHER_GUARDS))
def test_a_run_starting_while_another_guard_re_pointed_the_install_keeps_the_user_install(
        kind: str, site: Path, tmp_path: Path) -> None:  # fmt: skip
    env, repo = user_env(site.parents[2], tmp_path / "home"), tmp_path / "repo"
    root, record, state = OTHER_GUARDS[kind]
    install(site, repo)  # the user's own `pip install -e .`
    other = SiteGuard(root=repo / root, record=repo / record, loaded=True,
                      state_dir=repo / state if state else None)  # fmt: skip
    run = run_guard(repo, "r-b")
    anyio.run(partial(other.snapshot, env))
    install(site, repo / root / "tree")  # its command: pip install -e . (still running)
    anyio.run(partial(run.snapshot, env))  # a run's setup starts meanwhile
    anyio.run(partial(other.settle, remove_new=True))  # the user's install is back
    install(site, repo / "wt" / "r-b" / "t1")  # the run's setup: pip install -e .

    lines = anyio.run(partial(run.settle, remove_new=True))

    assert points_to(site) == f"{repo}/src", lines
    assert len(lines) == 1 and f"put back the editable install of pkg-0.1 from {repo.as_uri()}" in lines[0]
    uninstall(site)


@pytest.mark.parametrize("kind", sorted(OTHER_GUARDS))
def test_a_guarded_command_starting_while_a_run_re_pointed_the_install_keeps_the_user_install(
        kind: str, site: Path, tmp_path: Path) -> None:  # fmt: skip
    env, repo = user_env(site.parents[2], tmp_path / "home"), tmp_path / "repo"
    root, record, state = OTHER_GUARDS[kind]
    install(site, repo)
    run = run_guard(repo, "r-b")
    anyio.run(partial(run.snapshot, env))
    install(site, repo / "wt" / "r-b" / "t1")  # the run's setup (its install live)

    async def guarded_command() -> list[str]:
        async with site_installs.guarded(repo / root, repo / record, env,
                                         state_dir=repo / state if state else None) as put_back:
            await run.settle(remove_new=True)  # the run ends meanwhile: the user's install is back
            install(site, repo / root / "tree")  # the guarded command's pip install -e .
        return put_back

    anyio.run(guarded_command)
    assert points_to(site) == f"{repo}/src"
    uninstall(site)


def test_a_record_of_a_guard_whose_trees_the_install_does_not_point_into_says_nothing_of_it(
        site: Path, tmp_path: Path) -> None:  # fmt: skip
    env, repo = user_env(site.parents[2], tmp_path / "home"), tmp_path / "repo"
    install(site, repo)
    uninstall(site)
    stale = run_guard(repo, "r-a")  # a run that saw nothing installed, its record left behind
    anyio.run(partial(stale.snapshot, env))
    install(site, repo)
    workflow = SiteGuard(root=repo / "wt" / "wf_1", record=repo / ".launcher/workflows/wf_1" / RECORD, loaded=True)
    anyio.run(partial(workflow.snapshot, env))
    install(site, repo / "wt" / "wf_1" / "tree")  # the workflow's test command re-points it
    run = run_guard(repo, "r-b")
    anyio.run(partial(run.snapshot, env))  # r-a's record (sorted first) must not answer for wf_1's install
    anyio.run(partial(workflow.settle, remove_new=True))
    install(site, repo / "wt" / "r-b" / "t1")

    anyio.run(partial(run.settle, remove_new=True))
    assert points_to(site) == f"{repo}/src"
    uninstall(site)
