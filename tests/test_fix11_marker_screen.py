"""The landing's conflict-marker screen counts exactly the marker lines a branch adds to a text
file: at their real line numbers whatever the user's diff settings, never for a file it only
moves or copies as the fork held it, and also in files `.gitattributes` hides from diffs
(`*.lock -diff`), while a binary file (a NUL byte in its first 8000 bytes) stays exempt."""

from __future__ import annotations

from pathlib import Path

import anyio
from conftest import git
from helpers import run_shell, task

from launcher.git.markers import added_markers
from launcher.git.repo import GitRepo

FIXTURE = "a\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> branch\n"
CONFLICTED_LOCK = '[[package]]\nname = "a"\n<<<<<<< HEAD\nversion = "1.1"\n=======\nversion = "1.2"\n>>>>>>> main\n'


def _head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def _commit(repo: Path, files: dict[str, str | bytes], message: str = "change") -> str:
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return _head(repo)


def _markers(repo: Path, tip: str, head: str) -> list[str]:
    async def go() -> list[str]:
        return await added_markers(await GitRepo.discover(repo), tip, head)
    return anyio.run(go)


# --- line numbers: the user's diff settings do not move them (finding 03) ---

def test_a_users_inter_hunk_context_does_not_move_the_line_a_refusal_names(repo: Path) -> None:
    tip = _commit(repo, {"doc.txt": "one\ntwo\nthree\nfour\nfive\n"})
    head = _commit(repo, {"doc.txt": "ONE\ntwo\nthree\n<<<<<<< HEAD\nfour\nfive\n"})
    # git would join the two -U0 hunks and print the unchanged lines between them
    git(repo, "config", "diff.interHunkContext", "5")
    git(repo, "config", "diff.context", "10")

    assert _markers(repo, tip, head) == ["doc.txt:4"]


def test_the_changed_lines_of_a_since_sweep_are_only_the_changed_ones_under_the_users_settings(
        repo: Path) -> None:
    from launcher.mutation.discover import changed_lines

    _commit(repo, {"calc.py": "a = 1\nb = 2\nc = 3\nd = 4\n"})
    (repo / "calc.py").write_text("a = 10\nb = 2\nc = 3\nd = 40\n")
    git(repo, "config", "diff.interHunkContext", "5")

    assert anyio.run(changed_lines, repo, "HEAD") == {"calc.py": {1, 4}}


def test_the_launchers_diffs_show_renames_as_gits_default_whatever_the_users_diff_renames(
        repo: Path) -> None:
    """A count of changed lines (best-of-N's tie-break) reads a rename as a rename, not as every
    line deleted and added, and no order file of the user's reorders the files."""
    base = _head(repo)
    git(repo, "mv", "app.py", "core.py")
    git(repo, "commit", "-qm", "rename")
    (repo / "order.txt").write_text("core.py\nREADME.md\n")
    git(repo, "config", "diff.renames", "false")
    git(repo, "config", "diff.orderFile", str(repo / "order.txt"))

    async def numstat() -> str:
        return (await (await GitRepo.discover(repo)).git("diff", "--numstat", base, "HEAD")).out
    assert anyio.run(numstat) == "0\t0\tapp.py => core.py\n"


# --- moved, not added: a fixture that holds marker lines (finding 04) ---

def test_moving_a_fixture_that_holds_marker_lines_adds_no_markers(repo: Path) -> None:
    tip = _commit(repo, {"tests/fixtures/conflicted.txt": FIXTURE})
    (repo / "tests" / "data").mkdir()
    git(repo, "mv", "tests/fixtures/conflicted.txt", "tests/data/conflicted.txt")
    git(repo, "commit", "-qm", "move the fixture")

    assert _markers(repo, tip, _head(repo)) == []


def test_a_moved_fixture_still_counts_a_marker_line_the_move_adds(repo: Path) -> None:
    tip = _commit(repo, {"tests/fixtures/conflicted.txt": FIXTURE + "x\n" * 8})
    (repo / "tests" / "data").mkdir()
    git(repo, "mv", "tests/fixtures/conflicted.txt", "tests/data/conflicted.txt")
    head = _commit(repo, {"tests/data/conflicted.txt": FIXTURE + "x\n" * 8 + "<<<<<<< new\n"})

    assert _markers(repo, tip, head) == ["tests/data/conflicted.txt:15"]


def test_a_fixture_whose_crlf_lines_are_made_lf_adds_no_markers(repo: Path) -> None:
    tip = _commit(repo, {"fixture.txt": FIXTURE.replace("\n", "\r\n")})
    head = _commit(repo, {"fixture.txt": FIXTURE})

    assert _markers(repo, tip, head) == []


