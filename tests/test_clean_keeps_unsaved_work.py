"""A plain `launcher clean` never deletes work no commit holds: a worktree where the launcher
could not commit the agent's work (the agent `git init`ed a sub-directory, or removed its
worktree's git metadata) is kept and named, with how to save it; `--force` removes it."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

NESTED_INIT = """
pathlib.Path("feature.py").write_text("VALUE = 'precious'\\n")
subprocess.run(["git", "init", "-q", "sub"], check=True)
pathlib.Path("sub/gen.txt").write_text("generated\\n")
"""

METADATA_REMOVED = """
pathlib.Path("work.txt").write_text("precious\\n")
own = subprocess.run(["git", "rev-parse", "--absolute-git-dir"], capture_output=True, text=True).stdout.strip()
shutil.rmtree(own)
"""


def _run_hostile(repo: Path, code: str) -> tuple[dict[str, object], Path]:
    agent = ("import json, os, pathlib, shutil, subprocess, sys\nexec(sys.argv[1])\n"
             "pathlib.Path(os.environ['LAUNCHER_CONTRACT']).write_text(json.dumps({'contract_version': '1', "
             "'task_id': 't', 'status': 'done', 'summary': 's', 'files_changed': [], 'tests_added': [], "
             "'decisions': [], 'blockers': [], 'llm_observations': 'o'}))\n")
    (repo / "agent.py").write_text(agent)
    (repo / "plan.toml").write_text(
        f'[agents.a]\nadapter = "command"\ncommand = ["python3", "{repo / "agent.py"}", {json.dumps(code)}]\n'
        '[[task]]\nid = "t"\nagent = "a"\nprompt = "x"\n')
    git(repo, "add", "agent.py", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")
    done = launcher_cli(repo, "run", "plan.toml", "--json")
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    (t,) = report["tasks"]
    assert t["state"] == "failed"
    return t, Path(t["worktree"]) if t.get("worktree") else next(
        (repo.parent / "cache").rglob(f"{report['run_id']}/t"))


def test_a_worktree_whose_agent_made_a_nested_repository_survives_a_plain_clean(repo: Path) -> None:
    task, tree = _run_hostile(repo, NESTED_INIT)
    # Everything but the nested repository is committed on the task's branch (git add -A refused
    # it all before); the task fails naming the repository.
    assert "made a git repository with no commit inside its worktree (sub/)" in str(task["message"])
    assert "everything else is committed on the branch" in str(task["message"])
    assert git(repo, "show", f"{task['branch']}:feature.py") == "VALUE = 'precious'\n"
    cleaned = launcher_cli(repo, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert (tree / "sub" / "gen.txt").read_text() == "generated\n"
    assert f"kept worktree {tree}: it holds uncommitted work: sub/" in cleaned.stdout
    assert "launcher clean --force" in cleaned.stdout
    forced = launcher_cli(repo, "clean", "--force")
    assert forced.returncode == 0, forced.stderr
    assert not tree.exists()


def test_a_worktree_whose_git_metadata_was_removed_survives_a_plain_clean(repo: Path) -> None:
    task, tree = _run_hostile(repo, METADATA_REMOVED)
    assert "git metadata" in str(task["message"]) and "was removed while its agent ran" in str(task["message"])
    assert "a plain `launcher clean` keeps that directory" in str(task["message"])
    cleaned = launcher_cli(repo, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert (tree / "work.txt").read_text() == "precious\n"
    assert f"kept worktree {tree}: its git metadata is gone" in cleaned.stdout
