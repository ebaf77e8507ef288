"""Helpers for specifications that drive real runs."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

from launcher.agents.base import AgentRequest
from launcher.app.run.runner import RunOptions, resume_run, start_run
from launcher.app.run.shared_credentials import check_shared_credentials
from launcher.engine.agent_round import Limits
from launcher.errors import EnvironmentProblem
from launcher.gates import judge_relay
from launcher.git.repo import GitRepo
from launcher.models.events import Event
from launcher.models.plan import AgentConfig, Task, validate_plan
from launcher.models.report import RunReport, TaskReport


def run_plan(repo: Path, tasks: list[dict[str, Any]], *, merge: bool = True,
             events: list[Event] | None = None, **run: Any) -> RunReport:
    plan = validate_plan({"run": run, "task": tasks}, "test plan")
    sink = events.append if events is not None else (lambda _e: None)
    return anyio.run(start_run, repo, plan, RunOptions(merge=merge), sink)


def run_shell(repo: Path, script: str, task_id: str, **run: Any) -> RunReport:
    """One task whose agent is the shell `script`, run in this process."""
    plan = validate_plan({"run": run, "agents": {"sh": {"adapter": "command", "command": ["sh", "-c", script]}},
                          "task": [{"id": task_id, "agent": "sh", "prompt": "x"}]}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)


def resume(repo: Path, run_id: str) -> RunReport:
    return anyio.run(resume_run, repo, run_id, lambda _e: None)


def task(report: RunReport, task_id: str) -> TaskReport:
    return next(t for t in report.tasks if t.id == task_id)


def make_request(tmp_path: Path, adapter: str, **config: Any) -> AgentRequest:
    """One round's request to `adapter` (its config keys given), in fresh wt/ and artifacts/ dirs."""
    worktree, artifacts = tmp_path / "wt", tmp_path / "artifacts"
    worktree.mkdir(exist_ok=True)
    artifacts.mkdir(exist_ok=True)
    return AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt="Add a greeting"), agent_name=adapter,
        config=AgentConfig.model_validate({"adapter": adapter, **config}), worktree=worktree,
        artifacts=artifacts, base_sha="0" * 40, iteration=1, contract_path=artifacts / "contract.agent.json",
        feedback_path=None, port_base=20000,
    )