def test_a_copy_of_a_fixture_the_fork_held_adds_no_markers_but_a_new_fixture_does(repo: Path) -> None:
    tip = _commit(repo, {"tests/fixtures/conflicted.txt": FIXTURE})
    head = _commit(repo, {"tests/other/conflicted.txt": FIXTURE, "tests/new.txt": "<<<<<<< HEAD\n"})

    assert _markers(repo, tip, head) == ["tests/new.txt:1"]


# --- files .gitattributes keeps out of diffs; binary files (finding 07) ---

def test_markers_in_a_file_marked_minus_diff_are_found(repo: Path) -> None:
    _commit(repo, {".gitattributes": "*.lock -diff\nyarn.lock diff=lockfile\n"})
    git(repo, "config", "diff.lockfile.binary", "true")
    tip = _commit(repo, {"poetry.lock": '[[package]]\nname = "a"\nversion = "1.0"\n', "yarn.lock": "a\n"})
    head = _commit(repo, {"poetry.lock": CONFLICTED_LOCK, "yarn.lock": "a\n>>>>>>> theirs\n"})

    assert _markers(repo, tip, head) == ["poetry.lock:3", "poetry.lock:7", "yarn.lock:2"]


def test_a_binary_file_holding_marker_like_lines_is_not_refused(repo: Path) -> None:
    _commit(repo, {".gitattributes": "*.pack -diff\n*.dat diff\n"})  # `diff`: git shows its bytes as lines
    tip = _commit(repo, {"a.bin": b"BIN\0\x01\n", "b.pack": b"PK\0\0\n", "c.dat": b"DAT\0\n"})
    marker_bytes = b"\n<<<<<<< embedded\n>>>>>>> bytes\n"
    head = _commit(repo, {"a.bin": b"BIN\0\x02" + marker_bytes, "b.pack": b"PK\0\1" + marker_bytes,
                          "c.dat": b"DAT\0\2" + marker_bytes})

    assert _markers(repo, tip, head) == []


def test_a_text_file_that_replaces_a_binary_one_is_screened(repo: Path) -> None:
    """git shows the change as binary (its old version is), yet what lands is text with markers."""
    tip = _commit(repo, {"data.txt": b"old\0binary\n"})
    head = _commit(repo, {"data.txt": "<<<<<<< HEAD\nx\n=======\ny\n>>>>>>> main\n"})

    assert _markers(repo, tip, head) == ["data.txt:1", "data.txt:5"]


def test_a_run_that_commits_markers_into_a_minus_diff_lockfile_is_refused_and_main_keeps_its_lockfile(
        repo: Path) -> None:
    _commit(repo, {".gitattributes": "*.lock -diff\n", ".gitignore": ".launcher/\n",
                   "poetry.lock": '[[package]]\nname = "a"\nversion = "1.0"\n'})
    lockfile = CONFLICTED_LOCK.replace("\n", "\\n")
    script = (f"printf '{lockfile}' > poetry.lock && git add -A && git commit -qm 'bump a' && "
              "printf '%s' '{\"contract_version\":\"1\",\"task_id\":\"bump\",\"status\":\"done\","
              "\"summary\":\"bumped\",\"files_changed\":[\"poetry.lock\"],\"tests_added\":[],\"decisions\":[],"
              "\"blockers\":[],\"llm_observations\":\"x\"}' > \"$LAUNCHER_CONTRACT\"")

    report = run_shell(repo, script, "bump")

    bump = task(report, "bump")
    assert bump.state == "failed", bump.message
    assert "adds conflict markers at poetry.lock:3, poetry.lock:7" in bump.message
    assert "conflict-marker-size" in bump.message  # how a file meant to hold such lines lands
    assert git(repo, "show", "main:poetry.lock") == '[[package]]\nname = "a"\nversion = "1.0"\n'


def test_binary_is_decided_by_the_first_8000_bytes_of_blobs_of_any_size(repo: Path) -> None:
    from launcher.git import blob_heads

    contents = {"big-text": b"line\n" * 600_000 + b"\0", "big-binary": b"\0" + b"x" * 3_000_000,
                "nul-at-8000": b"a" * 8000 + b"\0", "nul-at-7999": b"a" * 7999 + b"\0", "empty": b"",
                "short": b"<<<<<<< HEAD\n"}
    oids = {}
    for name, data in contents.items():
        (repo / name).write_bytes(data)
        oids[name] = git(repo, "hash-object", "-w", name).strip()

    async def go() -> set[str]:
        return await blob_heads.binary(await GitRepo.discover(repo), [*oids.values(), "f" * 40])
    found = anyio.run(go)

    assert {name for name, oid in oids.items() if oid in found} == {"big-binary", "nul-at-7999"}
