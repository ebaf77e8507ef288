"""The kill gate of `launcher mutation fix` in a src layout.

The gate runs as the task's check, in the task's worktree, with the environment every check gets:
the worktree's import roots (`src/`, then the tree) first on PYTHONPATH. It copies the worktree to
a scratch tree and applies each claimed mutant there. The tests it runs in that copy must import
the copy's (mutated) code, not the worktree's (unmutated) code: a test that kills the mutant is
accepted, a test that does not is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import git

from launcher.engine.command_env import command_env
from launcher.gates.mutant_kill import KillClaims
from launcher.mutation.python_ops import generate_mutants

CORE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
WEAK = "from pkg.core import total\n\n\ndef test_zero():\n    assert total([0]) == 0\n"
KILLING = "from pkg.core import total\n\n\ndef test_sum():\n    assert total([2, 3]) == 5\n"


def _src_layout_worktree(root: Path, new_test: str) -> tuple[Path, str]:
    """A src-layout repository (the base commit) and the task's worktree, which adds one test."""
    main = root / "main"
    (main / "src/pkg").mkdir(parents=True)
    (main / "tests").mkdir()
    (main / "src/pkg/__init__.py").write_text("")
    (main / "src/pkg/core.py").write_text(CORE)
    (main / "tests/test_core.py").write_text(WEAK)
    (main / ".gitignore").write_text("__pycache__/\n")
    git(main, "init", "-q", "-b", "main")
    git(main, "add", "-A")
    git(main, "commit", "-qm", "init")
    base = git(main, "rev-parse", "HEAD").strip()
    tree = root / "wt"
    git(main, "worktree", "add", "-q", "-b", "task", str(tree), base)
    (tree / "tests/test_new.py").write_text(new_test)
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "a new test")
    return tree, base


def _gate(tmp_path: Path, new_test: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    tree, base = _src_layout_worktree(tmp_path, new_test)
    source = (tree / "src/pkg/core.py").read_text()
    mutant = next(m for m in generate_mutants(tree / "src/pkg/core.py", source, "src/pkg/core.py")
                  if m.orig == "s += x" and m.mut == "s -= x")  # fmt: skip
    evidence = tmp_path / "evidence.json"
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(KillClaims(base, sys.executable, str(evidence), [mutant], "kill-1").as_dict()))
    # The environment the launcher gives the task's check (the worktree's `src` first).
    env = command_env(tree, main_root=tmp_path / "main", run_id="r", task_id="kill-1")
    assert env["PYTHONPATH"].split(":")[0] == str(tree / "src")
    done = subprocess.run([sys.executable, "-m", "launcher.gates.mutant_kill", str(claims)], cwd=tree, env=env,
                          text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip
    return done, json.loads(evidence.read_text())


def test_a_test_that_kills_the_mutant_in_a_src_layout_is_accepted(tmp_path: Path) -> None:
    done, verdict = _gate(tmp_path, KILLING)

    assert done.returncode == 0, done.stdout + done.stderr
    assert verdict["accepted"] is True
    assert list(verdict["killed_by"].values()) == [["tests/test_new.py::test_sum"]]  # type: ignore[union-attr]
    assert "[launcher] accepted" in done.stdout


def test_a_test_that_does_not_kill_the_mutant_in_a_src_layout_is_refused(tmp_path: Path) -> None:
    done, verdict = _gate(tmp_path, WEAK.replace("test_zero", "test_zero_again"))

    assert done.returncode == 1, done.stdout + done.stderr
    assert verdict["accepted"] is False
    assert "they do not detect it" in done.stdout
