"""What a user sees when the command line itself is wrong or stopped: usage errors caught by the
option parser, Ctrl-C of a command that is not a run, a demo asked for twice. The real CLI, in
a real repository in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import git, launcher_cli

PLAN = '[[task]]\nid = "a"\nagent = "scripted"\nprompt = "x"\nscript = [{ write = "a.txt", content = "a" }]\n'


@pytest.mark.parametrize(("args", "named"), [
    (["run", "plan.toml", "--json", "--max-parallel", "0"], "--max-parallel"),
    (["run", "plan.toml", "--json", "--on-cap", "maybe"], "--on-cap"),
    (["run", "plan.toml", "--json", "--bogus-flag"], "--bogus-flag"),
    (["status", "--json", "--all", "extra", "args"], "extra"),
    (["mutation", "sweep", "--json", "--workers", "many"], "--workers"),
])
def test_a_usage_error_of_the_option_parser_is_the_json_envelope_with_json(
        repo: Path, args: list[str], named: str) -> None:
    # README: exit 2 is "a structured message, also as JSON with --json", whoever found the error.
    (repo / "plan.toml").write_text(PLAN)
    done = launcher_cli(repo, *args)
    assert done.returncode == 2, done.stderr
    envelope = json.loads(done.stdout)  # one envelope, nothing else on stdout
    assert envelope["ok"] is False and envelope["error_key"] == "usage"
    assert named in envelope["observations"]
    assert "--help" in envelope["usage"]
    assert named in done.stderr  # the human message stays on stderr
    assert not (repo / ".launcher").exists()  # refused before anything was made


def test_without_json_a_usage_error_prints_nothing_on_stdout(repo: Path) -> None:
    (repo / "plan.toml").write_text(PLAN)
    done = launcher_cli(repo, "run", "plan.toml", "--max-parallel", "0")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "--max-parallel" in done.stderr


def pool_entries(repo: Path) -> list[tuple[Path, bool]]:
    """The warm pool's registered worktrees, each with whether its checkout finished (an index)."""
    listed = git(repo, "worktree", "list", "--porcelain").splitlines()
    trees = [Path(line.removeprefix("worktree ")) for line in listed
             if line.startswith("worktree ") and "/_pool/" in line]
    admin = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    admin = admin if admin.is_absolute() else repo / admin
    out = []
    for tree in trees:
        gitdir = Path((tree / ".git").read_text().split(":", 1)[1].strip()) if (tree / ".git").is_file() else None
        out.append((tree, gitdir is not None and (gitdir / "index").is_file()))
    return out


def test_ctrl_c_of_pool_warm_names_pool_warm_and_leaves_no_half_made_worktree(tmp_path: Path) -> None:
    # `launcher resume` continues a *run* (the latest: perhaps one stopped on purpose), nothing of
    # `pool warm`; and a worktree whose checkout was cut short is not part of any pool.
    repo = tmp_path / "big"
    (repo / "src").mkdir(parents=True)
    for i in range(4000):
        (repo / "src" / f"f{i}.txt").write_text(f"{i}\n" * 20)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-q", "-m", "many files")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "pool", "warm", "6"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    worktrees_dir = repo / ".git" / "worktrees"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # all six registered, checkouts under way
        admins = list(worktrees_dir.iterdir()) if worktrees_dir.is_dir() else []
        if len(admins) == 6 and any(not (d / "index").exists() for d in admins):
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "launcher resume" not in err
    assert "`launcher pool warm 6` again" in err
    assert all(filled for _tree, filled in pool_entries(repo)), pool_entries(repo)
    again = launcher_cli(repo, "pool", "warm", "6")
    assert again.returncode == 0, again.stderr
    assert len(pool_entries(repo)) == 6  # topped up to 6, none beside them


def test_a_pool_worktree_a_killed_launcher_left_half_made_is_removed_by_the_next_warm(repo: Path) -> None:
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    [(ready, _filled)] = pool_entries(repo)
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid names the launcher that was killed while warming
    half_made = ready.parent / f"w{gone.pid}-abcdef"
    git(repo, "worktree", "add", "--quiet", "--detach", "--no-checkout", str(half_made), "HEAD")
    assert (half_made, False) in pool_entries(repo)
    again = launcher_cli(repo, "pool", "warm", "2")
    assert again.returncode == 0, again.stderr
    entries = pool_entries(repo)
    assert len(entries) == 2 and all(filled for _tree, filled in entries)
    assert half_made not in [tree for tree, _filled in entries] and not half_made.exists()


def test_demo_where_an_existing_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine\n")
    for flags in ([], ["--workflow"], ["--mutation"]):
        done = launcher_cli(tmp_path, "demo", *flags, "--json", "--where", "afile")
        assert done.returncode == 2, done.stderr
        assert json.loads(done.stdout)["error_key"] == "usage"
        assert "--where afile is not a directory" in done.stderr and "internal error" not in done.stderr
    assert (tmp_path / "afile").read_text() == "mine\n"


def test_demo_workflow_and_mutation_together_are_refused_not_one_silently(tmp_path: Path) -> None:
    done = launcher_cli(tmp_path, "demo", "--workflow", "--mutation", "--where", "demo")
    assert done.returncode == 2
    assert "--workflow or --mutation, not both" in done.stderr
    assert not (tmp_path / "demo").exists()  # nothing was made


def test_a_second_demo_in_the_same_where_gets_a_fresh_repo_beside_the_first(tmp_path: Path) -> None:
    earlier = tmp_path / "demo" / "calc-repo"
    earlier.mkdir(parents=True)
    (earlier / "notes.txt").write_text("the first demo's, or mine\n")
    done = launcher_cli(tmp_path, "demo", "-q", "--where", "demo")
    assert done.returncode == 0, done.stderr
    fresh = tmp_path / "demo" / "calc-repo-2"
    # named absolutely (a relative --where is resolved once: the demo's agents run elsewhere)
    assert f"git -C {fresh.resolve()} log" in done.stdout
    assert "def mul" in (fresh / "calc" / "core.py").read_text()
    assert sorted(p.name for p in earlier.iterdir()) == ["notes.txt"]  # never written into


def test_every_demo_makes_its_repo_in_a_new_directory_never_in_an_existing_one(tmp_path: Path) -> None:
    from launcher.app.demo import sample_repo_dir

    where = tmp_path / "mine"
    first = sample_repo_dir(where, "x-")
    second = sample_repo_dir(where, "x-")
    assert (first, second) == (where / "calc-repo", where / "calc-repo-2")
    temp = sample_repo_dir(None, "x-")
    assert temp.name == "calc-repo" and temp.parent != where  # a temp directory of its own
    shutil.rmtree(temp.parent)


def test_the_readmes_try_it_install_has_the_pytest_demo_mutation_runs_tests_with() -> None:
    # README "Try it": `pip install -e .`, no extra; `launcher demo --mutation` sweeps and kills
    # mutants with pytest in the launcher's own Python (app/mutation/demo.py: sys.executable).
    import re
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]}
    assert "pytest" in runtime
