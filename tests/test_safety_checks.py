"""Every command run against a task's code tests that code, and sees only the allowed environment.

A project installed in editable mode (`pip install -e .`, the usual setup) is imported from the
MAIN checkout by every interpreter of its venv. Checks, rubric `check:` commands, setup and the
integration check run in a worktree, so they must import the worktree's code; an import that
still resolves to the main checkout is reported and fails the check. They run agent-written code,
so they get the agents' allowlisted environment plus what the plan names in `check_env`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from conftest import git as commit_git
from conftest import write_files
from helpers import run_plan, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.engine.command_env import AUDIT_DIR, command_env
from launcher.errors import PlanError
from launcher.models.events import Event
from launcher.models.plan import validate_plan

SRC_PROJECT = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "pkg"\nversion = "0.1"\n'
    ),
    "src/pkg/__init__.py": "",
    "src/pkg/core.py": "def double(x):\n    return 2 * x\n",
    "tests/check_core.py": "from pkg.core import double\n\nassert double(2) == 4, double(2)\nprint('double ok')\n",
    ".gitignore": "*.egg-info/\n__pycache__/\nbuild/\n",
}
# A flat layout with an explicit package list: setuptools installs it through its editable
# finder (on sys.meta_path), not a .pth path entry.
FLAT_PROJECT = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "flatpkg"\nversion = "0.1"\n\n[tool.setuptools]\npackages = ["flatpkg"]\n'
    ),
    "flatpkg/__init__.py": "WHERE = 'main'\n",
}
BREAK_DOUBLE = {"replace": "src/pkg/core.py", "old": "2 * x", "new": "3 * x"}
ADD_TRIPLE = [
    {"append": "src/pkg/core.py", "content": "\n\ndef triple(x):\n    return 3 * x\n"},
    {"write": "tests/check_triple.py",
     "content": "from pkg.core import triple\n\nassert triple(2) == 6\nprint('triple ok')\n"},
]


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "pip", "install", "-q", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def editable_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real venv with two projects installed in editable mode: `pkg` (a src layout, a .pth
    entry) at <base>/srcproj and `flatpkg` (setuptools' editable finder) at <base>/flatproj."""
    base = tmp_path_factory.mktemp("editable")
    write_files(base / "srcproj", SRC_PROJECT)
    write_files(base / "flatproj", FLAT_PROJECT)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / "bin" / "python"
    install = ("--no-index", "--no-build-isolation", "--no-deps",
               "-e", str(base / "srcproj"), "-e", str(base / "flatproj"))
    done = _pip(python, *install)
    if done.returncode != 0:  # no setuptools (Python >= 3.12) or no bdist_wheel (setuptools < 70.1)
        _pip(python, "setuptools", "wheel")
        done = _pip(python, *install)
    if done.returncode != 0:
        pytest.skip(f"cannot make an editable install here: {done.stderr.strip()[-300:]}")
    return venv


