"""A key the launcher handed an agent is masked wherever that agent's output is reported.

An agent given OPENAI_API_KEY through its `env` that printed it while failing (a misconfigured
wrapper, a chatty CLI) had it published verbatim: the failure message (its stderr tail) went
into the journal, `--json`, the GitHub step summary, the CI log and the export manifest's
`not_exported` (a CI artifact). Now each value of a variable passed to an agent (its `env`, its
CLI's keys) or a check (`check_env`), of 8 characters or more, is reported as `***(NAME)`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from launcher.agents.passed_env import plan_secrets, round_secrets
from launcher.models.redact import mask

KEY = "sk-test-FAKE123export"


def _failing_shard(repo: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    plan = tmp_path / "plan.toml"
    plan.write_text('[agents.bot]\nadapter = "command"\n'
                    'command = ["sh", "-c", "echo \\"auth failed for key $OPENAI_API_KEY\\" >&2; exit 1"]\n'
                    'env = ["OPENAI_API_KEY"]\n\n[[task]]\nid = "t"\nagent = "bot"\nprompt = "p"\n')
    summary, export = tmp_path / "summary.md", tmp_path / "export"
    env = {**os.environ, "OPENAI_API_KEY": KEY, "GITHUB_STEP_SUMMARY": str(summary)}
    done = subprocess.run([sys.executable, "-m", "launcher", "run", str(plan), "--shard", "1/1", "--no-merge",
                           "--export", str(export)], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    return done, summary, export


def test_a_failing_agents_printed_key_is_masked_in_the_manifest_summary_log_and_json(
        repo: Path, tmp_path: Path) -> None:
    done, summary, export = _failing_shard(repo, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    manifest = json.loads((export / "launcher-export.json").read_text())
    assert manifest["not_exported"]["t"] == \
        "failed: agent crashed: exit code 1: auth failed for key ***(OPENAI_API_KEY)"
    assert KEY not in (export / "launcher-export.json").read_text()
    assert KEY not in summary.read_text()
    assert KEY not in done.stdout + done.stderr  # the CI log
    status = subprocess.run([sys.executable, "-m", "launcher", "status", "--json"], cwd=repo,
                            capture_output=True, text=True, timeout=60)
    assert "***(OPENAI_API_KEY)" in status.stdout
    assert KEY not in status.stdout


def test_only_the_values_passed_beyond_the_allowlist_and_long_enough_are_masked() -> None:
    parent = {"PATH": "/usr/local/bin:/usr/bin", "OPENAI_API_KEY": KEY, "DEBUG": "1", "OTHER": "not-passed-1234"}
    env = {"PATH": parent["PATH"], "OPENAI_API_KEY": KEY, "DEBUG": "1", "LAUNCHER_TASK_ID": "t"}
    secrets = round_secrets(env, parent)
    assert secrets == {KEY: "OPENAI_API_KEY"}
    assert mask(f"PATH={parent['PATH']} key={KEY} debug=1", secrets) == \
        f"PATH={parent['PATH']} key=***(OPENAI_API_KEY) debug=1"


def test_a_report_masks_what_the_plan_passes_to_checks_and_what_adapters_pass_unasked() -> None:
    plan = {"run": {"check_env": ["DB_PASSWORD"]}, "agents": {"bot": {"env": ["MY_TOKEN"]}},
            "task": [{"id": "t", "check_env": ["TASK_ONLY"]}]}
    parent = {"DB_PASSWORD": "hunter2-hunter2", "MY_TOKEN": "tok-123456789", "TASK_ONLY": "task-secret-1",
              "ANTHROPIC_API_KEY": "sk-ant-000000000", "UNRELATED": "not-passed-anywhere"}
    secrets = plan_secrets(plan, parent)
    assert set(secrets.values()) == {"DB_PASSWORD", "MY_TOKEN", "TASK_ONLY", "ANTHROPIC_API_KEY"}
