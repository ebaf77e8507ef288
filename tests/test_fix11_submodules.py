"""Submodules are what git takes for submodules, wherever the main checkout keeps their
repositories: a `.gitmodules` entry over ordinary tracked files (a vendored former submodule) is
no submodule; a submodule whose repository sits in its own folder (`lib/.git` a directory) and
nested submodules the user initialised are checked out in task worktrees like any other."""

from __future__ import annotations

from pathlib import Path

from helpers import git, launcher_cli, run_plan, task, with_submodule

from launcher.models.states import RunStatus, TaskState

FILE_URLS = ("-c", "protocol.file.allow=always")


def _repository(where: Path, files: dict[str, str]) -> Path:
    where.mkdir(parents=True)
    git(where, "init", "-q", "-b", "main")
    for name, text in files.items():
        (where / name).write_text(text)
    git(where, "add", "-A")
    git(where, "commit", "-q", "-m", f"{where.name} 1")
    return where


def test_a_gitmodules_entry_left_over_a_vendored_folder_is_no_submodule(tmp_path: Path) -> None:
    # vendor/lib was a submodule; its files were vendored (`git rm --cached`, its .git removed,
    # the files added) and .gitmodules kept its entry, as did .git/modules keep the old clone.
    # git ignores such an entry (`git submodule status` prints nothing).
    root = with_submodule(tmp_path)
    git(root, "rm", "-q", "--cached", "vendor/lib")
    (root / "vendor" / "lib" / ".git").unlink()
    git(root, "add", "vendor/lib")
    git(root, "commit", "-q", "-m", "vendor the library")
    assert "vendor/lib" in (root / ".gitmodules").read_text()
    assert git(root, "submodule", "status") == ""
    assert git(root, "ls-files", "vendor/lib") == "vendor/lib/lib.txt\n"

    report = run_plan(root, [
        {"id": "elsewhere", "agent": "scripted", "prompt": "touch only src/",
         "script": [{"write": "src/new.txt", "content": "n\n"}]},
        {"id": "vendored", "agent": "scripted", "prompt": "patch the vendored library",
         "script": [{"write": "vendor/lib/lib.txt", "content": "LIB VERSION 1, patched\n"}]},
    ])

    assert report.status == RunStatus.SUCCEEDED, [t.message for t in report.tasks]
    assert task(report, "elsewhere").state == TaskState.MERGED
    assert task(report, "vendored").state == TaskState.MERGED
    assert git(root, "show", "main:src/new.txt") == "n\n"
    assert git(root, "show", "main:vendor/lib/lib.txt") == "LIB VERSION 1, patched\n"


def _own_folder_submodule(tmp_path: Path) -> Path:
    """`app` with submodule `lib` whose repository is `lib/.git`, a directory (not absorbed)."""
    lib = _repository(tmp_path / "lib-upstream", {"lib.txt": "LIB 1\n"})
    root = _repository(tmp_path / "app", {"app.txt": "app\n"})
    git(root, "clone", "-q", str(lib), "lib")  # cloned in place first: "Adding existing repo at 'lib'"
    git(root, *FILE_URLS, "submodule", "add", "-q", str(lib), "lib")
    git(root, "commit", "-q", "-m", "lib")
    assert (root / "lib" / ".git").is_dir()  # not absorbed into .git/modules
    assert not (root / ".git" / "modules").exists()
    return root


def test_a_submodule_whose_repository_is_in_its_own_folder_is_checked_out_in_the_worktree(tmp_path: Path) -> None:
    root = _own_folder_submodule(tmp_path)

    report = run_plan(root, [{
        "id": "reads-lib", "agent": "scripted", "prompt": "copy the library's version",
        "script": [{"run": ["sh", "-c", "cp lib/lib.txt seen.txt"]}],
        "checks": ["test -f lib/lib.txt"],
    }], integration_check="grep -q 'LIB 1' lib/lib.txt")

    assert report.status == RunStatus.SUCCEEDED, task(report, "reads-lib").message
    assert git(root, "show", "main:seen.txt") == "LIB 1\n"
    assert (root / "lib" / ".git").is_dir()  # the user's layout is left as it was


