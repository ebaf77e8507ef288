#!/usr/bin/env python3
"""Fan-out benchmark: the launcher against the same git work done with raw git and xargs.

    python bench/fanout.py [--files 5000] [--n 1,8,32] [--rss-n 64] [--repeat 3] [--warm]

For every N it builds a plan of N trivial `command` agents (each writes `out/<task_id>.txt`
and a valid completion contract), runs `launcher run plan.toml --max-parallel N --json
--quiet` on a fresh clone of a generated repository and times it end to end: process start,
provisioning, agents, collection, commits, landing on `main`, clean-up, process exit. The
reference (bench/fanout_raw.py, whose docstring lists each step) is a bash script that does the
launcher's git work the way the launcher does it (each worktree registered with `--no-checkout`
under a lock and checked out outside it), with raw git commands, `xargs -P N` in parallel, on
another fresh clone. Both runs are checked afterwards: the tasks' files on main and nothing else
changed, N merge commits, no task branch, no worktree registered and no worktree file left on
disk (deleting them is part of the timed run). It then runs the launcher once more at `--rss-n`
tasks and samples the launcher process's own peak RSS (VmHWM) every 50 ms.

With --warm, each round also times the launcher with a warm pool: the plan sets `[run]
warm_pool = N`, the pool is filled (and flushed to disk, as a pool warmed earlier would be)
untimed, and the run takes its worktrees and returns them to the pool after landing. The
launcher, warm and raw runs alternate in each round; every time reported is the minimum over
--repeat rounds (the machine is shared: the minimum is the least disturbed run).

Targets: launcher/raw <= 1.1 and, with --warm, warm/raw <= 0.3 at the largest N; peak RSS <=
150 MB at --rss-n.
Exit status: 0 all targets met, 1 a run failed or left wrong state behind, 2 a target missed.

See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from fanout_common import (
    AGENT_SCRIPT,
    BenchError,
    Measure,
    clear,
    fresh_copy,
    git_env,
    make_template,
    settle,
    task_ids,
    verify_no_trees_left,
    verify_repo,
)
from fanout_raw import RAW_SCRIPT, run_raw

RATIO_TARGET = 1.1  # issue 16
WARM_RATIO_TARGET = 0.3  # issue 16: a warm pool against raw git
RSS_TARGET_MB = 150.0
POLL_S = 0.05

# Run in the launcher's place when `launcher.cli.main` cannot be imported (UI layer unfinished).
DRIVER_SCRIPT = """\
import sys
from pathlib import Path

import anyio

from launcher.app.run.runner import RunOptions, start_run
from launcher.errors import LauncherError
from launcher.models.plan import load_plan

plan = load_plan(Path(sys.argv[1]))
options = RunOptions(max_parallel=int(sys.argv[2]))
try:
    report = anyio.run(start_run, Path.cwd(), plan, options, lambda event: None)
except LauncherError as exc:
    print(exc.message, file=sys.stderr)
    sys.exit(int(exc.exit_code))
