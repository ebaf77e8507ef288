#!/usr/bin/env python3
"""Mutation benchmark: `launcher mutation sweep` against mutmut 3 on real projects, both checked against ground truth.

    python bench/mutation.py [--projects toolz,cachetools,parse] [--rounds 2] [--work DIR] [--json]

Sets everything up itself, per project (bench/mutation_projects.py): the project from its PyPI
source distribution, made a git repository; a venv with mutmut 3.8.1, pytest and what the project
needs (both tools run their tests in it). Then, alternating on the same machine, `--rounds` times:
`mutmut run`, `launcher mutation sweep` (the fast executor with per-test selection); the minimum
wall time of each. Ground truth for a mutant: apply it to the real source and run the full test
suite in a fresh process, killed if it fails or times out. Every survivor, no-coverage and
unclassified mutant of each tool (from its first round) is checked, plus a seeded random sample
of its killed mutants.

Targets, on every project: the launcher agrees with ground truth on >= 99% of the checked
mutants; its wall time <= mutmut's, and its wall time per mutant <= mutmut's (the two tools make
different mutants of the same files: the counts are printed beside both ratios); it makes at
least half as many mutants as mutmut, or the project's entry states why not (`fewer_mutants`).
Exit status: 0 all targets met, 1 a run failed (a tool that reports no mutants at all has
failed: nothing was measured), 2 a target missed.

See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mutation_common import BenchError, ToolRun, clean_env, log, run
from mutation_projects import MUTMUT_VERSION, PROJECTS, Project, select
from mutation_report import (
    ProjectResult,
    append_disagreements,
    changed_between_rounds,
    json_doc,
    summary_lines,
    table,
)
from mutation_tools import launcher_sources, make_subject, make_venv, mutmut_sources, run_launcher, run_mutmut
from mutation_truth import GroundTruth, verify


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--projects", default=",".join(PROJECTS), help=f"comma-separated (default: {','.join(PROJECTS)})"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each tool; the minimum wall "
                        "time of each is kept (default 2)")  # fmt: skip
    parser.add_argument("--work", help="work dir (default: a new temp dir, removed unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--venvs", help="a dir of venvs made by an earlier run (made there if missing; default: in "
                        "the work dir)")  # fmt: skip
    parser.add_argument("--sdist-cache", help="a dir that may already hold the sdists (<name>-<version>.tar.gz); "
                        "what it lacks is downloaded from PyPI")  # fmt: skip
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="parallelism of every tool and "
                        "of the ground-truth runs (default: CPUs)")  # fmt: skip
    parser.add_argument("--sample", type=int, default=100, help="killed mutants per tool checked (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the killed-mutant sample")
    parser.add_argument("--generic-mutants", type=int, default=0, help="also time the generic executor (a custom "
                        "--test-cmd) on a --shard of about this many mutants, once (default 0: skipped)")  # fmt: skip
    parser.add_argument("--skip-mutmut", action="store_true")
    parser.add_argument("--skip-truth", action="store_true", help="speed only: no ground-truth checks")
    parser.add_argument("--launcher-src", help="put this dir first on the launcher's PYTHONPATH (bench another "
                        "launcher tree, e.g. a patched copy)")  # fmt: skip
    parser.add_argument("--disagreements", help="append the launcher's disagreements with ground truth (id, status, "
                        "truth, diff) to this markdown file, per project as it is checked")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="the results as JSON on stdout (the table goes to stderr)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.sample < 0 or args.rounds < 1:
        parser.error("--workers and --rounds must be >= 1 and --sample >= 0")
    try:
        args.selected = select(args.projects)
    except ValueError as exc:
        parser.error(f"--projects: {exc}")
    return args


def bench_project(project: Project, args: argparse.Namespace, work: Path) -> ProjectResult:
    """Set up one project, run both tools alternately `--rounds` times, check the first round of each."""
    result = ProjectResult(project)
    work.mkdir(parents=True)
    python = make_venv(Path(args.venvs).absolute() if args.venvs else work.parent / "venvs", project)
    subject = make_subject(project, work, python, Path(args.sdist_cache) if args.sdist_cache else None)
    log(f"{project.label}: mutated files (both tools): {' '.join(subject.files)}")
    launcher_args = ["--workers", str(args.workers)]
    rounds: dict[str, list[ToolRun]] = {}
    for k in range(args.rounds):
        tag = f"-r{k + 1}"
        runs = [] if args.skip_mutmut else [run_mutmut(subject.base, work, python, args.workers, tag)]
        runs.append(run_launcher(subject.base, work, "fast", launcher_args, args.launcher_src, subject.files, python,
                                 tag))  # fmt: skip
        for tool in runs:
            rounds.setdefault(tool.name, []).append(tool)
            result.walls.setdefault(tool.name, []).append(tool.wall_s)
            failure = f"; FAILED: {tool.error.splitlines()[0][:300]}" if tool.error else ""
            log(f"{project.label} round {k + 1}: {tool.name}: {tool.column_counts()} in {tool.wall_s:.1f}s{failure}")
        if any(tool.error for tool in runs):
            break  # a failed tool fails the same way again: report it instead of repeating it
    if args.generic_mutants > 0 and "launcher (fast)" in rounds and rounds["launcher (fast)"][0].entries:
        shards = max(1, round(len(rounds["launcher (fast)"][0].entries) / args.generic_mutants))
        generic_args = ["--workers", str(args.workers), "--test-cmd", f"{python} -m pytest -x -q -p no:cacheprovider"]
        generic_args += ["--shard", f"1/{shards}"] if shards > 1 else []
        generic = run_launcher(subject.base, work, "generic", generic_args, args.launcher_src, subject.files, python)
        generic.name = f"launcher (generic{f', shard 1/{shards}' if shards > 1 else ''})"
        rounds[generic.name] = [generic]
        result.walls[generic.name] = [generic.wall_s]
    if "launcher (fast)" in rounds:
        result.unstable = changed_between_rounds([t for t in rounds["launcher (fast)"] if not t.error])
    truth = None if args.skip_truth else GroundTruth(subject.base, work, args.workers, project.truth_pytest_args,
                                                      project.pythonpath)  # fmt: skip
    for name, tools in rounds.items():
        tool = tools[0]
        check = None
        if truth is not None and tool.entries and not tool.error and "generic" not in name:
            sources = (functools.partial(mutmut_sources, tool, work) if name.startswith("mutmut")
                       else functools.partial(launcher_sources, tool, subject.base))  # fmt: skip
            check = verify(tool, truth, subject.base, sources, args.sample, args.seed, args.workers)
        result.tools.append((tool, check))
    if args.disagreements:
        append_disagreements(Path(args.disagreements), result)
    return result


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # a usage error is a failed run (1), not a missed target (2)
        return 1 if exc.code else 0
    started = time.perf_counter()
    work = Path(args.work).absolute() if args.work else Path(tempfile.mkdtemp(prefix="launcher-mutbench-"))
    if args.work:
        if work.exists() and any(p.name != "sdist" for p in work.iterdir()):
            print(f"error: --work {work} is not empty (only an sdist/ cache may be there)", file=sys.stderr)
            return 1
        work.mkdir(parents=True, exist_ok=True)
    probe = run([sys.executable, "-c", "import launcher, sys; print(launcher.__file__)"], work, 60,
                env=clean_env({"PYTHONPATH": args.launcher_src} if args.launcher_src else None))  # fmt: skip
    log(f"work dir {work}; cpus {os.cpu_count()}; workers {args.workers}; rounds {args.rounds}; "
        f"launcher {probe.stdout.strip()}")  # fmt: skip
    results: list[ProjectResult] = []
    failed = False
    for project in args.selected:
        try:
            result = bench_project(project, args, work / project.name)
        except BenchError as exc:
            log(f"{project.label}: error: {exc}")
            result = ProjectResult(project, error=str(exc))
        failed |= bool(result.error) or any(t.error for t, _ in result.tools)
        results.append(result)
        # Each project's numbers as soon as it is done (a long run stopped later keeps them).
        (work / f"{project.name}-result.json").write_text(json.dumps(json_doc([result], {}), indent=2))
        log(f"{project.label} done:\n{table([result])}")
    bench_s = time.perf_counter() - started

    out = sys.stderr if args.json else sys.stdout
    lines = [f"\nmutmut {MUTMUT_VERSION}, {os.cpu_count()} CPUs, workers {args.workers}, rounds {args.rounds}, "
             f"Python {platform.python_version()}, bench wall {bench_s:.0f}s", "", table(results), ""]  # fmt: skip
    notes, missed = summary_lines(results)
    print("\n".join(lines + notes), file=out, flush=True)
    if args.json:
        header = {"mutmut": MUTMUT_VERSION, "cpus": os.cpu_count(), "workers": args.workers, "rounds": args.rounds,
                  "python": platform.python_version(), "bench_wall_s": round(bench_s, 1), "sample": args.sample,
                  "seed": args.seed}  # fmt: skip
        print(json.dumps(json_doc(results, header), indent=2))
    if args.keep or args.work:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        return 1
    return 2 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
