#!/usr/bin/env python3
"""Mutation benchmark: `launcher mutation sweep` against mutmut 3 on toolz, both checked against ground truth.

    python bench/mutation.py [--work DIR] [--keep] [--workers N] [--sample 100] [--json]

Sets everything up itself: toolz 1.2.0 from its PyPI source distribution, made a git repository;
a venv with mutmut 3.8.1 and pytest. Then, one after the other on the same machine: `mutmut run`,
`launcher mutation sweep` (the fast executor with per-test selection) and the same sweep with a
custom `--test-cmd` (the generic executor for every mutant, whole suite each time; on a shard of
the mutants). Ground truth for a mutant: apply it to the real source and run the full test suite
in a fresh process (`python -m pytest -x -q -p no:cacheprovider`), killed if it fails or times
out. Every survivor (and no-coverage mutant) of each tool is checked, plus a seeded random sample
of its killed mutants.

Targets: the fast executor agrees with ground truth on >= 99% of the checked mutants; its
mutants per second (end to end) >= mutmut's. The generic executor's speed is reported.
Exit status: 0 all targets met, 1 a run failed, 2 a target missed.

See bench/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import io
import json
import os
import platform
import queue
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tokenize
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench_env import bench_env

SUBJECT = "toolz"
SUBJECT_VERSION = "1.2.0"
MUTMUT_VERSION = "3.8.1"
AGREEMENT_TARGET = 99.0  # percent of checked mutants
RATIO_TARGET = 1.0  # launcher (fast) mutants/s over mutmut's

# mutmut's configuration, committed into the subject. mutmut 3 appends a trampoline import
# (`_mutmut_mutated`, `MutantDict`) to every module it mutates; toolz's own tests compare the
# namespaces of `toolz`, `toolz.curried` and `toolz.curried.operator` and fail on those extra
# names, so those three modules are left unmutated (for both tools). The egg-info (for
# `toolz.__version__`) and `tlz` are outside the mutated package, so mutmut must copy them into
# its `mutants/` tree for the clean suite to pass there.
NOT_MUTATED = ["toolz/tests/*", "toolz/sandbox/tests/*", "toolz/curried/*", "toolz/__init__.py"]
MUTMUT_CONFIG = (
    "\n[mutmut]\nsource_paths=toolz\ndo_not_mutate=\n"
    + "".join(f"    {p}\n" for p in NOT_MUTATED)
    + "also_copy=\n    toolz.egg-info\n    tlz\n"
)

# Run by the venv's Python in mutmut's finished work tree, with mutmut's own API:
#   results OUT         every mutant: its file, exit code and mutmut's status name for it
#   apply NAMES OUT     each named mutant applied to the real source: the mutated function as
#                       mutmut generated it (its `mutants/` copy) replaces the original one.
# Not `mutmut apply`: 3.8.1 looks the function up by its bare name in any class, so a mutant of
# `curry.__init__` is written over the first `__init__` in the file (InstanceProperty's).
MUTMUT_HELPER = """\
import json, sys
from pathlib import Path

mode = sys.argv[1]
if mode == "results":
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    out = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in data.exit_code_by_key.items():
            out[name] = {"path": Path(path).as_posix(), "exit_code": code, "status": status_by_exit_code[code]}
    Path(sys.argv[2]).write_text(json.dumps(out), encoding="utf-8")
else:
    import libcst as cst
    from mutmut.mutation.diff_apply import find_mutant, read_functions_from_index, read_mutant_function
    from mutmut.mutation.diff_apply import read_mutants_module
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    def originals(module, func, cls):
        for node in module.body:
            if cls is None and isinstance(node, cst.FunctionDef) and node.name.value == func:
                yield node
            if cls is not None and isinstance(node, cst.ClassDef) and node.name.value == cls:
                for item in getattr(node.body, "body", ()):
                    if isinstance(item, cst.FunctionDef) and item.name.value == func:
                        yield item

    out = {}
    for name in json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")):
        path = "?"
        try:
            path = find_mutant(name).path
            text = Path(path).read_text(encoding="utf-8")
            module = cst.parse_module(text)
            func, cls = orig_function_and_class_names_from_key(name)
            found = list(originals(module, func, cls))
            if len(found) != 1:
                raise LookupError(f"{len(found)} definitions of {cls or ''}.{func} at the top of {path}")
            pair = read_functions_from_index(name, path)
            mutant = pair[1] if pair else read_mutant_function(read_mutants_module(path), name)
            mutant = mutant.with_changes(name=cst.Name(func), decorators=found[0].decorators,
                                         leading_lines=found[0].leading_lines)
            source = module.deep_replace(found[0], mutant).code
            if source == text:
                raise ValueError("the mutant does not change the source")
            compile(source, str(path), "exec")
            out[name] = {"path": Path(path).as_posix(), "source": source}
        except Exception as exc:
            out[name] = {"path": Path(path).as_posix(), "error": repr(exc)}
    Path(sys.argv[3]).write_text(json.dumps(out), encoding="utf-8")
