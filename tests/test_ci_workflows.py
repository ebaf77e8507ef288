"""The GitHub Actions workflows shipped in docs/ install this launcher from LAUNCHER_SPEC (a git
URL pinned to a commit, or a wheel), never by the bare PyPI name `launcher`, which is an
unrelated package: each install step stops with a clear error while LAUNCHER_SPEC is unset or
names that package, and checks that what it installed is this launcher.

Their artifacts carry what the next job needs: actions/upload-artifact (v4.4.0 on, which `@v4`
resolves to) leaves out every file below a path component starting with a dot unless the step
sets `include-hidden-files: true`, and only warns, so an upload of `.launcher/...` without it
uploads nothing and the job after it fails for want of a shard. The mutation workflow is played
through here with that rule: each shard's sweep is uploaded, downloaded, merged and gated."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, write_files

DOCS = Path(__file__).resolve().parent.parent / "docs"
WORKFLOWS = ["github-actions-run.yml", "github-actions-mutation.yml"]


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCS / name).read_text())
    return loaded


def _install_steps(workflow: dict[str, Any]) -> list[str]:
    return [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "pip install" in step.get("run", "")
    ]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_job_that_runs_the_launcher_installs_it_from_launcher_spec(name: str) -> None:
    workflow = _workflow(name)

    assert workflow["env"]["LAUNCHER_SPEC"] == "${{ vars.LAUNCHER_SPEC }}"
    for job_name, job in workflow["jobs"].items():
        scripts = [step.get("run", "") for step in job["steps"]]
        if any(re.search(r"^\s*launcher ", s, re.M) for s in scripts):
            installs = [s for s in scripts if "pip install" in s]
            assert installs, f"job {job_name} runs launcher without installing it"
            assert all('"$LAUNCHER_SPEC"' in s for s in installs), installs
    for script in _install_steps(workflow):
        for line in script.splitlines():
            if "pip install" in line:
                assert not re.search(r"pip install\b.*(?<![\w$\"/-])launcher(?![\w\"/.-])", line), line


def _run_install(
    script: str, tmp_path: Path, spec: str | None, imports: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run an install step as Actions would (bash), with `pip` and `python` stubs that record
    what pip was asked to install and answer the import check."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    (stubs / "pip").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/pip-args\n')
    (stubs / "python").write_text(f"#!/bin/sh\nexit {0 if imports else 1}\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = {"PATH": f"{stubs}:{os.environ['PATH']}"}
    if spec is not None:
        env["LAUNCHER_SPEC"] = spec
    return subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.parametrize("name", WORKFLOWS)
@pytest.mark.parametrize("spec", ["", None, "launcher", "launcher==0.1", "launcher >=0.1"])
def test_an_install_step_refuses_an_unset_spec_or_the_unrelated_pypi_name(
    name: str, spec: str | None, tmp_path: Path
) -> None:
    for script in _install_steps(_workflow(name)):
        done = _run_install(script, tmp_path, spec)

        assert done.returncode == 1
        assert "::error::set the Actions variable LAUNCHER_SPEC" in done.stdout
        assert "unrelated package" in done.stdout
        assert not (tmp_path / "pip-args").exists()  # pip never ran


@pytest.mark.parametrize("name", WORKFLOWS)
def test_an_install_step_installs_the_pinned_spec_and_checks_it_is_this_launcher(name: str, tmp_path: Path) -> None:
    spec = "git+https://github.com/OWNER/REPO@0123456789abcdef0123456789abcdef01234567"
    for script in _install_steps(_workflow(name)):
        done = _run_install(script, tmp_path, spec)
        assert done.returncode == 0, done.stdout + done.stderr
        assert spec in (tmp_path / "pip-args").read_text().splitlines()

        wrong = _run_install(script, tmp_path, spec, imports=False)
        assert wrong.returncode == 1
        assert "did not install this launcher" in wrong.stdout


def _uploads(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(job, the step's `with`) of every actions/upload-artifact step."""
    return [(job_name, step.get("with") or {})
            for job_name, job in workflow["jobs"].items() for step in job["steps"]
            if str(step.get("uses", "")).startswith("actions/upload-artifact@")]


def _hidden(path: str) -> bool:
    """Whether upload-artifact counts `path` as hidden: a component starting with a dot."""
    return any(part.startswith(".") and part not in (".", "..") for part in path.split("/"))


