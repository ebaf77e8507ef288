"""`index_flags.all_plain` against what git itself prints, for every tag it can print."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from launcher.git.index_flags import all_plain

TAGS = ["H", "S", "M", "R", "C", "K", "?", "U", "h", "s", "m", "r", "c", "k"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def test_flags_git_sets_are_seen(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    for name in ("a.txt", "H b.txt", "dir/c.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    _git(tmp_path, "add", "-A")
    assert all_plain(_git(tmp_path, "ls-files", "-v", "-z"))
    for flag, path in (("--assume-unchanged", "dir/c.txt"), ("--skip-worktree", "a.txt")):
        _git(tmp_path, "update-index", flag, path)
        assert not all_plain(_git(tmp_path, "ls-files", "-v", "-z")), flag
        _git(tmp_path, "update-index", flag.replace("--", "--no-", 1), path)
    assert all_plain(_git(tmp_path, "ls-files", "-v", "-z"))


@given(st.lists(st.tuples(st.sampled_from(TAGS), st.text(st.characters(blacklist_characters="\0"), min_size=1)),
                max_size=20))
def test_all_plain_is_every_tag_being_h(entries: list[tuple[str, str]]) -> None:
    listed = "".join(f"{tag} {path}\0" for tag, path in entries)
    assert all_plain(listed) == all(tag == "H" for tag, _ in entries)
