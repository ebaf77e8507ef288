"""A sweep reads one state of the checkout, whatever changes it meanwhile (a landing, an editor).

Review 3, concurrent finding 2: a `launcher land` that moved the checked-out branch while a sweep
started made it report mutants of the new files (lines its base commit does not have) against
coverage measured on the old tree: false NoCoverage, a score of a tree that never existed.

The window is made deterministic with wrappers that pause the sweep at a known point until the
test has changed the checkout: a `--python` wrapper in the sweep's plugin probe (after the sweep
has copied what it reads), a `git` wrapper on PATH in the overlay listing (while it reads).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from conftest import git, write_files

ADD = "def add(a, b):\n    return a + b\n"
SUB = "\n\ndef sub(a, b):\n    return a - b\n"
MUL = "\n\ndef mul(a, b):\n    return a * b\n"


def _project(root: Path) -> None:
    """calc with add committed; sub and its test uncommitted (the sweep's overlay)."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_files(root, {"calc/__init__.py": ADD,
                       "tests/test_add.py": "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "add")
    (root / "calc" / "__init__.py").write_text(ADD + SUB)
    (root / "tests" / "test_sub.py").write_text("from calc import sub\n\ndef test_sub():\n    assert sub(5, 3) == 2\n")


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _sweep(root: Path, *args: str, path_dir: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    if path_dir is not None:
        env["PATH"] = f"{path_dir}{os.pathsep}{env['PATH']}"
    return subprocess.Popen([sys.executable, "-m", "launcher", "mutation", "sweep", "calc", "--workers", "2",
                             "--json", *args], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _wait_for(marker: Path, sweep: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert sweep.poll() is None, sweep.communicate()
        assert time.monotonic() < deadline, "the sweep never reached the paused step"
        time.sleep(0.05)


def _change_checkout(root: Path) -> None:
    """What a landing and an editor do: a commit moves HEAD, a file the sweep mutates grows."""
    write_files(root, {"calc/more.py": "def twice(a):\n    return 2 * a\n"})
    git(root, "add", "calc/more.py")
    git(root, "commit", "-qm", "more")
    with (root / "calc" / "__init__.py").open("a") as out:
        out.write(MUL)
    (root / "tests" / "test_mul.py").write_text("from calc import mul\n\ndef test_mul():\n    assert mul(2, 3) == 6\n")


def test_a_checkout_changed_after_the_sweep_read_it_does_not_reach_its_mutants(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _project(root)
    base = git(root, "rev-parse", "HEAD").strip()
    paused, go = tmp_path / "paused", tmp_path / "go"
    python = _script(tmp_path / "python", f"""#!/bin/sh
case "$2" in *find_spec*) touch {paused}; while [ ! -e {go} ]; do sleep 0.05; done;; esac
exec {sys.executable} "$@"
""")
    sweep = _sweep(root, "--python", str(python))
    _wait_for(paused, sweep)
    _change_checkout(root)  # after the sweep copied the overlay: a user committing mid-sweep
    go.touch()
    out, err = sweep.communicate(timeout=600)

    assert sweep.returncode == 0, err
    summary = json.loads(out)
    report = json.loads((Path(summary["out_dir"]) / "report.json").read_text())
    assert report["base_sha"] == base
    # Every mutant is of the state the sweep started on: base + the uncommitted sub, never mul
    # nor the file committed meanwhile; the coverage run saw the same tree, so all are killed.
    assert {(m["target"], m["function"]) for m in report["mutants"]} == {("calc/__init__.py", "add"),
                                                                         ("calc/__init__.py", "sub")}
    assert {m["status"] for m in report["mutants"]} == {"KILLED"}, report["mutants"]
    lines = (ADD + SUB).count("\n")
    assert all(m["line"] <= lines for m in report["mutants"])
    # The report names what it measured beside the base commit (its score is not the commit's).
    said = (Path(summary["out_dir"]) / "summary.txt").read_text()
    assert f"measured the work tree as it was: {base[:12]} plus 2 uncommitted or untracked file(s)" in said
    assert "calc/__init__.py" in said and "tests/test_sub.py" in said
    # The checkout keeps what changed meanwhile.
    assert "def mul" in (root / "calc" / "__init__.py").read_text()
    assert git(root, "log", "-1", "--format=%s").strip() == "more"


def test_a_commit_landing_while_the_sweep_reads_the_checkout_refuses_the_sweep(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _project(root)
    base = git(root, "rev-parse", "HEAD").strip()
    paused, go = tmp_path / "paused", tmp_path / "go"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real_git = shutil.which("git")
    _script(bin_dir / "git", f"""#!/bin/sh
case "$*" in *"--name-only -z --no-renames"*)
  [ -e {paused} ] || {{ touch {paused}; while [ ! -e {go} ]; do sleep 0.05; done; }};; esac
exec {real_git} "$@"
""")
    sweep = _sweep(root, path_dir=bin_dir)
    _wait_for(paused, sweep)  # the sweep is listing the overlay of `base`
    _change_checkout(root)
    head = git(root, "rev-parse", "HEAD").strip()
    go.touch()
    out, err = sweep.communicate(timeout=600)

    assert sweep.returncode == 1, (out, err)
    assert f"HEAD moved from {base[:12]} to {head[:12]} (more)" in err
    assert "re-run `launcher mutation sweep` once nothing else changes the checkout" in err
    assert not list((root / ".launcher" / "mutation-runs").glob("*/report.json"))  # no report of a mixed tree
    worktrees = git(root, "worktree", "list", "--porcelain").count("worktree ")
    assert worktrees == 1  # worker 1's tree was never left behind
