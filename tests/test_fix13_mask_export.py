"""An exported task's contract carries no value the run passed to its agent.

`launcher run --shard I/N --no-merge --export DIR` masked the failure messages of the tasks it
did not export, but wrote each approved task's contract as the agent wrote it: an agent that
echoed OPENAI_API_KEY into its summary published the key in `launcher-export.json`, a CI
artifact. The manifest now holds `***(OPENAI_API_KEY)`, and `land --from` takes it as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git
from tests.test_fix13_mask_journal import KEY, MARK, plan_text


def test_an_approved_tasks_contract_is_exported_masked_and_lands_from_the_export(repo: Path, tmp_path: Path) -> None:
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text("true"))
    export = tmp_path / "export"
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    done = subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--shard", "1/1", "--no-merge",
                           "--export", str(export)], cwd=repo, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert KEY not in done.stdout + done.stderr
    manifest = json.loads((export / "launcher-export.json").read_text())
    (task,) = manifest["tasks"]
    assert task["contract"]["summary"] == f"done with {MARK}"
    assert task["contract"]["llm_observations"] == f"used {MARK}"
    for path in export.iterdir():
        assert KEY.encode() not in path.read_bytes(), path
    landed = subprocess.run([sys.executable, "-m", "launcher", "land", "--from", str(export)], cwd=repo,
                            capture_output=True, text=True, timeout=180)  # elsewhere: no key set
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert KEY not in landed.stdout + landed.stderr
