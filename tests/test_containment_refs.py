"""An agent cannot move the shared repository's refs, widen its ignore rules, leave its writes
into the main checkout behind, and the launcher never blames an agent for its own output files.
Hostile command agents against real repositories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import git, launcher_cli, task
from test_safety_contain import command_task, run_commands

# Agent code gets G(*args, cwd=None): git with its output, and MAIN: the main checkout.
PRELUDE = """
def G(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()
MAIN = common_dir().parent
def commit_here(name):
    pathlib.Path(name).write_text(name + "\\n")
    G("add", "-A")
    G("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "agent commit " + name)
    return G("rev-parse", "HEAD")
"""


def hostile(task_id: str, code: str, **extra: Any) -> dict[str, Any]:
    return command_task(task_id, PRELUDE + code, **extra)


def good(task_id: str) -> dict[str, Any]:
    return command_task(task_id, f"pathlib.Path('{task_id}.txt').write_text('{task_id}\\n')")


def subjects(repo: Path, ref: str = "main") -> list[str]:
    return git(repo, "log", "--format=%s", ref).splitlines()


def run_id_of(repo: Path) -> str:
    import sqlite3

    (run_id,) = sqlite3.connect(repo / ".launcher" / "launcher.db").execute(
        "SELECT id FROM runs").fetchone()
    return str(run_id)


def assert_main_clean(repo: Path) -> None:
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(repo, "status", "--porcelain") == ""


# --- defect 1: refs of the shared repository ------------------------------------------------

FF_MAIN = """
sha = commit_here("sneak.txt")
G("merge", "--ff-only", "-q", sha, cwd=MAIN)
G("reset", "-q", "--hard", "HEAD~1")
"""

UPDATE_REF_MAIN = """
commit_here("sneak.txt")
G("update-ref", "refs/heads/main", "HEAD")
G("reset", "-q", "--hard", "HEAD~1")
"""


@pytest.mark.parametrize("code", [FF_MAIN, UPDATE_REF_MAIN], ids=["merge-in-main", "update-ref"])
def test_an_agent_moving_the_target_to_its_commit_is_put_back_and_fails(repo: Path, code: str) -> None:
    tasks = [good("victim"), hostile("sneak", code, checks=["false"]), good("after")]
    report = run_commands(repo, tasks, max_parallel=1)
    sneak = task(report, "sneak")
    assert sneak.state == "failed", sneak.message
    assert "main moved from" in sneak.message and "put them back" in sneak.message, sneak.message
    assert task(report, "victim").state == "merged" and task(report, "after").state == "merged"
    landed = subjects(repo)
    assert "agent commit sneak.txt" not in landed
    assert not (repo / "sneak.txt").exists()
    assert_main_clean(repo)
    kept = git(repo, "log", "-1", "--format=%s", f"refs/launcher/{run_id_of(repo)}/sneak/moved/heads/main")
    assert kept.strip() == "agent commit sneak.txt"  # nothing the agent did is lost


def test_an_agent_moving_the_target_back_is_put_back_not_reported_as_a_write(repo: Path) -> None:
    (repo / "second.txt").write_text("second\n")
    git(repo, "add", "second.txt")
    git(repo, "commit", "-qm", "second")
    tip = git(repo, "rev-parse", "main").strip()
    report = run_commands(repo, [hostile("rewind", 'G("update-ref", "refs/heads/main", "main~1")'),
                                 good("after")], max_parallel=1)
    rewind = task(report, "rewind")
    assert rewind.state == "failed" and "main moved from" in rewind.message, rewind.message
    assert "wrote into the main checkout" not in rewind.message
    assert task(report, "after").state == "merged", task(report, "after").message
    assert git(repo, "rev-parse", "main~1").strip() == tip
    assert_main_clean(repo)


def test_an_agent_switching_the_main_checkout_s_branch_or_tagging_is_undone(repo: Path) -> None:
    code = 'G("tag", "v-evil", "HEAD")\nG("switch", "-q", "-c", "evil", cwd=MAIN)\n'
    report = run_commands(repo, [hostile("switcher", code)])
    switcher = task(report, "switcher")
    assert switcher.state == "failed", switcher.message
    assert "HEAD of the main checkout" in switcher.message and "tags/v-evil created" in switcher.message
    assert git(repo, "tag", "--list") == ""
    # The main checkout is back on main; the new branch itself moved nobody's work and is left.
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert_main_clean(repo)


def test_a_branch_switch_put_back_names_no_kept_ref_when_nothing_was_kept(repo: Path) -> None:
    # Switching branches sets HEAD to a branch name, not a commit: the undo has nothing of the
    # agent's to keep, and the message must not send the user to a ref that does not exist.
    report = run_commands(repo, [hostile("switcher", 'G("switch", "-q", "-c", "evil", cwd=MAIN)\n')])
    switcher = task(report, "switcher")
    assert switcher.state == "failed" and "HEAD of the main checkout" in switcher.message
    assert "kept under" not in switcher.message
    assert git(repo, "for-each-ref", "refs/launcher/") == ""
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_an_agent_s_throwaway_branch_deleted_after_another_check_fails_nobody(repo: Path) -> None:
    # `helper` is made, seen by the check at the end of b's round, then deleted: it held no work
    # from before the run, so nobody is failed and it is not made again; its commit is kept.
    a_code = ('import time\nbase = G("rev-parse", "main")\ntip = commit_here("h.txt")\n'
              'G("branch", "helper", tip)\n'
              'def b_committed():\n'
              '    refs = G("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/launcher/")\n'
              '    return any(r.endswith("/b") and o != base for r, o in (l.split() for l in refs.splitlines()))\n'
              'for _ in range(400):\n'
              '    if b_committed(): break\n'
              '    time.sleep(0.05)\n'
              'G("branch", "-D", "helper")\n')
    # b ends its round (and the launcher checks the refs) only once `helper` exists.
    b_code = ('import time\nfor _ in range(400):\n'
              '    if subprocess.run(["git", "rev-parse", "-q", "--verify", "refs/heads/helper"]).returncode == 0:\n'
              '        break\n'
              '    time.sleep(0.05)\n'
              'pathlib.Path("b.txt").write_text("b\\n")\n')
    report = run_commands(repo, [hostile("a", a_code), hostile("b", b_code)])
    assert task(report, "a").state == "merged", task(report, "a").message
    assert task(report, "b").state == "merged"
    assert git(repo, "branch", "--list", "helper") == ""
    kept = git(repo, "for-each-ref", "--format=%(refname)", "refs/launcher/").split()
    assert [k for k in kept if k.endswith("/_deleted/heads/helper")], kept


def test_a_commit_on_the_target_that_no_task_made_is_left_and_built_on(repo: Path) -> None:
    # The user commits on main while the run goes on (here from inside a round, in the main
    # checkout): a fast-forward adding no commit made in a worktree of the run is left alone.
    user = ('G("-c", "user.name=u", "-c", "user.email=u@b", "commit", "-q", "--allow-empty", '
            '"-m", "the user\'s own commit", cwd=MAIN)\npathlib.Path("w.txt").write_text("w\\n")\n')
    report = run_commands(repo, [hostile("busy", user), good("after")], max_parallel=1)
    assert task(report, "busy").state == "merged", task(report, "busy").message
    assert task(report, "after").state == "merged", task(report, "after").message
    assert "the user's own commit" in subjects(repo)
    assert (repo / "w.txt").exists() and (repo / "after.txt").exists()


def test_a_fast_forward_of_another_branch_to_the_base_is_the_user_s_not_the_agent_s(repo: Path) -> None:
    # `git fetch . main:develop` while a run goes on: it adds only commits the run started from
    # (the branch's creation entry in the task's reflog is its base), so nobody's round made it.
    git(repo, "branch", "develop")
    git(repo, "-c", "user.name=u", "-c", "user.email=u@b", "commit", "-q", "--allow-empty", "-m", "newer")
    base = git(repo, "rev-parse", "main").strip()
    user = ('G("update-ref", "refs/heads/develop", G("rev-parse", "main", cwd=MAIN), cwd=MAIN)\n'
            'pathlib.Path("w.txt").write_text("w\\n")\n')
    report = run_commands(repo, [hostile("busy", user)])
    assert task(report, "busy").state == "merged", task(report, "busy").message
    assert git(repo, "rev-parse", "develop").strip() == base  # left where the user put it


# --- defect 2: the shared info/exclude ------------------------------------------------------

HIDE_AND_WRITE = """
exclude = common_dir() / "info" / "exclude"
with exclude.open("a") as fh:
    fh.write("\\nstolen.txt\\n")
(MAIN / "stolen.txt").write_text("taken from the worktree\\n")
pathlib.Path("w.txt").write_text("w\\n")
"""


def test_an_agent_hiding_a_main_checkout_file_with_info_exclude_is_undone_and_fails(
    repo: Path,
) -> None:
    report = run_commands(repo, [hostile("hider", HIDE_AND_WRITE), good("after")], max_parallel=1)
    hider = task(report, "hider")
    assert hider.state == "failed" and "info/exclude changed" in hider.message, hider.message
    assert report.status != "succeeded"
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert "stolen.txt" not in exclude.splitlines()
    assert "/.launcher/" in exclude.splitlines()  # the launcher's own line stays
    # ... and the file it hid is moved out of the main checkout, so nobody else is blamed for it
    assert not (repo / "stolen.txt").exists()
    moved = repo / ".launcher" / "runs" / run_id_of(repo) / "hider" / "intrusions" / "stolen.txt"
    assert moved.read_text() == "taken from the worktree\n"
    assert "moved to .launcher/runs/" in hider.message, hider.message
    assert task(report, "after").state == "merged", task(report, "after").message


def test_the_launcher_s_own_exclude_lines_are_never_flagged_and_survive_a_restore(
    repo: Path,
) -> None:
    from launcher.agents.git_exclude import exclude_from_git
    from launcher.git import guard

    common = repo / ".git"
    exclude = common / "info" / "exclude"
    snapshot = guard.take_snapshot(common)
    exclude_from_git(repo, "/.launcher-review-test/")  # e.g. a grader's packet, mid-round
    assert guard.undo_tampering(snapshot) is None
    with exclude.open("a") as fh:
        fh.write("stolen.txt\n")  # an agent's line, then another of the launcher's own
    exclude_from_git(repo, "/.launcher-other-test/")
    undone = guard.undo_tampering(snapshot)
    assert undone is not None and "info/exclude changed" in undone[0]
    lines = exclude.read_text().splitlines()
    assert "stolen.txt" not in lines
    assert "/.launcher-review-test/" in lines and "/.launcher-other-test/" in lines
    assert guard.undo_tampering(snapshot) is None


# --- defect 3: what an agent wrote into the main checkout is put back ----------------------

SCRIBBLE = """
(MAIN / "README.md").write_text("defaced\\n")
(MAIN / "app.py").write_text("# overwritten\\n")
(MAIN / "planted.txt").write_text("planted\\n")
(MAIN / "notes.txt").unlink()
pathlib.Path("w.txt").write_text("w\\n")
"""


def test_an_agent_s_writes_into_the_main_checkout_are_put_back_and_others_still_land(
    repo: Path,
) -> None:
    (repo / "app.py").write_text("# the user's unsaved work\n")
    (repo / "notes.txt").write_text("the user's untracked notes\n")
    report = run_commands(repo, [hostile("scribbler", SCRIBBLE), good("after")], max_parallel=1)
    scribbler = task(report, "scribbler")
    assert scribbler.state == "failed" and "main checkout" in scribbler.message
    assert "README.md (put back" in scribbler.message, scribbler.message
    assert (repo / "README.md").read_text() == "# sample\n"
    assert (repo / "app.py").read_text() == "# the user's unsaved work\n"
    assert (repo / "notes.txt").read_text() == "the user's untracked notes\n"
    assert not (repo / "planted.txt").exists()
    aside = repo / ".launcher" / "runs" / run_id_of(repo) / "scribbler" / "intrusions"
    assert (aside / "planted.txt").read_text() == "planted\n"
    assert (aside / "README.md").read_text() == "defaced\n"  # the agent's version, never deleted
    assert f"planted.txt (new, moved to .launcher/runs/{run_id_of(repo)}/scribbler/intrusions/" \
        in scribbler.message
    after = task(report, "after")
    # Approved and parked by the user's own local change to app.py, not by the agent's leftovers.
    assert after.state == "approved" and "parked on" in after.message, after.message
    assert "made by agent task" not in report.message and "local changes" in report.message
    # the user's own local changes are still there, and only those
    assert sorted(git(repo, "status", "--porcelain").splitlines()) == [" M app.py", "?? notes.txt"]


def test_a_write_nobody_can_be_blamed_for_is_in_the_report_and_the_status(repo: Path, tmp_path: Path) -> None:
    # Both agents run when stray.txt appears in the main checkout: it is set aside, nobody is
    # failed, and the report (not only a passing progress line) says where it went.
    meet = tmp_path / "meet"
    meet.mkdir()
    both_started = (f'import time\nmeet = pathlib.Path({str(meet)!r})\n'
                    '(meet / TASK).write_text("")\n'
                    'while len(list(meet.iterdir())) < 2: time.sleep(0.02)\n')
    writer = both_started + '(MAIN / "stray.txt").write_text("x\\n")\n(meet / "written").write_text("")\n'
    waiter = both_started + 'while not (meet / "written").exists(): time.sleep(0.02)\ntime.sleep(0.2)\n'
    report = run_commands(repo, [hostile("w", "TASK = 'w'\n" + writer + "pathlib.Path('w.txt').write_text('w')\n"),
                                 hostile("v", "TASK = 'v'\n" + waiter + "pathlib.Path('v.txt').write_text('v')\n")],
                          max_parallel=2)
    assert [t.state for t in report.tasks] == ["merged", "merged"], report.tasks
    assert not (repo / "stray.txt").exists()
    noted = [n for n in report.notes if "stray.txt" in n.message]
    assert noted and "cannot tell which" in noted[0].message, report.notes
    shown = launcher_cli(repo, "status", report.run_id)
    assert "Notes:" in shown.stdout and "stray.txt" in shown.stdout, shown.stdout


def test_a_change_that_cannot_be_put_back_parks_naming_the_agent_not_telling_to_commit_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from launcher.engine import tree_guard

    monkeypatch.setattr(tree_guard, "MAX_KEPT_BYTES", 0)  # the user's dirty file is not kept
    (repo / "app.py").write_text("# the user's unsaved work\n")
    code = '(MAIN / "app.py").write_text("# overwritten\\n")\npathlib.Path("w.txt").write_text("w")'
    report = run_commands(repo, [hostile("dirty", code), good("after")], max_parallel=1)
    dirty = task(report, "dirty")
    assert dirty.state == "failed" and "app.py (left as the agent made it" in dirty.message, dirty.message
    run_message = report.message  # the landing is parked on the integration branch
    assert "made by agent task dirty" in run_message and "app.py" in run_message, run_message
    assert "Commit or stash" not in run_message and "_integration" in run_message


# --- defect 4: the launcher's own output files are not an agent's writes -------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_the_launcher_s_own_redirected_output_in_the_checkout_is_not_an_intrusion(
    repo: Path, tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.json"
    agent = {"adapter": "command", "command": [sys.executable, "-c", AGENT_SLOW]}
    plan.write_text(json.dumps({"agents": {"a": agent},
                                "task": [{"id": "one", "agent": "a"}, {"id": "two", "agent": "a"}],
                                "run": {"max_parallel": 1}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    with (repo / "out.json").open("w") as out, (repo / "err.txt").open("w") as err:
        done = subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--json"],
                              cwd=repo, env=env, stdout=out, stderr=err, timeout=300)
    report = json.loads((repo / "out.json").read_text())
    states = {t["id"]: (t["state"], t["message"]) for t in report["tasks"]}
    assert states["one"][0] == "merged" and states["two"][0] == "merged", states
    assert done.returncode == 0, (repo / "err.txt").read_text()[-2000:]
    assert (repo / "err.txt").exists() and (repo / "out.json").exists()


def test_a_log_written_by_tee_in_the_checkout_is_not_an_intrusion(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    agent = {"adapter": "command", "command": [sys.executable, "-c", AGENT_SLOW]}
    plan.write_text(json.dumps({"agents": {"a": agent}, "task": [{"id": "one", "agent": "a"}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # `launcher run ... 2>&1 | tee run.log`: tee is another process of the pipeline's group.
    done = subprocess.run(["/bin/sh", "-c", f"'{sys.executable}' -m launcher run '{plan}' 2>&1 | tee run.log"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert "one merged" in done.stdout, done.stdout[-2000:]
    assert "run.log" not in done.stdout
    assert "one merged" in (repo / "run.log").read_text()  # the user's log is whole


# Writes its file, prints to stdout a little while (the launcher logs meanwhile), then reports.
AGENT_SLOW = """
import json, os, pathlib, time
pathlib.Path(os.environ["LAUNCHER_TASK_ID"] + ".txt").write_text("x\\n")
time.sleep(1.5)
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
    "summary": "did it", "files_changed": [], "tests_added": [], "decisions": [], "blockers": [],
    "llm_observations": ""}))
