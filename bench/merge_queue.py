"""Queue benchmark (issue 16): land 32 approved branches, 3 of which break the integration
check and 4 of which conflict pairwise, through the merge queue (batches folded in memory, one
check per batch, bisection to the culprits) and one by one with a check each (the old landing).

    python bench/merge_queue.py                  # --branches 32 --broken 3 --conflicting 4
    python bench/merge_queue.py --batch 8        # batches of 8 instead of all that are ready
    python bench/merge_queue.py --check-seconds 1   # a check that costs what a test suite does

Prints, for both: branches landed, integration-check runs, wall time; exit 0 when the queue
lands as many branches as one-by-one with fewer checks, 1 otherwise. The check is a real one
(`run_integration_check`: a scratch worktree of the merged commit, a shell command that fails
on the word BROKEN), so its cost is what a cheap check costs; a real test suite makes the
saving in check runs count for more. No agent runs: the branches are made with git plumbing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from bench_env import bench_env

from launcher.app.queue.batches import Folder, QueueResult
from launcher.app.queue.order import queue_order
from launcher.git import conflict_matrix, merge
from launcher.git.integration_check import run_integration_check
from launcher.git.repo import GitRepo

CHECK = "! grep -rq BROKEN --include=*.txt ."  # + `sleep S` with --check-seconds S


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=bench_env(("GIT_",)), input=stdin,
                          check=True, capture_output=True, text=True).stdout.strip()


def make_repo(root: Path, branches: int, broken: int, conflicting: int) -> list[merge.Candidate]:
    """A repository with `branches` branches off main: the first `conflicting` rewrite one line
    of shared.txt each (every pair conflicts), `broken` others add a BROKEN file, all the rest
    add a file of their own. Broken ones are spread over the order."""
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    (root / "shared.txt").write_text("line 1\nline 2\n")
    (root / "README.md").write_text("# bench\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "initial")
    base = _git(root, "rev-parse", "HEAD")
    step = max(branches // max(broken, 1), 1)
    broken_at = {conflicting + 1 + k * step for k in range(broken)}
    candidates = []
    for n in range(branches):
        name = f"b{n:02d}"
        if n < conflicting:
            files = {"shared.txt": f"line 1 from {name}\nline 2\n"}
        elif n in broken_at:
            files = {f"{name}.txt": "BROKEN\n"}
        else:
            files = {f"{name}.txt": f"{name}\n"}
        _git(root, "read-tree", base)
        for path, text in files.items():
            blob = _git(root, "hash-object", "-w", "--stdin", stdin=text)
            _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
        tree = _git(root, "write-tree")
        commit = _git(root, "commit-tree", tree, "-p", base, "-m", name)
        _git(root, "update-ref", f"refs/heads/{name}", commit)
        candidates.append(merge.Candidate(task_id=name, branch=name, head=commit, message=f"Merge {name}"))
    _git(root, "read-tree", base)
    return candidates


SLEEP = [0.0]  # --check-seconds: what a real test suite would add to each check run


async def _checker(repo: GitRepo, scratch: Path, runs: list[int]) -> merge.IntegrationCheck:
    command = f"sleep {SLEEP[0]:g}; {CHECK}" if SLEEP[0] else CHECK

    async def check(commit: str) -> tuple[bool, str]:
        runs[0] += 1
        return await run_integration_check(repo, commit, command, scratch / commit[:12], 600)

    return check


async def one_by_one(root: Path, candidates: list[merge.Candidate]) -> tuple[int, int, float]:
    repo = await GitRepo.discover(root)
    runs = [0]
    started = time.perf_counter()
    _, landings = await merge.land_queue(
        repo, tip="main", candidates=candidates, strategy="merge",
        integration_check=await _checker(repo, root.parent / "scratch-1", runs))
    return sum(x.outcome == "landed" for x in landings), runs[0], time.perf_counter() - started


async def queued(root: Path, candidates: list[merge.Candidate], batch: int | None) -> tuple[int, int, float]:
    repo = await GitRepo.discover(root)
    runs = [0]
    verdicts: dict[str, tuple[bool, str]] = {}

    def record(kind: str, tasks: list[str], **fields: object) -> None:
        if kind == "check":
            verdicts[str(fields["tree"])] = (bool(fields["ok"]), str(fields["detail"]))

    started = time.perf_counter()
    pairs = await conflict_matrix.pairwise(repo, {c.task_id: c.head for c in candidates}, "main")
    order = queue_order([c.task_id for c in candidates], {}, conflict_matrix.conflicting(pairs))
    by_id = {c.task_id: c for c in candidates}
    folder = Folder(repo=repo, strategy="merge",
                    check=await _checker(repo, root.parent / "scratch-2", runs),
                    record=record, verdict_of=verdicts.get)
    result = QueueResult(await repo.rev_parse("main"))
    await folder.land(result, [by_id[t] for t in order], batch)
    return len(result.landed), runs[0], time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=32)
    parser.add_argument("--broken", type=int, default=3)
    parser.add_argument("--conflicting", type=int, default=4)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--check-seconds", type=float, default=0.0,
                        help="added to each check run, as a real test suite would")
    args = parser.parse_args()
    SLEEP[0] = args.check_seconds
    with tempfile.TemporaryDirectory(prefix="launcher-queue-bench-") as tmp:
        one = make_repo(Path(tmp) / "one", args.branches, args.broken, args.conflicting)
        two = make_repo(Path(tmp) / "two", args.branches, args.broken, args.conflicting)
        landed_1, runs_1, wall_1 = anyio.run(one_by_one, Path(tmp) / "one", one)
        landed_q, runs_q, wall_q = anyio.run(queued, Path(tmp) / "two", two, args.batch)
    print(f"{args.branches} branches, {args.broken} break the check, {args.conflicting} conflict pairwise"
          f", batch {args.batch or 'all'}, check +{args.check_seconds:g}s")
    print(f"{'':12} {'landed':>7} {'checks':>7} {'wall s':>8}")
    print(f"{'one by one':12} {landed_1:>7} {runs_1:>7} {wall_1:>8.2f}")
    print(f"{'queue':12} {landed_q:>7} {runs_q:>7} {wall_q:>8.2f}")
    print(f"checks: queue / one-by-one = {runs_q / max(runs_1, 1):.2f}; "
          f"wall: {wall_q / max(wall_1, 1e-9):.2f}")
    return 0 if landed_q >= landed_1 and runs_q < runs_1 else 1


if __name__ == "__main__":
    sys.exit(main())