"""

# Tool statuses -> what they claim about the mutant. "detected": the suite fails on it;
# "undetected": it passes; anything else makes no claim and never counts as agreeing.
LAUNCHER_VERDICT = {
    "Killed": "detected", "Timeout": "detected", "CompileError": "detected",
    "Survived": "undetected", "NoCoverage": "undetected",
}  # fmt: skip
MUTMUT_VERDICT = {
    "killed": "detected", "timeout": "detected", "segfault": "detected", "caught by type check": "detected",
    "survived": "undetected", "no tests": "undetected",
}  # fmt: skip
# The columns of the table
KILLED = {"Killed", "killed"}
SURVIVED = {"Survived", "survived"}
NO_COVERAGE = {"NoCoverage", "no tests"}
_DROP_ENV = ("COV_CORE_", "COVERAGE_PROCESS_START", "COVERAGE_RCFILE", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_")
_T0 = time.monotonic()


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Entry:
    """One mutant as a tool reported it."""

    key: str  # the tool's id for it
    status: str  # the tool's status name
    target: str
    line: int = 0
    fault: str = ""
    executor: str = ""
    note: str = ""

    @property
    def verdict(self) -> str | None:
        return LAUNCHER_VERDICT.get(self.status) or MUTMUT_VERDICT.get(self.status)


@dataclass
class Truth:
    status: str  # "killed" | "survived" | "error" (the mutant could not be applied)
    returncode: int | None
    seconds: float
    timed_out: bool = False
    detail: str = ""


@dataclass
class ToolRun:
    name: str
    entries: list[Entry] = field(default_factory=list)
    wall_s: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)
    python: str = ""  # the interpreter its tests ran with (ground truth uses the same one)
    repo: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)  # tool-specific (launcher: mutants.json)

    @property
    def per_s(self) -> float:
        return len(self.entries) / self.wall_s if self.wall_s > 0 else 0.0

    def column_counts(self) -> dict[str, int]:
        c = Counter(e.status for e in self.entries)
        killed = sum(v for k, v in c.items() if k in KILLED)
        survived = sum(v for k, v in c.items() if k in SURVIVED)
        no_cov = sum(v for k, v in c.items() if k in NO_COVERAGE)
        return {"mutants": len(self.entries), "killed": killed, "survived": survived, "no_coverage": no_cov,
                "timeout_other": len(self.entries) - killed - survived - no_cov}  # fmt: skip


@dataclass
class Check:
    """Agreement of one tool's statuses with ground truth."""

    checked: int = 0
    agree: int = 0
    apply_errors: list[str] = field(default_factory=list)
    wrong_survivors: list[dict[str, Any]] = field(default_factory=list)  # tool: undetected, truth: killed
    wrong_kills: list[dict[str, Any]] = field(default_factory=list)  # tool: detected, truth: survived
    no_claim: list[dict[str, Any]] = field(default_factory=list)  # tool status without a verdict
    detected_sampled: int = 0
    detected_agree: int = 0
    estimated_pct: float | None = None  # agreement over all mutants, the sample weighted up

    @property
    def pct(self) -> float | None:
        n = self.checked - len(self.apply_errors)
        return 100.0 * self.agree / n if n > 0 else None


# --- processes ------------------------------------------------------------------------------


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return bench_env(_DROP_ENV, extra)


