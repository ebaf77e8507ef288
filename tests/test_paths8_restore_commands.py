"""The resolution round's feedback says how to put back either side of each conflicted path, and
that command does it, for every kind of file and every name: run by `sh` (dash) or bash at the
top of the worktree, the path then holds exactly that side's entry (a symlink as the link, never
written through; an executable with its bit; a file where a directory was), or no file, and
nothing else changes. Names with a quote, a space, a leading `-`, a `*`, a newline, an ESC or a
byte that is not UTF-8 are quoted for the shell and taken literally."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher.git.resolution import restore_command

NAMES = [
    "plain.txt",
    "with space.txt",
    "sq'uote.txt",
    "-leading.txt",
    "--cached",
    "star*.txt",
    "back`tick.txt",
    "pct%d\\x.txt",
    "dollar$HOME;echo x.txt",
    "new\nline.txt",
    "trailing newline\n",
    "esc\x1b[2J.txt",
    "tab\there.txt",
    os.fsdecode(b"lat\xe9.txt"),
    "dir/nested name.txt",
]
SHELLS = [shell for shell in ("sh", "bash") if shutil.which(shell)]


def blob(repo: Path, content: bytes) -> str:
    done = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=content, capture_output=True, check=True
    )
    return done.stdout.decode().strip()


def entry(repo: Path, path: str) -> str:
    """`mode oid` of `path` in the index ("" when it has none)."""
    listed = subprocess.run(
        ["git", "ls-files", "-s", "-z", "--", os.fsencode(path)], cwd=repo, capture_output=True, check=True
    ).stdout
    for item in listed.split(b"\0"):
        meta, _, name = item.partition(b"\t")
        if name == os.fsencode(path):
            mode, oid, _stage = meta.decode().split()
            return f"{mode} {oid}"
    return ""


def run_in_shell(shell: str, repo: Path, command: str) -> None:
    done = subprocess.run([shell, "-c", command], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, (command, done.stderr)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A repository whose every NAME is a committed file, next to files a wrong command would hit."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "dir").mkdir()
    for name in NAMES:
        Path(root, name).write_bytes(b"merged\n")
    (root / "starX.txt").write_text("a sibling a pattern would match\n")
    (root / "target.txt").write_text("tracked target\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", NAMES, ids=repr)
def test_each_sides_command_restores_that_side_exactly(base: Path, shell: str, name: str) -> None:
    path = base / name
    sides = {
        "regular file": ("100644", b"one side's text\n"),
        "executable": ("100755", b"#!/bin/sh\necho hi\n"),
        "symlink": ("120000", b"target.txt"),
    }
    for kind, (mode, content) in sides.items():
        oid = blob(base, content)
        run_in_shell(shell, base, restore_command(name, f"{mode} {oid}"))
        assert entry(base, name) == f"{mode} {oid}", kind
        if mode == "120000":
            assert path.is_symlink() and os.readlink(path) == "target.txt", kind
        else:
            assert not path.is_symlink() and path.read_bytes() == content, kind
            assert bool(path.stat().st_mode & 0o100) == (mode == "100755"), kind
    # From the symlink back to a regular file: the link is replaced, never written through.
    oid = blob(base, b"regular again\n")
    run_in_shell(shell, base, restore_command(name, f"100644 {oid}"))
    assert not path.is_symlink() and path.read_bytes() == b"regular again\n"
    assert (base / "target.txt").read_text() == "tracked target\n"
    # "No file" removes exactly this path.
    run_in_shell(shell, base, restore_command(name, None))
    assert entry(base, name) == "" and not os.path.lexists(path)
    assert (base / "starX.txt").read_text() == "a sibling a pattern would match\n"
    others = set(NAMES) - {name}
    assert all(entry(base, other) for other in others)  # nothing else left the index


@pytest.mark.parametrize("shell", SHELLS)
def test_a_file_side_replaces_a_directory_and_no_file_leaves_a_directory_alone(base: Path, shell: str) -> None:
    oid = blob(base, b"a file now\n")
    run_in_shell(shell, base, restore_command("dir", f"100644 {oid}"))
    assert (base / "dir").read_bytes() == b"a file now\n" and entry(base, "dir") == f"100644 {oid}"
    git(base, "reset", "-q", "--hard")
    # "no file at dir" where dir is a directory: git refuses to remove it (no -r), nothing changes
    subprocess.run(["sh", "-c", restore_command("dir", None)], cwd=base, capture_output=True)
    assert (base / "dir" / "nested name.txt").read_bytes() == b"merged\n"


AGENT = r"""
import json, os, re, subprocess, sys
tid = sys.argv[1]
fb = os.environ.get("LAUNCHER_FEEDBACK", "")
if fb and os.path.isfile(fb):
    text = open(fb).read()
    open(os.path.join(os.environ["OUT"], "feedback.md"), "w").write(text)
    for line in text.splitlines():  # link1: main's link; the odd file: this branch's version
        side = "main's version" if line.startswith("- `link1`") else "your branch's version"
        found = re.search(side + r": (?:no file \()?(`+) ?(.*?) ?\1(?!`)", line)
        if line.startswith("- ") and found:
            subprocess.run(["sh", "-c", found.group(2)], check=True)   # exactly what the feedback says