def _upload_paths(spec: dict[str, Any]) -> list[str]:
    return [line.strip() for line in str(spec.get("path", "")).splitlines() if line.strip()]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_an_upload_of_a_hidden_path_includes_hidden_files(name: str) -> None:
    uploads = _uploads(_workflow(name))
    assert uploads, f"{name} uploads no artifact"
    for job_name, spec in uploads:
        hidden = [p for p in _upload_paths(spec) if _hidden(p)]
        if hidden:  # else upload-artifact leaves them all out, and only warns
            assert spec.get("include-hidden-files") is True, (
                f"{name}: job {job_name} uploads {hidden} without include-hidden-files: true")


def test_the_hidden_path_rule_is_the_actions_own() -> None:
    assert _hidden(".launcher/mutation-runs/") and _hidden("out/.cache/x") and _hidden(".launcher")
    assert not _hidden("export-1") and not _hidden("merged/") and not _hidden("./merged")


def _upload(spec: dict[str, Any], cwd: Path, into: Path) -> int:
    """The files the upload step sends, as upload-artifact v4 selects them (a directory path's
    contents at the artifact's root; hidden ones only with include-hidden-files: true), copied
    to `into` (where download-artifact puts the artifact). How many files were sent."""
    sent = 0
    with_hidden = spec.get("include-hidden-files") is True
    for path in _upload_paths(spec):
        root = cwd / path
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            shown = file.relative_to(cwd).as_posix()
            if _hidden(shown) and not with_hidden:
                continue
            target = into / (file.name if file == root else file.relative_to(root))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
            sent += 1
    return sent


def _run_step(script: str, cwd: Path, env: dict[str, str], **values: str) -> subprocess.CompletedProcess[str]:
    for key, value in values.items():
        script = script.replace("${{ " + key + " }}", value)
    assert "${{" not in script, script
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_mutation_workflow_played_through_uploads_each_shard_and_merges_and_gates_them(tmp_path: Path) -> None:
    workflow = _workflow("github-actions-mutation.yml")
    shards = workflow["jobs"]["sweep"]["strategy"]["matrix"]["shard"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "launcher").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m launcher "$@"\n')
    (bin_dir / "launcher").chmod(0o755)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "VIRTUAL_ENV": sys.prefix,
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    origin = tmp_path / "origin"
    write_files(origin, {"calc/__init__.py": "", "calc/core.py": "def add(a, b):\n    return a + b\n",
                         "tests/test_core.py": "from calc.core import add\n\n\ndef test_add():\n"
                                               "    assert add(2, 3) == 5\n"})
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "base")
    git(origin, "checkout", "-q", "-b", "pr")  # the pull request: a change the sweep mutates
    write_files(origin, {"calc/core.py": "def add(a, b):\n    return a + b\n\n\ndef double(x):\n"
                                         "    return x * 2\n",
                         "tests/test_double.py": "from calc.core import double\n\n\ndef test_double():\n"
                                                 "    assert double(3) == 6\n"})
    git(origin, "commit", "-qam", "double")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "its test")

    sweep_steps = [s["run"] for s in workflow["jobs"]["sweep"]["steps"] if "launcher mutation" in s.get("run", "")]
    (upload_job, upload), = [u for u in _uploads(workflow) if u[0] == "sweep"]
    downloaded = tmp_path / "merge-job"
    git(tmp_path, "clone", "-q", "--branch", "pr", str(origin), str(downloaded))
    for shard in shards:
        job = tmp_path / f"sweep-{shard}"
        git(tmp_path, "clone", "-q", "--branch", "pr", str(origin), str(job))
        for script in sweep_steps:
            done = _run_step(script, job, env, **{"github.base_ref": "main", "matrix.shard": str(shard)})
            assert done.returncode == 0, done.stdout + done.stderr
        name = str(upload["name"]).replace("${{ matrix.shard }}", str(shard))
        # download-artifact without a name puts each artifact in PATH/<artifact name>/
        sent = _upload(upload, job, downloaded / "shards" / name)
        assert sent, f"job {upload_job}'s upload of {upload['path']} sends no file (shard {shard})"

    merge_steps = [s["run"] for s in workflow["jobs"]["merge"]["steps"] if "launcher mutation" in s.get("run", "")]
    for script in merge_steps:  # merge, report, gate: the project's tests kill every mutant
        done = _run_step(script, downloaded, env)
        assert done.returncode == 0, (script, done.stdout + done.stderr)
    summary = (tmp_path / "summary.md").read_text()
    assert "Score: 100.0% (3 mutants)" in summary, summary  # every shard's mutants, merged
    (report_job, report), = [u for u in _uploads(workflow) if u[0] == "merge"]
    assert _upload(report, downloaded, tmp_path / "report-artifact"), f"job {report_job} uploads no report"
