"""Fix16 left-alone defects (best-of, calibration, agents, site installs), each stated as what must be true."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git
from helpers import run_plan


def _python_repo(tmp_path: Path) -> Path:
    """A repository holding one small Python package, committed on main."""
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f(x):\n    return x + 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "code")
    return root

# --- 5. agents: gemini's retry warnings on stderr are not progress -----------------------------

_GEMINI_RETRYING = r'''#!/usr/bin/env python3
import sys, time
n = 0
while True:  # Gemini CLI retrying a 503 for ever: warnings on stderr, nothing on stdout, no file change
    n += 1
    sys.stderr.write(f'Attempt {n} failed with status 503. Retrying with backoff... ApiError: '
                     '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\n')
    sys.stderr.flush()
    time.sleep(0.3)
'''


def test_gemini_printing_only_retry_warnings_is_found_inactive(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "gemini").write_text(_GEMINI_RETRYING)
    (bindir / "gemini").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    began = time.monotonic()
    report = run_plan(repo, [{"id": "t", "agent": "gemini", "prompt": "x", "timeout_s": 60}],
                      merge=False, inactivity_timeout_s=2)
    task = report.tasks[0]
    assert task.state == "timed_out", task.message
    assert "inactivity timeout" in task.message
    assert time.monotonic() - began < 30  # not the 60 s wall-clock timeout


# --- 4. calibration: a judge that gave no verdict is not a failed gate -------------------------


def test_judge_calibrate_exits_1_for_a_failed_gate_and_2_when_the_judge_gave_no_verdict(tmp_path: Path) -> None:
    """DESIGN 7.4: exit 1 is a gate that ran and failed; 2 is input the gate cannot score (a verdict
    missing, malformed or with other ids): a CI step can tell a bad judge from a broken one."""
    from test_fix15_calib import calibrate, labelled_set, set_judge

    root = _python_repo(tmp_path)
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    set_judge(root, genuine=23)  # calls everything genuine: precision 65%, under 0.8
    failed = calibrate(root, labels)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "calibration gate: fail" in failed.stdout
    (tmp_path / "judge.py").write_text("print('no verdict today')\n")
    nothing = calibrate(root, labels)
    assert nothing.returncode == 2, nothing.stdout + nothing.stderr
    assert "calibration gate not run: the judge gave no usable verdict" in nothing.stdout


# --- 3. calibration: the gate holds a calibration to the judge it measured ----------------------


def _gate(root: Path, verdict: Path, labels: Path) -> subprocess.CompletedProcess[str]:
    from test_fix15_calib import launcher

    return launcher(root, "mutation", "gate", "--verdict", str(verdict), "--calibration", str(labels),
                    "--report", str(root.parent / "gate-report.json"))  # fmt: skip


def test_a_calibration_records_its_judge_and_the_gate_refuses_it_once_the_judge_changed(tmp_path: Path) -> None:
    from test_fix15_calib import calibrate, labelled_set, set_judge

    root = _python_repo(tmp_path)
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    set_judge(root, genuine=15)  # right on every mutant: the gate passes
    done = calibrate(root, labels)
    assert done.returncode == 0, done.stdout + done.stderr
    report_file = next((root / ".launcher" / "calibration").glob("*/calibration-report.json"))
    verdict = report_file.parent / "verdict.json"
    measured = json.loads(report_file.read_text())["judge"]
    assert measured["agent"] == "j" and measured["adapter"] == "command"
    assert len(measured["setup_sha256"]) == 64 and len(measured["prompt_sha256"]) == 64
    assert json.loads(verdict.read_text())["judged"]["judge"] == measured
    # the same judge: the gate scores the verdict as before
    same = _gate(root, verdict, labels)
    assert same.returncode == 0, same.stdout + same.stderr
    # the judge's setup changes (another variable, as a model switch would be): never measured
    toml = root / "launcher.toml"
    toml.write_text(toml.read_text() + 'set_env = { JUDGE_MODEL = "cheaper" }\n')
    changed = _gate(root, verdict, labels)
    assert changed.returncode == 2, changed.stdout + changed.stderr
    said = changed.stdout + changed.stderr
    assert "the verdict measured judge 'j'" in said and "changed since" in said
    assert "launcher mutation judge --calibrate" in said


def test_a_calibration_verdict_written_before_judges_were_recorded_is_still_scored_with_a_warning(
    tmp_path: Path,
) -> None:
    from test_fix15_calib import calibrate, labelled_set, set_judge

    root = _python_repo(tmp_path)
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    set_judge(root, genuine=15)
    assert calibrate(root, labels).returncode == 0
    verdict = next((root / ".launcher" / "calibration").glob("*/verdict.json"))
    old = json.loads(verdict.read_text())
    del old["judged"]["judge"]  # as an older launcher wrote it
    verdict.write_text(json.dumps(old))
    done = _gate(root, verdict, labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "does not record which judge it measured" in done.stdout


# --- 6. site installs: a sweep's worker trees and the kill gate's copies are guarded -----------

def test_a_sweep_whose_test_command_installs_the_project_leaves_the_users_install_as_it_was(tmp_path: Path) -> None:
    from editable_project import IMPORT, INSTALL, backend, editable_project, launcher_in, make_venv, sh, user_env

    venv = make_venv(tmp_path / "venv")
    env = user_env(venv, tmp_path / "home")
    source = backend('''
        "pkg-editable.pth": (src + "\\n").encode(),''')
    repo = editable_project(tmp_path / "repo", source, {})
    assert sh(INSTALL, repo, env).returncode == 0  # the user's own editable install of their checkout
    mine = str(repo / "src/pkg/__init__.py")
    assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == mine

    # a test command that installs the project from the worker tree it runs in, then tests
    done = launcher_in(repo, env, "mutation", "sweep", "src", "--workers", "1",
                       "--test-cmd", f"{INSTALL} && python -c 'from pkg import VALUE; assert VALUE == 1'")

    assert done.returncode == 0, done.stdout + done.stderr
    assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == mine  # the user's checkout again
    report = json.loads(next((repo / ".launcher" / "mutation-runs").glob("*/mutants.json")).read_text())
    assert any("put back the editable install of pkg-0.1" in n for n in report["notes"]), (report["notes"], done.stdout)
    # the guard's record went with the trees (a killed sweep's would stay for the next guard)
    assert not (repo / ".launcher" / "mutation-guards").exists()


_RECORDING_TEST = """\
import os
from pathlib import Path
from pkg.core import total


