"""`launcher choose` on a task that is not escalated quotes the task's message cut at a word.

The refusal says what state the task is in and why, from its message; a long message (a check's
output, a contract problem) is shortened at a word boundary with an ellipsis, never mid-word
("(no out), not escalated"), and the refusal is exit 2 with the fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import launcher_cli


def test_a_refused_choice_quotes_a_long_task_message_cut_at_a_word(repo: Path, tmp_path: Path) -> None:
    words = " ".join(f"word{n:03d}" for n in range(60))  # ~480 characters, none cut in a fair cut
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({
        "task": [{"id": "t", "script": [{"say": words}, {"exit": 3}]}],
    }))
    first = launcher_cli(repo, "run", str(plan), "--json")
    assert first.returncode == 1, first.stdout + first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    refused = launcher_cli(repo, "choose", run_id, "t", "approve")
    said = refused.stderr
    assert refused.returncode == 2, refused.stdout + said
    quoted = re.search(r"task 't' is failed \((.*)\), not escalated", " ".join(said.split()))
    assert quoted, said
    inside = quoted.group(1)
    assert len(inside) <= 170, inside
    last = inside.rsplit(" ", 1)[-1]
    assert last == "…" or re.fullmatch(r"word\d{3}|\S+", last), inside
    before = inside.removesuffix(" …").rsplit(" ", 1)[-1]
    assert not re.fullmatch(r"wor|word\d{0,2}", before), f"cut mid-word: {inside!r}"
    assert "Fix:" in said
