"""A command whose stdout or stderr is a file in a directory the launcher's user cannot search
(a CI wrapper's root-only log directory: `runuser -u ci -- launcher runs > /var/log/ci/x.log`)
runs as usual: the launcher only writes to the descriptor it was given, and what it cannot look
into is no checkout it guards."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import launcher

SOURCE = Path(launcher.__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _searchable_by_all(path: Path) -> bool:
    return all(os.stat(folder).st_mode & 0o001 for folder in (path, *path.parents))


@pytest.mark.skipif(os.geteuid() != 0 or not SYSTEM_PYTHON.exists() or not _searchable_by_all(SOURCE),
                    reason="runs the launcher's code as user nobody: needs root and a python nobody can run")
def test_output_files_in_a_directory_the_user_cannot_search_are_no_crash(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)  # root's; nobody cannot look inside
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from launcher.store import own_files; "
            "own_files.record_own_outputs(); sys.stderr.write('recorded\\n')")
    with (private / "out.log").open("w") as out, (private / "err.log").open("w") as err:
        done = subprocess.run([str(SYSTEM_PYTHON), "-c", code, str(SOURCE)], stdout=out, stderr=err,
                              cwd="/", user=65534, group=65534, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    said = (private / "err.log").read_text()
    assert done.returncode == 0, said
    assert said == "recorded\n"