def run(argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None,
        out: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run to completion (or raise BenchError on timeout); with `out`, stdout+stderr go there."""
    try:
        if out is None:
            return subprocess.run(argv, cwd=cwd, env=env or clean_env(), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
        with out.open("w") as fh:
            done = subprocess.run(argv, cwd=cwd, env=env or clean_env(), stdin=subprocess.DEVNULL, stdout=fh,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)  # fmt: skip
        return subprocess.CompletedProcess(argv, done.returncode, out.read_text(errors="replace"), "")
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv[:4])} ... did not finish in {timeout:.0f}s (cwd {cwd})") from None


def must(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if done.returncode != 0:
        raise BenchError(f"{what} exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    return done


def git(cwd: Path, *args: str) -> str:
    return must(run(["git", *args], cwd, 300), f"git {' '.join(args)}").stdout


# --- set-up ---------------------------------------------------------------------------------


def make_venv(work: Path, given: str | None) -> Path:
    """A venv with mutmut (pinned) and the launcher's pytest version; reused if given."""
    if given:
        python = Path(given) / "bin" / "python"
        if not python.is_file():
            raise BenchError(f"--venv {given}: no bin/python there")
        return python
    venv = work / "venv"
    log(f"creating a venv with mutmut=={MUTMUT_VERSION} in {venv}")
    base = getattr(sys, "_base_executable", sys.executable)
    must(run([base, "-m", "venv", str(venv)], work, 300), "python -m venv")
    python = venv / "bin" / "python"
    pytest_version = run([sys.executable, "-c", "import pytest; print(pytest.__version__)"], work, 60).stdout.strip()
    pins = [f"mutmut=={MUTMUT_VERSION}", f"pytest=={pytest_version}" if pytest_version else "pytest"]
    must(run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins], work, 900),
         "pip install " + " ".join(pins))  # fmt: skip
    return python


def make_subject(work: Path, python: Path) -> Path:
    """toolz from its sdist, mutmut's config added, one commit: the base every tool copies."""
    log(f"downloading the {SUBJECT}=={SUBJECT_VERSION} sdist")
    dl = work / "sdist"
    must(run([str(python), "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
              "--no-binary", ":all:", "-d", str(dl), f"{SUBJECT}=={SUBJECT_VERSION}"], work, 600),
         "pip download")  # fmt: skip
    archives = sorted(dl.glob(f"{SUBJECT}-{SUBJECT_VERSION}.tar.gz"))
    if not archives:
        raise BenchError(f"no sdist in {dl}: {sorted(p.name for p in dl.iterdir())}")
    with tarfile.open(archives[0]) as tar:
        tar.extractall(work / "unpacked", filter="data")
    base = work / "base"
    shutil.move(work / "unpacked" / f"{SUBJECT}-{SUBJECT_VERSION}", base)
    with (base / "setup.cfg").open("a", encoding="utf-8") as fh:
        fh.write(MUTMUT_CONFIG)
    git(base, "init", "--quiet", "--initial-branch=main")
    git(base, "add", "-A")
    git(base, "commit", "--quiet", "-m", f"{SUBJECT} {SUBJECT_VERSION} sdist + mutmut config")
    return base


def clone(base: Path, dest: Path) -> Path:
    git(base.parent, "clone", "--quiet", "--local", str(base), str(dest))
    return dest


def mutated_files(base: Path) -> list[str]:
    """The files mutmut mutates (its source_paths minus do_not_mutate): the launcher gets the same."""
    files = []
    for path in sorted((base / SUBJECT).rglob("*.py")):
        rel = path.relative_to(base).as_posix()
        if not any(Path(rel).match(p) or rel.startswith(p.rstrip("*")) for p in NOT_MUTATED):
            files.append(rel)
    return files


# --- mutmut ---------------------------------------------------------------------------------


def run_mutmut(base: Path, work: Path, venv_python: Path, workers: int) -> ToolRun:
    repo = clone(base, work / "repo-mutmut")
    tool = ToolRun(f"mutmut {MUTMUT_VERSION}", python=str(venv_python), repo=repo)
    mutmut = venv_python.parent / "mutmut"
    log(f"mutmut run --max-children {workers} (in {repo})")
    started = time.perf_counter()
    done = run([str(mutmut), "run", "--max-children", str(workers)], repo, 3600, out=work / "mutmut.log")
    tool.wall_s = time.perf_counter() - started
    if done.returncode != 0:
        tool.error = f"mutmut run exited {done.returncode}:\n{done.stdout[-3000:]}"
        return tool
    own = re.findall(r"([\d.]+) mutations/second", done.stdout)
    if own:
        tool.notes.append(f"mutmut's own rate (mutation phase only): {own[-1]} mutations/second")
    helper = work / "mutmut_helper.py"
    helper.write_text(MUTMUT_HELPER, encoding="utf-8")
    results = work / "mutmut-results.json"
    must(run([str(venv_python), str(helper), "results", str(results)], repo, 600), "mutmut results helper")
    for name, r in json.loads(results.read_text(encoding="utf-8")).items():
        tool.entries.append(Entry(name, r["status"], r["path"], note=f"exit code {r['exit_code']}"))
    stats = run([str(mutmut), "export-cicd-stats"], repo, 600)
    stats_file = repo / "mutants" / "mutmut-cicd-stats.json"
    if stats.returncode == 0 and stats_file.is_file():
        cicd = json.loads(stats_file.read_text(encoding="utf-8"))
        tool.data["cicd_stats"] = cicd
        if cicd.get("total") != len(tool.entries):
            tool.notes.append(f"export-cicd-stats total {cicd.get('total')} != {len(tool.entries)} in the meta files")
    return tool


