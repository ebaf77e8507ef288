"""`launcher mutation fix` on a sweep whose code changed since: the mutants' positions are stale.

A mutant is a replacement at character offsets of the file the sweep read. When the target file
at HEAD (where the fix run's tasks start) is not that file, no agent may run: `mutation fix`
refuses first, naming the sweep, the file, HEAD and the command to re-run. The two parts that
apply a mutant to a task's tree check the fit themselves too: the kill gate refuses with a
structured reason (never a Python traceback), and the scripted test writer does not splice a
replacement into code it does not fit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import swept_project
from test_mutation_fix import PROJECT, fix, results, sweep_dir

from launcher.gates.mutant_kill import KillClaims
from launcher.mutation.model import Mutant

SPY = "import pathlib, sys\npathlib.Path(sys.argv[1]).write_text('the agent ran')\n"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("fix-stale")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        yield swept_project(base / "proj", PROJECT, ["calc/core.py"])


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(swept, root, symlinks=True)
    return root


def _commit_a_comment_above_the_code(root: Path) -> str:
    core = root / "calc/core.py"
    core.write_text("# a comment added after the sweep\n" + core.read_text())
    git(root, "commit", "-qam", "a comment above the code")
    return git(root, "rev-parse", "HEAD").strip()


def _mutant(root: Path, mut: str) -> Mutant:
    data = json.loads((sweep_dir(root) / "mutants.json").read_text())
    return next(Mutant.model_validate(e["mutant"]) for e in data["mutants"] if e["mutant"]["mut"] == mut)


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=root, text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, env=os.environ.copy(), timeout=120)  # fmt: skip


def test_a_sweep_older_than_the_code_is_refused_before_any_agent_runs(proj: Path, tmp_path: Path) -> None:
    marker = tmp_path / "agent-ran"
    (proj / "spy.py").write_text(SPY)
    (proj / "launcher.toml").write_text(
        (proj / "launcher.toml").read_text()
        + f'[agents.spy]\nadapter = "command"\ncommand = ["{sys.executable}", "spy.py", "{marker}"]\n'
    )
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "a spy agent")
    swept_at = json.loads((sweep_dir(proj) / "mutants.json").read_text())["base_sha"]
    head = _commit_a_comment_above_the_code(proj)

    done = _cli(proj, "mutation", "fix", "--all", "--agent", "spy", "--python", sys.executable)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "MutantStale" not in done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert f"sweep {sweep_dir(proj).name} was taken at commit {swept_at[:12]}" in said
    assert f"calc/core.py changed since (HEAD {head[:12]})" in said
    assert "re-run the sweep" in said and "`launcher mutation sweep`" in said
    assert not marker.exists()  # no agent was started (with a real agent: no paid call)
    assert not (sweep_dir(proj) / "fix").exists()  # no task, no claims file
    assert len(git(proj, "worktree", "list").splitlines()) == 1
    assert results(proj)["is_adult:return age > 18"]["status"] == "Survived"


def test_a_commit_that_leaves_the_mutated_files_alone_does_not_stop_the_fix(proj: Path) -> None:
    """The check compares the target files' content, not commits: a new test file is no reason."""
    (proj / "tests/test_more.py").write_text("def test_more():\n    assert True\n")
    git(proj, "add", "-A")
    git(proj, "commit", "-qm", "another test")
    summary = fix(proj, all_unjudged=True, ids=[_mutant(proj, "return age > 18").id])
    assert summary.exit_code == 0 and len(summary.killed) == 1, summary.refused


def test_the_kill_gate_refuses_a_mutant_that_does_not_fit_the_tree_with_a_reason(proj: Path, tmp_path: Path) -> None:
    head = _commit_a_comment_above_the_code(proj)
    (proj / "tests/test_kill.py").write_text("from calc.core import is_adult\n\n\ndef test_18():\n"
                                             "    assert is_adult(18)\n")  # fmt: skip
    mutant = _mutant(proj, "return age > 18")
    claims = KillClaims(base_sha=head, python=sys.executable, evidence=str(tmp_path / "evidence.json"),
                        mutants=[mutant], task_id="kill-1")  # fmt: skip
    (tmp_path / "claims.json").write_text(json.dumps(claims.as_dict()))

    done = subprocess.run([sys.executable, "-m", "launcher.gates.mutant_kill", str(tmp_path / "claims.json")],
                          cwd=proj, text=True, capture_output=True, timeout=120)  # fmt: skip

    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert f"[launcher] refused: mutant {mutant.id} (calc/core.py:{mutant.line}" in done.stdout
    assert "does not fit the task's code" in done.stdout and "re-run `launcher mutation sweep`" in done.stdout
    evidence = json.loads((tmp_path / "evidence.json").read_text())
    assert evidence["accepted"] is False and "does not fit" in evidence["reason"]
    assert (proj / "calc/core.py").read_text().startswith("# a comment added after the sweep\n")  # untouched


def test_the_scripted_writer_does_not_splice_a_mutant_into_code_it_does_not_fit(proj: Path, tmp_path: Path) -> None:
    _commit_a_comment_above_the_code(proj)
    mutant = _mutant(proj, "return age > 18")
    facts: dict[str, Any] = {"test_dir": "tests", "mutants": [mutant.model_dump(mode="json")]}
    prompt = f"Write tests.\n```json\n{json.dumps(facts)}\n```"
    contract = tmp_path / "contract.json"

    env = {**os.environ, "LAUNCHER_CONTRACT": str(contract)}
    done = subprocess.run([sys.executable, "-m", "launcher.agents.scripted_test_writer", prompt], cwd=proj, text=True,
                          capture_output=True, timeout=60, env=env)  # fmt: skip

    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert not list((proj / "tests").glob("test_kill_*.py"))  # no test of some other change
    written = json.loads(contract.read_text())
    assert written["status"] == "blocked"
    assert written["blockers"] == [f"mutant {mutant.id}: calc/core.py does not hold '>=' at offset {mutant.start} "
                                   "(the code changed since the sweep: re-run `launcher mutation sweep`)"]  # fmt: skip
