"""Put-backs never restore an older copy over the user's newer save, nor delete it unseen (session 18, putback18).

- The judge's watch: a save made before a judge call is not the judge's (its verdict stands, the
  save stays); one made during a call cannot be told from the judge's write, so the file is put
  back as it was right before that call, the version found kept aside, and the message says it
  may be the user's (for a moved branch: the command that takes the kept version back).
- The integration check's put-back is always given what the files held right before it.
- An idle task worktree put back keeps a copy of what it held (another task's write or the
  user's edit).
- The user's shared venv: their install made during the run is what a command's put-back restores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git
from helpers import ADULT_PROJECT, swept_in
from test_mutation_judge import use_judge

from launcher.app.mutation.judge import JudgeOptions, judge_survivors
from launcher.gates import judge_relay


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from swept_in(tmp_path_factory, "putback18", ADULT_PROJECT)  # two survivors


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(swept, root, symlinks=True)
    (root / "notes.txt").write_text("v1: the user's notes when the judge starts\n")  # untracked
    return root


def test_a_save_between_two_judge_calls_is_not_the_judges_and_stays(proj: Path, monkeypatch: Any) -> None:
    """Saved while the launcher writes the second call's packet: before that call, so the
    judge's check after it neither blames the judge nor puts the first record back over it."""
    use_judge(proj)
    written = judge_relay.atomic_write_json

    def packet_then_a_save(path: Path, data: Any) -> None:
        written(path, data)
        if path.name == "packet-2.json":
            (proj / "notes.txt").write_text("v2: saved between the judge's calls\n")
            (proj / "calc" / "core.py").write_text("# the user's edit of a clean tracked file\n")

    monkeypatch.setattr(judge_relay, "atomic_write_json", packet_then_a_save)
    summary = anyio.run(judge_survivors, proj, JudgeOptions(agent="j", confirm=True, batch_size=1), None)
    assert summary.exit_code == 0, summary.message
    assert summary.calls == 2 and "judge_wrote_outside_checkout" not in summary.message
    assert (proj / "notes.txt").read_text() == "v2: saved between the judge's calls\n"
    assert (proj / "calc" / "core.py").read_text() == "# the user's edit of a clean tracked file\n"


JUDGE = """\
import json, os, pathlib, sys, time
sync, main = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
call = len(list(sync.glob("call-*"))) + 1
(sync / f"call-{call}").write_text("")
if "wait" in sys.argv:  # the user saves while this call runs: wait for it
    for _ in range(1200):
        if (sync / "saved").exists():
            break
        time.sleep(0.05)
if "write" in sys.argv and call == 2:
    (main / "notes.txt").write_text("the judge's write\\n")
packet = json.load(open(os.environ["LAUNCHER_PACKET"]))
print(json.dumps({"contract_version": "1", "verdicts": [{"id": s["id"], "classification": "genuine",
      "confidence": 0.9, "justification": "j"} for s in packet["survivors"]]}))
"""


def command_judge(proj: Path, sync: Path, *modes: str) -> None:
    sync.mkdir()
    (proj / "judge.py").write_text(JUDGE)
    argv = [sys.executable, str(proj / "judge.py"), str(sync), str(proj), *modes]
    (proj / "launcher.toml").write_text(f'[agents.j]\nadapter = "command"\ncommand = {json.dumps(argv)}\n')
    git(proj, "add", "launcher.toml", "judge.py")
    git(proj, "commit", "-qm", "the judge")


def kept_aside(proj: Path, name: str) -> list[str]:
    return [p.read_text() for p in (proj / ".launcher").rglob(f"intrusions/*/main-checkout/{name}*")]


def test_a_judge_write_over_a_save_made_before_its_call_puts_that_save_back(
        proj: Path, tmp_path: Path, monkeypatch: Any) -> None:
    """Not the judge's start record: the save made before the call is what the file held then."""
    command_judge(proj, tmp_path / "sync", "write")
    written = judge_relay.atomic_write_json

    def packet_then_a_save(path: Path, data: Any) -> None:
        written(path, data)
        if path.name == "packet-2.json":
            (proj / "notes.txt").write_text("v2: saved between the judge's calls\n")

    monkeypatch.setattr(judge_relay, "atomic_write_json", packet_then_a_save)
    summary = anyio.run(judge_survivors, proj, JudgeOptions(agent="j", confirm=True, batch_size=1), None)
    assert summary.exit_code == 1 and "judge_wrote_outside_checkout" in summary.message, summary.message
    assert "notes.txt (put back as it was right before this call" in summary.message
    assert (proj / "notes.txt").read_text() == "v2: saved between the judge's calls\n"
    assert kept_aside(proj, "notes.txt") == ["the judge's write\n"]