def mutmut_sources(tool: ToolRun, work: Path, names: list[str]) -> dict[str, tuple[str, str | None, str]]:
    """name -> (file, mutated source or None, error): the function mutmut generated, in the real file."""
    assert tool.repo is not None
    names_file, out = work / "mutmut-apply-names.json", work / "mutmut-applied.json"
    names_file.write_text(json.dumps(names), encoding="utf-8")
    helper = work / "mutmut_helper.py"
    must(run([tool.python, str(helper), "apply", str(names_file), str(out)], tool.repo, 1800), "mutmut apply helper")
    applied = json.loads(out.read_text(encoding="utf-8"))
    return {n: (a["path"], a.get("source"), a.get("error", "")) for n, a in applied.items()}


# --- the launcher ---------------------------------------------------------------------------


def run_launcher(base: Path, work: Path, label: str, args: list[str], launcher_src: str | None,
                 files: list[str], python: Path) -> ToolRun:  # fmt: skip
    """The launcher runs from this interpreter; the tests run in the venv's, as mutmut's do (the
    same pytest and plugins for both tools: another interpreter's plugins would cost every run)."""
    repo = clone(base, work / f"repo-{label}")
    tool = ToolRun(f"launcher ({label})", python=str(python), repo=repo)
    extra = {"XDG_CACHE_HOME": str(work / f"cache-{label}")}
    if launcher_src:
        extra["PYTHONPATH"] = os.pathsep.join(filter(None, [launcher_src, os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, "-m", "launcher", "mutation", "sweep", *files, "--json", "--no-cache",
            "--python", str(python), *args]  # fmt: skip
    log(f"launcher mutation sweep ({label}): {' '.join(argv[5 + len(files) :])} (in {repo})")
    started = time.perf_counter()
    done = run(argv, repo, 3600, env=clean_env(extra))
    tool.wall_s = time.perf_counter() - started
    (work / f"launcher-{label}.stderr").write_text(done.stderr)
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        summary = {}
    if done.returncode != 0 or "out_dir" not in summary:
        said = json.dumps(summary) if summary else done.stdout[-2000:]
        tool.error = f"launcher sweep exited {done.returncode}: {said}\n--- stderr (tail) ---\n{done.stderr[-2000:]}"
        return tool
    out_dir = Path(summary["out_dir"])
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    tool.data = json.loads((out_dir / "mutants.json").read_text(encoding="utf-8"))
    tool.data["summary"] = summary
    for m in report["mutants"]:
        status = _LAUNCHER_SEED.get(m["status"], m["status"])
        tool.entries.append(Entry(m["mutant_id"], status, m["target"], m["line"], m["fault"], m["executor"], m["note"]))
    tool.notes += [f"launcher note: {n}" for n in summary.get("notes", [])]
    seconds: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    for m in tool.data.get("mutants", []):
        kind = time_kind(m["result"])
        seconds[kind] += m["result"]["duration_s"]
        runs[kind] += 1
    tool.data["time_by_kind"] = {k: {"mutants": runs[k], "seconds": round(seconds[k], 1)} for k in runs}
    tool.notes.append(
        "executor time (summed over workers) by kind: "
        + ", ".join(f"{k} {runs[k]} mutants / {seconds[k]:.0f}s" for k in sorted(runs, key=lambda k: -seconds[k]))
    )
    return tool


def time_kind(result: dict[str, Any]) -> str:
    """Where a launcher mutant's time went (from its mutants.json result)."""
    executor, status, note = result["executor"], result["status"], result.get("note", "")
    if executor == "fork":
        return "fork timeout (+ fresh re-check)" if status == "Timeout" else "fork"
    if executor == "generic":
        if "said Survived" in note:
            return "fork survivor re-run on generic"
        if result.get("import_time"):
            return "generic, import-time (whole suite)"
        return "generic, fork refused" if result.get("covered_by") else "generic, whole suite"
    return f"settled without running ({status})"


# report.json uses the seed's spellings (KILLED, NO_COVERAGE): back to the MutantStatus values.
_LAUNCHER_SEED = {
    "KILLED": "Killed", "SURVIVED": "Survived", "NO_COVERAGE": "NoCoverage", "TIMEOUT": "Timeout",
    "COMPILE_ERROR": "CompileError", "RUNTIME_ERROR": "RuntimeError", "IGNORED": "Ignored",
}  # fmt: skip


def read_text(path: Path) -> str:
    """As the launcher indexes it: the coding cookie honoured, no BOM, line endings untouched."""
    data = path.read_bytes()
    text = data.decode(tokenize.detect_encoding(io.BytesIO(data).readline)[0])
    return text.removeprefix("\ufeff")


def launcher_sources(tool: ToolRun, base: Path, ids: list[str]) -> dict[str, tuple[str, str | None, str]]:
    """id -> (file, mutated source or None, error): `source[start:end]` replaced, on the clean file."""
    by_id = {m["mutant"]["id"]: m["mutant"] for m in tool.data.get("mutants", [])}
    found: dict[str, tuple[str, str | None, str]] = {}
    for mid in ids:
        m = by_id[mid]
        source = read_text(base / m["target"])
        if source[m["start"] : m["end"]] != m["replaced"]:
            found[mid] = (m["target"], None, f"expected {m['replaced']!r} at offset {m['start']}")
            continue
        found[mid] = (m["target"], source[: m["start"]] + m["replacement"] + source[m["end"] :], "")
    return found


# --- ground truth ---------------------------------------------------------------------------


class GroundTruth:
    """Fresh copies of the clean subject; one mutant at a time per copy, on disk, full suite."""

    ARGV = ("-m", "pytest", "-x", "-q", "-p", "no:cacheprovider")

    def __init__(self, base: Path, work: Path, slots: int) -> None:
        self.base = base
        self.slots: queue.Queue[Path] = queue.Queue()
        tar_bytes = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=base, capture_output=True,
                                   check=True, timeout=300).stdout  # fmt: skip
        for k in range(slots):
            slot = work / f"truth-{k}"
            with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
                tar.extractall(slot, filter="data")
            self.slots.put(slot)
        # No bytecode is ever written, so no stale .pyc of an earlier mutant can be read.
        self.env = clean_env({"PYTHONDONTWRITEBYTECODE": "1"})
        self.limits: dict[str, float] = {}

    def baseline(self, python: str) -> float:
        """The clean suite must pass; 10x its time (at least 30 s) is the limit for a mutant."""
        slot = self.slots.get()
        try:
            started = time.perf_counter()
            done = run([python, *self.ARGV], slot, 600, env=self.env)
            took = time.perf_counter() - started
        finally:
            self.slots.put(slot)
        if done.returncode != 0:
            raise BenchError(f"the clean suite fails under {python}:\n{(done.stdout + done.stderr)[-2000:]}")
        self.limits[python] = max(30.0, 10 * took)
        return took

    def check(self, python: str, rel: str, source: str) -> Truth:
        limit = self.limits[python]
        slot = self.slots.get()
        path = slot / rel
        original = path.read_bytes()
        try:
            path.write_bytes(source.encode("utf-8"))
            started = time.perf_counter()
            try:
                done = subprocess.run([python, *self.ARGV], cwd=slot, env=self.env, stdin=subprocess.DEVNULL,
                                      capture_output=True, text=True, timeout=limit, check=False)  # fmt: skip
            except subprocess.TimeoutExpired:
                return Truth("killed", None, time.perf_counter() - started, True, "timed out")
            took = time.perf_counter() - started
            tail = (done.stdout + done.stderr).strip().splitlines()
            return Truth("killed" if done.returncode != 0 else "survived", done.returncode, took, False,
                         tail[-1] if tail else "")  # fmt: skip
        finally:
            path.write_bytes(original)
            self.slots.put(slot)


def first_changed_line(original: str, mutated: str) -> int:
    matcher = difflib.SequenceMatcher(None, original.splitlines(), mutated.splitlines(), autojunk=False)
    for tag, i1, _, _, _ in matcher.get_opcodes():
        if tag != "equal":
            return i1 + 1
    return 0


def choose(tool: ToolRun, sample: int, rng: random.Random) -> tuple[list[Entry], int]:
    """Every mutant that is not detected (or makes no claim) + `sample` detected ones at random."""
    detected = sorted((e for e in tool.entries if e.verdict == "detected"), key=lambda e: e.key)
    rest = [e for e in tool.entries if e.verdict != "detected"]
    picked = rng.sample(detected, min(sample, len(detected)))
    return rest + picked, len(picked)


def verify(tool: ToolRun, truth: GroundTruth, base: Path, work: Path, sample: int, seed: int, workers: int) -> Check:
    chosen, n_sampled = choose(tool, sample, random.Random(seed))
    keys = [e.key for e in chosen]
    mutmut = tool.name.startswith("mutmut")
    sources = mutmut_sources(tool, work, keys) if mutmut else launcher_sources(tool, base, keys)
    if tool.python not in truth.limits:
        took = truth.baseline(tool.python)
        log(f"ground truth: clean suite under {tool.python} takes {took:.2f}s; limit {truth.limits[tool.python]:.0f}s")
    result = Check(checked=len(chosen), detected_sampled=n_sampled)
    log(f"ground truth for {tool.name}: {len(chosen)} mutants ({len(chosen) - n_sampled} not detected or no claim, "
        f"{n_sampled} of {sum(e.verdict == 'detected' for e in tool.entries)} detected sampled)")  # fmt: skip
    truths: dict[str, Truth] = {}
    lock = threading.Lock()

    def one(entry: Entry) -> None:
        rel, source, error = sources[entry.key]
        if source is None:
            t = Truth("error", None, 0.0, detail=error)
        else:
            t = truth.check(tool.python, rel, source)
            if not entry.line:
                entry.line = first_changed_line(read_text(base / rel), source)
        with lock:
            truths[entry.key] = t
            if len(truths) % 50 == 0 or len(truths) == len(chosen):
                log(f"  {tool.name}: {len(truths)}/{len(chosen)} checked")

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(one, e) for e in chosen]:
            future.result()

    undetected_total = sum(e.verdict != "detected" for e in tool.entries)
    undetected_agree = 0
    for entry in chosen:
        t = truths[entry.key]
        row = {**asdict(entry), "truth": t.status, "truth_rc": t.returncode, "truth_detail": t.detail}
        if t.status == "error":
            result.apply_errors.append(f"{entry.key}: {t.detail}")
            continue
        agrees = (entry.verdict == "detected") == (t.status == "killed") and entry.verdict is not None
        result.agree += agrees
        if entry.verdict == "detected":
            result.detected_agree += agrees
        else:
            undetected_agree += agrees
        if entry.verdict is None:
            result.no_claim.append(row)
        elif not agrees and entry.verdict == "undetected":
            result.wrong_survivors.append(row)
        elif not agrees:
            result.wrong_kills.append(row)
    detected_total = len(tool.entries) - undetected_total
    if tool.entries and result.detected_sampled:
        rate = result.detected_agree / result.detected_sampled
        result.estimated_pct = 100.0 * (undetected_agree + rate * detected_total) / len(tool.entries)
    return result