@pytest.fixture
def editable_repo(editable_venv: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The editable-installed src project as a fresh git repository; its venv's `python` first on
    PATH, as when the user runs the launcher from an activated venv."""
    root = editable_venv.parent / "srcproj"
    shutil.rmtree(root)
    write_files(root, SRC_PROJECT)
    commit_git(root, "init", "-q", "-b", "main")
    commit_git(root, "add", "-A")
    commit_git(root, "commit", "-q", "-m", "initial")
    monkeypatch.setenv("PATH", f"{editable_venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    yield root
    shutil.rmtree(root / ".launcher", ignore_errors=True)


def _main_imports_main_code(repo: Path) -> None:
    """The premise: the venv's python imports the package from the main checkout."""
    where = subprocess.run(["python", "-c", "import pkg.core; print(pkg.core.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve() == (repo / "src" / "pkg" / "core.py").resolve()


# --- checks verify the task's code ----------------------------------------------------------


def test_a_task_that_breaks_a_function_fails_its_check_and_does_not_land(editable_repo: Path) -> None:
    _main_imports_main_code(editable_repo)
    report = run_plan(editable_repo, [
        {"id": "breaks", "checks": ["python tests/check_core.py"], "script": [BREAK_DOUBLE]},
    ])
    breaks = task(report, "breaks")
    assert breaks.state == "failed", breaks.message
    assert breaks.message.startswith("check failed: ") and "(python tests/check_core.py, exit 1)" in breaks.message
    assert "2 * x" in (editable_repo / "src" / "pkg" / "core.py").read_text()


def test_a_task_that_adds_a_function_and_its_test_passes_its_check(editable_repo: Path) -> None:
    report = run_plan(editable_repo, [
        {"id": "adds", "checks": ["python tests/check_triple.py"],
         "script": ADD_TRIPLE},
    ])
    adds = task(report, "adds")
    assert adds.state == "merged", adds.message
    assert "def triple" in (editable_repo / "src" / "pkg" / "core.py").read_text()


def test_a_rubric_check_sees_the_tasks_code(editable_repo: Path) -> None:
    write_files(editable_repo, {"rubrics/backend.md": (
        "---\nversion: 1\nname: backend\nextends: default\n---\n\n"
        "### B1. triple exists.\n\nThe task adds pkg.core.triple.\n\n"
        "check: python -c 'from pkg.core import triple; assert triple(1) == 3'\n"
    )})
    commit_git(editable_repo, "add", "rubrics")
    commit_git(editable_repo, "commit", "-qm", "rubric")
    plan = validate_plan({
        "run": {"grader": "judge", "iteration_cap": 1},
        "agents": {"judge": {"adapter": "scripted-grader",
                             "set_env": {"LAUNCHER_GRADER_MODE": "always_satisfied"}}},
        "task": [{"id": "adds", "role": "backend", "script": ADD_TRIPLE}],
    }, "test plan")

    report = anyio.run(start_run, editable_repo, plan, RunOptions(), lambda _e: None)
    adds = task(report, "adds")
    assert adds.state == "merged", adds.message
    assert adds.rounds and adds.rounds[0].verdict == "satisfied"


def test_the_integration_check_sees_the_merged_code(editable_repo: Path) -> None:
    # iteration_cap 1: no revision round for the culprit (the merge queue's, tests/test_queue.py)
    report = run_plan(editable_repo, [{"id": "breaks", "script": [BREAK_DOUBLE]}],
                      integration_check="python tests/check_core.py", iteration_cap=1)
    breaks = task(report, "breaks")
    assert breaks.state == "failed", breaks.message
    assert "integration check failed" in breaks.message and "AssertionError" in breaks.message
    assert "2 * x" in (editable_repo / "src" / "pkg" / "core.py").read_text()


@pytest.mark.parametrize("module, relative", [("pkg.core", "src/pkg/core.py"),
                                              ("flatpkg", "flatpkg/__init__.py")])
def test_both_kinds_of_editable_install_import_the_trees_code(
    editable_venv: Path, tmp_path: Path, module: str, relative: str
) -> None:
    """A .pth path entry (src layout) and setuptools' editable finder (flat layout) both lose to
    the tree's import roots."""
    main = editable_venv.parent / ("srcproj" if module == "pkg.core" else "flatproj")
    tree = write_files(tmp_path / "tree", {**SRC_PROJECT, **FLAT_PROJECT})
    env = command_env(tree, main_root=main, run_id="r-1", task_id="t")
    python = str(editable_venv / "bin" / "python")
    probe = f"import {module} as m; print(m.__file__)"
    elsewhere = tmp_path  # not the tree: `python -c` would import from its working directory
    plain = subprocess.run([python, "-c", probe], cwd=elsewhere, capture_output=True, text=True, check=True)
    assert Path(plain.stdout.strip()).resolve() == (main / relative).resolve()  # the premise
    done = subprocess.run([python, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True,
                          check=True)
    assert Path(done.stdout.strip()).resolve() == (tree / relative).resolve()


# --- an import that still reaches the main checkout is reported -------------------------------

SRC_FILES = {"src/pkg/__init__.py": "", "src/pkg/core.py": "def double(x):\n    return 2 * x\n",
             ".gitignore": ".env\n*.secret\nbuild/\n__pycache__/\n"}


def _src_repo(repo: Path) -> Path:
    write_files(repo, SRC_FILES)
    commit_git(repo, "add", "-A")
    commit_git(repo, "commit", "-qm", "src layout")
    return repo


def test_a_check_that_imports_the_main_checkout_anyway_fails_naming_the_file(repo: Path) -> None:
    _src_repo(repo)
    sneaky = (f"{sys.executable} -c \"import sys; sys.path.insert(0, '{repo / 'src'}'); "
              "import pkg.core; print(pkg.core.double(2))\"")
    report = run_plan(repo, [{"id": "t", "checks": [sneaky], "script": [BREAK_DOUBLE]}])
    t = task(report, "t")
    assert t.state == "failed", t.message
    assert "src/pkg/core.py" in t.message and "from the main checkout" in t.message
    assert "Fix:" in t.message

    facts = json.loads((Path(report.artifacts) / "t" / "facts.json").read_text())
    check = facts["checks"][0]
    assert check["ok"] is False and check["exit_code"] == 0
    assert check["outside_imports"] == ["src/pkg/__init__.py", "src/pkg/core.py"]
    assert "2 * x" in (repo / "src" / "pkg" / "core.py").read_text()


def test_a_child_interpreter_of_a_check_is_audited_too(repo: Path) -> None:
    _src_repo(repo)
    child = f"import sys; sys.path.insert(0, {str(repo / 'src')!r}); import pkg.core"
    script = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    write_files(repo, {"run_child.py": script})
    commit_git(repo, "add", "-A")
    commit_git(repo, "commit", "-qm", "child runner")
    report = run_plan(repo, [{"id": "t", "checks": [f"{sys.executable} run_child.py"],
                              "script": [{"write": "notes.md", "content": "n\n"}]}])
    t = task(report, "t")
    assert t.state == "failed" and "src/pkg/core.py" in t.message, t.message


def test_imports_of_files_git_ignores_in_the_main_checkout_are_not_reported(repo: Path) -> None:
    (repo / "build").mkdir()  # `build/` is ignored by the fixture's .gitignore
    (repo / "build" / "generated_helper.py").write_text("VALUE = 1\n")
    check = (f"{sys.executable} -c \"import sys; sys.path.insert(0, '{repo / 'build'}'); "
             "import generated_helper\"")
    report = run_plan(repo, [{"id": "t", "checks": [check],
                              "script": [{"write": "notes.md", "content": "n\n"}]}])
    assert task(report, "t").state == "merged", task(report, "t").message


def test_setup_that_runs_the_main_checkouts_code_is_reported_as_a_note(repo: Path) -> None:
    """Setup may legitimately run the main checkout's tools (a generator): a note, not a failure."""
    _src_repo(repo)
    setup = f"{sys.executable} -c \"import sys; sys.path.insert(0, '{repo / 'src'}'); import pkg.core\""
    events: list[Event] = []
    report = run_plan(repo, [{"id": "t", "setup": setup, "script": [{"write": "n.md", "content": "n\n"}]}],
                      events=events)
    assert task(report, "t").state == "merged", task(report, "t").message
    notes = [e.message for e in events if e.kind == "note" and e.task_id == "t"]
    assert any(n.startswith("the setup command imported src/pkg/") for n in notes), notes


def test_the_audit_does_not_report_itself_when_the_launcher_works_on_its_own_repo(tmp_path: Path) -> None:
    launcher_checkout = AUDIT_DIR.parents[2]  # the audit shim lives inside this "main checkout"
    audit = tmp_path / "audit"
    env = command_env(tmp_path, main_root=launcher_checkout, run_id="r-1", task_id="t", audit_file=audit,
                      parent={"PATH": os.environ["PATH"]})
    subprocess.run([sys.executable, "-c", "pass"], cwd=tmp_path, env=env, check=True)
    assert not audit.exists()


def test_the_audit_hands_over_to_the_next_sitecustomize(tmp_path: Path) -> None:
    """A distribution's own sitecustomize (Debian ships one) still runs behind the audit."""
    other = write_files(tmp_path / "other", {"sitecustomize.py": "import os\nos.environ['CHAINED'] = 'yes'\n"})
    tree = write_files(tmp_path / "tree", {"mod.py": ""})
    parent = {"PATH": os.environ["PATH"], "PYTHONPATH": str(other)}
    env = command_env(tree, main_root=tmp_path / "main", run_id="r-1", task_id="t",
                      audit_file=tmp_path / "audit", parent=parent)
    done = subprocess.run([sys.executable, "-c", "import os, sitecustomize; print(os.environ.get('CHAINED'))"],
                          cwd=tree, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "yes"
    assert not (tmp_path / "audit").exists()  # nothing imported from the main checkout


# --- the environment ------------------------------------------------------------------------

def _reporter(out: Path, label: str) -> str:
    """A command that appends what it can see to `out`."""
    fields = "${MY_SECRET-unset} ${MY_TOKEN-unset} ${LAUNCHER_RUN_ID-unset} ${LAUNCHER_TASK_ID-none}"
    return f"echo \"{label} {fields}\" >> {out}"


def test_no_command_sees_a_secret_of_the_launchers_environment_but_check_env_names_pass(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SECRET", "hunter2")
    monkeypatch.setenv("MY_TOKEN", "tok")
    out = tmp_path / "seen.txt"
    write_files(repo, {"rubrics/backend.md": (
        "---\nversion: 1\nname: backend\nextends: default\n---\n\n"
        f"### B1. Reports.\n\nIt reports.\n\ncheck: {_reporter(out, 'rubric')}\n"
    )})
    commit_git(repo, "add", "rubrics")
    commit_git(repo, "commit", "-qm", "rubric")
    plan = validate_plan({
        "run": {"grader": "judge", "check_env": ["MY_TOKEN"], "setup": _reporter(out, "setup"),
                "integration_check": _reporter(out, "integration")},
        "agents": {"judge": {"adapter": "scripted-grader",
                             "set_env": {"LAUNCHER_GRADER_MODE": "always_satisfied"}}},
        "task": [{"id": "t", "role": "backend", "checks": [_reporter(out, "check")],
                  "script": [{"write": "notes.md", "content": "n\n"}]}],
    }, "test plan")

    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    assert task(report, "t").state == "merged", task(report, "t").message
    seen = sorted(out.read_text().splitlines())
    run_id = report.run_id
    assert seen == [f"check unset tok {run_id} t", f"integration unset tok {run_id} none",
                    f"rubric unset tok {run_id} t", f"setup unset tok {run_id} t"]


def test_a_task_can_name_its_own_check_env(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SECRET", "hunter2")
    monkeypatch.setenv("MY_TOKEN", "tok")
    out = tmp_path / "seen.txt"
    report = run_plan(repo, [
        {"id": "named", "check_env": ["MY_SECRET"], "checks": [_reporter(out, "named")],
         "script": [{"write": "a.md", "content": "a\n"}]},
        {"id": "plain", "checks": [_reporter(out, "plain")], "script": [{"write": "b.md", "content": "b\n"}]},
    ])
    assert {t.state for t in report.tasks} == {"merged"}
    seen = sorted(line.rsplit(" ", 2)[0] for line in out.read_text().splitlines())
    assert seen == ["named hunter2 unset", "plain unset unset"]


def test_check_env_takes_variable_names_only(repo: Path) -> None:
    plan = validate_plan({"run": {"check_env": ["MY_TOKEN"]},
                          "task": [{"id": "t", "check_env": ["DATABASE_URL"]}]}, "plan.toml")
    assert plan.run.check_env == ["MY_TOKEN"] and plan.tasks[0].check_env == ["DATABASE_URL"]
    for bad in (["GIT_DIR"], ["LAUNCHER_RUN_ID"], ["A B"]):
        with pytest.raises(PlanError) as caught:
            validate_plan({"run": {"check_env": bad}, "task": [{"id": "t"}]}, "plan.toml")
        assert "run.check_env" in str(caught.value)


def test_pythonpath_entries_into_the_main_checkout_move_into_the_tree(tmp_path: Path) -> None:
    main = write_files(tmp_path / "main", {"lib/helper.py": "", "src/pkg/__init__.py": ""})
    tree = write_files(tmp_path / "tree", {"lib/helper.py": "", "src/pkg/__init__.py": ""})
    elsewhere = str(tmp_path / "elsewhere")
    parent = {"PATH": "/bin", "PYTHONPATH": os.pathsep.join([str(main / "lib"), elsewhere]),
              "GIT_DIR": str(main / ".git"), "MY_SECRET": "s"}
    env = command_env(tree, main_root=main, run_id="r-1", task_id=None, parent=parent)
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tree / "src"), str(tree), str(tree / "lib"), elsewhere]
    assert "GIT_DIR" not in env and "MY_SECRET" not in env and "LAUNCHER_TASK_ID" not in env
    assert env["LAUNCHER_RUN_ID"] == "r-1" and env["LAUNCHER_WORKTREE"] == str(tree)
