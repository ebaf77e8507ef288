"""A shard run (`run --shard I/N --no-merge --export DIR`) exists to write its export; when there
is no room for it (the bundle, or the manifest, on a full disk), the run did not do what it was
asked: never `succeeded`, exit 0, `status --exit-status` 0. As when the export is stopped by
Ctrl-C, the run is left `interrupted`, the command exits 3 saying the disk is full, where, and
to free space then run `launcher resume RUN`, DIR holds no half-written file, and the resume,
once there is room, writes the export and ends the run `succeeded`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import git_on_path, launcher_cli

MANIFEST = "launcher-export.json"


def _bundle_finds_no_room(tmp_path: Path, flag: Path) -> dict[str, str]:
    """PATH whose `git bundle create` writes part of its file, then fails as git does on a full
    disk, while `flag` exists; once it is removed (space freed) it is the real git."""
    return git_on_path(tmp_path, f'if [ -e {flag} ]; then case " $* " in *" bundle create "*)\n'
                                 '  printf "# v2 git bundle" > "$4"\n'
                                 "  echo \"fatal: sha1 file '<stdout>' write error. Out of diskspace\" >&2\n"
                                 '  echo "error: pack-objects died" >&2; exit 128;;\n'
                                 "esac; fi")


def _shard_run(repo: Path, tmp_path: Path, out: Path, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}]}))
    return launcher_cli(repo, "run", str(plan), "--quiet", "--shard", "1/1", "--no-merge", "--export", str(out),
                        env=env)


def _run_id(repo: Path) -> str:
    return str(json.loads(launcher_cli(repo, "runs", "--json").stdout)[0]["run_id"])


def _left_to_resume(repo: Path, ran: subprocess.CompletedProcess[str], out: Path) -> str:
    run_id = _run_id(repo)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    said = ran.stderr
    assert f"error: {out}: the run's export was not written" in said, said
    assert f"Fix: free space on the file system holding {out}" in said, said
    assert f"then run `launcher resume {run_id}`: it writes the export" in said, said
    assert "move that directory's contents away" not in said, said
    assert not list(out.glob("*partial*")) and not list(out.glob(".*partial*")), sorted(os.listdir(out))
    assert not (out / MANIFEST).exists()
    status = launcher_cli(repo, "status", run_id, "--exit-status", "--json")
    assert status.returncode == 3, status.stdout + status.stderr  # as the command exited (fix12: was 130)
    report = json.loads(status.stdout)
    assert report["status"] == "interrupted" and f"`launcher resume {run_id}`" in report["message"], report
    assert report["tasks"][0]["state"] == "approved"
    return run_id


def _resumed_writes_it(repo: Path, run_id: str, out: Path) -> None:
    resumed = launcher_cli(repo, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    manifest = json.loads((out / MANIFEST).read_text())
    assert [t["id"] for t in manifest["tasks"]] == ["a"] and (out / manifest["bundle"]["file"]).is_file()
    assert not [name for name in os.listdir(out) if "partial" in name]
    assert launcher_cli(repo, "status", run_id, "--exit-status").returncode == 0


def test_no_room_for_the_bundle_leaves_the_run_interrupted_exit_3_and_resume_writes_the_export(
    repo: Path, tmp_path: Path
) -> None:
    out, full = tmp_path / "exp", tmp_path / "disk-is-full"
    full.touch()

    ran = _shard_run(repo, tmp_path, out, _bundle_finds_no_room(tmp_path, full))

    run_id = _left_to_resume(repo, ran, out)
    assert "Out of diskspace" in ran.stderr and "\\n" not in ran.stderr, ran.stderr
    full.unlink()  # space freed
    _resumed_writes_it(repo, run_id, out)


@pytest.fixture
def nearly_full_dir(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(an export directory on a 1 MiB tmpfs with one page free, the file filling the rest)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounts a small tmpfs: needs root")
    out = tmp_path / "exp"
    out.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(out)]).returncode:
        pytest.skip("mount refused")
    try:
        filler = out / "zzfill"
        with open(filler, "wb", buffering=0) as fill:
            try:
                while True:
                    fill.write(b"\0" * 4096)
            except OSError:
                pass
        os.truncate(filler, filler.stat().st_size - 4096)  # room for the bundle, not the manifest
        yield out, filler
    finally:
        subprocess.run(["umount", "-l", str(out)])


def test_no_room_for_the_manifest_leaves_no_half_written_file_and_resume_writes_it(
    repo: Path, tmp_path: Path, nearly_full_dir: tuple[Path, Path]
) -> None:
    out, filler = nearly_full_dir

    ran = _shard_run(repo, tmp_path, out)

    run_id = _left_to_resume(repo, ran, out)
    assert "no space left on device" in ran.stderr, ran.stderr
    assert sorted(os.listdir(out)) == ["zzfill"]  # neither a partial manifest nor a bundle none names
    filler.unlink()  # space freed
    _resumed_writes_it(repo, run_id, out)
