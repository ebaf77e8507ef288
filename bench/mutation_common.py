"""Shared by the mutation benchmark's modules: what a tool reported, what ground truth found, and
how the benchmark runs processes (a clean environment, a timeout, a fixed git identity)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import time
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_env import bench_env

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


def read_text(path: Path) -> str:
    """As the launcher indexes it: the coding cookie honoured, no BOM, line endings untouched."""
    data = path.read_bytes()
    text = data.decode(tokenize.detect_encoding(io.BytesIO(data).readline)[0])
    return text.removeprefix("\ufeff")


def extract_tar(tar: tarfile.TarFile, dest: Path) -> None:
    """`extractall(dest, filter="data")`: no path outside `dest`, no special files, no archive
    owners (git would call the tree's files dubious). Python 3.11.0-3.11.3 (Debian 12's 3.11.2)
    has no extraction filters: the same rules by hand there."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            continue  # links, devices and anything escaping dest are left out, as "data" does
        tar.extract(member, dest, set_attrs=False)
        if member.isfile():
            target.chmod(0o755 if member.mode & 0o111 else 0o644)
