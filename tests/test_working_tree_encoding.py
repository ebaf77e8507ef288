"""Files git keeps in another encoding in the work tree (`working-tree-encoding`, under any name
git's iconv takes: `UTF-16LE-BOM`, `UTF16LE`, `UCS-2`...): git's own conversion, never taken for
a foreign content filter's work. An agent's edit of such a file is committed and landed; the
main checkout then holds what `git checkout` writes, and `git status` is clean. Real
repositories, real runs, real git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import anyio
import pytest
from helpers import git, task
from test_safety_contain import command_task, run_commands

from launcher.git import commits, filters, text_encodings
from launcher.git.repo import GitRepo

# path -> its `working-tree-encoding` (git's spellings, and iconv's); IBM1047 (EBCDIC) is one
# Python has no codec for.
ENCODED = {
    "setup.ps1": "UTF-16LE-BOM",
    "b.txt": "UTF16LE",
    "c.txt": "UCS-2",
    "d.txt": "UCS-2LE",
    "e.txt": "IBM1047",
}


def _git_bytes(repo: Path, *args: str, data: bytes = b"") -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *args], cwd=repo, env=env, input=data, capture_output=True, check=True).stdout


def _checked_out(repo: Path, path: str, text: str) -> bytes:
    """The bytes `git checkout` writes at `path` for a blob holding `text` (UTF-8)."""
    blob = _git_bytes(repo, "hash-object", "-w", "--no-filters", "--stdin", data=text.encode()).decode().strip()
    return _git_bytes(repo, "cat-file", "--filters", f"--path={path}", blob)


def _encoded_repo(repo: Path) -> dict[str, str]:
    """`repo` with the files of ENCODED committed in their encodings (CRLF line ends); the ones
    this machine's iconv cannot write are left out. Returns path -> encoding of those kept."""
    kept = {}
    lines = []
    for path, encoding in ENCODED.items():
        (repo / ".gitattributes").write_text(f"{path} text working-tree-encoding={encoding} eol=crlf\n")
        if _checked_out(repo, path, "hello\n") != b"hello\r\n":
            kept[path] = encoding
            lines.append(f"{path} text working-tree-encoding={encoding} eol=crlf\n")
    (repo / ".gitattributes").write_text("".join(lines))
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    for path in kept:
        (repo / path).write_bytes(_checked_out(repo, path, "hello\n"))
    git(repo, "add", *kept)
    git(repo, "commit", "-qm", "encoded files")
    assert git(repo, "status", "--porcelain") == ""
    return kept


@pytest.mark.parametrize("agent_commits", [False, True], ids=["launcher-commits", "agent-commits"])
def test_an_agent_edit_of_files_in_another_encoding_is_landed_as_git_checks_them_out(
    repo: Path, tmp_path: Path, agent_commits: bool
) -> None:
    kept = _encoded_repo(repo)
    assert "setup.ps1" in kept and "b.txt" in kept  # git's own UTF-16 conversions, everywhere
    # The agent writes each file as git would check out its new content, then (or not) commits.
    new = {path: _checked_out(repo, path, "hello\nworld\n") for path in kept}
    (tmp_path / "new").mkdir()
    for path, content in new.items():
        (tmp_path / "new" / path).write_bytes(content)
    code = f"import shutil\nfor p in {sorted(kept)!r}: shutil.copy(pathlib.Path({str(tmp_path / 'new')!r}) / p, p)\n"
    if agent_commits:
        code += 'subprocess.run(["git", "commit", "-qam", "world"], check=True)\n'
    report = run_commands(repo, [command_task("t1", code)])
    t1 = task(report, "t1")
    assert t1.state == "merged", t1.message
    assert "filter" not in (report.message or ""), report.message
    for path in kept:
        assert git(repo, "show", f"main:{path}") == "hello\nworld\n", path  # stored as UTF-8 text
        assert (repo / path).read_bytes() == new[path], path  # the main checkout as git writes it
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    "encoding",
    [
        "UTF-16LE-BOM",
        "utf-16le-bom",
        "UTF-16",
        "UTF16",
        "UTF-16LE",
        "UTF16LE",
        "UTF-16BE",
        "UCS-2",
        "UCS2",
        "UCS-2LE",
        "UCS-2BE",
        "UNICODE",
        "UNICODELITTLE",
        "UTF-32",
        "UTF32LE",
        "UCS-4",
        "UCS-4LE",
        "UTF-16LE//TRANSLIT",
        "CP1252",
        "WINDOWS-1252",
        "ISO-8859-1",
        "ISO_8859-1",
        "LATIN1",
        "EUC-JP",
        "GB18030",
    ],
)
def test_every_spelling_of_an_encoding_reads_as_git_stores_it(repo: Path, encoding: str) -> None:
    (repo / ".gitattributes").write_text(f"f.txt text working-tree-encoding={encoding}\n")
    on_disk = _checked_out(repo, "f.txt", "h\u00e9llo\nw\u00f6rld\n")
    stored = _git_bytes(repo, "hash-object", "-w", "--path=f.txt", "--stdin", data=on_disk).decode().strip()
    readings = text_encodings.as_git_stores(on_disk, encoding)
    assert readings is not None and _git_bytes(repo, "cat-file", "blob", stored) in readings


