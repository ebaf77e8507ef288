"""Mutation sweeps for a newcomer (issue 13, items 9-13): the project's interpreter, pytest
arguments that keep the fast path, one rule for mutants that break import, progress a person can
follow (and a Ctrl-C that says how to continue), and the report mutation-testing users know."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from conftest import git, write_files

from launcher.app.mutation import reports as mutation_reports
from launcher.app.mutation.sweep import SweepOptions, SweepOutcome, run_sweep
from launcher.errors import UsageProblem
from launcher.mutation import interpreter
from launcher.mutation.coverage_map import SuiteRun
from launcher.mutation.discover import collect_mutants
from launcher.mutation.executor import MutantJob
from launcher.mutation.executor_fork import ForkExecutor
from launcher.mutation.model import MutantStatus
from launcher.mutation.results import MutantRecord
from launcher.mutation.sanity import SanityFailed, check_suite

SCHEMA_FILE = Path(__file__).parent / "data" / "mutation-testing-report-schema.json"

# A conftest imports the package, whose module body calls `make()`: a mutant of `make` (or of the
# body) raises while the package is imported, so no test can even load.
BREAKS_IMPORT = {
    "conftest.py": "import shop.core  # noqa: F401\n",
    "shop/__init__.py": "",
    "shop/core.py": (
        "def make():\n"
        '    return {"a": 1}\n'
        "\n"
        "\n"
        'TABLE = make()["a"]\n'
        "\n"
        "\n"
        "def double(x):\n"
        "    return x * 2 + TABLE - 1\n"
    ),
    "tests/test_core.py": "from shop.core import double\n\n\ndef test_double():\n    assert double(3) == 6\n",
}
# Two test files: one of them deselected with --pytest-args.
TWO_TESTS = {
    "calc/__init__.py": "",
    "calc/core.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "tests/test_add.py": "from calc.core import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    "tests/test_sub.py": "from calc.core import sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n",
}


def project(root: Path, files: dict[str, str]) -> Path:
    write_files(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


class Recorder:
    """A SweepListener that keeps everything it hears, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def phase(self, text: str) -> None:
        self.events.append(("phase", text))

    def started(self, sweep_id: str, total: int, settled: int, resumed: bool) -> None:
        self.events.append(("started", sweep_id))

    def running(self, jobs: int, workers: int) -> None:
        self.events.append(("running", jobs))

    def settled(self, done: int, total: int, record: MutantRecord) -> None:
        self.events.append(("settled", record.mutant.id))