else:
    os.remove("link1"); os.symlink("target2.txt" if tid == "a" else "no-such", "link1")
    open(NAME, "w").write(tid + "\n")
json.dump({"contract_version": "1", "task_id": tid, "status": "done", "summary": "s",
           "files_changed": ["link1", NAME], "tests_added": [], "decisions": [], "blockers": [],
           "llm_observations": "o"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
"""


def test_an_agent_that_runs_its_feedbacks_commands_gets_its_own_versions_back(repo: Path, tmp_path: Path) -> None:
    # Tasks b and a each point the symlink link1 elsewhere and rewrite an oddly named file; b
    # lands first, a gets a resolution round and runs the commands its feedback gives: main's
    # version of link1 (b's link, where a's link1 points at the tracked target2.txt), its own
    # version of the file. (Git left a's own link1 in the merge: keeping it is no resolution.)
    name = "sq'uote\n-name.txt"
    out = tmp_path / "out"
    out.mkdir()
    (repo / "target1.txt").write_text("t1\n")
    (repo / "target2.txt").write_text("t2\n")
    (repo / "link1").symlink_to("target1.txt")
    (repo / name).write_text("base\n")
    (repo / "agent.py").write_text(f"NAME = {name!r}\n" + AGENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "links")
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "run": {"max_parallel": 1, "on_conflict": "agent"},
                "agents": {
                    "bot": {"adapter": "command", "command": [sys.executable, "agent.py", "{task_id}"], "env": ["OUT"]}
                },
                "task": [{"id": "b", "agent": "bot", "prompt": "x"}, {"id": "a", "agent": "bot", "prompt": "x"}],
            }
        )
    )
    env = {"OUT": str(out)}
    assert launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet", env=env).returncode == 0
    landed = launcher_cli(repo, "land", "--json", env=env)
    feedback = (out / "feedback.md").read_text()
    # the odd name is one line of the feedback, quoted as git quotes it
    assert '- ``"sq\'uote\\n-name.txt"``' not in feedback  # (no backtick in it: a single one)
    assert '- `"sq\'uote\\n-name.txt"`: changed on both sides' in feedback, feedback
    report = json.loads(landed.stdout)
    assert {t["id"]: t["merged"] for t in report["tasks"]} == {"a": True, "b": True}, landed.stdout
    assert os.readlink(repo / "link1") == "no-such"  # main's version, the link itself
    assert (repo / "target2.txt").read_text() == "t2\n"  # not written through the link
    assert (repo / name).read_text() == "a\n"
    assert re.search(r"\bgit cat-file -p\b", feedback) is None