def test_a_landed_file_a_late_filter_changed_is_written_again_as_git_checks_it_out(repo: Path) -> None:
    # A smudge filter configured since the run started won the race against the launcher's pin
    # during the landing: the file is written again, with git's own conversions (UTF-16, CRLF),
    # not as the blob's UTF-8 bytes.
    kept = _encoded_repo(repo)
    assert "setup.ps1" in kept
    old = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-qb", "side")
    (repo / "setup.ps1").write_bytes(_checked_out(repo, "setup.ps1", "hello\nworld\n"))
    git(repo, "commit", "-qam", "world")
    new = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")

    async def scenario() -> str:
        handle = await GitRepo.discover(repo)
        await filters.pin(handle)  # the run starts: no filter
        git(repo, "config", "filter.evil.smudge", "sed s/^/INJECTED:/")
        git(repo, "config", "filter.evil.clean", "cat")
        (repo / ".git" / "info" / "attributes").write_text("*.ps1 filter=evil\n")
        git(repo, "update-ref", "refs/heads/main", new)
        git(repo, "read-tree", "-m", "-u", old, new)  # the landing, the evil smudge ran
        assert b"INJECTED" in (repo / "setup.ps1").read_bytes()
        return await filters.rewrite_unfiltered(handle, old, new, dict(handle.env))

    said = anyio.run(scenario)
    assert "setup.ps1" in said and "filter=evil" in said, said
    (repo / ".git" / "info" / "attributes").write_text("")
    git(repo, "config", "--remove-section", "filter.evil")
    assert (repo / "setup.ps1").read_bytes() == _checked_out(repo, "setup.ps1", "hello\nworld\n")
    assert (repo / "setup.ps1").read_bytes().startswith(b"\xff\xfe")
    assert git(repo, "status", "--porcelain") == ""


def test_an_encoding_python_cannot_read_does_not_excuse_a_file_a_filter_attribute_names(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The benefit of the doubt (an encoding only git's iconv reads) is for paths no filter
    # attribute names: a late filter's work on such a file still discards the commit.
    kept = _encoded_repo(repo)
    if "e.txt" not in kept:
        pytest.skip("this machine's iconv has no IBM1047")

    async def lost_race(repo: GitRepo) -> dict[str, str]:
        return dict(repo.env)

    async def scenario() -> None:
        git(repo, "worktree", "add", "-q", "-b", "work", str(repo.parent / "wt"))
        worktree = repo.parent / "wt"
        handle = await GitRepo.discover(repo)
        await filters.pin(handle)  # the run starts: no filter
        git(repo, "config", "filter.evil.clean", "sed s/^/INJECTED:/")
        (repo / ".git" / "info" / "attributes").write_text("e.txt filter=evil\n")
        (worktree / "e.txt").write_bytes(_checked_out(repo, "e.txt", "hello\nworld\n"))
        monkeypatch.setattr(filters, "pinned_env", lost_race)
        with pytest.raises(commits.FilterTampered) as raised:
            await commits.commit_pending(handle, worktree, "work", {"Launcher-Task": "t1"})
        assert "e.txt" in raised.value.message and "filter=evil" in raised.value.message

    anyio.run(scenario)
