"""The GitHub Actions workflows shipped in docs/ install this launcher from LAUNCHER_SPEC (a git
URL pinned to a commit, or a wheel), never by the bare PyPI name `launcher`, which is an
unrelated package: each install step stops with a clear error while LAUNCHER_SPEC is unset or
names that package, and checks that what it installed is this launcher."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

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
