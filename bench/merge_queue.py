"""Queue benchmark (issue 16): land 32 approved branches, 3 of which break the integration
check and 4 of which rewrite the same line (one of them lands, the other 3 conflict), through the
merge queue (batches folded in memory, one check per batch, bisection to the culprits) and one by
one with a check each (the old landing).

    python bench/merge_queue.py                  # --branches 32 --broken 3 --conflicting 4
    python bench/merge_queue.py --batch 8        # batches of 8 instead of all that are ready
    python bench/merge_queue.py --check-seconds 1   # a check that costs what a test suite does

Prints, for both: branches landed, integration-check runs, wall time. Then it verifies what each
landing produced, not only how many landed: the landed set is every clean branch plus exactly one
of the conflicting ones, the failed set is exactly the branches that break the check (outcome
`check_failed`) and the conflicting ones that lost (`conflicted`), nothing is left held back,
the final tip holds every landed branch's files and no failed branch's change, `git grep BROKEN`
finds nothing there, and the check itself passes on it; and the queue landed the same set as
one by one.

Exit status: 0 both verified and the queue ran fewer checks than one by one; 1 a landing's result
is wrong (what is wrong is printed), or a usage error (e.g. `--broken` more than the branches
that do not conflict); 2 both verified but the queue did not run fewer checks.

The check is a real one (`run_integration_check`: a scratch worktree of the merged commit, a
shell command that fails on the word BROKEN), so its cost is what a cheap check costs; a real
test suite makes the saving in check runs count for more. No agent runs: the branches are made
with git plumbing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from bench_env import bench_env

from launcher.app.queue.batches import Folder, QueueResult
from launcher.app.queue.order import queue_order
from launcher.git import conflict_matrix, merge
from launcher.git.integration_check import run_integration_check
from launcher.git.repo import GitRepo

CHECK = "! grep -rq BROKEN --include=*.txt ."  # + `sleep S` with --check-seconds S


def _run_git(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, env=bench_env(("GIT_",)), input=stdin,
                          check=False, capture_output=True, text=True)


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = _run_git(repo, *args, stdin=stdin)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


@dataclass
class Layout:
    """Which branch does what: `conflicting` rewrite the same line of shared.txt (each pair
    conflicts, so one of them lands), `broken` add a file holding BROKEN, the rest a file each."""

    names: list[str]
    conflicting: list[str]
    broken: list[str]


def layout(branches: int, broken: int, conflicting: int) -> Layout:
    """The first `conflicting` branches conflict; `broken` of the others break the check, spread
    evenly over them (the middle of each of `broken` equal stretches). ValueError when that
    cannot be made."""
    if branches < 1 or not 0 <= conflicting <= branches:
        raise ValueError(f"--conflicting {conflicting} must be between 0 and --branches {branches} (>= 1)")
    room = branches - conflicting
    if not 0 <= broken <= room:
        raise ValueError(f"--broken {broken}: only the {room} branches that do not conflict can break the check "
                         f"(--branches {branches} minus --conflicting {conflicting}); ask for at most {room}")
    names = [f"b{n:02d}" for n in range(branches)]
    step = room // broken if broken else 0
    at = [conflicting + k * step + step // 2 for k in range(broken)]
    return Layout(names, names[:conflicting], [names[i] for i in at])


def make_repo(root: Path, branches: int, broken: int, conflicting: int) -> list[merge.Candidate]:
    """A repository with `branches` branches off main, as `layout` says (ValueError when
    `broken` or `conflicting` cannot be made)."""
    plan = layout(branches, broken, conflicting)
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    (root / "shared.txt").write_text("line 1\nline 2\n")
    (root / "README.md").write_text("# bench\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "initial")
    base = _git(root, "rev-parse", "HEAD")
    candidates = []
    for name in plan.names:
        if name in plan.conflicting:
            files = {"shared.txt": f"line 1 from {name}\nline 2\n"}
        elif name in plan.broken:
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


def broken_in(root: Path, candidates: list[merge.Candidate]) -> list[str]:
    """The branches whose tree holds BROKEN, read from the repository itself (one `git grep`)."""
    done = _run_git(root, "grep", "-l", "BROKEN", *(c.head for c in candidates), "--", "*.txt")
    heads = {line.split(":", 1)[0] for line in done.stdout.splitlines()}
    return sorted(c.task_id for c in candidates if c.head in heads)


SLEEP = [0.0]  # --check-seconds: what a real test suite would add to each check run


async def _checker(repo: GitRepo, scratch: Path, runs: list[int]) -> merge.IntegrationCheck:
    command = f"sleep {SLEEP[0]:g}; {CHECK}" if SLEEP[0] else CHECK

    async def check(commit: str) -> tuple[bool, str]:
        runs[0] += 1
        return await run_integration_check(repo, commit, command, scratch / commit[:12], 600)

    return check


@dataclass
class Outcome:
    """What one landing produced: its final tip, and each branch's fate."""

    tip: str
    landed: set[str]
    failed: dict[str, str]  # branch -> outcome (`check_failed`, `conflicted`, ...)
    checks: int
    wall: float
    held: set[str] = field(default_factory=set)  # held back, neither landed nor failed
    problems: list[str] = field(default_factory=list)


