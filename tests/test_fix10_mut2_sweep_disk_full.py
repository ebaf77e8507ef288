"""A mutation sweep whose disk fills while it writes its reports is not `done`: it stays
`interrupted` (its verdicts kept), the error names the file that could not be written and says
`launcher mutation sweep --resume ID` (never the run pipeline's `launcher resume`); once space
is freed that command writes the whole report set without running a mutant again. Any other
mutation command stopped by a full disk says to run itself again."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import git, launcher_cli

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mount"), reason="mounts a small tmpfs: needs root"
)

CALC = "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n\ndef mul(a, b):\n    return a * b\n"
TESTS = ("from calc import add, sub, mul\ndef test_add(): assert add(2, 3) == 5\n"
         "def test_sub(): assert sub(5, 3) == 2\ndef test_mul(): assert mul(2, 3) == 6\n")  # fmt: skip
REPORTS = {"report.json", "summary.txt", "survivors.jsonl", "mutants.json", "mutation-report.json",
           "mutation-report.html", "mutation-report-plain.html"}  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A small project whose `.launcher/mutation-runs/` is a 100 KiB file system of its own: the
    seed reports fit, the ~240 KB HTML report does not."""
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "calc")
    runs = root / ".launcher" / "mutation-runs"
    runs.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(runs)]).returncode:
        pytest.skip("mount refused")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(runs)])


def _grow(runs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(runs)], check=True)


@needs_root
def test_a_sweep_whose_reports_do_not_fit_stays_interrupted_and_resume_writes_them(repo: Path) -> None:
    runs = repo / ".launcher" / "mutation-runs"
    stopped = launcher_cli(repo, "mutation", "sweep", "calc.py", timeout=300)
    said = stopped.stdout + stopped.stderr
    assert stopped.returncode == 3, said
    (sweep_id,) = [d.name for d in runs.iterdir()]
    assert f"{runs / sweep_id / 'mutation-report.html'}: no space left on device while writing" in said, said
    assert f"reports of sweep {sweep_id} are incomplete" in said, said
    assert f"run `launcher mutation sweep --resume {sweep_id}`" in said, said
    assert "launcher resume" not in said and "while writing a file" not in said, said

    # Not `done`: listed as interrupted with what continues it; no report claims it finished.
    listed = launcher_cli(repo, "mutation", "list")
    row = next(line for line in listed.stdout.splitlines() if sweep_id in line)
    assert " interrupted " in row and f"launcher mutation sweep --resume {sweep_id}" in row, row
    assert not (runs / sweep_id / "mutants.json").exists()
    refused = launcher_cli(repo, "mutation", "report", sweep_id)
    assert refused.returncode != 0 and "interrupted" in refused.stderr, refused.stderr

    _grow(runs)
    resumed = launcher_cli(repo, "mutation", "sweep", "--resume", sweep_id, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "6 mutants; 6 done before, resuming" in resumed.stderr, resumed.stderr
    assert {p.name for p in (runs / sweep_id).iterdir()} >= REPORTS
    listed = launcher_cli(repo, "mutation", "list")
    assert " done " in next(line for line in listed.stdout.splitlines() if sweep_id in line)


@needs_root
def test_another_mutation_command_stopped_by_a_full_disk_says_to_run_itself_again(repo: Path) -> None:
    runs = repo / ".launcher" / "mutation-runs"
    _grow(runs)
    done = launcher_cli(repo, "mutation", "sweep", "calc.py", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (sweep_id,) = [d.name for d in runs.iterdir()]
    page = runs / sweep_id / "mutation-report.html"
    page.unlink()
    subprocess.run(["mount", "-o", f"remount,size={_used_kib(runs) + 40}k", str(runs)], check=True)

    stopped = launcher_cli(repo, "mutation", "report", sweep_id, "--format", "html")
    said = stopped.stdout + stopped.stderr
    assert stopped.returncode == 3, said
    assert "no space left on device" in said and "mutation-report" in said, said
    assert f"run `launcher mutation report {sweep_id} --format html` again" in said, said
    assert "launcher resume" not in said, said


def _used_kib(mount: Path) -> int:
    usage = shutil.disk_usage(mount)
    return usage.used // 1024
