"""An agent's restricting keys are honoured or refused, never silently dropped or widened:
a permission_mode the adapter does not know is a plan/config error (exit 2) naming the key and the
adapter's modes (gemini turned "auto-edit" into `--approval-mode yolo`, its widest mode), an
adapter with no permission modes refuses the key, and `max_turns` / `budget_usd` that only Claude
Code enforces are said at the run's start when the task's agent cannot enforce them."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import launcher_cli

TASK = '[[task]]\nid = "t1"\nagent = "{agent}"\nprompt = "x"\n'
SH = 'command = ["sh", "-c", "echo hi > hi.txt", "{prompt}"]\n'


def test_an_unknown_gemini_permission_mode_is_a_plan_error_listing_its_modes(repo: Path) -> None:
    plan = repo / "p.toml"
    plan.write_text('[agents.g]\nadapter = "gemini"\npermission_mode = "auto-edit"\n' + TASK.format(agent="g"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "agents.g.permission_mode" in done.stderr
    assert "'default', 'auto_edit', 'yolo'" in done.stderr


def test_an_unknown_codex_permission_mode_in_launcher_toml_is_a_config_error(repo: Path) -> None:
    (repo / "launcher.toml").write_text('[agents.c]\nadapter = "codex"\npermission_mode = "acceptEdits"\n')
    plan = repo / "p.toml"
    plan.write_text(TASK.format(agent="c"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "launcher.toml" in done.stderr and "agents.c.permission_mode" in done.stderr
    assert "'read-only', 'workspace-write', 'danger-full-access', 'bypassPermissions'" in done.stderr


def test_a_permission_mode_on_an_adapter_without_modes_is_refused(repo: Path) -> None:
    plan = repo / "p.toml"
    plan.write_text('[agents.sh]\nadapter = "command"\npermission_mode = "read-only"\n' + SH
                    + TASK.format(agent="sh"))

    done = launcher_cli(repo, "run", str(plan), "--quiet")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "agents.sh.permission_mode" in done.stderr and "has no permission modes" in done.stderr


def test_limits_the_adapter_cannot_enforce_are_said_at_the_run_start(repo: Path) -> None:
    plan = repo / "p.toml"
    plan.write_text('[agents.sh]\nadapter = "command"\nmax_turns = 3\nbudget_usd = 1.5\n' + SH
                    + TASK.format(agent="sh") + "budget_usd = 0.5\n")

    done = launcher_cli(repo, "run", str(plan), "--json")

    assert done.returncode == 0, done.stderr
    notes = [n["message"] for n in json.loads(done.stdout)["notes"]]
    assert any(n.startswith("agents.sh: max_turns and budget_usd not enforced") for n in notes), notes
    assert any(n.startswith("task 't1': budget_usd not enforced") for n in notes), notes