# --- output ---------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: list[tuple[ToolRun, Check | None]]) -> str:
    head = ("tool", "mutants", "killed", "survived", "no-cov", "timeout/other", "wall s", "mutants/s",
            "checked", "agree %", "wrong surv", "wrong kill")  # fmt: skip
    lines = [head]
    for tool, check in rows:
        c = tool.column_counts()
        lines.append((
            tool.name, str(c["mutants"]), str(c["killed"]), str(c["survived"]), str(c["no_coverage"]),
            str(c["timeout_other"]), f"{tool.wall_s:.1f}", f"{tool.per_s:.2f}",
            str(check.checked) if check else "-", pct(check.pct) if check else "-",
            str(len(check.wrong_survivors)) if check else "-", str(len(check.wrong_kills)) if check else "-",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in lines
    )


def describe(row: dict[str, Any]) -> str:
    where = f"{row['target']}:{row['line']}"
    extra = f" {row['fault']}" if row["fault"] else ""
    how = f" [{row['executor']}]" if row["executor"] else ""
    note = f" ({row['note']})" if row["note"] else ""
    return (f"{row['key']}{extra} {where}{how}: tool {row['status']}, ground truth {row['truth']} "
            f"(pytest exit {row['truth_rc']}: {row['truth_detail'][:100]}){note}")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", help="work dir (default: a new temp dir, removed unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--venv", help="an existing venv with mutmut and pytest (default: make one in the work dir)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="parallelism of every tool and "
                        "of the ground-truth runs (default: CPUs)")  # fmt: skip
    parser.add_argument("--sample", type=int, default=100, help="killed mutants per tool checked (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the killed-mutant sample")
    parser.add_argument(
        "--generic-mutants",
        type=int,
        default=150,
        help="about this many mutants for the generic run (a --shard of the fast run's); 0 skips",
    )
    parser.add_argument("--skip-mutmut", action="store_true")
    parser.add_argument("--skip-generic", action="store_true")
    parser.add_argument("--skip-truth", action="store_true", help="speed only: no ground-truth checks")
    parser.add_argument("--launcher-src", help="put this dir first on the launcher's PYTHONPATH (bench another "
                        "launcher tree, e.g. a patched copy)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="the results as JSON on stdout (the table goes to stderr)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.sample < 0:
        parser.error("--workers must be >= 1 and --sample >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    work = Path(args.work).absolute() if args.work else Path(tempfile.mkdtemp(prefix="launcher-mutbench-"))
    if args.work:
        if work.exists() and any(work.iterdir()):
            print(f"error: --work {work} is not empty", file=sys.stderr)
            return 1
        work.mkdir(parents=True, exist_ok=True)
    probe = run([sys.executable, "-c", "import launcher, sys; print(launcher.__file__)"], work, 60,
                env=clean_env({"PYTHONPATH": args.launcher_src} if args.launcher_src else None))  # fmt: skip
    log(f"work dir {work}; cpus {os.cpu_count()}; workers {args.workers}; launcher {probe.stdout.strip()}")
    failed = False
    tools: list[tuple[ToolRun, Check | None]] = []
    try:
        python = make_venv(work, args.venv)
        base = make_subject(work, python)
        files = mutated_files(base)
        log(f"mutated files (both tools): {' '.join(files)}")
        truth = None if args.skip_truth else GroundTruth(base, work, args.workers)

        runs: list[ToolRun] = []
        if not args.skip_mutmut:
            runs.append(run_mutmut(base, work, python, args.workers))
        fast = run_launcher(base, work, "fast", ["--workers", str(args.workers)], args.launcher_src, files, python)
        runs.append(fast)
        if not args.skip_generic and args.generic_mutants > 0:
            shards = max(1, round(len(fast.entries) / args.generic_mutants)) if fast.entries else 6
            test_cmd = f"{python} -m pytest -x -q -p no:cacheprovider"
            generic_args = ["--workers", str(args.workers), "--test-cmd", test_cmd]
            generic_args += ["--shard", f"1/{shards}"] if shards > 1 else []
            generic = run_launcher(base, work, "generic", generic_args, args.launcher_src, files, python)
            generic.name = f"launcher (generic{f', shard 1/{shards}' if shards > 1 else ''})"
            runs.append(generic)
        for tool in runs:
            c = tool.column_counts()
            failure = f"; FAILED: {tool.error.splitlines()[0][:300]}" if tool.error else ""
            log(f"{tool.name}: {c} in {tool.wall_s:.1f}s{failure}")
            failed |= bool(tool.error)

        for tool in runs:
            check = None
            if truth is not None and tool.entries and "generic" not in tool.name:
                check = verify(tool, truth, base, work, args.sample, args.seed, args.workers)
            tools.append((tool, check))
    except BenchError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        failed = True
    finally:
        bench_s = time.perf_counter() - started

    out = sys.stderr if args.json else sys.stdout
    lines = [f"\n{SUBJECT} {SUBJECT_VERSION}, {os.cpu_count()} CPUs, workers {args.workers}, "
             f"Python {platform.python_version()}, bench wall {bench_s:.0f}s", ""]  # fmt: skip
    verdicts: dict[str, Any] = {}
    missed = False
    if tools:
        lines.append(table(tools))
        lines.append("")
    by_name = {t.name: (t, c) for t, c in tools}
    fast_row = by_name.get("launcher (fast)")
    mutmut_row = next(((t, c) for t, c in tools if t.name.startswith("mutmut")), None)
    if fast_row and fast_row[1] is not None and fast_row[1].pct is not None:
        ok = fast_row[1].pct >= AGREEMENT_TARGET
        missed |= not ok
        verdicts["agreement"] = {"value": fast_row[1].pct, "target": AGREEMENT_TARGET, "pass": ok}
        lines.append(f"launcher (fast) agreement with ground truth: {fast_row[1].pct:.2f}% of {fast_row[1].checked} "
                     f"checked  {'PASS' if ok else 'FAIL'} (target >= {AGREEMENT_TARGET:.0f}%)")  # fmt: skip
    if fast_row and mutmut_row and fast_row[0].entries and mutmut_row[0].per_s > 0:
        ratio = fast_row[0].per_s / mutmut_row[0].per_s
        ok = ratio >= RATIO_TARGET
        missed |= not ok
        verdicts["speed_ratio"] = {"value": ratio, "target": RATIO_TARGET, "pass": ok}
        lines.append(f"launcher (fast) mutants/s / mutmut mutants/s: {ratio:.2f}  "
                     f"{'PASS' if ok else 'FAIL'} (target >= {RATIO_TARGET:.1f})")  # fmt: skip
    if fast_row and fast_row[0].error:
        lines.append("launcher (fast) FAILED (see below): agreement and speed targets not measured  FAIL")
    for tool, _ in tools:
        if "generic" in tool.name and mutmut_row and mutmut_row[0].per_s > 0 and tool.entries:
            lines.append(f"{tool.name}: {tool.per_s:.2f} mutants/s "
                         f"({tool.per_s / mutmut_row[0].per_s:.2f}x mutmut's)")  # fmt: skip
    for tool, check in tools:
        lines += [f"{tool.name}: {note}" for note in tool.notes]
        if check is None:
            continue
        if check.estimated_pct is not None:
            lines.append(f"{tool.name}: agreement estimated over all {len(tool.entries)} mutants (killed sample "
                         f"weighted up): {check.estimated_pct:.2f}%; killed sample {check.detected_agree}/"
                         f"{check.detected_sampled} agree")  # fmt: skip
        for label, rows in (("wrong survivors", check.wrong_survivors), ("wrong kills", check.wrong_kills),
                            ("no claim", check.no_claim)):  # fmt: skip
            if rows:
                shown = rows if "launcher" in tool.name else rows[:15]
                lines.append(f"{tool.name}: {len(rows)} {label} (tool vs ground truth){':' if shown else ''}")
                lines += [f"    {describe(r)}" for r in shown]
                if len(shown) < len(rows):
                    lines.append(f"    ... and {len(rows) - len(shown)} more (--json lists all)")
        if check.apply_errors:
            lines.append(f"{tool.name}: {len(check.apply_errors)} mutants could not be applied (not counted): "
                         + "; ".join(check.apply_errors[:5]))  # fmt: skip
    for tool, _ in tools:
        if tool.error:
            lines.append(f"{tool.name} FAILED: {tool.error}")
    print("\n".join(lines), file=out, flush=True)
    if args.json:
        doc = {
            "subject": f"{SUBJECT}=={SUBJECT_VERSION}", "mutmut": MUTMUT_VERSION, "cpus": os.cpu_count(),
            "workers": args.workers, "python": platform.python_version(), "bench_wall_s": round(bench_s, 1),
            "sample": args.sample, "seed": args.seed, "targets": verdicts,
            "tools": [
                {"name": t.name, **t.column_counts(), "wall_s": round(t.wall_s, 2), "mutants_per_s": round(t.per_s, 3),
                 "error": t.error, "notes": t.notes, "time_by_kind": t.data.get("time_by_kind"),
                 "statuses": dict(Counter(e.status for e in t.entries)),
                 "check": None if c is None else {
                     "checked": c.checked, "agree": c.agree, "agreement_pct": c.pct,
                     "estimated_agreement_pct": c.estimated_pct, "killed_sampled": c.detected_sampled,
                     "killed_sample_agree": c.detected_agree, "wrong_survivors": c.wrong_survivors,
                     "wrong_kills": c.wrong_kills, "no_claim": c.no_claim, "apply_errors": c.apply_errors}}
                for t, c in tools
            ],
        }  # fmt: skip
        print(json.dumps(doc, indent=2))
    if args.keep or args.work:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        return 1
    return 2 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
