"""Ground truth for the mutation benchmark: a mutant applied to a fresh copy of the clean project,
the whole suite run in a new process; and each tool's agreement with it."""

from __future__ import annotations

import concurrent.futures
import difflib
import io
import os
import queue
import random
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from mutation_common import BenchError, Check, Entry, ToolRun, Truth, clean_env, extract_tar, log, read_text, run

# --- ground truth ---------------------------------------------------------------------------


class GroundTruth:
    """Fresh copies of the clean subject; one mutant at a time per copy, on disk, full suite."""

    ARGV = ("-m", "pytest", "-x", "-q", "-p", "no:cacheprovider")

    def __init__(self, base: Path, work: Path, slots: int, pytest_args: tuple[str, ...] = (),
                 pythonpath: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.base = base
        self.argv = (*self.ARGV, *pytest_args)
        self.slots: queue.Queue[Path] = queue.Queue()
        tar_bytes = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=base, capture_output=True,
                                   check=True, timeout=300).stdout  # fmt: skip
        for k in range(slots):
            slot = work / f"truth-{k}"
            with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
                extract_tar(tar, slot)
            self.slots.put(slot)
        # No bytecode is ever written, so no stale .pyc of an earlier mutant can be read.
        self.env = clean_env({"PYTHONDONTWRITEBYTECODE": "1"})
        # A src layout is not installed: its import root comes first (relative: each copy's own).
        if pythonpath:
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [*pythonpath, self.env.get("PYTHONPATH", "")]))
        self.limits: dict[str, float] = {}

    def baseline(self, python: str) -> float:
        """The clean suite must pass; 10x its time (at least 30 s) is the limit for a mutant."""
        slot = self.slots.get()
        try:
            started = time.perf_counter()
            done = run([python, *self.argv], slot, 600, env=self.env)
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
                done = subprocess.run([python, *self.argv], cwd=slot, env=self.env, stdin=subprocess.DEVNULL,
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


Sources = Callable[[list[str]], dict[str, tuple[str, str | None, str]]]  # id -> (file, mutated source, error)


def verify(tool: ToolRun, truth: GroundTruth, base: Path, sources_of: Sources, sample: int, seed: int,
           workers: int) -> Check:  # fmt: skip
    chosen, n_sampled = choose(tool, sample, random.Random(seed))
    keys = [e.key for e in chosen]
    sources = sources_of(keys)
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
        row = {**asdict(entry), "truth": t.status, "truth_rc": t.returncode, "truth_detail": t.detail,
               "diff": diff_of(base, *sources[entry.key][:2])}  # fmt: skip
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
    result.estimated_pct = weighted_agreement(undetected_agree, undetected_total, result.detected_agree,
                                              result.detected_sampled, detected_total)  # fmt: skip
    return result


def diff_of(base: Path, rel: str, source: str | None) -> str:
    """The mutant as a unified diff against the clean file (for the disagreement lists)."""
    if source is None:
        return ""
    original = read_text(base / rel).splitlines(keepends=True)
    return "".join(difflib.unified_diff(original, source.splitlines(keepends=True), f"a/{rel}", f"b/{rel}", n=2))


def weighted_agreement(undetected_agree: int, undetected_total: int, detected_agree: int, detected_sampled: int,
                       detected_total: int) -> float | None:  # fmt: skip
    """Agreement over all mutants: every undetected one was checked; the detected sample stands
    for all detected ones."""
    total = undetected_total + detected_total
    if total == 0 or (detected_total and not detected_sampled):
        return None
    rate = detected_agree / detected_sampled if detected_sampled else 0.0
    return 100.0 * (undetected_agree + rate * detected_total) / total