def sweep(root: Path, listener: Recorder | None = None, **options: Any) -> SweepOutcome:
    options.setdefault("workers", 1)
    options.setdefault("python", sys.executable)
    options.setdefault("use_cache", False)
    return anyio.run(run_sweep, root, SweepOptions(**options), lambda _line: None, listener)


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VIRTUAL_ENV": sys.prefix, **(env or {})}
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def import_sweeps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, SweepOutcome]]]:
    """The import-breaking project swept three ways: fork executor, generic only, custom command."""
    base = tmp_path_factory.mktemp("imports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        found = {}
        for how, options in (("fork", {}), ("generic", {"use_fork": False}),
                             ("command", {"test_cmd": f"{sys.executable} -m pytest -q -p no:cacheprovider"})):
            root = project(base / how, BREAKS_IMPORT)
            found[how] = (root, sweep(root, **options))
        yield found


# --- 9: the project's interpreter ------------------------------------------------------------------


def test_the_default_interpreter_is_the_active_virtualenvs_then_python_on_path(tmp_path: Path) -> None:
    venv_python = write_files(tmp_path, {"venv/bin/python": ""}) / "venv" / "bin" / "python"
    on_path = write_files(tmp_path, {"bin/python": ""}) / "bin" / "python"
    on_path.chmod(0o755)
    assert interpreter.project_python({"VIRTUAL_ENV": str(tmp_path / "venv"), "PATH": ""}) == str(venv_python)
    assert interpreter.project_python({"PATH": str(tmp_path / "bin")}) == str(on_path)
    assert "the active virtualenv" in interpreter.describe(str(venv_python), {"VIRTUAL_ENV": str(tmp_path / "venv")})


def test_a_sweep_runs_the_tests_with_the_active_virtualenv_and_names_it_when_it_lacks_pytest(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    root = project(tmp_path / "p", TWO_TESTS)
    done = cli(root, "mutation", "sweep", "--workers", "1", env={"VIRTUAL_ENV": str(bare)})
    assert done.returncode == 3, done.stderr  # an environment problem (test_fix16_docs.py)
    assert f"{bare}/bin/python (the active virtualenv)" in done.stderr
    assert "--python" in done.stderr and "pip install" in done.stderr and "Traceback" not in done.stderr


def test_a_module_the_tests_cannot_import_is_blamed_on_the_named_interpreter() -> None:
    run = SuiteRun(2, {}, ["tests/test_props.py"], 0.5,
                   "E   ModuleNotFoundError: No module named 'hypothesis'\nERROR tests/test_props.py")  # fmt: skip
    with pytest.raises(SanityFailed) as caught:
        check_suite(run, "/repo", "/usr/bin/python3")
    assert caught.value.error_key == "mutation_sanity:module_missing"
    assert "'hypothesis'" in caught.value.what and "/usr/bin/python3" in caught.value.what
    assert "--python" in str(caught.value.fix) and "virtualenv" in str(caught.value.fix)


def test_an_interpreter_that_does_not_exist_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    root = project(tmp_path / "p", TWO_TESTS)
    done = cli(root, "mutation", "sweep", "--python", str(tmp_path / "nope" / "python"))
    assert done.returncode == 2 and f"no Python interpreter at '{tmp_path / 'nope' / 'python'}'" in done.stderr
    assert "Traceback" not in done.stderr


# --- 10: pytest arguments keep the fast path --------------------------------------------------------


def _deselect_checks(outcome: SweepOutcome) -> None:
    by_function = {r.mutant.function: r for r in outcome.results}
    assert by_function["sub"].status is MutantStatus.NO_COVERAGE  # its only test was deselected
    added = [r for r in outcome.results if r.mutant.function == "add"]
    assert added and all(r.status is MutantStatus.KILLED for r in added)
    assert any(r.executor == "fork" for r in added)  # the fast path is kept
    assert all(r.tests == ["tests/test_add.py::test_add"] for r in added)  # and per-test selection


def test_pytest_args_keep_per_test_selection_and_the_fork_executor(tmp_path: Path) -> None:
    root = project(tmp_path / "p", TWO_TESTS)
    _deselect_checks(sweep(root, pytest_args=["--deselect", "tests/test_sub.py::test_sub"]))


def test_the_pyproject_mutation_table_gives_the_defaults(tmp_path: Path) -> None:
    toml = '[tool.launcher.mutation]\npytest_args = ["--deselect", "tests/test_sub.py::test_sub"]\n'
    root = project(tmp_path / "p", {**TWO_TESTS, "pyproject.toml": toml})
    _deselect_checks(sweep(root))
    with pytest.raises(UsageProblem, match="do not go together"):  # both as flags (a flag beside the
        sweep(root, test_cmd="pytest -q", pytest_args=["-q"])   # table wins: test_fix19_docs19.py)


def test_a_custom_test_command_says_what_it_costs(tmp_path: Path) -> None:
    root = project(tmp_path / "p", TWO_TESTS)
    heard = Recorder()
    outcome = sweep(root, heard, test_cmd=f"{sys.executable} -m pytest -q -p no:cacheprovider", max_mutants=2)
    cost = [text for kind, text in heard.events if kind == "phase" and "custom --test-cmd" in text]
    assert len(cost) == 1 and "no per-test selection, no fork executor" in cost[0]
    assert "2 mutant(s)" in cost[0] and "--pytest-args" in cost[0]  # a pytest command: the way out
    assert any("custom --test-cmd" in note for note in outcome.notes)


# --- 11: one rule for mutants that break import ---------------------------------------------------


@pytest.mark.parametrize("how", ["fork", "generic", "command"])
def test_a_mutant_that_breaks_import_is_killed_on_every_executor(
    import_sweeps: dict[str, tuple[Path, SweepOutcome]], how: str
) -> None:
    _, outcome = import_sweeps[how]
    breaking = [r for r in outcome.results if r.mutant.function in ("make", "<module>")]
    assert len(breaking) >= 3
    assert {r.status for r in breaking} == {MutantStatus.KILLED}
    assert not any(r.status is MutantStatus.RUNTIME_ERROR for r in outcome.results)
    if how != "command":
        keyerror = [r for r in breaking if r.mutant.fault == "string"]
        assert keyerror and all("breaks import: a conftest no longer loads: KeyError" in r.note for r in keyerror)
    assert outcome.score == 100.0


def test_the_fork_executor_applies_the_same_import_rule_on_its_own(
    import_sweeps: dict[str, tuple[Path, SweepOutcome]],
) -> None:
    root, _ = import_sweeps["generic"]

    async def body() -> list[tuple[str, MutantStatus, str]]:
        found = await collect_mutants(root, ["shop/core.py"])
        executor = ForkExecutor(root, None, [], sys.executable)
        await executor.start()
        try:
            out = []
            for m in found.mutants:
                if m.function == "make" and m.fault == "string":
                    result = await executor.run(MutantJob(m, ["tests/test_core.py::test_double"], 30))
                    out.append((m.function, result.status, result.output_tail))
            return out
        finally:
            await executor.stop()

    results = anyio.run(body)
    assert results and all(status is MutantStatus.KILLED for _, status, _ in results)
    assert all("breaks import" in tail for _, _, tail in results)


# --- 12: progress, dry run, Ctrl-C, list ----------------------------------------------------------


def test_the_sweep_reports_its_phases_and_its_id_before_the_first_mutant(tmp_path: Path) -> None:
    root = project(tmp_path / "p", TWO_TESTS)
    heard = Recorder()
    outcome = sweep(root, heard)
    kinds = [kind for kind, _ in heard.events]
    first_mutant = kinds.index("settled")
    phases = [text for kind, text in heard.events[:first_mutant] if kind == "phase"]
    assert phases[0].startswith("generation:") and any(p.startswith("generation: 4 mutants") for p in phases)
    assert any(p.startswith("coverage: started") and sys.executable in p for p in phases)
    assert any(p.startswith("coverage: 2 test(s), measured in") for p in phases)
    assert ("started", outcome.sweep_id) in heard.events[:first_mutant]
    assert kinds.count("settled") == len(outcome.results) and "running" in kinds


def test_the_cli_prints_phases_the_sweep_id_and_an_eta_in_a_log(tmp_path: Path) -> None:
    root = project(tmp_path / "p", TWO_TESTS)
    done = cli(root, "mutation", "sweep", "--workers", "1", "--no-cache")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    started = next(i for i, line in enumerate(lines) if line.startswith("sweep m-"))
    first = next(i for i, line in enumerate(lines) if line.startswith("[1/"))
    assert lines[0].startswith("generation:") and started < first
    sweep_id = lines[started].split()[1].rstrip(":")
    assert f"`launcher mutation sweep --resume {sweep_id}` continues" in lines[started]
    assert any(re.search(r" - ETA \d+s$", line) for line in lines[first:])


def test_dry_run_counts_mutants_per_file_and_operator_and_runs_nothing(tmp_path: Path) -> None:
    root = project(tmp_path / "p", TWO_TESTS)
    done = cli(root, "mutation", "sweep", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    counted = json.loads(done.stdout)
    mutants = anyio.run(collect_mutants, root).mutants
    assert counted["total"] == len(mutants) == 4
    assert counted["by_file"] == {"calc/core.py": 4}
    assert counted["by_operator"] == {m.fault: sum(x.fault == m.fault for x in mutants) for m in mutants}
    assert not (root / ".launcher" / "mutation-runs").exists()
    text = cli(root, "mutation", "sweep", "--dry-run")
    assert "4 mutants in 1 file(s)" in text.stdout and "calc/core.py" in text.stdout
    assert "no mutation sweeps yet" in cli(root, "mutation", "list").stdout


def test_ctrl_c_names_the_sweeps_resume_command_and_list_shows_it(tmp_path: Path) -> None:
    slow = {**TWO_TESTS, "tests/conftest.py": "import time\n\n\ndef pytest_runtest_call(item):\n    time.sleep(0.4)\n"}
    root = project(tmp_path / "p", slow)
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    child = subprocess.Popen([sys.executable, "-m", "launcher", "mutation", "sweep", "--workers", "1", "--no-cache"],
                             cwd=root, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stderr is not None
    seen = []
    for line in child.stderr:  # wait until the sweep has its id and is running mutants
        seen.append(line)
        if line.startswith("mutants:"):
            break
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=60)
    err = "".join(seen) + rest
    assert child.returncode == 130, err
    sweep_id = next(line.split()[1].rstrip(":") for line in seen if line.startswith("sweep m-"))
    assert f"launcher mutation sweep --resume {sweep_id}" in err
    assert "`launcher resume`" not in err
    listed = cli(root, "mutation", "list", "--json")
    row = next(s for s in json.loads(listed.stdout) if s["sweep_id"] == sweep_id)
    assert row["status"] == "interrupted" and row["next_step"] == f"launcher mutation sweep --resume {sweep_id}"


# --- 13: the report mutation-testing users know -----------------------------------------------------


def test_the_viewer_bundle_and_its_licence_ship_as_package_data() -> None:
    data = resources.files("launcher").joinpath("data", "report")
    bundle = data.joinpath("mutation-test-elements.js").read_text(encoding="utf-8")
    assert "mutation-test-report-app" in bundle and not re.search(r"</?script", bundle, re.I)
    assert "Apache License" in data.joinpath("LICENSE").read_text(encoding="utf-8")


def test_the_html_report_is_the_mutation_testing_elements_viewer_offline(
    import_sweeps: dict[str, tuple[Path, SweepOutcome]],
) -> None:
    root, outcome = import_sweeps["fork"]
    anyio.run(mutation_reports.write_standard_reports, root, outcome.out_dir)
    page = (outcome.out_dir / "mutation-report.html").read_text(encoding="utf-8")
    stryker = json.loads((outcome.out_dir / "mutation-report.json").read_text(encoding="utf-8"))
    assert '<mutation-test-report-app title-postfix="' in page
    assert page.count("<script") == 3  # the viewer, the report, the binding: nothing loaded from elsewhere
    assert not re.search(r"<script[^>]*\bsrc=|<link\b", page) and "default-src 'none'" in page
    embedded = re.search(r'<script type="application/json" id="mutation-report">(.*?)</script>', page, re.S)
    assert embedded and json.loads(embedded.group(1)) == stryker
    assert (outcome.out_dir / "mutation-report-plain.html").is_file()  # scripts off: the same without JS


def test_the_stryker_json_names_covering_and_killing_tests_and_show_prints_them(
    import_sweeps: dict[str, tuple[Path, SweepOutcome]],
) -> None:
    root, outcome = import_sweeps["fork"]
    anyio.run(mutation_reports.write_standard_reports, root, outcome.out_dir)
    stryker = json.loads((outcome.out_dir / "mutation-report.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text())).validate(stryker)
    test_id = "tests/test_core.py::test_double"
    assert stryker["testFiles"]["tests/test_core.py"]["tests"] == [{"id": test_id, "name": "test_double"}]
    mutants = {m["id"]: m for m in stryker["files"]["shop/core.py"]["mutants"]}
    # Code that runs at import is Stryker's `static`: tested with the whole suite, no per-test claim.
    import_time = [r for r in outcome.results if r.import_time and r.mutant.function == "make"]
    assert import_time and all(mutants[r.mutant.id]["static"] for r in import_time)
    assert all("coveredBy" not in mutants[r.mutant.id] for r in import_time)
    runtime_kill = next(r for r in outcome.results if r.mutant.function == "double")
    assert mutants[runtime_kill.mutant.id]["killedBy"] == [test_id]
    shown = anyio.run(mutation_reports.show, root, runtime_kill.mutant.id)
    assert f"killed by: {test_id}" in shown and f"covered by (1): {test_id}" in shown
    breaking = anyio.run(mutation_reports.show, root, import_time[0].mutant.id)
    assert "covered by: every test that imports it (it runs at import time" in breaking
