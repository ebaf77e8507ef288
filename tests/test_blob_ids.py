"""The launcher's own `git hash-object --no-filters` (the byte check of its commits) gives git's
object id for any content, in both object formats, and leaves to git what it does not read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.git import filters


def _git_id(repo: Path, name: str) -> str:
    done = subprocess.run(["git", "hash-object", "--no-filters", name], cwd=repo, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_the_id_is_gits(tmp_path: Path, object_format: str, data: bytes) -> None:
    repo = tmp_path / object_format
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q", f"--object-format={object_format}", str(repo)], check=True)
    (repo / "f").write_bytes(data)
    want = _git_id(repo, "f")
    assert filters.raw_blob_id(repo / "f", want) == want


def test_what_it_does_not_read_is_left_to_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_bytes(b"x" * 10)
    monkeypatch.setattr(filters, "_HASHED_HERE", 5)
    assert filters.raw_blob_id(tmp_path / "f", "0" * 40) is None  # larger than read here
    assert filters.raw_blob_id(tmp_path / "missing", "0" * 40) is None
    assert filters.raw_blob_id(tmp_path / "f", "abc") is None  # no known object format