async def one_by_one(root: Path, candidates: list[merge.Candidate]) -> Outcome:
    repo = await GitRepo.discover(root)
    runs = [0]
    started = time.perf_counter()
    tip, landings = await merge.land_queue(
        repo, tip="main", candidates=candidates, strategy="merge",
        integration_check=await _checker(repo, root.parent / "scratch-1", runs))
    wall = time.perf_counter() - started
    return Outcome(tip, {x.task_id for x in landings if x.outcome == "landed"},
                   {x.task_id: x.outcome for x in landings if x.outcome != "landed"}, runs[0], wall)


async def queued(root: Path, candidates: list[merge.Candidate], batch: int | None) -> Outcome:
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
    wall = time.perf_counter() - started
    return Outcome(result.tip, set(result.landed), {t: x.outcome for t, x in result.failed.items()}, runs[0],
                   wall, held=set(result.held_back))


def _names(found: list[str] | set[str]) -> str:
    return ", ".join(sorted(found)) or "none"


def _files(root: Path, rev: str) -> dict[str, str]:
    """path -> blob of every file in `rev`'s tree."""
    listed = _git(root, "ls-tree", "-r", "-z", rev)
    return {path: meta.split()[2] for meta, _, path in (e.partition("\t") for e in listed.split("\0") if e)}


