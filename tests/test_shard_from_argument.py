"""`land --from` names an export directory: given the manifest file in it (an easy slip) or any
other file, the refusal says so and how to fix it, not that a valid manifest is unreadable."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import launcher_cli


def test_from_naming_the_manifest_file_says_to_pass_its_directory(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    export = tmp_path / "export"
    launcher_cli(repo, "run", str(plan), "--shard", "1/1", "--no-merge", "--export", str(export), "--quiet")
    manifest = export / "launcher-export.json"
    json.loads(manifest.read_text())  # a valid manifest

    refused = launcher_cli(repo, "land", "--from", str(manifest))

    assert refused.returncode == 2
    assert "not readable JSON" not in refused.stderr
    assert "--from names its manifest launcher-export.json, not an export directory" in refused.stderr
    assert f"--from {export}" in refused.stderr


def test_from_naming_some_other_file_says_it_is_not_a_directory(repo: Path) -> None:
    refused = launcher_cli(repo, "land", "--from", str(repo / "app.py"))

    assert refused.returncode == 2
    assert "--from names a file, not an export directory" in refused.stderr