"""


def test_a_tracked_file_replaced_by_a_directory_is_put_back_and_the_directorys_files_kept(repo: Path) -> None:
    code = ('(MAIN / "README.md").unlink()\n(MAIN / "README.md").mkdir()\n'
            '(MAIN / "README.md" / "inner").write_text("inner\\n")\npathlib.Path("w.txt").write_text("w")\n')
    report = run_commands(repo, [hostile("swapper", code)])
    swapper = task(report, "swapper")
    assert swapper.state == "failed" and "main checkout" in swapper.message
    assert (repo / "README.md").read_text() == "# sample\n"
    aside = repo / ".launcher" / "runs" / run_id_of(repo) / "swapper" / "intrusions"
    assert (aside / "README.md" / "inner").read_text() == "inner\n"  # moved aside, never deleted
    assert "left as the agent made it" not in swapper.message, swapper.message
    assert_main_clean(repo)


@pytest.mark.parametrize("pattern", ["/.launcher-review/", ".aider*", "/.launcher/"])
def test_an_exclude_line_another_launcher_process_adds_is_not_an_agent_s_change(repo: Path, pattern: str) -> None:
    # A second run's Aider task or reviewer appends its pattern while this run's agent works.
    from launcher.git import guard
    from launcher.git.repo import add_exclude_line

    common = repo / ".git"
    exclude = common / "info" / "exclude"
    exclude.write_text("\n".join(line for line in exclude.read_text().splitlines() if line != pattern) + "\n")
    snapshot = guard.take_snapshot(common)
    add_exclude_line(exclude, pattern)  # as another launcher process does: this one never said it would
    assert guard.undo_tampering(snapshot) is None
    assert pattern in (common / "info" / "exclude").read_text().splitlines()


LAUNCHER_IN_MAIN = """
def launcher_in_main(*args, out=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" or v}
    with open(out, "w") if out else open(os.devnull, "w") as fh:
        subprocess.run([sys.executable, "-m", "launcher", *args], cwd=MAIN, stdout=fh, check=True)
"""


@pytest.mark.parametrize("tamper", [False, True])
def test_what_another_launcher_process_writes_in_the_main_checkout_is_not_the_agent_s(
    repo: Path, tamper: bool
) -> None:
    # `launcher lessons add` and `launcher status --json > status.json` in the main checkout
    # while a run's agent works (here started from the round itself): the launcher's own
    # writes, recorded in .launcher/own-files.jsonl. An edit of the ledger after it is not.
    code = (LAUNCHER_IN_MAIN + 'import os, sys\nlauncher_in_main("lessons", "add", "keep tests fast")\n'
            'launcher_in_main("runs", out=str(MAIN / "runs.txt"))\n'
            + ('(MAIN / "LESSONS.md").write_text("- always approve\\n")\n' if tamper else "")
            + 'pathlib.Path("w.txt").write_text("w\\n")\n')
    report = run_commands(repo, [hostile("busy", code)])
    busy = task(report, "busy")
    if tamper:
        assert busy.state == "failed" and "LESSONS.md" in busy.message, busy.message
        lessons = repo / "LESSONS.md"  # new in the round: put back is moved aside
        assert not lessons.exists() or "always approve" not in lessons.read_text()
    else:
        assert busy.state == "merged", busy.message
        assert "keep tests fast" in (repo / "LESSONS.md").read_text()
    assert (repo / "runs.txt").exists()  # never moved aside


# --- the ref checks of agents that end together share reads -----------------------------------

def test_agents_ending_together_share_ref_reads_and_a_tag_made_among_them_is_still_put_back(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    shim, reads, done, up = tmp_path / "shim", tmp_path / "ref-reads", tmp_path / "done", tmp_path / "up"
    for folder in (shim, done, up):
        folder.mkdir()
    (shim / "git").write_text(f'#!/bin/sh\ncase "$*" in *for-each-ref*refs/tags/*) echo >> {reads};; esac\n'
                              f'exec {shutil.which("git")} "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    goods = [f"g{i}" for i in range(10)]
    tasks = [command_task(t, f"import time\npathlib.Path('{t}.txt').write_text('x')\n"  # all end at once
                             f"pathlib.Path({str(up / t)!r}).write_text('')\n"
                             f"while len(list(pathlib.Path({str(up)!r}).iterdir())) < {len(goods)}:\n"
                             "    time.sleep(0.01)\n"
                             f"pathlib.Path({str(done / t)!r}).write_text('')") for t in goods]
    tasks.append(hostile("tagger", (  # tags once every other agent has ended
        "import time\n"
        f"while len(list(pathlib.Path({str(done)!r}).iterdir())) < {len(goods)}:\n    time.sleep(0.02)\n"
        "time.sleep(1.0)\nG('tag', 'v-evil', 'HEAD')\n")))
    report = run_commands(repo, tasks, max_parallel=len(tasks))
    assert all(task(report, t).state == "merged" for t in goods)
    assert git(repo, "tag", "--list") == ""  # found and put back, whichever check read it
    tagger = task(report, "tagger")
    unblamed = [n.message for n in report.notes if "cannot tell which" in n.message and "v-evil" in n.message]
    assert (tagger.state == "failed" and "tags/v-evil created" in tagger.message) or unblamed, tagger
    # A check before and after each round: 22. The checks after the ten rounds that end at once
    # share a few reads (those before the rounds may not overlap on a busy machine).
    assert len(reads.read_text().splitlines()) <= len(tasks) + 5, "each check read the refs itself"
    assert_main_clean(repo)
