"""Best-of-N's "smallest diff" tiebreak counts a binary file by its size, not as one line: an
attempt adding a large binary does not beat one changing two lines of text."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import launcher_cli

BINARY = "python3 -c \"open('blob.bin','wb').write(bytes(range(256))*4000 + b'\\\\n'*5000)\""
TEXT = "printf 'one\\ntwo\\n' > small.txt"


def test_a_large_binary_is_no_smaller_diff_than_two_text_lines(repo: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "t", "attempts": 2, "prompt": "work", "script": [
        {"run": ["sh", "-c", f"if [ $LAUNCHER_BEST_OF_ATTEMPT = 1 ]; then {BINARY}; else {TEXT}; fi"]}]}]}))
    ran = launcher_cli(repo, "run", str(plan), "--json", "--quiet")
    assert ran.returncode == 0, ran.stderr
    rows = {row["id"]: row for row in json.loads(ran.stdout)["tasks"]}
    assert rows["t"]["state"] == "merged" and rows["t"]["files"] == ["small.txt"], rows["t"]
    assert (repo / "small.txt").exists() and not (repo / "blob.bin").exists()