def test_a_save_during_a_judge_call_is_kept_aside_and_said_to_be_maybe_yours(proj: Path, tmp_path: Path) -> None:
    """Made while the call ran, it cannot be told from the judge's write: put back as the file
    was right before the call (so the verdict is not used), and the message says where the save is."""
    sync = tmp_path / "sync"
    command_judge(proj, sync, "wait")
    judging = subprocess.Popen(
        [sys.executable, "-m", "launcher", "mutation", "judge", "--agent", "j", "--confirm-judge"],
        cwd=proj, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while not (sync / "call-1").exists() and judging.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        (proj / "notes.txt").write_text("v2: saved while the judge ran\n")
    finally:
        (sync / "saved").write_text("")
        out, _ = judging.communicate(timeout=120)
    assert judging.returncode == 1, out
    assert "judge_wrote_outside_checkout" in out and "notes.txt (put back" in out
    assert "or a save of yours made during it (the launcher cannot tell them apart)" in out
    assert (proj / "notes.txt").read_text() == "v1: the user's notes when the judge starts\n"
    assert kept_aside(proj, "notes.txt") == ["v2: saved while the judge ran\n"]


def test_an_integration_checks_put_back_is_always_given_what_the_files_held_right_before_it() -> None:
    """The helper that put back its writes with the run-start copies (`after_integration_check`,
    called nowhere) is gone, and the two that remain cannot be called without that record."""
    import inspect

    from launcher.app.run import containment

    assert not hasattr(containment, "after_integration_check")
    for name in ("integration_check_writes", "put_back_check_writes"):
        before = inspect.signature(getattr(containment, name)).parameters["before"]
        assert before.default is inspect.Parameter.empty, name


IDLE_CONTRACT = """contract() {
  python3 - "$@" <<'PY'
import json, os, sys
json.dump({"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
  "summary": "did it", "files_changed": sys.argv[1:], "tests_added": [], "decisions": [],
  "blockers": [], "llm_observations": "a test agent"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
PY
}
"""


def test_putting_back_an_idle_worktree_keeps_what_was_found_there(repo: Path, tmp_path: Path) -> None:
    """Task ta is idle (approved) while tb runs; meanwhile an edit lands in ta's worktree (the
    user's, or tb's: the launcher cannot tell). The tree is put back to its record, and what was
    found there is copied aside first, never deleted unseen."""
    sync = tmp_path / "sync"
    sync.mkdir()
    (repo / "agents").mkdir()
    (repo / "agents" / "contract.sh").write_text(IDLE_CONTRACT)
    (repo / "agents" / "ta.sh").write_text(
        '. agents/contract.sh\necho a > ta.txt; git add ta.txt; git commit -qm "ta own"\ncontract ta.txt\n')
    (repo / "agents" / "tb.sh").write_text(
        f". agents/contract.sh\ntouch {sync}/tb-started\n"
        f"for i in $(seq 1200); do [ -e {sync}/saved ] && break; sleep 0.05; done\necho b > tb.txt\ncontract tb.txt\n")
    (repo / "launcher.toml").write_text(
        'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = ["bash", "agents/{task_id}.sh"]\n')
    (repo / "plan.toml").write_text(
        '[run]\nmax_parallel = 1\n[[task]]\nid = "ta"\nprompt = "x"\n[[task]]\nid = "tb"\nprompt = "y"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agents")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    running = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml", "--no-merge", "--json"],
                               cwd=repo, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (sync / "tb-started").exists() and running.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        listed = git(repo, "worktree", "list", "--porcelain")
        ta = Path(next(line.removeprefix("worktree ") for line in listed.splitlines()
                       if line.startswith("worktree ") and line.endswith("/ta")))
        (ta / "USER-NOTES.txt").write_text("my notes on ta\n")
        (ta / "ta.txt").write_text("a\nmy tweak\n")
    finally:
        (sync / "saved").write_text("")
        out, _ = running.communicate(timeout=120)
    assert not (ta / "USER-NOTES.txt").exists() and (ta / "ta.txt").read_text() == "a\n", out  # put back
    kept = {p.name: p.read_text() for p in (repo / ".launcher" / "runs").glob("*/ta/intrusions/idle-*/*")}
    assert kept == {"USER-NOTES.txt": "my notes on ta\n", "ta.txt": "a\nmy tweak\n"}, out
    assert "or an edit of yours made there meanwhile (the launcher cannot tell them apart)" in out, out


def test_a_branch_the_user_amends_during_a_judge_call_is_put_back_with_how_to_take_the_amend_back(
        proj: Path, tmp_path: Path) -> None:
    """The amend cannot be told from the judge's rewrite of main: main is put back, and the
    message names the command that takes the user's amended commit back, which works."""
    sync = tmp_path / "sync"
    command_judge(proj, sync, "wait")
    judging = subprocess.Popen(
        [sys.executable, "-m", "launcher", "mutation", "judge", "--agent", "j", "--confirm-judge"],
        cwd=proj, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while not (sync / "call-1").exists() and judging.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        (proj / "docs.txt").write_text("the file the user forgot to commit\n")
        git(proj, "add", "docs.txt")
        git(proj, "commit", "-q", "--amend", "--no-edit")
        amended = git(proj, "rev-parse", "HEAD").strip()
    finally:
        (sync / "saved").write_text("")
        out, _ = judging.communicate(timeout=120)
    assert judging.returncode == 1 and "judge_wrote_outside_checkout" in out, out
    assert git(proj, "rev-parse", "main").strip() != amended and not (proj / "docs.txt").exists()
    said = out[out.index("if so, take it back with `"):]
    command = said[len("if so, take it back with `"):said.index("`", len("if so, take it back with `"))]
    assert command.startswith("git reset --keep refs/launcher/judge/"), out
    git(proj, *command.split()[1:])
    assert git(proj, "rev-parse", "main").strip() == amended
    assert (proj / "docs.txt").read_text() == "the file the user forgot to commit\n"


def test_an_install_the_user_repoints_during_a_run_is_what_a_checks_put_back_restores(tmp_path: Path) -> None:
    """The user's venv imports their checkout `repo` when the run starts; while the agent works
    they `pip install -e` their other checkout; then a check installs the project from its
    worktree. What is put back after the check is the user's newer install, not the run-start one."""
    from editable_project import IMPORT, INSTALL, backend, editable_project, make_venv, sh, user_env

    sync = tmp_path / "sync"
    sync.mkdir()
    venv = make_venv(tmp_path / "venv")
    env = user_env(venv, tmp_path / "home")
    if "PYTHONPATH" in os.environ:  # the launcher under test, as the rest of this file runs it
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    agent = (f"touch {sync}/agent; for i in $(seq 1200); do [ -e {sync}/saved ] && break; sleep 0.05; done\n"
             "echo note >> NOTES.md\n")
    plan = f'[[task]]\nid = "doc"\nprompt = "x"\nchecks = ["{INSTALL} && python -c \'import pkg\'"]\n'
    toml = 'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = ["sh", "agent.sh"]\n'
    repo = editable_project(tmp_path / "repo", backend('\n        "pkg-editable.pth": f"{src}\\n".encode(),'),
                            {"plan.toml": plan, "launcher.toml": toml, "agent.sh": agent})
    other = tmp_path / "other"
    shutil.copytree(repo, other)  # the user's second checkout of the project
    assert sh(INSTALL, repo, env).returncode == 0
    running = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml"], cwd=repo, env=env,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (sync / "agent").exists() and running.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sh(INSTALL, other, env).returncode == 0
    finally:
        (sync / "saved").write_text("")
        out, _ = running.communicate(timeout=600)
    assert "a check of task doc installed the project" in out, out  # it did re-point the venv
    assert sh(f"python -c '{IMPORT}'", tmp_path, env).stdout.strip() == str(other / "src/pkg/__init__.py"), out
