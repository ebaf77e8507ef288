"""Review 15, mutruth findings 04-06: verdicts the project's whole suite contradicts.

- 04: test data in a wholly git-ignored directory (`tests/data/`) reaches the sweep's worker
  trees, so the test that reads it runs there as in the checkout (not "NoCoverage").
- 05: code run only in multiprocessing "forkserver" workers is not "NoCoverage": the test that
  starts them is an unmeasured spawner, selected for every mutant.
- 06: a mutant that a test also runs in a child process importing the file from disk (a CLI test)
  is judged with the mutant on disk (the generic executor), not in the fork's memory only.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, write_files

from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.git.repo import GitRepo
from launcher.mutation.model import MutantStatus
from launcher.mutation.results import MutantRecord
from launcher.mutation.worker_files import ignored_beside_tracked


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def project(root: Path, files: dict[str, str], ignore: str = "") -> Path:
    write_files(root, {"pkg/__init__.py": "", **files, **({".gitignore": ignore} if ignore else {})})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def sweep(root: Path, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("python", sys.executable)
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None)


def the_mutant(outcome: SweepOutcome, replaced: str, replacement: str) -> MutantRecord:
    found = [r for r in outcome.results
             if replaced in r.mutant.replaced and replacement in r.mutant.replacement]  # fmt: skip
    assert len(found) == 1, [(r.mutant.replaced, r.mutant.replacement) for r in outcome.results]
    return found[0]


CLI_PROJECT = {
    "pkg/render.py": 'def banner(name):\n    return "== " + name.upper() + " =="\n',
    "pkg/cli.py": "import sys\n\nfrom pkg.render import banner\n\nif __name__ == '__main__':\n"
                  "    print(banner(sys.argv[1]))\n",
    "tests/test_cli.py": (
        "import subprocess\nimport sys\n\nfrom pkg.render import banner\n\n\n"
        "def test_cli_matches_library():\n"
        "    out = subprocess.run([sys.executable, '-m', 'pkg.cli', 'bob'], capture_output=True, text=True,"
        " check=True)\n"
        "    assert out.stdout.strip() == banner('bob')\n"
    ),
}  # fmt: skip


def test_a_mutant_a_cli_child_also_runs_is_judged_with_the_file_mutated_on_disk(tmp_path: Path) -> None:
    # The test compares the CLI child's output with the library's own result: a mutant of the
    # shared function changes both sides, so the whole suite passes on it (a true survivor). Had
    # only the test process been mutated (the fork executor), the sides would disagree: "Killed".
    root = project(tmp_path / "p", CLI_PROJECT)
    outcome = sweep(root, paths=["pkg/render.py"], operators=["string"])

    record = the_mutant(outcome, '"== "', "XX")
    assert record.status is MutantStatus.SURVIVED, record
    assert record.executor == "generic"
    assert record.tests == ["tests/test_cli.py::test_cli_matches_library"]


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no forkserver here")
def test_code_run_only_in_forkserver_workers_is_covered_and_killed(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {
        "pkg/par.py": (
            "import multiprocessing\n\n\ndef neg(x):\n    return -x\n\n\n"
            "def par_neg(xs):\n"
            "    with multiprocessing.get_context('forkserver').Pool(1) as pool:\n"
            "        return pool.map(neg, xs)\n"
        ),
        "tests/test_par.py": "from pkg import par\n\n\ndef test_par_neg():\n    assert par.par_neg([3]) == [-3]\n",
    })  # fmt: skip
    outcome = sweep(root, paths=["pkg/par.py"], operators=["return_value"])

    record = the_mutant(outcome, "-x", "None")
    assert record.status is MutantStatus.KILLED, record
    assert record.tests == ["tests/test_par.py::test_par_neg"]
    assert record.executor == "generic"  # (the workers import the module from disk)


DATA_PROJECT = {
    "pkg/parse.py": "def parse(text):\n    return [int(x) * 2 for x in text.split(',')]\n",
    "tests/test_parse.py": (
        "from pathlib import Path\n\nimport pytest\n\nfrom pkg.parse import parse\n\n"
        "DATA = Path(__file__).parent / 'data' / 'sample.csv'\n\n\n"
        "@pytest.mark.skipif(not DATA.exists(), reason='fetch the data first')\n"
        "def test_parse_sample():\n    assert parse(DATA.read_text().strip()) == [2, 4, 6]\n"
    ),
}  # fmt: skip


def test_test_data_in_a_wholly_ignored_directory_reaches_the_worker_trees(tmp_path: Path) -> None:
    root = project(tmp_path / "p", DATA_PROJECT, ignore="tests/data/\n")
    write_files(root, {"tests/data/sample.csv": "1,2,3\n"})  # fetched, never committed
    outcome = sweep(root, paths=["pkg/parse.py"], operators=["arithmetic"])

    record = the_mutant(outcome, "*", "/")
    assert record.status is MutantStatus.KILLED, record  # not "NoCoverage: no test executes this line"
    assert any("tests/data/" in note for note in outcome.notes), outcome.notes


def test_build_output_environments_and_caches_are_not_copied_as_test_data(tmp_path: Path) -> None:
    root = project(tmp_path / "p", DATA_PROJECT, ignore="tests/data/\nbuild/\n.venv/\nfixtures/\n__pycache__/\n")
    write_files(root, {
        "tests/data/sample.csv": "1,2,3\n",
        "tests/data/nested/more.json": "{}\n",
        "fixtures/big.bin": "x" * 64,
        "build/lib/pkg/parse.py": "stale copy\n",
        ".venv/lib/site.py": "environment\n",
        "tests/data/__pycache__/x.pyc": "cache\n",
    })  # fmt: skip

    copied, notes = anyio.run(lambda: ignored_beside_tracked(GitRepo(root, root / ".git"), set()))
    assert sorted(copied) == ["fixtures/big.bin", "tests/data/nested/more.json", "tests/data/sample.csv"]
    assert any("fixtures/" in n and "tests/data/" in n for n in notes), notes

    # Over the bound, the files left out are named with the way to bring them in.
    copied, notes = anyio.run(lambda: ignored_beside_tracked(GitRepo(root, root / ".git"), set(), max_file=32))
    assert "fixtures/big.bin" not in copied
    assert any("fixtures/big.bin" in n and ".worktreeinclude" in n for n in notes), notes
