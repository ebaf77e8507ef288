"""The launcher works on the work tree it is run in, whatever the repository's layout: a linked
worktree (also the bare-repository-plus-worktrees layout), a work tree whose `.git` is a file
(`git init --separate-git-dir`), an initialised submodule. It reads the same git config the
user's git reads (system and global), and says in git's words why a repository cannot be used.
Real repositories, real runs through the CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import git
from helpers import launcher_cli, task
from test_safety_contain import command_task, run_commands


def write_plan(path: Path, tasks: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"task": tasks}))
    return path


def writes(task_id: str, name: str, **extra: object) -> dict[str, object]:
    return {"id": task_id, "script": [{"write": name, "content": f"{task_id}\n"}], **extra}


def committed(cwd: Path, rev: str, path: str) -> str | None:
    done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=cwd, capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def run_ids(journal_dir: Path) -> list[str]:
    db = journal_dir / ".launcher" / "launcher.db"
    if not db.exists():
        return []
    return [row[0] for row in sqlite3.connect(db).execute("SELECT id FROM runs")]


def launcher_branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/launcher/").split()


# --- a linked worktree is the checkout the work starts from and lands on ---------------------

def test_run_from_a_linked_worktree_starts_from_and_lands_on_its_branch(repo: Path, tmp_path: Path) -> None:
    feature = tmp_path / "feature-tree"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(feature))
    (feature / "feat.txt").write_text("feature work\n")
    git(feature, "add", "feat.txt")
    git(feature, "commit", "-qm", "feature work")
    main_before = git(repo, "rev-parse", "main")
    plan = write_plan(tmp_path / "plan.json", [
        {"id": "a", "script": [{"run": ["cp", "feat.txt", "seen.txt"]}, {"write": "a.txt", "content": "a\n"}]},
    ])
    done = launcher_cli(feature, "run", str(plan), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)
    assert report["target"] == "feature" and report["tasks"][0]["state"] == "merged"
    # The agent started from feature (it saw feature's file) and its work landed on feature...
    assert committed(feature, "feature", "seen.txt") == "feature work\n"
    assert (feature / "a.txt").read_text() == "a\n"
    assert git(feature, "status", "--porcelain") == ""
    # ...while main and the main checkout's files are untouched.
    assert git(repo, "rev-parse", "main") == main_before
    assert not (repo / "a.txt").exists() and git(repo, "status", "--porcelain") == ""
    # The journal is the linked worktree's own, next to the files it lands on.
    assert len(run_ids(feature)) == 1 and run_ids(repo) == []


def test_the_bare_repository_plus_worktrees_layout(repo: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "clone", "-q", "--bare", str(repo), ".bare")
    (project / ".git").write_text("gitdir: ./.bare\n")
    git(project, "worktree", "add", "-q", "main", "main")
    checkout = project / "main"
    done = launcher_cli(checkout, "run", str(write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    assert committed(checkout, "main", "a.txt") == "a\n" and (checkout / "a.txt").read_text() == "a\n"
    assert git(checkout, "status", "--porcelain") == ""
    assert (checkout / ".launcher").is_dir() and not (project / ".launcher").exists()
    assert not (project / ".bare" / ".launcher").exists()
    # Outside any work tree of it (the project folder holds only the bare repository), git's
    # reason is given, and nothing is written.
    outside = launcher_cli(project, "status")
    assert outside.returncode == 3, outside.stderr
    assert "not inside a git work tree" in outside.stderr and "git worktree list" in outside.stderr


def test_a_work_tree_with_a_separate_git_dir(tmp_path: Path) -> None:
    work, gitdir = tmp_path / "work", tmp_path / "gitdirs" / "proj.git"
    work.mkdir()
    gitdir.parent.mkdir()
    git(work, "init", "-q", "-b", "main", "--separate-git-dir", str(gitdir))
    (work / "README").write_text("hello\n")
    git(work, "add", "README")
    git(work, "commit", "-qm", "init")
    done = launcher_cli(work, "run", str(write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    assert committed(work, "main", "a.txt") == "a\n" and (work / "a.txt").read_text() == "a\n"
    assert (work / ".launcher").is_dir() and not (gitdir.parent / ".launcher").exists()


def test_a_run_inside_an_initialised_submodule_works_on_the_submodule(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    (lib / "lib.txt").write_text("v1\n")
    git(lib, "add", "lib.txt")
    git(lib, "commit", "-qm", "lib")
    superproject = tmp_path / "super"
    superproject.mkdir()
    git(superproject, "init", "-q", "-b", "main")
    (superproject / "README").write_text("hi\n")
    git(superproject, "add", "README")
    git(superproject, "commit", "-qm", "init")
    git(superproject, "-c", "protocol.file.allow=always", "submodule", "-q", "add", str(lib), "lib")
    git(superproject, "commit", "-qm", "add submodule")
    inside = superproject / "lib"
    plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
    done = launcher_cli(inside, "run", str(plan), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    assert committed(inside, "main", "a.txt") == "a\n" and (inside / "a.txt").read_text() == "a\n"
    shown = launcher_cli(inside, "status")
    assert shown.returncode == 0 and "succeeded" in shown.stdout, shown.stdout + shown.stderr
    assert len(run_ids(inside)) == 1
    assert not list((superproject / ".git" / "modules").glob(".launcher*"))
    assert committed(superproject, "main", "a.txt") is None  # the superproject's own branch is not touched


def test_an_agent_switching_the_linked_checkout_s_branch_is_undone(repo: Path, tmp_path: Path) -> None:
    feature = tmp_path / "feature-tree"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(feature))
    switch = (f"subprocess.run(['git', 'switch', '-q', '-c', 'evil'], cwd={str(feature)!r}, check=True)\n"
              "pathlib.Path('x.txt').write_text('x\\n')\n")
    report = run_commands(feature, [command_task("switcher", switch)])
    switcher = task(report, "switcher")
    assert switcher.state == "failed" and "HEAD of the main checkout" in switcher.message, switcher.message
    assert git(feature, "symbolic-ref", "HEAD").strip() == "refs/heads/feature"
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_clean_all_in_one_checkout_leaves_the_runs_of_another_checkout(repo: Path, tmp_path: Path) -> None:
    feature = tmp_path / "feature-tree"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(feature))
    failing = write_plan(tmp_path / "plan.json", [writes("a", "a.txt", checks=["false"])])
    assert launcher_cli(repo, "run", str(failing), "--quiet").returncode == 1
    assert launcher_cli(feature, "run", str(failing), "--quiet").returncode == 1
    (mine,), (theirs,) = run_ids(repo), run_ids(feature)
    assert mine != theirs
    assert sorted(launcher_branches(repo)) == sorted([f"launcher/{mine}/a", f"launcher/{theirs}/a"])
    cleaned = launcher_cli(repo, "clean", "--all", "--force")
    assert cleaned.returncode == 0, cleaned.stderr
    assert f"skipped {theirs}" in cleaned.stdout, cleaned.stdout
    assert launcher_branches(repo) == [f"launcher/{theirs}/a"]
    # The other checkout still shows and cleans its own run.
    assert launcher_cli(feature, "clean", theirs, "--force").returncode == 0
    assert launcher_branches(repo) == []


# --- an orphan branch (unborn HEAD while other branches have commits) ------------------------

def test_on_an_orphan_branch_the_run_says_so_and_refuses_before_creating_anything(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "gh-pages")
    git(repo, "rm", "-rqf", ".")
    plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
    plain = launcher_cli(repo, "run", str(plan))
    assert plain.returncode == 3, plain.stderr
    assert "the current branch 'gh-pages' has no commit yet" in plain.stderr
    assert "--base main --into main" in plain.stderr and "the repository has no commit yet" not in plain.stderr
    # With a base but no --into, the work would land on a branch that does not exist: refused up
    # front (not parked after every agent ran with "gh-pages moved ... now missing").
    based = launcher_cli(repo, "run", str(plan), "--base", "main")
    assert based.returncode == 2, based.stderr
    assert "'gh-pages' has no commit yet, so there is no branch to land on" in based.stderr
    assert "--into main" in based.stderr
    assert run_ids(repo) == [] and launcher_branches(repo) == []
    # Naming both lands on main, leaving the orphan branch checked out.
    both = launcher_cli(repo, "run", str(plan), "--base", "main", "--into", "main", "--json")
    assert both.returncode == 0, both.stderr + both.stdout
    assert committed(repo, "main", "a.txt") == "a\n"
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/gh-pages"


# --- git's own reasons, and the config the user's git reads ----------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving the repository to another user needs root")


@needs_root
def test_a_repository_owned_by_another_user_gives_git_s_reason_and_fix(repo: Path, tmp_path: Path) -> None:
    os.chown(repo, 65534, -1)  # git checks the owner of the work tree's top directory
    try:
        done = launcher_cli(repo, "status")
        assert done.returncode == 3
        assert "dubious ownership" in done.stderr and "not inside a git work tree" not in done.stderr
        assert f"git config --global --add safe.directory {repo}" in done.stderr
        assert run_ids(repo) == []
    finally:
        os.chown(repo, 0, -1)


@needs_root
def test_a_safe_directory_in_the_system_config_is_honoured(repo: Path, tmp_path: Path) -> None:
    # As an administrator sets it (here in the file GIT_CONFIG_SYSTEM names, as the user's git
    # reads it): the launcher's git reads the same system config.
    system = tmp_path / "system-gitconfig"
    system.write_text(f"[safe]\n\tdirectory = {repo}\n")
    os.chown(repo, 65534, -1)
    try:
        plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
        ran = launcher_cli(repo, "run", str(plan), "--json", env={"GIT_CONFIG_SYSTEM": str(system)})
        assert ran.returncode == 0, ran.stderr + ran.stdout
        assert (repo / "a.txt").read_text() == "a\n"
    finally:
        os.chown(repo, 0, -1)


def test_a_filter_from_the_system_config_runs_on_checkout_and_on_commit(repo: Path, tmp_path: Path) -> None:
    # As `git lfs install --system` does: the filter is defined in the system config (here the
    # file GIT_CONFIG_SYSTEM names, as the user's git reads it). It stores files upper-cased
    # ("clean") and checks them out lower-cased ("smudge"), so each side can be seen.
    system = tmp_path / "system-gitconfig"
    system.write_text('[filter "up"]\n\tclean = tr a-z A-Z\n\tsmudge = tr A-Z a-z\n\trequired = true\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_SYSTEM=str(system), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    (repo / ".gitattributes").write_text("*.dat filter=up\n")
    (repo / "one.dat").write_text("data one\n")
    subprocess.run(["git", "add", "."], cwd=repo, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "dat"], cwd=repo, env=env, check=True)
    assert committed(repo, "HEAD", "one.dat") == "DATA ONE\n"
    plan = write_plan(tmp_path / "plan.json", [{"id": "a", "script": [
        {"run": ["cp", "one.dat", "seen.txt"]}, {"write": "two.dat", "content": "data two\n"}]}])
    done = launcher_cli(repo, "run", str(plan), "--json", env={"GIT_CONFIG_SYSTEM": str(system)})
    assert done.returncode == 0, done.stderr + done.stdout
    assert json.loads(done.stdout)["tasks"][0]["state"] == "merged"
    assert committed(repo, "main", "seen.txt") == "data one\n"  # the agent saw the smudged file
    assert committed(repo, "main", "two.dat") == "DATA TWO\n"  # its new file went through clean
    assert (repo / "two.dat").read_text() == "data two\n"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, env=env, capture_output=True, text=True)
    assert status.stdout == ""


def _require_a_missing_filter(repo: Path) -> None:
    """git-lfs configured as required, its program gone: `git status` fails in the repository."""
    (repo / ".gitattributes").write_text("*.dat filter=lfs -text\n")
    (repo / "x.dat").write_text("data\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lfs")
    git(repo, "config", "filter.lfs.process", "git-lfs-not-installed filter-process")
    git(repo, "config", "filter.lfs.required", "true")
    os.utime(repo / "x.dat", (1, 1))  # the index entry is re-read, so status runs the filter


def test_a_repository_git_cannot_read_is_refused_before_the_run_is_journaled(repo: Path, tmp_path: Path) -> None:
    _require_a_missing_filter(repo)
    plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
    done = launcher_cli(repo, "run", str(plan))
    assert done.returncode == 3, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert "tracked files (x.dat) use the content filter `lfs`" in said, said
    assert "its program `git-lfs-not-installed` is not installed" in said, said
    assert run_ids(repo) == [] and launcher_branches(repo) == []


def test_a_missing_filter_program_is_refused_even_where_git_status_never_runs_it(
        repo: Path, tmp_path: Path) -> None:
    # A clone made some time ago: the files are older than the index, so `git status` trusts
    # their stat data and never starts the filter; each task's checkout would.
    _require_a_missing_filter(repo)
    os.utime(repo / "x.dat", (1, 1))
    os.utime(repo / ".gitattributes", (1, 1))
    git(repo, "config", "filter.lfs.required", "false")  # the process program alone breaks a checkout
    git(repo, "-c", "filter.lfs.process=cat", "update-index", "-q", "--really-refresh")
    git(repo, "status", "--porcelain")  # works for the user
    plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
    done = launcher_cli(repo, "run", str(plan))
    assert done.returncode == 3, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert "tracked files (x.dat) use the content filter `lfs`" in said, said
    assert f"`git config --file {repo / '.git' / 'config'} --remove-section filter.lfs`" in said, said
    assert run_ids(repo) == [] and launcher_branches(repo) == []
    # As advised: without the filter's config the files are checked out as stored, and the run goes on.
    git(repo, "config", "--remove-section", "filter.lfs")
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "a.txt").is_file()


def test_a_filter_no_tracked_file_uses_is_no_reason_to_refuse_a_run(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitattributes").write_text("*.psd filter=lfs -text\n")  # no .psd file in the repository
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lfs patterns")
    git(repo, "config", "filter.lfs.process", "git-lfs-not-installed filter-process")
    git(repo, "config", "filter.lfs.required", "true")
    plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_resume_that_cannot_start_says_why_not_that_the_launcher_was_killed(repo: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
    assert launcher_cli(repo, "run", str(plan), "--no-merge").returncode == 0
    (run_id,) = run_ids(repo)
    with sqlite3.connect(repo / ".launcher" / "launcher.db") as db:  # as if killed while it ran
        db.execute("UPDATE runs SET status='interrupted'")
    _require_a_missing_filter(repo)
    resumed = launcher_cli(repo, "resume", run_id)
    assert resumed.returncode != 0 and "git-lfs-not-installed" in resumed.stderr, resumed.stderr
    shown = json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)
    assert shown["status"] == "interrupted", shown
    assert shown["message"].startswith("could not start: ") and "killed" not in shown["message"], shown["message"]


def test_a_remote_tracking_target_is_answered_with_a_local_branch_not_a_shadowing_one(
        repo: Path, tmp_path: Path) -> None:
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
    done = launcher_cli(repo, "run", str(plan), "--into", "origin/main")
    assert done.returncode == 2, done.stderr
    said = " ".join(done.stderr.split())
    assert "remote-tracking branch" in said and "--into main" in said and "git branch origin/main" not in said
    assert run_ids(repo) == []


@pytest.mark.parametrize("ref", ["refs/heads/launcher", "refs/launcher"])
def test_a_ref_named_launcher_is_refused_before_the_run_not_failing_every_task(
        repo: Path, tmp_path: Path, ref: str) -> None:
    git(repo, "update-ref", ref, "HEAD")
    plan = write_plan(tmp_path / "plan.json", [writes("a", "a.txt")])
    done = launcher_cli(repo, "run", str(plan))
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert "blocks the launcher's own" in said and ("git branch -m launcher" in said or "update-ref -d" in said)
    assert run_ids(repo) == []
