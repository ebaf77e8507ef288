"""Several launcher processes on one repository at once: what one of them does (its own output,
the files it writes, the worktrees it adds, its agents' writes) is never taken for an agent of
another run, blamed on that run's innocent task, or undone by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
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
    (repo / "calibration-set.json").write_text(
        json.dumps({"contract_version": "1", "description": "labels", "calibration": []}))
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


# --- two runs at once: one run's agent is never blamed for what the other run's agent did -------

CONTRACT = ('printf \'{"contract_version":"1","task_id":"%s","status":"done","summary":"s",'
            '"files_changed":["%s.txt"],"tests_added":[],"decisions":[],"blockers":[],'
            '"llm_observations":"wrote a file"}\' "$1" "$1" > "$LAUNCHER_CONTRACT"\n')
WAIT = 'i=0; while [ ! -e "{marker}" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n'
MISDEEDS = {
    "main-checkout": 'echo evil > "$(git rev-parse --path-format=absolute --git-common-dir)/../stray.txt"\n',
    "refs": "git branch -f feature HEAD~1 && git tag evil-tag HEAD~1\n",
}


def _two_runs(repo: Path, tmp_path: Path, misdeed: str,
              elsewhere: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run A's innocent agent works while run B's agent does `misdeed`; A's round ends first.
    `elsewhere`: run B goes in another checkout of the repository (a linked worktree)."""
    import subprocess
    import sys

    (repo / "tools").mkdir()
    (repo / "tools" / "inno.sh").write_text(
        f'touch {tmp_path}/a-started\n' + WAIT.format(marker=f"{tmp_path}/b-did")
        + 'echo ok > "$1.txt"; git add -A; git commit -qm "$1"\n' + CONTRACT)
    (repo / "tools" / "evil.sh").write_text(
        WAIT.format(marker=f"{tmp_path}/a-started") + MISDEEDS[misdeed] + f'touch {tmp_path}/b-did\n'
        + 'sleep 3; echo x > "$1.txt"; git add -A; git commit -qm "$1"\n' + CONTRACT)
    (repo / "launcher.toml").write_text(
        '[agents.inno]\nadapter = "command"\ncommand = ["sh", "tools/inno.sh", "{task_id}"]\n'
        '[agents.evil]\nadapter = "command"\ncommand = ["sh", "tools/evil.sh", "{task_id}"]\n')
    (repo / "app.py").write_text("# second\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agents")
    git(repo, "branch", "feature")
    other = tmp_path / "other-checkout"
    if elsewhere:
        git(repo, "worktree", "add", "-q", "-b", "b-target", str(other))
    reports: dict[str, Any] = {}
    procs = {}
    for name in ("inno", "evil"):
        plan = tmp_path / f"{name}.toml"
        plan.write_text(f'[[task]]\nid = "{name}"\nagent = "{name}"\nprompt = "p"\n')
        procs[name] = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(plan), "--json"],
                                       cwd=other if elsewhere and name == "evil" else repo,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        reports[name] = json.loads(out)
        assert "tasks" in reports[name], (name, reports[name], err[-3000:])  # an envelope: show why
    return reports["inno"], reports["evil"]


@pytest.mark.parametrize(("misdeed", "elsewhere"), [
    ("main-checkout", False), ("refs", False), ("main-checkout", True)])
def test_what_another_run_s_agent_does_is_not_blamed_on_this_run_s_only_running_task(
        repo: Path, tmp_path: Path, misdeed: str, elsewhere: bool) -> None:
    # `elsewhere`: the other run goes in another checkout of the repository (its own journal).
    a, b = _two_runs(repo, tmp_path, misdeed, elsewhere)
    inno = a["tasks"][0]
    assert inno["state"] == "merged", inno["message"]
    # Whichever run checks first finds the change while the other run's code ran: it names the
    # other run's task and blames none (on a loaded machine B's own check may come first).
    notes = " ".join(n["message"] for report in (a, b) for n in report.get("notes", []))
    assert "cannot tell which" in notes and "of run " in notes, notes
    # Put back all the same, whoever did it.
    assert not (repo / "stray.txt").exists()
    assert git(repo, "tag", "--list") == ""
    assert git(repo, "log", "-1", "--format=%s", "feature").strip() == "agents"


