"""The fan-out benchmark's reference: the git work the launcher does for a run of the benchmark's
plan, step for step, with raw git commands in bash, N tasks at a time (`xargs -P N`).

Per task, as the launcher's `app/run/provision.py` + `git/worktrees.py:create_worktree`, the
agent round (`app/run/pipeline.py`) and the commit (`git/commits.py:commit_pending`) do it:

1. register the worktree and its branch, under a lock (flock on `.git/bench.lock`; the launcher's
   repository lock): `git worktree add --quiet --no-checkout --no-track -b br/<id> <path> HEAD`;
2. check its files out *outside* the lock, N at a time: `git read-tree --reset -u HEAD` in the
   worktree (the checkout step `worktree add` runs itself, and what `worktrees.populate` runs);
3. (nothing: the generated repository has no submodules, no `.worktreeinclude`, no setup
   command, so the launcher checks out no submodule, copies no include file, runs no setup)
4. mark the worktree locked while the agent runs and unlock it after (the launcher writes and
   removes `<admin dir>/locked` itself, as `git worktree lock` would; so does the script);
5. run the same agent program, its contract written outside the worktree;
6. `git add -A` + `git commit --quiet --no-verify`.

Then, once, as `git/merge.py` lands: every task branch folded onto main in memory
(`git merge-tree --write-tree` + `git commit-tree`, a two-parent merge each), one compare-and-swap
of main (`git update-ref main NEW OLD`), one two-tree `git read-tree -m -u OLD NEW` of the main
work tree. Then the clean-up, as `git/worktrees.py:remove_worktrees` does it: `git worktree
remove --force --force` of every task's worktree, several at once, then one `git branch -D` of
all the task branches. The launcher removes `_REMOVE_PARALLEL` trees at a time under its
repository lock; the script N at a time without a lock (nothing else mutates the repository
then), retrying git's transient `*.lock` races: the same commands, scheduled as a script would.

What the launcher does besides, and the reference does not, is its overhead, which the ratio
measures: start-up, the plan and the journal, the contract checks, its read-only guards
(containment, refs and the git dir, `git status` of idle trees and before landing, the commit's
`ls-files -v`, `diff --cached` and byte check, the landing's screens), the report.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from fanout_common import (
    AGENT_SCRIPT,
    BenchError,
    Measure,
    clear,
    fresh_copy,
    git_env,
    task_ids,
    verify_no_trees_left,
    verify_repo,
)

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
# The launcher's git work for the benchmark's plan, with raw git (bench/fanout_raw.py says
# which step of the launcher's each line stands for).
set -euo pipefail
N=$1; IDS_FILE=$2
export REPO WT CT PY AGENT
now() { date +%s.%N; }

retry() {  # transient races between parallel git commands: *.lock contention, and one reading
           # another's half-written or half-removed .git/worktrees/<x>/ entry
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
    local id=$1 wt="$WT/$1" admin
    # Registration under the lock: concurrent `git worktree add`s race in git itself (one reads
    # another's half-written .git/worktrees/<x>/ and dies after creating its branch).
    flock "$REPO/.git/bench.lock" git -C "$REPO" worktree add --quiet --no-checkout --no-track -b "br/$id" "$wt" HEAD
    git -C "$wt" read-tree --reset -u HEAD   # the checkout, outside the lock
    read -r _ admin < "$wt/.git"
    [[ $admin = /* ]] || admin="$wt/$admin"
    printf 'bench: agent running' > "$admin/locked"
    (cd "$wt" && LAUNCHER_CONTRACT="$CT/$id.json" "$PY" -c "$AGENT" "$id")
    rm -f "$admin/locked"
    git -C "$wt" add -A
    git -C "$wt" commit --quiet --no-verify -m "task $id"
}
export -f task

remove() {
    retry git -C "$REPO" worktree remove --force --force "$WT/$1"
}
export -f remove

t0=$(now)
xargs -P "$N" -I{} bash -eo pipefail -c 'task "$1"' _ {} < "$IDS_FILE"
t1=$(now)
"""
    + FOLD_SCRIPT
    + r"""t2=$(now)
xargs -P "$N" -I{} bash -eo pipefail -c 'remove "$1"' _ {} < "$IDS_FILE"
sed 's|^|br/|' "$IDS_FILE" | xargs git -C "$REPO" branch --quiet -D
t3=$(now)
echo "PHASES $t0 $t1 $t2 $t3"
"""
)


def run_raw(template: Path, work: Path, n: int, script: Path, label: str) -> Measure:
    repo, wt, contracts, ids = (work / f"{label}-{part}" for part in ("repo", "wt", "contracts", "ids"))
    clear(repo, wt, contracts, ids)
    fresh_copy(template, repo)
    wt.mkdir()
    contracts.mkdir()
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
    verify_no_trees_left(wt, "raw git reference")
    if len(list(contracts.iterdir())) != n:
        raise BenchError(f"raw git reference (N={n}): contracts missing")
    phases: dict[str, float] = {}
    for line in done.stdout.splitlines():
        if line.startswith("PHASES "):
            t0, t1, t2, t3 = (float(x) for x in line.split()[1:5])
            phases = {"worktrees+agents+commits": t1 - t0, "merges": t2 - t1, "cleanup": t3 - t2}
    clear(repo, wt, contracts, ids)
    return Measure(seconds, phases)
