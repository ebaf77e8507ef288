"""The fan-out benchmark's reference: the same git work as the launcher, with raw git commands
and `xargs -P N` (see bench/README.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from fanout_common import AGENT_SCRIPT, BenchError, Measure, fresh_copy, git_env, task_ids, verify_repo

# The landing both bash scripts share (this one and bench/warm_floor.py): every task branch
# folded onto main in memory (merge-tree + commit-tree), one compare-and-swap of main, a
# two-tree read-tree of the main work tree. Reads $REPO and $IDS_FILE.
FOLD_SCRIPT = r"""cd "$REPO"
old=$(git rev-parse refs/heads/main)
tip=$old
while read -r id; do
    tree=$(git merge-tree --write-tree "$tip" "br/$id")
    tip=$(git commit-tree "$tree" -p "$tip" -p "br/$id" -m "Merge $id")
done < "$IDS_FILE"
git update-ref refs/heads/main "$tip" "$old"
git read-tree -m -u "$old" "$tip"
"""

RAW_SCRIPT = (
    r"""#!/usr/bin/env bash
# The same git work as the launcher, with raw git: worktree+branch per task (the add itself
# under flock), the agent, add+commit, N at a time; then in-memory merges folded onto main (merge-tree + commit-tree),
# one compare-and-swap of main and a two-tree read-tree of the main work tree; then
# worktree remove + branch -D in parallel.
set -euo pipefail
N=$1; IDS_FILE=$2
export REPO WT CT PY AGENT
now() { date +%s.%N; }

retry() {  # transient races between parallel git commands: *.lock contention, and a
           # `worktree add` reading another one's half-written .git/worktrees/<x>/ entry
    local i
    for i in 1 2 3 4 5 6 7 8; do
        if "$@" 2>"$WT/.err.$$"; then rm -f "$WT/.err.$$"; return 0; fi
        grep -qE '\.lock|failed to read|Invalid path' "$WT/.err.$$" || { cat "$WT/.err.$$" >&2; return 1; }
        sleep 0.05
    done
    cat "$WT/.err.$$" >&2; return 1
}
export -f retry

task() {
    local id=$1 wt="$WT/$1"
    # Concurrent `git worktree add`s race in git itself (one reads the other's half-written
    # .git/worktrees/<x>/ and dies after creating its branch), so, like the launcher, hold a
    # lock around it.
    flock "$REPO/.git/bench.lock" git -C "$REPO" worktree add --quiet --no-track -b "br/$id" "$wt" HEAD
    (cd "$wt" && LAUNCHER_CONTRACT="$CT/$id.json" "$PY" -c "$AGENT" "$id")
    git -C "$wt" add -A
    git -C "$wt" commit --quiet --no-verify -m "task $id"
}
export -f task

cleanup() {
    local id=$1
    retry git -C "$REPO" worktree remove --force "$WT/$id"
    retry git -C "$REPO" branch --quiet -D "br/$id"
}
export -f cleanup

t0=$(now)
xargs -P "$N" -I{} bash -c 'task "$1"' _ {} < "$IDS_FILE"
t1=$(now)
"""
    + FOLD_SCRIPT
    + r"""t2=$(now)
xargs -P "$N" -I{} bash -c 'cleanup "$1"' _ {} < "$IDS_FILE"
t3=$(now)
echo "PHASES $t0 $t1 $t2 $t3"
"""
)


def run_raw(template: Path, work: Path, n: int, script: Path, label: str) -> Measure:
    repo = fresh_copy(template, work / f"{label}-repo")
    wt, contracts = work / f"{label}-wt", work / f"{label}-contracts"
    wt.mkdir()
    contracts.mkdir()
    ids = work / f"{label}-ids"
    ids.write_text("".join(f"{t}\n" for t in task_ids(n)))
    env = git_env()
    env.update(REPO=str(repo), WT=str(wt), CT=str(contracts), PY=sys.executable, AGENT=AGENT_SCRIPT)
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", str(script), str(n), str(ids)],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"raw git reference (N={n}) exited {done.returncode}:\n{done.stderr[-4000:]}")
    verify_repo(repo, n, "br/*")
    if len(list(contracts.iterdir())) != n:
        raise BenchError(f"raw git reference (N={n}): contracts missing")
    phases: dict[str, float] = {}
    for line in done.stdout.splitlines():
        if line.startswith("PHASES "):
            t0, t1, t2, t3 = (float(x) for x in line.split()[1:5])
            phases = {"worktrees+agents+commits": t1 - t0, "merges": t2 - t1, "cleanup": t3 - t2}
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(wt, ignore_errors=True)
    return Measure(seconds, phases)
