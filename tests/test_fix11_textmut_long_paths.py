"""A tracked path git handles (shorter than PATH_MAX relative to the tree) is handled by the launcher
too, although its absolute path under a task's worktree root (longer than the main checkout's)
passes PATH_MAX: the launcher reaches such files relative to the tree, as git does. Whatever the
agent does with the deep file (edits it and leaves the commit to the launcher, commits itself,
adds a file beside it, deletes it, or leaves it alone) the run ends as it would for a short
path, its work landed, never as a launcher bug (exit 70)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git
from helpers import launcher_cli

PATH_MAX = os.pathconf("/", "PC_PATH_MAX")

AGENTS = {
    "edits": 'cd "$(dirname "$DEEP")" && echo more >> f.txt',
    "commits": 'cd "$(dirname "$DEEP")" && echo more >> f.txt && git add f.txt && '
               'git -c user.name=a -c user.email=a@b commit -qm "agent commit"',
    "adds": 'cd "$(dirname "$DEEP")" && echo new > g.txt',
    "deletes": 'cd "$(dirname "$DEEP")" && rm f.txt',
    "leaves_it": "echo other > other.txt",
}  # fmt: skip
CLAIMS = {"edits": "f.txt", "commits": "f.txt", "adds": "g.txt", "deletes": "f.txt", "leaves_it": None}


def _deep_repo(tmp_path: Path) -> tuple[Path, str, dict[str, str]]:
    """A repository whose deep file fits PATH_MAX in the main checkout but not under the worktree
    root (XDG_CACHE_HOME made long), and the environment that puts worktrees there."""
    root = tmp_path / "p"
    root.mkdir()
    cache = tmp_path / ("c" * 200)
    budget = PATH_MAX - 1 - len(os.fsencode(root)) - 1 - 8  # the main checkout's absolute path fits
    parts, used = [], len("/f.txt")
    while used + 201 <= budget:
        parts.append("d" * 200)
        used += 201
    parts.append("e" * (budget - used - 1))
    rel = "/".join(parts) + "/f.txt"
    assert len(os.fsencode(root / rel)) < PATH_MAX < len(os.fsencode(cache)) + len(rel) + 40
    os.makedirs(root / os.path.dirname(rel))
    (root / rel).write_text("x\n")
    git(root, "init", "-q", "-b", "main")
    return root, rel, {"XDG_CACHE_HOME": str(cache), "DEEP": rel}


@pytest.mark.parametrize("behaviour", sorted(AGENTS))
def test_a_deep_tracked_file_is_handled_like_any_file(tmp_path: Path, behaviour: str) -> None:
    root, rel, env = _deep_repo(tmp_path)
    claim = rel.replace("f.txt", CLAIMS[behaviour]) if CLAIMS[behaviour] else "other.txt"
    (root / "agent.sh").write_text(
        AGENTS[behaviour] + "\n"
        'printf \'{"contract_version":"1","task_id":"%s","status":"done","summary":"s","files_changed":["%s"],'
        '"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"x"}\' "$LAUNCHER_TASK_ID" '
        f'"{claim}" > "$LAUNCHER_CONTRACT"\n'
    )
    (root / "plan.toml").write_text('[agents.a]\nadapter = "command"\ncommand = ["bash", "agent.sh"]\n'
                                    'env = ["DEEP"]\n[[task]]\nid = "t"\nagent = "a"\nprompt = "x"\n')  # fmt: skip
    (root / ".gitignore").write_text(".launcher/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    done = launcher_cli(root, "run", "plan.toml", env=env, timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "status: succeeded" in said, said
    landed = git(root, "ls-files", "-z").split("\0")
    expected = {"edits": "more", "commits": "more", "adds": "new", "deletes": None, "leaves_it": "other"}[behaviour]
    if behaviour == "deletes":
        assert rel not in landed and not os.path.lexists(root / rel)
    elif behaviour == "leaves_it":
        assert (root / "other.txt").read_text() == "other\n" and rel in landed
    else:
        target = rel.replace("f.txt", CLAIMS[behaviour])
        assert target in landed and expected in (root / target).read_text()


def test_an_include_file_too_deep_for_the_worktree_is_named_not_left_out_silently(tmp_path: Path) -> None:
    root, rel, env = _deep_repo(tmp_path)
    secret = rel.replace("f.txt", "s.env")  # ignored, matched by .worktreeinclude
    (root / secret).write_text("TOKEN=abcdefghijklmnopqrstuvwxyz\n")
    (root / ".gitignore").write_text(".launcher/\n*.env\n")
    (root / ".worktreeinclude").write_text("*.env\n")
    (root / "agent.sh").write_text(
        "echo other > other.txt\n"
        'printf \'{"contract_version":"1","task_id":"%s","status":"done","summary":"s","files_changed":'
        '["other.txt"],"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"x"}\' '
        '"$LAUNCHER_TASK_ID" > "$LAUNCHER_CONTRACT"\n'
    )
    (root / "plan.toml").write_text('[agents.a]\nadapter = "command"\ncommand = ["bash", "agent.sh"]\n'
                                    '[[task]]\nid = "t"\nagent = "a"\nprompt = "x"\n')  # fmt: skip
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    done = launcher_cli(root, "run", "plan.toml", env=env, timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "1 path(s) of .worktreeinclude were not copied: their absolute path in the worktree passes" in said, said
    assert "s.env'); set a shorter `worktree_root` in launcher.toml" in said, said
