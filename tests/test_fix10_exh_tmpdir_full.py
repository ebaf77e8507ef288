"""A full disk is said where it is: a write that failed for want of space without naming its
file (a temporary file: `tempfile.TemporaryFile`, O_TMPFILE) names the file system of the
launcher's that is full, $TMPDIR included; when none is full any more, every place the launcher
writes to, $TMPDIR included."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from launcher.errors import disk_problem


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounts a small tmpfs: needs root")
def test_a_full_tmpdir_is_named_with_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = tmp_path / "smalltmp"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)]).returncode:
        pytest.skip("mount refused")
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(small))  # $TMPDIR, as tempfile reads it
        monkeypatch.chdir(tmp_path)
        filler = small / "filler"  # what a build or an agent wrote there
        with pytest.raises(OSError), filler.open("wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        os.truncate(filler, filler.stat().st_size - 16 * 4096)  # a few pages left
        with pytest.raises(OSError) as raised, tempfile.TemporaryFile() as scratch:
            scratch.write(b"x" * (1 << 20))
            scratch.flush()
            os.fsync(scratch.fileno())
        assert raised.value.errno == errno.ENOSPC and raised.value.filename is None
        problem = disk_problem(raised.value)
        assert problem is not None and problem.error_key == "disk_full"
        assert problem.where == str(small)
        assert f"free space on the file system holding {small} (the temporary directory, $TMPDIR;" in problem.message
        assert "while writing a file" not in problem.message
    finally:
        subprocess.run(["umount", "-l", str(small)])


def test_a_nameless_full_write_lists_every_place_the_launcher_writes_to(tmp_path: Path) -> None:
    problem = disk_problem(OSError(errno.ENOSPC, "No space left on device"))
    assert problem is not None
    for place in ("the checkout's .launcher/", "$XDG_CACHE_HOME/launcher", "$TMPDIR", tempfile.gettempdir()):
        assert place in problem.message