def test_another_run_s_agent_writing_into_an_idle_worktree_blames_no_task_of_this_run(
        repo: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    (repo / "tools").mkdir()
    (repo / "tools" / "quick.sh").write_text('echo ok > "$1.txt"; git add -A; git commit -qm "$1"\n' + CONTRACT)
    (repo / "tools" / "slow.sh").write_text(
        f'sleep 1.5; touch {tmp_path}/a-started\n' + WAIT.format(marker=f"{tmp_path}/b-did")
        + 'echo ok > "$1.txt"; git add -A; git commit -qm "$1"\n' + CONTRACT)
    (repo / "tools" / "evil.sh").write_text(  # into the idle worktree of run A's task `quick`
        WAIT.format(marker=f"{tmp_path}/a-started")
        + 'tree=$(git worktree list --porcelain | sed -n "s/^worktree \\(.*\\/quick\\)$/\\1/p" | head -1)\n'
        + 'echo evil > "$tree/evil-here.txt"\n' + f'touch {tmp_path}/b-did\n'
        + 'sleep 3; echo x > "$1.txt"; git add -A; git commit -qm "$1"\n' + CONTRACT)
    (repo / "launcher.toml").write_text("".join(
        f'[agents.{name}]\nadapter = "command"\ncommand = ["sh", "tools/{name}.sh", "{{task_id}}"]\n'
        for name in ("quick", "slow", "evil")))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agents")
    (tmp_path / "a.toml").write_text("".join(f'[[task]]\nid = "{n}"\nagent = "{n}"\nprompt = "p"\n'
                                             for n in ("quick", "slow")))
    (tmp_path / "b.toml").write_text('[[task]]\nid = "evil"\nagent = "evil"\nprompt = "p"\n')
    procs = [subprocess.Popen([sys.executable, "-m", "launcher", "run", str(tmp_path / f"{n}.toml"), "--json"],
                              cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in ("a", "b")]
    out, err = procs[0].communicate(timeout=120)
    procs[1].communicate(timeout=120)
    a = json.loads(out)
    assert "tasks" in a, (a, err[-3000:])  # an error envelope instead of a report: show why
    states = {t["id"]: (t["state"], t["message"]) for t in a["tasks"]}
    assert states["slow"][0] == "merged" and states["quick"][0] == "merged", states
    notes = " ".join(n["message"] for n in a.get("notes", []))
    assert "cannot tell which of" in notes and "of run " in notes, notes
    assert "evil-here.txt" not in git(repo, "ls-tree", "-r", "--name-only", "main")  # put back before landing


def test_another_run_s_agent_writing_into_the_main_checkout_during_this_run_s_integration_check(
        repo: Path, tmp_path: Path) -> None:
    # Run B's agent appends to the main checkout's README.md while run A's integration check
    # runs: the check may not have written it, so that check run does not fail and A's task is
    # no culprit. The write is put back all the same, and a note names B's task.
    import subprocess
    import sys

    (repo / "tools").mkdir()
    (repo / "tools" / "quick.sh").write_text('echo ok > "$1.txt"; git add -A; git commit -qm "$1"\n' + CONTRACT)
    (repo / "tools" / "evil.sh").write_text(
        WAIT.format(marker=f"{tmp_path}/check-started")
        + 'echo evil >> "$(git rev-parse --path-format=absolute --git-common-dir)/../README.md"\n'
        + f'touch {tmp_path}/b-did\n' + 'sleep 3; echo x > "$1.txt"; git add -A; git commit -qm "$1"\n' + CONTRACT)
    (tmp_path / "check.sh").write_text(f"touch {tmp_path}/check-started\n"
                                       + WAIT.format(marker=f"{tmp_path}/b-did") + "sleep 1\n")
    (repo / "launcher.toml").write_text("".join(
        f'[agents.{name}]\nadapter = "command"\ncommand = ["sh", "tools/{name}.sh", "{{task_id}}"]\n'
        for name in ("quick", "evil")))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agents")
    (tmp_path / "a.toml").write_text(f'[run]\nintegration_check = "sh {tmp_path}/check.sh"\niteration_cap = 1\n'
                                     '[[task]]\nid = "quick"\nagent = "quick"\nprompt = "p"\n')
    (tmp_path / "b.toml").write_text('[[task]]\nid = "evil"\nagent = "evil"\nprompt = "p"\n')
    procs = [subprocess.Popen([sys.executable, "-m", "launcher", "run", str(tmp_path / f"{n}.toml"), "--json"],
                              cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in ("a", "b")]
    out, err = procs[0].communicate(timeout=120)
    procs[1].communicate(timeout=120)
    a = json.loads(out)
    assert "tasks" in a, (a, err[-3000:])  # an error envelope instead of a report: show why
    quick = a["tasks"][0]
    assert quick["state"] == "merged", quick["message"]
    assert a["queue"]["culprits"] == [] and a["queue"]["check_runs"] == 1
    notes = " ".join(n["message"] for n in a.get("notes", []))
    assert "the main checkout changed while the integration check ran (README.md (put back" in notes, notes
    assert "task evil of run " in notes and "the check run is not failed for it" in notes, notes
    assert (repo / "README.md").read_text() == "# sample\n"
