"""The lead's own fixes of the thirteenth session (review18), each a specification."""

from __future__ import annotations

from pathlib import Path

from conftest import git
from helpers import run_plan, task


def _writes(name: str) -> dict[str, object]:
    return {"id": name, "agent": "scripted", "prompt": f"write {name}.txt",
            "script": [{"write": f"{name}.txt", "content": f"{name}\n"}]}


# 01 (realproj18): a squashed landing, one parent, was titled "Merge sq-a (...)".

def test_a_squashed_landing_is_titled_as_a_squash_and_a_merged_one_as_a_merge(repo: Path) -> None:
    squashed = run_plan(repo, [_writes("sq")], strategy="squash")
    merged = run_plan(repo, [_writes("mg")])

    assert task(squashed, "sq").state == "merged" and task(merged, "mg").state == "merged"
    log = git(repo, "log", "--format=%s|%P", "main").splitlines()
    squash_line = next(line for line in log if "(launcher/" in line and "/sq)" in line)
    merge_line = next(line for line in log if "(launcher/" in line and "/mg)" in line)
    assert squash_line.startswith("Squash sq ") and len(squash_line.split("|")[1].split()) == 1
    assert merge_line.startswith("Merge mg ") and len(merge_line.split("|")[1].split()) == 2