def test_commits_an_agent_made_in_such_a_submodule_fail_the_task_and_a_plain_clean_keeps_them(
        tmp_path: Path) -> None:
    root = _own_folder_submodule(tmp_path)
    report = run_plan(root, [{
        "id": "bumps-lib", "agent": "scripted", "prompt": "change the library",
        "script": [{"run": ["sh", "-c", "cd lib && echo 'LIB 2' > lib.txt && "
                           "git -c user.name=a -c user.email=a@a commit -qam 'lib 2'"]}],
    }])
    bumped = task(report, "bumps-lib")
    assert bumped.state == TaskState.FAILED and bumped.worktree
    assert "changed the commit of submodule lib" in bumped.message
    commit = git(Path(bumped.worktree, "lib"), "rev-parse", "HEAD").strip()

    cleaned = launcher_cli(root, "clean", "--all")

    assert cleaned.returncode == 0, cleaned.stderr
    assert f"its submodule lib holds 1 commit(s) that exist only there ({commit[:12]})" in cleaned.stdout
    assert Path(bumped.worktree, "lib", "lib.txt").read_text() == "LIB 2\n"


def _nested(tmp_path: Path, *, recursive: bool) -> Path:
    """`app` with submodule `lib`, which has submodule `inner`; the user's checkout initialised
    `lib`, and `lib/inner` too when `recursive`."""
    inner = _repository(tmp_path / "inner-upstream", {"inner.txt": "INNER 1\n"})
    lib = _repository(tmp_path / "lib-upstream", {"lib.txt": "LIB 1\n"})
    git(lib, *FILE_URLS, "submodule", "add", "-q", str(inner), "inner")
    git(lib, "commit", "-q", "-m", "inner")
    root = _repository(tmp_path / "app", {"app.txt": "app\n"})
    git(root, *FILE_URLS, "submodule", "add", "-q", str(lib), "lib")
    git(root, "commit", "-q", "-m", "lib")
    if recursive:
        git(root, *FILE_URLS, "submodule", "update", "-q", "--init", "--recursive")
    return root


def test_nested_submodules_the_user_initialised_are_checked_out_in_the_worktree(tmp_path: Path) -> None:
    root = _nested(tmp_path, recursive=True)
    assert (root / "lib" / "inner" / "inner.txt").is_file()

    report = run_plan(root, [{
        "id": "reads-inner", "agent": "scripted", "prompt": "copy the inner library's version",
        "script": [{"run": ["sh", "-c", "cp lib/inner/inner.txt seen.txt"]}],
        "checks": ["test -f lib/lib.txt", "test -f lib/inner/inner.txt"],
    }], integration_check="test -f lib/inner/inner.txt")

    assert report.status == RunStatus.SUCCEEDED, task(report, "reads-inner").message
    assert git(root, "show", "main:seen.txt") == "INNER 1\n"


def test_a_nested_submodule_the_user_never_initialised_stays_empty_and_writing_into_it_fails_the_task(
        tmp_path: Path) -> None:
    root = _nested(tmp_path, recursive=False)
    assert (root / "lib" / "lib.txt").is_file() and not any((root / "lib" / "inner").iterdir())
    base = git(root, "rev-parse", "main").strip()

    report = run_plan(root, [
        {"id": "looks", "agent": "scripted", "prompt": "note what is there",
         "script": [{"run": ["sh", "-c", "ls -A lib/inner | wc -l > count.txt"]}]},
        {"id": "writes-inner", "agent": "scripted", "prompt": "add a file to the (empty) inner library",
         "script": [{"write": "lib/inner/new.txt", "content": "agent work\n"}]},
    ])

    assert task(report, "looks").state == TaskState.MERGED, task(report, "looks").message
    assert (root / "count.txt").read_text().strip() == "0"  # as empty as in the user's checkout
    writes = task(report, "writes-inner")
    assert writes.state == TaskState.FAILED
    assert "wrote lib/inner/new.txt inside the directory of a submodule that is not initialised" in writes.message
    assert writes.worktree and Path(writes.worktree, "lib/inner/new.txt").read_text() == "agent work\n"
    assert git(root, "rev-parse", "main").strip() != base  # only `looks` landed
    assert git(root, "diff", "--name-only", base, "main").split() == ["count.txt"]