async def verify(root: Path, outcome: Outcome, candidates: list[merge.Candidate], plan: Layout,
                 broken: list[str]) -> list[str]:
    """What is wrong with `outcome` (nothing: []): see the module's docstring."""
    problems: list[str] = []
    winners = sorted(outcome.landed & set(plan.conflicting))
    if plan.conflicting and len(winners) != 1:
        problems.append(f"{len(winners)} of the conflicting branches ({_names(plan.conflicting)}) landed; "
                        "exactly one can")
    want = {c.task_id: "landed" for c in candidates}
    want |= {b: "check_failed" for b in broken}
    want |= {c: "conflicted" for c in plan.conflicting if c not in winners}
    for name, expected in want.items():
        got = "landed" if name in outcome.landed else outcome.failed.get(name) or (
            "held back" if name in outcome.held else "not reported at all")
        if got != expected:
            why = " (it breaks the check)" if name in broken else ""
            problems.append(f"{name}: {got}, expected {expected}{why}")
    if both := outcome.landed & set(outcome.failed):
        problems.append(f"reported both landed and failed: {_names(both)}")
    if outcome.held:
        problems.append(f"held back at the end: {_names(outcome.held)}")
    # The final tip: every landed branch's change is in it, no failed branch's change is.
    reachable = set(_git(root, "rev-list", outcome.tip).split())
    base = _git(root, "rev-parse", "main")
    on_tip, at_base = _files(root, outcome.tip), _files(root, base)
    if base not in reachable:
        problems.append(f"the final tip {outcome.tip[:12]} does not descend from main ({base[:12]})")
    for c in candidates:
        changed = _files(root, c.head).items() - at_base.items()
        present = all(on_tip.get(path) == blob for path, blob in changed)
        if c.task_id in outcome.landed and not (present and c.head in reachable):
            problems.append(f"{c.task_id} is reported landed, but its change is not on the final tip")
        if c.task_id in outcome.failed and (present or c.head in reachable):
            problems.append(f"{c.task_id} is reported failed, but its change is on the final tip")
    if _run_git(root, "grep", "-q", "BROKEN", outcome.tip).returncode != 1:
        problems.append(f"the final tip {outcome.tip[:12]} holds BROKEN (`git grep BROKEN {outcome.tip[:12]}`)")
    repo = await GitRepo.discover(root)
    scratch = root.parent / "scratch-final" / root.name
    ok, output = await run_integration_check(repo, outcome.tip, CHECK, scratch, 600)
    if not ok:
        said = output.strip()[-300:] or "(it printed nothing)"
        problems.append(f"the integration check fails on the final tip {outcome.tip[:12]}: {said}")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--branches", type=int, default=32)
    parser.add_argument("--broken", type=int, default=3, help="branches that break the check")
    parser.add_argument("--conflicting", type=int, default=4, help="branches that rewrite the same line")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--check-seconds", type=float, default=0.0,
                        help="added to each check run, as a real test suite would")
    args = parser.parse_args(argv)
    try:
        layout(args.branches, args.broken, args.conflicting)
    except ValueError as exc:
        parser.error(str(exc))
    if args.batch is not None and args.batch < 1:
        parser.error("--batch must be >= 1")
    if args.check_seconds < 0:
        parser.error("--check-seconds must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # a usage error is a failed run (1), not a missed target (2)
        return 1 if exc.code else 0
    SLEEP[0] = args.check_seconds
    plan = layout(args.branches, args.broken, args.conflicting)
    with tempfile.TemporaryDirectory(prefix="launcher-queue-bench-") as tmp:
        roots = Path(tmp) / "one", Path(tmp) / "two"
        one = make_repo(roots[0], args.branches, args.broken, args.conflicting)
        two = make_repo(roots[1], args.branches, args.broken, args.conflicting)
        broken = broken_in(roots[0], one)
        if broken != broken_in(roots[1], two):
            raise RuntimeError("the two repositories differ")  # make_repo is deterministic
        c = len(plan.conflicting)
        same_line = {0: "none rewrites the same line", 1: "1 rewrites shared.txt (nothing conflicts with it)"}.get(
            c, f"{c} rewrite the same line (one lands, {c - 1} conflict)")
        print(f"{args.branches} branches: {len(broken)} break the check ({_names(broken)}), {same_line}, "
              f"{args.branches - c - len(broken)} clean; batch {args.batch or 'all'}, check +{args.check_seconds:g}s")
        first = anyio.run(one_by_one, roots[0], one)
        queue = anyio.run(queued, roots[1], two, args.batch)
        first.problems = anyio.run(verify, roots[0], first, one, plan, broken)
        queue.problems = anyio.run(verify, roots[1], queue, two, plan, broken)
    print(f"{'':12} {'landed':>7} {'failed':>7} {'checks':>7} {'wall s':>8}")
    for label, x in (("one by one", first), ("queue", queue)):
        print(f"{label:12} {len(x.landed):>7} {len(x.failed):>7} {x.checks:>7} {x.wall:>8.2f}")
    print(f"checks: queue / one-by-one = {queue.checks / max(first.checks, 1):.2f}; "
          f"wall: {queue.wall / max(first.wall, 1e-9):.2f}")
    if queue.landed != first.landed:
        queue.problems.append(f"landed a different set than one by one: only by the queue "
                              f"{_names(queue.landed - first.landed)}; only one by one "
                              f"{_names(first.landed - queue.landed)}")
    for label, x in (("one by one", first), ("queue", queue)):
        failed = sorted(f"{b} ({o})" for b, o in x.failed.items())
        if x.problems:
            print(f"{label}: WRONG RESULT:\n" + "\n".join(f"  - {p}" for p in x.problems))
        else:
            print(f"{label}: verified: failed {_names(failed)}; the final tip {x.tip[:12]} holds every landed "
                  "branch and passes the check")
    if first.problems or queue.problems:
        return 1
    fewer = queue.checks < first.checks
    print(f"target: the queue runs fewer checks than one by one: {'PASS' if fewer else 'FAIL'}")
    return 0 if fewer else 2


if __name__ == "__main__":
    sys.exit(main())
