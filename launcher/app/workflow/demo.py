"""`launcher demo --workflow`: feature-development on the sample repository with scripted
agents: every phase, parallel groups, a checkpoint answered, a failing phase paused and retried,
every artifact written."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher.app.context import EventSink
from launcher.app.demo import in_sample, make_sample_repo, sample_git
from launcher.app.workflow import engine
from launcher.models.workflow import WorkflowState

TEST_CMD = "python3 -m unittest discover -s tests -t . -q"
MUL_TEST = ("import unittest\n\nfrom calc.core import mul\n\n\nclass MulTest(unittest.TestCase):\n"
            "    def test_mul(self):\n        self.assertEqual(mul(4, 5), 20)\n")


def _doc(path: str, text: str) -> list[dict[str, Any]]:
    return [{"say": f"writing {path}"}, {"write": path, "content": text}]


def demo_scripts(marker: Path) -> dict[str, Any]:
    """Each role's scripted work; the testing expert fails until `marker` exists (a test service
    that is down on the first try), so the Test phase pauses the workflow and a retry passes."""
    gate = f"import os, sys; sys.exit(0 if os.path.exists({str(marker)!r}) else 1)"
    return {
        "plan-architecture-expert": _doc("docs/workflow/plan.md", "# Plan\n\n1. mul() in calc.core\n2. banner\n"),
        "plan-product-expert": _doc("docs/workflow/stories.md", "# Stories\n\n- As a user I multiply.\n"),
        "design-database-expert": _doc("docs/workflow/design-data.md", "# Data\n\nNo storage change.\n"),
        "design-api-expert": _doc("docs/workflow/design-api.md", "# API\n\n`mul(a, b) -> a * b`\n"),
        "design-ui-ux-expert": _doc("docs/workflow/design-ui.md", "# UI\n\nThe banner names mul.\n"),
        "implement-backend-expert": [{"sleep": 0.3}, {"append": "calc/core.py",
                                                      "content": "\n\ndef mul(a, b):\n    return a * b\n"}],
        "implement-frontend-expert": [{"sleep": 0.3}, {"replace": "calc/core.py", "old": 'GREETING = "calc 1.0"',
                                                       "new": 'GREETING = "calc 1.1: now with mul"'}],
        "test-testing-expert": [{"run": [sys.executable, "-c", gate]}, {"write": "tests/test_mul.py",
                                                                         "content": MUL_TEST}],
        "review-security-expert": _doc("docs/workflow/review-security.md", "# Security\n\nNo input parsing.\n"),
        "review-code-review-expert": _doc("docs/workflow/review-quality.md", "# Quality\n\nSmall and tested.\n"),
    }


MAX_RETRIES = 1  # the demo's one planned failure (the test service down) is retried once


async def run_workflow_demo(emit: EventSink, say: Callable[[str], None], root: Path) -> tuple[Path, WorkflowState]:
    """The workflow demo in the sample repo made in `root` (app/demo.new_sample_dir); an error
    removes or names the sample (`in_sample`)."""
    return await in_sample(root, lambda: _workflow_demo(emit, say, root))


async def _workflow_demo(emit: EventSink, say: Callable[[str], None], root: Path) -> tuple[Path, WorkflowState]:
    repo = make_sample_repo(root)
    (repo / "launcher.toml").write_text(f'[roles]\ndefault = "scripted"\n\n[workflow]\ntest_command = "{TEST_CMD}"\n')
    sample_git(repo, "add", "launcher.toml")
    sample_git(repo, "commit", "-q", "-m", "launcher.toml: scripted roles")
    # this demo's own, in its repo's state folder (never beside it, in the user's --where)
    marker = repo / ".launcher" / "demo-test-service-up"
    state = await engine.create(repo, "feature-development", {"feature": "a mul() function"},
                                {"scripts": demo_scripts(marker)})
    say(f"workflow {state.id}: feature-development in {repo}")
    retries = 0
    while not state.status.is_final:
        if state.status.value == "waiting_checkpoint":
            say(f"checkpoint after {_last_done(state)}: answered with 'plan-approved'")
            state = await engine.record_checkpoint(repo, state.id, "plan-approved")
        elif state.status.value == "paused" and state.paused_on:
            if retries == MAX_RETRIES:  # the retry failed too: show it paused, never loop for ever
                say(f"phase {state.paused_on} failed again after the retry; the workflow stays paused")
                break
            retries += 1
            say(f"phase {state.paused_on} failed and paused the workflow; the test service is fixed, retrying")
            marker.write_text("up\n")
            state = await engine.resume(repo, state.id, emit, retry_failed=True)
        else:
            state = await engine.run_next(repo, state.id, emit)
            say(f"{_last_done(state)} -> workflow {state.status.value}")
    return repo, state


def _last_done(state: WorkflowState) -> str:
    touched = [p for p in state.phases if p.finished_at]
    return max(touched, key=lambda p: p.finished_at or 0).id if touched else "-"