print(report.model_dump_json(indent=2))
sys.exit(0 if report.status == "succeeded" else 1)
"""

def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_plan(path: Path, n: int, warm_pool: int = 0) -> None:
    argv = [sys.executable, "-c", AGENT_SCRIPT, "{task_id}"]
    lines = [f"[run]\nwarm_pool = {warm_pool}\n"] if warm_pool else []
    lines += [
        "[agents.bench]",
        'adapter = "command"',
        "command = [" + ", ".join(toml_str(a) for a in argv) + "]",
        "",
    ]
    for tid in task_ids(n):
        lines += [
            "[[task]]",
            f"id = {toml_str(tid)}",
            'agent = "bench"',
            f"prompt = {toml_str('write out/' + tid + '.txt')}",
            "",
        ]
    path.write_text("\n".join(lines))


# --- checks ---------------------------------------------------------------------------------


def verify_report(stdout: str, n: int) -> None:
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise BenchError(f"the launcher's --json output is not JSON ({exc}):\n{stdout[-2000:]}") from None
    tasks = report.get("tasks", [])
    merged = [t for t in tasks if t.get("state") == "merged"]
    if report.get("status") != "succeeded" or len(merged) != n:
        bad = [f"{t.get('id')}: {t.get('state')} {t.get('message', '')}" for t in tasks if t.get("state") != "merged"]
        raise BenchError(f"run status {report.get('status')!r}, {len(merged)}/{n} merged; " + "; ".join(bad[:5]))


# --- the launcher ---------------------------------------------------------------------------


def cli_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import launcher.cli.main"], capture_output=True, check=False)
    return probe.returncode == 0


def launcher_argv(mode: str, plan: Path, n: int, driver: Path) -> list[str]:
    if mode == "cli":
        return [sys.executable, "-m", "launcher", "run", str(plan), "--max-parallel", str(n), "--json", "--quiet"]
    return [sys.executable, str(driver), str(plan), str(n)]


class RssSampler:
    """Peak resident set of one process (not its children): VmHWM from /proc, else psutil."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._psutil = None
        if not Path(f"/proc/{pid}/status").exists():
            try:
                import psutil  # optional, only off Linux

                self._psutil = psutil.Process(pid)
            except Exception:  # no way to sample: report nothing
                self._psutil = None

    def _sample(self) -> None:
        if self._psutil is not None:
            with contextlib.suppress(Exception):  # the process exited
                self.peak_kb = max(self.peak_kb, self._psutil.memory_info().rss // 1024)
            return
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(POLL_S)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def journal_phases(repo: Path, started: float, ended: float) -> dict[str, float]:
    """Where the launcher's wall time went, from its own journal's timestamps."""
    db = repo / ".launcher" / "launcher.db"
    if not db.is_file():
        return {}
    con = sqlite3.connect(db)
    try:
        created = con.execute("SELECT MIN(created_at) FROM runs").fetchone()[0]
        rows = con.execute("SELECT to_state, MIN(at), MAX(at) FROM transitions GROUP BY to_state")
        at = {state: (first, last) for state, first, last in rows}
    finally:
        con.close()
    if created is None or "approved" not in at or "merged" not in at:
        return {}
    return {
        "startup": created - started,  # interpreter, imports, plan, git discovery, journal
        "tasks": at["approved"][1] - created,  # provision + agents + collect + commit, parallel
        "landing": at["merged"][0] - at["approved"][1],  # merges in memory + CAS + read-tree
        "cleanup+exit": ended - at["merged"][0],  # worktree/branch removal, report, exit
    }


def run_launcher(template: Path, work: Path, n: int, mode: str, driver: Path, label: str, sample_rss: bool,
                 warm: int = 0) -> Measure:
    repo, plan, cache = work / f"{label}-repo", work / f"{label}-plan.toml", work / f"{label}-cache"
    stdout_path, stderr_path = work / f"{label}.out", work / f"{label}.err"
    clear(repo, plan, cache, stdout_path, stderr_path)  # each pass starts clean (`--n 1,1`)
    fresh_copy(template, repo)
    write_plan(plan, n, warm)
    env = git_env()
    env["XDG_CACHE_HOME"] = str(cache)
    env["PYTHONUNBUFFERED"] = "1"
    if warm:  # untimed: the pool is filled ahead of time (`launcher pool warm N`, or by the last run)
        warmed = subprocess.run([sys.executable, "-m", "launcher", "pool", "warm", str(warm)], cwd=repo, env=env,
                                capture_output=True, text=True, check=False)
        if warmed.returncode != 0:
            raise BenchError(f"launcher pool warm {warm} exited {warmed.returncode}: {warmed.stderr[-2000:]}")
        settle()  # a pool is warmed ahead of time: its files are on disk, not in dirty pages
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started_wall = time.time()
        started = time.perf_counter()
        proc = subprocess.Popen(
            launcher_argv(mode, plan, n, driver),
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        sampler = RssSampler(proc.pid) if sample_rss else None
        if sampler:
            sampler.start()
        code = proc.wait()
        seconds = time.perf_counter() - started
        ended_wall = time.time()
        peak = sampler.stop() if sampler else None
    stdout, stderr = stdout_path.read_text(errors="replace"), stderr_path.read_text(errors="replace")
    if code != 0:
        raise BenchError(
            f"launcher run ({label}, N={n}) exited {code}\n--- stderr ---\n{stderr[-4000:]}"
            f"\n--- stdout ---\n{stdout[-4000:]}"
        )
    try:
        verify_report(stdout, n)
        verify_repo(repo, n, "launcher/*", pool=warm)
        verify_no_trees_left(cache / "launcher" / "worktrees", "the launcher", pool=warm)
    except BenchError as exc:
        raise BenchError(f"launcher run ({label}, N={n}): {exc}\n--- stderr ---\n{stderr[-4000:]}") from None
    phases = journal_phases(repo, started_wall, ended_wall)
    clear(repo, plan, cache, stdout_path, stderr_path)
    return Measure(seconds, phases, peak)


# --- the raw git reference ------------------------------------------------------------------


# --- main -----------------------------------------------------------------------------------


def compile_launcher() -> None:
    """Write the launcher's bytecode before timing, as installing a package does: with
    PYTHONDONTWRITEBYTECODE set (or a source tree never imported), every timed run would
    compile ~120 modules again (~0.1 s of start-up no installed launcher pays)."""
    probe = subprocess.run([sys.executable, "-c", "import launcher, os; print(os.path.dirname(launcher.__file__))"],
                           capture_output=True, text=True, check=False)
    package = probe.stdout.strip()
    if probe.returncode == 0 and package:
        subprocess.run([sys.executable, "-m", "compileall", "-q", package], capture_output=True, check=False)


def fmt_phases(phases: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}s" for k, v in phases.items()) or "-"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000, help="files in the generated repo")
    parser.add_argument("--n", default="1,8,32", help="comma-separated task counts (= parallelism)")
    parser.add_argument("--rss-n", type=int, default=64, help="tasks for the peak-RSS run (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per N; the minimum of each side is kept")
    parser.add_argument(
        "--mode",
        choices=("auto", "cli", "driver"),
        default="auto",
        help="cli: `python -m launcher run`; driver: call app.run.start_run; auto: cli if it imports",
    )
    parser.add_argument(
        "--tmp",
        default=None,
        help="where the temp dir goes (default: the system "
        "temp dir; e.g. /dev/shm to take disk noise out of the comparison)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (for inspection)")
    parser.add_argument("--warm", action="store_true",
                        help="also time the launcher with a warm pool of N worktrees (filled untimed)")
    args = parser.parse_args(argv)
    args.ns = [int(x) for x in args.n.split(",") if x.strip()]
    if not args.ns or min(args.ns) < 1 or args.repeat < 1 or args.files < 1:
        parser.error("--n needs positive integers; --repeat and --files must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = args.mode
    if mode == "auto":
        mode = "cli" if cli_available() else "driver"
    if mode == "cli" and not cli_available():
        print("error: `launcher.cli.main` does not import; use --mode driver", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="launcher-bench-", dir=args.tmp))
    print(
        f"launcher entry: {mode}   files: {args.files}   repeat: {args.repeat}   "
        f"cpus: {os.cpu_count()}   work dir: {work}",
        flush=True,
    )
    try:
        driver = work / "driver.py"
        driver.write_text(DRIVER_SCRIPT)
        raw_script = work / "raw.sh"
        raw_script.write_text(RAW_SCRIPT)
        compile_launcher()
        t = time.perf_counter()
        template = make_template(work, args.files)
        print(f"generated the repo in {time.perf_counter() - t:.1f}s", flush=True)

        rows = []
        warm_rows: list[tuple[int, float, float]] = []
        for n in args.ns:
            ours: list[Measure] = []
            raws: list[Measure] = []
            warms: list[Measure] = []
            for r in range(args.repeat):
                # Alternate the order so drift (page cache, thermal) hits both sides alike.
                order = ("launcher", "raw") if r % 2 == 0 else ("raw", "launcher")
                if args.warm:  # the warm run in the middle or first, so no side always goes last
                    order = ("warm", *order) if r % 2 else (order[0], "warm", order[1])
                for side in order:
                    label = f"{side}-n{n}-r{r}"
                    if side == "launcher":
                        m = run_launcher(template, work, n, mode, driver, label, sample_rss=False)
                        ours.append(m)
                    elif side == "warm":
                        m = run_launcher(template, work, n, "cli", driver, label, sample_rss=False, warm=n)
                        warms.append(m)
                    else:
                        m = run_raw(template, work, n, raw_script, label)
                        raws.append(m)
                    print(f"  N={n:<3} {side:<8} run {r + 1}: {m.seconds:6.2f}s  ({fmt_phases(m.phases)})", flush=True)
            launcher_s = min(m.seconds for m in ours)
            raw_s = min(m.seconds for m in raws)
            rows.append((n, launcher_s, raw_s, launcher_s / raw_s))
            if warms:
                warm_rows.append((n, min(m.seconds for m in warms), raw_s))

        largest = max(args.ns)
        missed = False
        print()
        print(f"{'N':>4}  {'launcher s':>10}  {'raw git s':>9}  {'ratio':>6}")
        for n, launcher_s, raw_s, ratio in rows:
            verdict = ""
            if n == largest:
                ok = ratio <= RATIO_TARGET
                missed |= not ok
                verdict = f"  {'PASS' if ok else 'FAIL'} (target <= {RATIO_TARGET})"
            print(f"{n:>4}  {launcher_s:>10.2f}  {raw_s:>9.2f}  {ratio:>6.2f}{verdict}")

        if warm_rows:
            print(f"\n{'N':>4}  {'warm pool s':>11}  {'raw git s':>9}  {'ratio':>6}   (target <= {WARM_RATIO_TARGET})")
            for n, warm_s, raw_s in warm_rows:
                verdict = ""
                if n == largest:
                    ok = warm_s / raw_s <= WARM_RATIO_TARGET
                    missed |= not ok
                    verdict = f"  {'PASS' if ok else 'FAIL'}"
                print(f"{n:>4}  {warm_s:>11.2f}  {raw_s:>9.2f}  {warm_s / raw_s:>6.2f}{verdict}")

        if args.rss_n > 0:
            m = run_launcher(template, work, args.rss_n, mode, driver, f"rss-n{args.rss_n}", sample_rss=True)
            ok = m.peak_rss_mb is not None and m.peak_rss_mb <= RSS_TARGET_MB
            missed |= not ok
            peak = "n/a" if m.peak_rss_mb is None else f"{m.peak_rss_mb:.1f} MB"
            print(
                f"\npeak RSS of the launcher process at N={args.rss_n}: {peak}  "
                f"{'PASS' if ok else 'FAIL'} (target <= {RSS_TARGET_MB:.0f} MB; "
                f"run took {m.seconds:.2f}s)"
            )
        return 2 if missed else 0
    except BenchError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