# The tests' own git leaves no process behind: git 2.46+ ends a commit with a detached `git
# maintenance run --auto`, which a test process that became a child subreaper (the reaper tests,
# an in-process run) inherits and never collects, a zombie the next reaper test trips over. The
# launcher's own git does the same (launcher/git/repo.py SPEED_CONFIG).
NO_HOUSEKEEPING = ("-c", "maintenance.auto=false", "-c", "gc.auto=0")


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *NO_HOUSEKEEPING, *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def launcher_cli(cwd: Path, *args: str, timeout: float = 120,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def start_launcher(cwd: Path, *args: str, env: dict[str, str] | None = None,
                   stderr_to_stdout: bool = False) -> subprocess.Popen[str]:
    """`launcher ARGS` started in the background, in its own session (so a test can send the
    whole group a Ctrl-C, as a terminal does)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "launcher", *args], cwd=cwd, env=full_env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if stderr_to_stdout else subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_for_file(marker: Path, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    """Until `marker` exists (the launcher reached the moment a test stops it at); fails with the
    launcher's output if it ended first or never got there."""
    deadline = time.monotonic() + timeout
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"{marker.name} never appeared: {proc.communicate(timeout=30)}"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def wait_group_gone(pgid: int, timeout: float = 3.0) -> list[int]:
    """Members still alive after `timeout` (an exiting process takes a moment to vanish)."""
    import time

    deadline = time.monotonic() + timeout
    while (members := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


def swept_project(root: Path, files: dict[str, str], paths: list[str], *, workers: int = 1,
                  identity: tuple[str, str] | None = None) -> Path:
    """A committed project made of `files` at `root`, swept once over `paths` (a real sweep,
    run in this process; XDG_CACHE_HOME must already point into the test's tmp dir)."""
    from conftest import git as fixture_git
    from conftest import write_files

    from launcher.app.mutation.sweep import SweepOptions, run_sweep

    write_files(root, files)
    fixture_git(root, "init", "-q", "-b", "main")
    if identity:
        fixture_git(root, "config", "user.name", identity[0])
        fixture_git(root, "config", "user.email", identity[1])
    fixture_git(root, "add", "-A")
    fixture_git(root, "commit", "-q", "-m", "weakly tested")
    anyio.run(run_sweep, root, SweepOptions(paths=paths, workers=workers, python=sys.executable),
              lambda _line: None)
    return root


def with_submodule(tmp_path: Path, lib_text: str = "LIB VERSION 1\n") -> Path:
    """`tmp_path/app`: a repository on main with one submodule `vendor/lib` (cloned, as `git
    clone --recurse-submodules` leaves it), whose upstream is `tmp_path/lib-upstream`."""
    from conftest import git as fixture_git
    lib = tmp_path / "lib-upstream"
    lib.mkdir()
    fixture_git(lib, "init", "-q", "-b", "main")
    (lib / "lib.txt").write_text(lib_text)
    fixture_git(lib, "add", "-A")
    fixture_git(lib, "commit", "-q", "-m", "lib 1")
    root = tmp_path / "app"
    root.mkdir()
    fixture_git(root, "init", "-q", "-b", "main")
    (root / "app.txt").write_text("app\n")
    fixture_git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    fixture_git(root, "add", "-A")
    fixture_git(root, "commit", "-q", "-m", "app with a submodule")
    return root


# A weakly tested project: its sweep leaves two survivors (`>= 18` to `> 18`, and to `>= 19`).
ADULT_PROJECT = {
    "calc/__init__.py": "",
    "calc/core.py": "def is_adult(age):\n    return age >= 18\n",
    "tests/test_core.py": "from calc.core import is_adult\n\n\ndef test_is_adult():\n"
                          "    assert is_adult(30)\n    assert not is_adult(3)\n",
}  # fmt: skip


def swept_in(tmp_path_factory: Any, name: str, files: dict[str, str]) -> Iterator[Path]:
    """For a module-scoped fixture: `files` swept once over calc/core.py in a directory of its
    own, with its own cache, committed by an operator identity."""
    import pytest
    base = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        yield swept_project(base / "proj", files, ["calc/core.py"], identity=("Ada Operator", "ada@example.com"))


class PeakRss:
    """The growth of this process's peak resident memory while the `with` block runs (sampled
    every 5 ms in a thread), in bytes: `.growth` after the block."""

    def __enter__(self) -> PeakRss:
        import threading

        import psutil

        self._me = psutil.Process()
        self.baseline = self.peak = self._me.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        import time

        while not self._stop.is_set():
            self.peak = max(self.peak, self._me.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def kill_the_launcher_once_written(repo: Path, tmp_path: Path, plan: dict[str, Any], task_id: str,
                                   wrote: str, settle: float = 0.0) -> tuple[str, int]:
    """Start `launcher run` of `plan` (a JSON plan), SIGKILL the launcher alone once `task_id`'s
    agent wrote `wrote` in its worktree (then `settle` seconds more); (the run id, that agent's
    process group, which keeps running)."""
    import json
    import signal
    import sqlite3
    import time
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    launcher = subprocess.Popen([sys.executable, "-m", "launcher", "run", str(path), "--quiet"], cwd=repo,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "cache").glob(f"launcher/worktrees/*/*/{task_id}/{wrote}")):
        assert time.monotonic() < deadline and launcher.poll() is None, "the agent never wrote its work"
        time.sleep(0.05)
    time.sleep(settle)
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait()
    run_id, pgid = sqlite3.connect(repo / ".launcher" / "launcher.db").execute(
        "SELECT run_id, agent_pgid FROM tasks WHERE task_id=?", (task_id,)).fetchone()
    return str(run_id), int(pgid)


def commit_shell_plan(repo: Path, script: str, task_id: str = "t") -> None:
    """Commit `plan.toml`: one task whose agent is the shell `script` (its prompt as `$1`)."""
    (repo / "plan.toml").write_text(
        '[agents.sh]\nadapter = "command"\ncommand = ["sh", "-c", ' + json.dumps(script) + ', "{prompt}"]\n'
        f'[[task]]\nid = "{task_id}"\nagent = "sh"\nprompt = "x"\n'
    )
    git(repo, "add", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def git_on_path(tmp_path: Path, prelude: str, folder: str = "git-bin") -> dict[str, str]:
    """An env whose `git` is a shell script that runs `prelude` and then execs the real git.

    The prelude sees the arguments (`$*`, `$1`...) and `$REAL_GIT`: tests use it to make one git
    step fail as a full disk does, or to kill the launcher at that step."""
    real = shutil.which("git")
    assert real, "git must be installed"
    bin_dir = tmp_path / folder
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f"#!/bin/sh\nREAL_GIT={real}\n{prelude}\nexec \"$REAL_GIT\" \"$@\"\n")
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def failed_task_worktree(repo: Path) -> tuple[str, Path]:
    """A run whose one task fails its check, and that task's worktree (kept for inspection)."""
    (repo / "p.toml").write_text('[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\n'
                                 'script = [{ write = "a.txt", content = "a\\n" }]\nchecks = ["false"]\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "plan")
    assert launcher_cli(repo, "run", "p.toml", "--quiet").returncode == 1
    run_id = json.loads(launcher_cli(repo, "runs", "--json").stdout)[0]["run_id"]
    worktree = Path(launcher_cli(repo, "path", run_id, "t1").stdout.strip())
    assert worktree.is_dir()
    return run_id, worktree


# A process that orphans a `setsid` sleeper and exits (printing its pid): the sleeper is
# re-parented to the nearest subreaper, as an agent's escaped daemon is.
ORPHAN_MAKER = (
    "import os\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.setsid()\n"
    "    null = os.open(os.devnull, os.O_RDWR)\n"
    "    for fd in (0, 1, 2):\n"
    "        os.dup2(null, fd)\n"
    "    os.execv('/bin/sleep', ['sleep', '30'])\n"
    "print(pid, flush=True)\n"
)


def linux_children_listed() -> Any:
    """Skip unless the kernel keeps each process's list of children (CONFIG_PROC_CHILDREN)."""
    import pytest

    from launcher.engine import reaper

    return pytest.mark.skipif(not sys.platform.startswith("linux") or reaper._children() is None,
                              reason="the kernel keeps no list of children here (Linux CONFIG_PROC_CHILDREN)")



_F_SETPIPE_SZ = 1031  # Linux


def full_pipe() -> tuple[int, int]:
    """A one-page pipe (read end, write end) already full: a reader that reads nothing now."""
    r, w = os.pipe()
    fcntl.fcntl(w, _F_SETPIPE_SZ, 4096)
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"." * 512)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    return r, w


def run_one_command_agent(repo: Path, tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`launcher run --no-merge --quiet` of a one-task plan whose agent is the shell `script`."""
    agent = tmp_path / "agent.sh"
    agent.write_text(f"#!/bin/sh\n{script}\n")
    agent.chmod(0o755)
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[agents.bot]\nadapter = "command"\ncommand = ["{agent}"]\n\n'
                    '[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n')
    return subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--no-merge", "--quiet"],
                          cwd=repo, capture_output=True, text=True, timeout=120)


def sigterm_once_agent_runs(repo: Path, env: dict[str, str], pid_file: Path, *, stdout: Any, stderr: Any,
                            read_end: int, wait_s: float) -> int | None:
    """`launcher run plan.toml --no-merge --json` in `repo`, sent SIGTERM a second after its agent
    wrote its pid to `pid_file`: its exit code, None if it was still alive `wait_s` later (then
    killed). The write end of a stuck pipe given as `stdout`/`stderr` is closed here once the
    launcher has it, `read_end` at the end; the agent's group is killed whatever happened."""
    launcher = subprocess.Popen([sys.executable, "-m", "launcher", "run", "plan.toml", "--no-merge", "--json"],
                                cwd=repo, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    for end in (stdout, stderr):
        if isinstance(end, int):
            os.close(end)
    agent: int | None = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (pid_file.exists() and pid_file.read_text().strip()):
            time.sleep(0.1)
        agent = int(pid_file.read_text())
        time.sleep(1)
        launcher.send_signal(signal.SIGTERM)  # a CI cancel; still nobody reads the stuck pipe
        try:
            return launcher.wait(wait_s)
        except subprocess.TimeoutExpired:
            return None
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        if agent is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(agent), signal.SIGKILL)
        os.close(read_end)


def shared_credentials_problem(repo: Path) -> EnvironmentProblem | None:
    """The refusal `check_shared_credentials` gives for `repo`'s git configuration, if any."""
    async def body() -> EnvironmentProblem | None:
        try:
            await check_shared_credentials(await GitRepo.discover(repo))
        except EnvironmentProblem as exc:
            return exc
        return None

    return anyio.run(body)


def judge_one_survivor(repo: Path, config: AgentConfig) -> judge_relay.JudgeOutcome:
    """`judge_relay.judge` with the judge agent `config`, asked about one surviving mutant."""
    async def go() -> judge_relay.JudgeOutcome:
        git_repo = await GitRepo.discover(repo)
        spec = judge_relay.JudgeInput(
            label="m-20260101-000000-abcd", agent_name="judge", config=config,
            survivors=[{"id": 1, "fault": "boundary", "target": "app.py", "line": 2, "rationale": "r",
                        "orig": "a + b", "mut": "a - b", "status": "SURVIVED"}],
            report="report.json", out_dir=repo.parent / "sweep", scratch=repo.parent / "scratch" / "judge",
            base_sha=await git_repo.rev_parse("HEAD"), limits=Limits(timeout_s=60, inactivity_s=None, grace_s=0.5),
        )
        return await judge_relay.judge(git_repo, spec)

    return anyio.run(go)
