#!/usr/bin/env python3
"""The floor under the warm-pool target: the least git work a warm pool needs, as a bash script
with no orchestrator at all, against the fan-out benchmark's raw-git reference, in one run.

    python bench/warm_floor.py [--files 5000] [--n 32] [--repeat 3] [--tmp /dev/shm]

Per task the floor does what any pool must do: check that the pool worktree is pristine
(`git status`), point it at a new branch (`update-ref` + `symbolic-ref`), run the benchmark's
agent, `add -A` + `commit`; then the same in-memory fold as the reference (merge-tree +
commit-tree, one compare-and-swap, a two-tree read-tree); then put the trees back in the pool at
the new tip (`checkout` + `clean -ffdx`) and delete the branches. It skips every guard the
launcher keeps (contracts, containment, journal, landing screens). If the floor alone is above
the 0.3 target, no launcher can meet it on that machine and file system. See bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fanout_common import AGENT_SCRIPT, BenchError, fresh_copy, git, git_env, make_template, settle, task_ids
from fanout_raw import FOLD_SCRIPT, RAW_SCRIPT, run_raw

FLOOR_SCRIPT = (
    r"""#!/usr/bin/env bash
set -euo pipefail
IDS_FILE=$1
export REPO POOL CT PY AGENT
task() {
    local id=$1 wt="$POOL/$1"
    test -z "$(git -C "$wt" status --porcelain -z --untracked-files=all --ignored)"
    git -C "$REPO" update-ref "refs/heads/br/$id" HEAD ""
    git -C "$wt" symbolic-ref HEAD "refs/heads/br/$id"
    (cd "$wt" && LAUNCHER_CONTRACT="$CT/$id.json" "$PY" -c "$AGENT" "$id")
    git -C "$wt" add -A
    git -C "$wt" commit --quiet --no-verify -m "task $id"
}
export -f task
back() {
    local id=$1 wt="$POOL/$1"
    git -C "$wt" checkout --quiet --force --detach "$TIP"
    git -C "$wt" clean -ffdxq
    git -C "$REPO" branch -q -D "br/$id"
}
export -f back
N=$(wc -l < "$IDS_FILE")
xargs -P "$N" -I{} bash -c 'task "$1"' _ {} < "$IDS_FILE"
"""
    + FOLD_SCRIPT
    + r"""export TIP=$tip
xargs -P "$N" -I{} bash -c 'back "$1"' _ {} < "$IDS_FILE"
"""
)


def run_floor(template: Path, work: Path, n: int, script: Path, label: str) -> float:
    """Fill a pool of n worktrees untimed (checked out, indexes settled), then time the floor."""
    repo = fresh_copy(template, work / f"{label}-repo")
    pool, contracts = work / f"{label}-pool", work / f"{label}-contracts"
    pool.mkdir()
    contracts.mkdir()
    ids = work / f"{label}-ids"
    ids.write_text("".join(f"{t}\n" for t in task_ids(n)))
    for tid in task_ids(n):
        git(repo, "worktree", "add", "--quiet", "--detach", str(pool / tid))
    time.sleep(1.1)  # out of the second the files were written in: no racily clean entries
    for tid in task_ids(n):
        git(pool / tid, "update-index", "-q", "--refresh", "--force-write-index")
    settle()
    env = git_env()
    env.update(REPO=str(repo), POOL=str(pool), CT=str(contracts), PY=sys.executable, AGENT=AGENT_SCRIPT)
    started = time.perf_counter()
    done = subprocess.run(["bash", str(script), str(ids)], cwd=repo, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"warm floor (N={n}) exited {done.returncode}:\n{done.stderr[-4000:]}")
    landed = set(git(repo, "ls-tree", "--name-only", "main", "out/").split())
    if len(landed) != n:
        raise BenchError(f"warm floor: {len(landed)} of {n} task files on main")
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(pool, ignore_errors=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmp", default=None, help="where the temp dir goes (e.g. /dev/shm)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="launcher-floor-", dir=args.tmp) as tmp:
        work = Path(tmp)
        template = make_template(work, args.files)
        floor_script, raw_script = work / "floor.sh", work / "raw.sh"
        floor_script.write_text(FLOOR_SCRIPT)
        raw_script.write_text(RAW_SCRIPT)
        floors, raws = [], []
        for r in range(args.repeat):  # alternate, so neither side always runs on a warmer machine
            for side in (("floor", "raw") if r % 2 == 0 else ("raw", "floor")):
                if side == "floor":
                    floors.append(run_floor(template, work, args.n, floor_script, f"floor{r}"))
                else:
                    raws.append(run_raw(template, work, args.n, raw_script, f"raw{r}").seconds)
                print(f"  round {r + 1} {side:<5} {(floors if side == 'floor' else raws)[-1]:6.2f}s", flush=True)
        floor_s, raw_s = min(floors), min(raws)
        print(f"\nN={args.n} files={args.files}: warm floor {floor_s:.2f}s, raw git {raw_s:.2f}s, "
              f"floor/raw {floor_s / raw_s:.2f} (the warm-pool target is 0.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
