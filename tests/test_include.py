"""`.worktreeinclude`: which ignored files are copied into a worktree, and how."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import anyio
import pytest
from conftest import git

from launcher.git import include as include_mod
from launcher.git.include import copy_includes, resolve_includes
from launcher.git.repo import GitRepo
from launcher.git.worktrees import create_worktree


def open_repo(path: Path) -> GitRepo:
    return anyio.run(GitRepo.discover, path)


def resolve(path: Path, include_file: str = ".worktreeinclude") -> list[str]:
    gr = open_repo(path)

    async def go() -> list[str]:
        return await resolve_includes(gr, include_file)

    return anyio.run(go)


def write(path: Path, text: str = "x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_missing_include_file_means_nothing(repo: Path) -> None:
    write(repo / ".env", "SECRET=1\n")
    assert resolve(repo) == []


def test_matched_ignored_file_is_copied_with_its_mode(repo: Path, tmp_path: Path) -> None:
    write(repo / ".worktreeinclude", "# local settings\n.env\n")
    env = write(repo / ".env", "SECRET=1\n")
    env.chmod(0o600)
    paths = resolve(repo)
    assert paths == [".env"]
    dest = tmp_path / "wt"
    dest.mkdir()
    assert copy_includes(repo, dest, paths) == [".env"]
    assert (dest / ".env").read_text() == "SECRET=1\n"
    assert stat.S_IMODE((dest / ".env").stat().st_mode) == 0o600


def test_unmatched_or_unignored_files_are_not_included(repo: Path) -> None:
    write(repo / ".worktreeinclude", ".env\n*.txt\n")
    write(repo / ".env")
    write(repo / "other.secret")  # ignored, but not in the include spec
    write(repo / "notes.txt")  # matches the spec, but git does not ignore it
    assert resolve(repo) == [".env"]


def test_tracked_file_is_never_included_nor_overwritten(repo: Path, tmp_path: Path) -> None:
    write(repo / "tracked.secret", "committed\n")
    git(repo, "add", "-f", "tracked.secret")
    git(repo, "commit", "-q", "-m", "force-add an ignored file")
    write(repo / "local.secret", "mine\n")
    write(repo / ".worktreeinclude", "*.secret\n*.py\n")
    paths = resolve(repo)
    assert paths == ["local.secret"]  # neither tracked.secret nor app.py

    # Even a stale list naming a tracked file does not clobber the worktree's checkout.
    gr = open_repo(repo)
    wt = tmp_path / "wt"
    anyio.run(lambda: create_worktree(gr, path=wt, branch="t", start="HEAD"))
    write(repo / "tracked.secret", "edited in main\n")
    copied = copy_includes(repo, wt, [*paths, "tracked.secret"])
    assert copied == ["local.secret"]
    assert (wt / "tracked.secret").read_text() == "committed\n"
    assert git(wt, "status", "--porcelain") == ""  # copies are ignored, nothing dirty


def test_symlink_out_of_the_repo_is_never_followed(repo: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside.secret", "not yours\n")
    (repo / "escape.secret").symlink_to(outside)
    (repo / "rel-escape.secret").symlink_to(Path("..") / "outside.secret")
    write(repo / "real.secret", "ok\n")
    (repo / "inner.secret").symlink_to("real.secret")  # points inside: kept as a link
    (repo / "abs-inner.secret").symlink_to(repo / "real.secret")
    write(repo / ".worktreeinclude", "*.secret\n")

    paths = resolve(repo)
    assert paths == ["abs-inner.secret", "inner.secret", "real.secret"]

    dest = tmp_path / "wt"
    dest.mkdir()
    stale = [*paths, "escape.secret", "rel-escape.secret"]
    assert sorted(copy_includes(repo, dest, stale)) == paths
    assert not (dest / "escape.secret").exists() and not (dest / "escape.secret").is_symlink()
    assert not (dest / "rel-escape.secret").is_symlink()
    assert os.readlink(dest / "inner.secret") == "real.secret"
    # An absolute link into the main tree is rewritten to stay inside the worktree.
    assert not os.path.isabs(os.readlink(dest / "abs-inner.secret"))
    assert (dest / "abs-inner.secret").resolve() == (dest / "real.secret").resolve()


def test_copy_rechecks_a_parent_swapped_for_an_escaping_link(repo: Path, tmp_path: Path) -> None:
    write(repo / "cfg" / "local.secret", "inside\n")
    write(repo / ".worktreeinclude", "*.secret\n")
    paths = resolve(repo)
    assert paths == ["cfg/local.secret"]
    # Between resolve and copy the directory becomes a link to somewhere else.
    outside = tmp_path / "elsewhere"
    write(outside / "local.secret", "outside\n")
    (repo / "cfg" / "local.secret").unlink()
    (repo / "cfg").rmdir()
    (repo / "cfg").symlink_to(outside)
    dest = tmp_path / "wt"
    dest.mkdir()
    assert copy_includes(repo, dest, paths) == []
    assert not (dest / "cfg" / "local.secret").exists()


def test_files_inside_ignored_directories(repo: Path) -> None:
    write(repo / "build" / "gen" / "config.json")
    write(repo / "build" / "gen" / "big.bin")
    write(repo / "build" / "deep" / "x" / "token.secret")
    write(repo / "build" / "keep.json")
    write(
        repo / ".worktreeinclude",
        "build/gen/*.json\n*.secret\nbuild/*.json\n!build/keep.json\n",
    )
    assert resolve(repo) == ["build/deep/x/token.secret", "build/gen/config.json"]


def test_whole_ignored_directory_can_be_included(repo: Path) -> None:
    write(repo / "build" / "a.txt")
    write(repo / "build" / "sub" / "b.txt")
    write(repo / "build" / "huge.bin")
    write(repo / ".worktreeinclude", "build/\n")
    assert resolve(repo) == ["build/a.txt", "build/huge.bin", "build/sub/b.txt"]
    # git cannot re-include below an excluded directory; the pathspec filter honours `!`.
    write(repo / ".worktreeinclude", "build/\n!build/huge.bin\n")
    assert resolve(repo) == ["build/a.txt", "build/sub/b.txt"]


def test_big_ignored_venv_is_not_listed_in_python(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (repo / ".gitignore").open("a") as fh:
        fh.write(".venv/\n")
    venv = repo / ".venv" / "lib" / "site-packages"
    for i in range(60):
        pkg = venv / f"pkg{i}"
        pkg.mkdir(parents=True)
        for j in range(100):
            (pkg / f"mod{j}.py").write_text("")
    write(repo / ".venv" / "pyvenv.cfg")
    write(repo / ".env")
    write(repo / ".worktreeinclude", ".env\n.venv/pyvenv.cfg\n")

    listed: list[str] = []
    real_scandir, real_listdir = os.scandir, os.listdir

    def spy_scandir(path: str = ".") -> object:
        listed.append(str(path))
        return real_scandir(path)

    def spy_listdir(path: str = ".") -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", spy_scandir)
    monkeypatch.setattr(os, "listdir", spy_listdir)
    started = time.monotonic()
    paths = resolve(repo)
    elapsed = time.monotonic() - started
    assert paths == [".env", ".venv/pyvenv.cfg"]
    assert not [p for p in listed if ".venv" in p]  # git walked it, Python did not
    assert elapsed < 5


def test_launcher_and_git_dirs_are_never_included(repo: Path) -> None:
    gr = open_repo(repo)
    anyio.run(gr.ensure_excluded, ".launcher/")
    write(repo / ".launcher" / "journal.db")
    write(repo / ".env")
    write(repo / ".worktreeinclude", "*\n.launcher/\n")
    paths = resolve(repo)
    assert ".env" in paths
    assert not [p for p in paths if p.startswith((".launcher/", ".git/"))]
    assert "app.py" not in paths  # `*` matches it, but it is tracked
    assert include_mod.is_safe_source(repo, ".git/config") is False
    assert include_mod.is_safe_source(repo, "../outside") is False


def test_custom_include_file_name(repo: Path) -> None:
    write(repo / ".env")
    write(repo / "x.secret")
    write(repo / "conf" / "includes", "x.secret\n")
    assert resolve(repo, "conf/includes") == ["x.secret"]


def test_the_leak_screen_reads_a_log_of_any_length_to_its_first_line(monkeypatch: pytest.MonkeyPatch,
                                                                       repo: Path) -> None:
    # The screen used to read the last 64 MiB of `git log --raw`: a commit adding enough files
    # pushed the copy of `.env` out of what it read, and the secret landed. Now git writes the
    # log to a file that is read whole; here the in-memory limit is tiny to show it.
    from launcher.git import secret_guard
    from launcher.git.repo import GitRepo

    monkeypatch.setattr(GitRepo, "max_output", 4096)
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "aaaa-leak.txt").write_text("SECRET=1\n")
    for i in range(300):
        (repo / f"zz-{i:03}-{'x' * 40}.txt").write_text("")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "many files")
    r = anyio.run(GitRepo.discover, repo)
    secret = git(repo, "hash-object", "aaaa-leak.txt").strip()
    leaks = anyio.run(lambda: secret_guard.find_leaks(r, base, "HEAD", [".env"], {secret: ".env"}))
    assert [leak.path for leak in leaks] == ["aaaa-leak.txt"]


def test_a_git_output_longer_than_the_launcher_reads_is_an_error_not_a_cut_list(
    monkeypatch: pytest.MonkeyPatch, repo: Path
) -> None:
    from launcher.errors import GitOutputTooLarge
    from launcher.git.repo import GitRepo

    monkeypatch.setattr(GitRepo, "max_output", 8)
    r = anyio.run(GitRepo.discover, repo)
    with pytest.raises(GitOutputTooLarge, match="does not act on a cut output"):
        anyio.run(lambda: r.git("ls-files", "-z"))
    shown = anyio.run(lambda: r.git("ls-files", cut_ok=True))
    assert shown.stdout_dropped > 0


def test_a_run_says_which_include_file_it_did_not_copy_and_why(repo: Path, tmp_path: Path) -> None:
    # Secrets kept outside the tree behind a link: not followed (never copied), but said, so a
    # check failing on the missing file is not a mystery.
    import json

    from helpers import launcher_cli
    outside = write(tmp_path / "elsewhere" / "app.env", "TOKEN=1\n")
    (repo / ".env").symlink_to(outside)
    write(repo / ".gitignore", ".env\n")
    write(repo / ".worktreeinclude", ".env\n")
    git(repo, "add", ".gitignore", ".worktreeinclude")
    git(repo, "commit", "-qm", "include")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    done = launcher_cli(repo, "run", str(plan), "--json")
    assert done.returncode == 0, done.stderr
    notes = [n["message"] for n in json.loads(done.stdout)["notes"]]
    assert any(n.startswith(".env (matched by .worktreeinclude) is a symlink to ") and str(outside) in n
               and "not copied" in n for n in notes), notes