def test_sum():
    Path(WHERE_FILE).write_text(str(Path(__file__).resolve()))
    assert total([2, 3]) == 5
"""


def test_the_kill_gate_copies_a_runs_worktree_inside_the_runs_folder_which_its_guard_covers(tmp_path: Path) -> None:
    """The gate's scratch copy (where a test's `pip install -e .` would point the user's venv) is
    made beside the task's worktree, in the run's worktree folder the run's SiteGuard puts back
    installs from, never in the system's temp directory where nothing would."""
    import test_fix13_realproj_mutant_kill as kill

    from launcher.engine.site_installs import SiteGuard
    from launcher.engine.site_state import names

    done, verdict = kill._gate(tmp_path, _RECORDING_TEST.replace("WHERE_FILE", repr(str(tmp_path / "where.txt"))))
    assert done.returncode == 0 and verdict["accepted"] is True, done.stdout + done.stderr
    ran_in = Path((tmp_path / "where.txt").read_text())
    run_folder = (tmp_path / "wt").parent.resolve()  # the task's worktree is tmp_path/wt
    assert ran_in.is_relative_to(run_folder) and ran_in.parts[len(run_folder.parts)].startswith("_launcher-kill-")
    guard = SiteGuard(root=run_folder)
    assert names(json.dumps({"url": ran_in.parent.as_uri()}).encode(), guard.needles())


# --- 2. best-of: the attempt the queue blamed, and the attempt that landed, are named ----------

_ATTEMPT_1_BAD = ("if [ $LAUNCHER_BEST_OF_ATTEMPT = 1 ]; then printf 'bad\\n' > bad.txt; "
                  "else printf 'good\\n' > good.txt; fi")


def test_a_best_of_attempt_that_breaks_the_check_is_the_culprit_and_the_landing_names_the_attempt_that_landed(
    repo: Path,
) -> None:
    from conftest import git as git_in
    from helpers import launcher_cli

    report = run_plan(repo, [{"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c", _ATTEMPT_1_BAD]}]}],
                      integration_check="sh -c '! test -e bad.txt'")
    rows = {t.id: t for t in report.tasks}
    assert rows["t"].state == "merged", rows["t"].message
    assert report.queue is not None
    assert report.queue.culprits == ["t.attempt-1"]  # the attempt blamed, not the task that landed attempt 2
    shown = launcher_cli(repo, "status", report.run_id, "--json")
    assert json.loads(shown.stdout)["queue"]["culprits"] == ["t.attempt-1"]
    trailers = git_in(repo, "log", "-1", "--first-parent", "--format=%(trailers)", "main")
    assert "Launcher-Task: t\n" in trailers and "Launcher-Attempt: t.attempt-2\n" in trailers


def test_land_from_falling_back_to_the_next_attempt_names_it_beside_the_exported_head(
    repo: Path, tmp_path: Path
) -> None:
    """`Launcher-Origin-Head` stays the head the export named (what a re-run of the final job
    matches); `Launcher-Attempt` says which attempt's work landed."""
    from conftest import git as git_in
    from helpers import launcher_cli

    remote = tmp_path / "remote.git"
    git_in(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    plan = tmp_path / "plan.json"
    attempts = {"id": "t", "attempts": 2, "script": [{"run": ["sh", "-c", _ATTEMPT_1_BAD]}]}
    plan.write_text(json.dumps({"run": {"integration_check": "sh -c '! test -e bad.txt'"}, "task": [attempts]}))
    shard, exported, final = tmp_path / "shard", tmp_path / "export", tmp_path / "final"
    git_in(tmp_path, "clone", "-q", str(remote), str(shard))
    ran = launcher_cli(shard, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(exported))
    assert ran.returncode == 0, ran.stderr
    manifest = json.loads((exported / "launcher-export.json").read_text())
    exported_head = next(t["head"] for t in manifest["tasks"] if t["id"] == "t")
    git_in(tmp_path, "clone", "-q", str(remote), str(final))
    landed = launcher_cli(final, "land", "--from", str(exported), "--plan", str(plan), "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    trailers = git_in(final, "log", "-1", "--first-parent", "--format=%(trailers)", "HEAD")
    assert f"Launcher-Origin-Head: {exported_head}\n" in trailers
    assert "Launcher-Attempt: t.attempt-2\n" in trailers
