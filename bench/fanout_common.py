"""What both sides of the fan-out benchmark share: the generated repository, git, the checks of
the state a run leaves behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_env import bench_env

# The agent: one new file in its worktree and a valid completion contract at $LAUNCHER_CONTRACT.
AGENT_SCRIPT = (
    "import json, os, pathlib, sys\n"
    "tid = sys.argv[1]\n"
    "out = pathlib.Path('out')\n"
    "out.mkdir(exist_ok=True)\n"
    "(out / (tid + '.txt')).write_text('written by ' + tid + '\\n')\n"
    "contract = {'contract_version': '1', 'task_id': tid, 'status': 'done',\n"
    "            'summary': 'wrote out/' + tid + '.txt', 'files_changed': ['out/' + tid + '.txt'],\n"
    "            'tests_added': [], 'decisions': [], 'blockers': [],\n"
    "            'llm_observations': 'benchmark agent: one file, no judgement involved'}\n"
    "pathlib.Path(os.environ['LAUNCHER_CONTRACT']).write_text(json.dumps(contract))\n"
)

class BenchError(Exception):
    pass


@dataclass
class Measure:
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float | None = None


def git_env() -> dict[str, str]:
    return bench_env(("GIT_",), {"LC_ALL": "C"})


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed in {cwd}:\n{done.stderr.strip()}")
    return done.stdout


# --- the repository -------------------------------------------------------------------------


def make_template(root: Path, files: int) -> Path:
    repo = root / "template"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    per_dir = 100
    dirs = max(1, (files + per_dir - 1) // per_dir)
    made = 0
    for d in range(dirs):
        folder = repo / f"pkg{d:03d}"
        folder.mkdir()
        for f in range(min(per_dir, files - made)):
            (folder / f"mod{f:03d}.txt").write_text(f"file {d}/{f}\n" + "some ordinary line of text\n" * 5)
            made += 1
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", f"{files} files")
    return repo


def fresh_copy(template: Path, dest: Path) -> Path:
    git(template.parent, "clone", "--quiet", "--local", str(template), str(dest))
    git(dest, "update-index", "--refresh")  # settle racy-clean stat data outside the timing
    settle()
    return dest


def settle() -> None:
    """Flush the dirty pages of the clone and of earlier runs' deletions before timing: on a
    small VM, background writeback of ~100k files otherwise lands on the next run's clock."""
    os.sync()
    time.sleep(0.5)


def clear(*paths: Path) -> None:
    """Remove what an earlier pass with the same label left (`--n 1,1`, a failed run): each
    pass starts clean."""
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        except OSError as exc:
            raise BenchError(f"cannot remove {path}, which an earlier pass left: {exc}") from None


def task_ids(n: int) -> list[str]:
    return [f"t{i:03d}" for i in range(n)]


# --- checks ---------------------------------------------------------------------------------


def verify_repo(repo: Path, n: int, branch_glob: str, pool: int = 0) -> None:
    listed = git(repo, "worktree", "list", "--porcelain")
    trees = [line for line in listed.splitlines() if line.startswith("worktree ")]
    pooled = [line for line in trees if "/_pool/" in line]
    if len(trees) - len(pooled) != 1 or len(pooled) != pool:
        raise BenchError(f"{len(trees) - 1} worktree(s) besides the main tree, expected {pool} in the pool:\n{listed}")
    if pool:
        tip = git(repo, "rev-parse", "main").strip()
        for line in pooled:
            tree = Path(line.split(" ", 1)[1])
            if git(tree, "rev-parse", "HEAD").strip() != tip or git(tree, "status", "--porcelain", "--ignored"):
                raise BenchError(f"pool worktree {tree} is not a clean checkout of main's tip")
    leftover = git(repo, "branch", "--list", branch_glob).split()
    if leftover:
        raise BenchError(f"{len(leftover)} task branch(es) left: {' '.join(leftover[:5])} ...")
    files = set(git(repo, "ls-tree", "--name-only", "main", "out/").split())
    missing = [t for t in task_ids(n) if f"out/{t}.txt" not in files]
    if missing:
        raise BenchError(f"{len(missing)} task file(s) missing on main, e.g. out/{missing[0]}.txt")
    merges = git(repo, "rev-list", "--merges", "--count", "main").strip()
    if int(merges) != n:
        raise BenchError(f"main has {merges} merge commit(s), expected {n}")
    first = git(repo, "rev-list", "--max-parents=0", "main").split()[0]
    changed = set(git(repo, "diff", "--name-only", "--no-renames", first, "main").split())
    if changed != {f"out/{t}.txt" for t in task_ids(n)}:
        extra = sorted(changed - {f"out/{t}.txt" for t in task_ids(n)})
        raise BenchError(f"main changes {len(extra)} file(s) no task wrote, e.g. {extra[:3]}")
    for tid in task_ids(n):
        if not (repo / "out" / f"{tid}.txt").is_file():
            raise BenchError(f"out/{tid}.txt is on main but not in the main work tree")


def verify_no_trees_left(root: Path, who: str, pool: int = 0) -> None:
    """No file is left under `root`, where the run put its worktrees, but in a warm pool of
    `pool` trees (a `_pool` directory, the launcher's layout). `git worktree list` showing none
    is not enough: the directories (thousands of files each) must be deleted inside the timed
    run, not by the benchmark's untimed clean-up afterwards. (Empty directories cost nothing.)"""
    left: list[Path] = []
    pools: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if "_pool" in dirnames:
            pools.append(here / "_pool")
            dirnames.remove("_pool")
        left += [here / name for name in filenames]
        left += [here / name for name in dirnames if (here / name).is_symlink()]
    if left:
        where = sorted({"/".join(p.relative_to(root).parts[:2]) for p in left})
        raise BenchError(f"{who} left {len(left)} file(s) under {root} when it exited (worktrees unregistered "
                         f"but not deleted?): in {', '.join(where[:5])}{' ...' if len(where) > 5 else ''}")
    trees = [tree for folder in pools for tree in folder.iterdir()]
    if len(trees) != pool:
        raise BenchError(f"{who} left {len(trees)} pool worktree(s) under {root}, expected {pool}")
