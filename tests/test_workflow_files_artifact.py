"""A phase's `files.json` lists the files its own landed tasks changed: never a file that reached
the target meanwhile by other hands (here the operator's commit while the failed phase was
paused, before `resume --retry-failed`). Real repositories, the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import git, write_files
from tests.helpers import launcher_cli
from tests.test_workflows import _create, _scripts, wf_repo  # noqa: F401  (the fixture)


def test_files_json_lists_only_what_the_phases_own_tasks_changed(wf_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    gate = tmp_path / "gate"
    scripts = _scripts(wf_repo)
    fail_until_gate = f"import os, sys; sys.exit(0 if os.path.exists({str(gate)!r}) else 1)"
    scripts["build-backend"] = [{"run": [sys.executable, "-c", fail_until_gate]}, *scripts["build-backend"]]
    wid = _create(wf_repo, scripts)
    assert launcher_cli(wf_repo, "workflow", "next", wid, "--quiet").returncode == 0  # plan
    launcher_cli(wf_repo, "workflow", "checkpoint", wid, "--signal", "ok")
    failed = json.loads(launcher_cli(wf_repo, "workflow", "next", wid, "--quiet", "--json").stdout)
    assert failed["status"] == "paused" and failed["paused_on"] == "build", failed

    write_files(wf_repo, {"USER_NOTES.md": "the operator's own notes\n"})  # lands on main meanwhile
    git(wf_repo, "add", "USER_NOTES.md")
    git(wf_repo, "commit", "-q", "-m", "the operator's own commit")
    gate.touch()
    retried = launcher_cli(wf_repo, "workflow", "resume", wid, "--retry-failed", "--quiet", "--json")
    assert json.loads(retried.stdout)["phases"][1]["status"] == "succeeded", retried.stdout

    listed = json.loads((wf_repo / ".launcher" / "workflows" / wid / "build" / "files.json").read_text())
    assert sorted((f["path"], f["change"]) for f in listed["files"]) == [
        ("app.py", "modified"), ("web/index.html", "created")], listed
