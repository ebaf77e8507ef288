"""Several launcher processes on one repository at once: what one of them does (its own output,
the files it writes, the worktrees it adds, its agents' writes) is never taken for an agent of
another run, blamed on that run's innocent task, or undone by it."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, task
from test_containment_refs import LAUNCHER_IN_MAIN, hostile
from test_safety_contain import run_commands

from launcher.models.states import RunStatus

# --- launcher processes writing into the checkout while a run's agent works -------------------
# (started here from the agent's round itself: they run while it does, outside the run's process)


def test_a_second_launcher_s_tee_log_in_the_checkout_is_not_the_agent_s(repo: Path) -> None:
    # Another terminal: `launcher runs 2>&1 | tee b.log` in the checkout. The log is that
    # launcher's own output (its pipeline's), as the run's own `| tee run.log` would be.
    code = ('import os, sys\n'
            'env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" or v}\n'
            'subprocess.run(["setsid", "--wait", "sh", "-c", f"{sys.executable} -m launcher runs 2>&1 '
            '| tee b.log > /dev/null"], cwd=MAIN, env=env, check=True)\n'
            'pathlib.Path("w.txt").write_text("w\\n")\n')
    report = run_commands(repo, [hostile("busy", code)])
    assert task(report, "busy").state == "merged", task(report, "busy").message
    assert (repo / "b.log").is_file() and "r-" in (repo / "b.log").read_text()  # left where tee wrote it


def test_a_plan_written_by_workflow_plan_in_the_checkout_is_not_the_agent_s(repo: Path) -> None:
    code = (LAUNCHER_IN_MAIN + 'import os, sys\n'
            'launcher_in_main("workflow", "plan", "add a login page", "--write", "plan.json")\n'
            'pathlib.Path("w.txt").write_text("w\\n")\n')
    report = run_commands(repo, [hostile("busy", code)])
    assert task(report, "busy").state == "merged", task(report, "busy").message
    assert "task" in json.loads((repo / "plan.json").read_text())  # never moved aside


LABEL = """
import os, sys
env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" or v}
subprocess.run([sys.executable, "-c", "from pathlib import Path\\n"
                "from launcher.app.mutation.label import append_label\\n"
                "append_label(Path('calibration-set.json'), {'mutant_id': 'm-1', 'label': 'genuine'})"],
               cwd=MAIN, env=env, check=True)
pathlib.Path("w.txt").write_text("w\\n")
"""


def test_a_label_a_launcher_appends_to_the_tracked_calibration_set_stays_and_the_run_lands(repo: Path) -> None:
    # `launcher mutation label` answers a survivor while a run's agent works: the label goes into
    # the tracked calibration set. It is the user's, kept as written; the run still lands around it.
    (repo / "calibration-set.json").write_text(json.dumps({"contract_version": "1", "calibration": []}))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "calibration set")
    report = run_commands(repo, [hostile("busy", LABEL)])
    assert task(report, "busy").state == "merged", task(report, "busy").message
    assert report.status == RunStatus.SUCCEEDED, report.message
    assert "m-1" in (repo / "calibration-set.json").read_text()
    assert (repo / "w.txt").is_file()  # the landing updated the main work tree


# --- worktrees another launcher process adds in a sparse checkout ------------------------------

POOL_WARM = LAUNCHER_IN_MAIN + """
import os, sys
launcher_in_main("pool", "warm", "2")
pathlib.Path("src/w.txt").write_text("w\\n")
"""


def test_worktrees_another_launcher_adds_in_a_sparse_checkout_are_not_the_agent_s_and_are_left(
        tmp_path: Path) -> None:
    # git copies the sparse checkout's per-worktree config into each new worktree's admin dir:
    # for `launcher pool warm` (a second run, a sweep's workers) as for the run's own worktrees.
    root = tmp_path / "sparse"
    (root / "src").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "src" / "a.txt").write_text("a\n")
    (root / "docs" / "d.txt").write_text("d\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "src and docs")
    git(root, "sparse-checkout", "set", "src")
    report = run_commands(root, [hostile("busy", POOL_WARM)])
    assert task(report, "busy").state == "merged", task(report, "busy").message
    assert "shared git directory" not in json.dumps(report.model_dump(mode="json"))
    admin = root / ".git" / "worktrees"
    pooled = [d for d in admin.iterdir() if (d / "gitdir").is_file()] if admin.is_dir() else []
    assert len(pooled) == 2  # the warm pool's worktrees, with what git wrote for them
    assert all((d / "config.worktree").read_text() == (root / ".git" / "config.worktree").read_text()
               for d in pooled)
