"""Resolution rounds (`on_conflict = "agent"`, DESIGN 8): a conflict counts as resolved only when
the agent resolved it, including conflicts git cannot mark with `<<<<<<<` lines (modify/delete,
binary); the merge the round starts from survives a launcher killed while making it; and
`land --from`, in a clone without the task's worktree, gives the round too."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from conftest import git
from helpers import launcher_cli, run_plan, task

BINARY = "BIN\u0000\u0001original\u0000"


def _write(path: str, content: str, rounds: list[int] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"write": path, "content": content}
    if rounds:
        step["rounds"] = rounds
    return step


def _idle(rounds: list[int]) -> dict[str, Any]:
    return {"say": "nothing to do", "rounds": rounds}


def _with_binary(repo: Path) -> None:
    (repo / "blob.bin").write_bytes(BINARY.encode())
    git(repo, "add", "blob.bin")
    git(repo, "commit", "-q", "-m", "a binary file")


def test_a_deletion_and_a_binary_change_are_never_undone_by_a_round_that_resolves_nothing(
        repo: Path) -> None:
    _with_binary(repo)
    tasks = [
        {"id": "remover", "script": [{"delete": "README.md"}]},
        {"id": "editor", "script": [{"replace": "README.md", "old": "# sample", "new": "# edited",
                                     "rounds": [1]}, _idle([2, 3])]},
        {"id": "bin-a", "script": [_write("blob.bin", "BIN\u0000\u0001A\u0000")]},
        {"id": "bin-b", "script": [_write("blob.bin", "BIN\u0000\u0001B\u0000", rounds=[1]), _idle([2, 3])]},
    ]

    report = run_plan(repo, tasks, on_conflict="agent")

    assert report.status != "succeeded"
    assert [task(report, t).state for t in ("remover", "editor", "bin-a", "bin-b")] == [
        "merged", "failed", "merged", "failed"], [t.message for t in report.tasks]
    assert report.queue.returned == ["editor", "bin-b"]
    # Neither the deletion nor bin-a's change was undone.
    assert "README.md" not in git(repo, "ls-tree", "--name-only", "main")
    assert git(repo, "show", "main:blob.bin") == "BIN\u0000\u0001A\u0000"
    assert "blob.bin" in task(report, "bin-b").message and "unresolved" in task(report, "bin-b").message
    # The feedback says truthfully what each side did and how it was left.
    feedback = (Path(report.artifacts) / "editor" / "grading" / "1-feedback.md").read_text()
    assert "`README.md`: deleted on main, changed on your branch; replaced by a conflict note" in feedback
    binary = (Path(report.artifacts) / "bin-b" / "grading" / "1-feedback.md").read_text()
    assert "`blob.bin`: changed on both sides, not mergeable line by line" in binary
    assert "conflict markers (`<<<<<<<`, `=======`, `>>>>>>>`) in those files" not in binary


def test_a_conflict_without_markers_lands_once_the_agent_decides_it(repo: Path) -> None:
    _with_binary(repo)
    keep_mine = {"run": ["sh", "-c", "git show HEAD^1:README.md > README.md"], "rounds": [2]}
    tasks = [
        {"id": "remover", "script": [{"delete": "README.md"}]},
        {"id": "editor", "script": [{"replace": "README.md", "old": "# sample", "new": "# edited",
                                     "rounds": [1]}, keep_mine]},
        {"id": "bin-a", "script": [_write("blob.bin", "BIN\u0000\u0001A\u0000")]},
        {"id": "bin-b", "script": [_write("blob.bin", "BIN\u0000\u0001B\u0000", rounds=[1]),
                                   _write("blob.bin", "BIN\u0000\u0001A+B\u0000", rounds=[2])]},
    ]

    report = run_plan(repo, tasks, on_conflict="agent")

    assert [t.state for t in report.tasks] == ["merged"] * 4, [t.message for t in report.tasks]
    assert report.status == "succeeded"
    # editor chose its own version over the deletion, bin-b combined both binaries.
    assert git(repo, "show", "main:README.md") == "# edited\n"
    assert git(repo, "show", "main:blob.bin") == "BIN\u0000\u0001A+B\u0000"


def _git_killer(tmp_path: Path) -> dict[str, str]:
    """A `git` first on PATH that SIGKILLs the launcher right after the first
    `git merge --no-commit` has run (the merge is half-done in the worktree)."""
    real = next(Path(d) / "git" for d in os.environ["PATH"].split(os.pathsep)
                if (Path(d) / "git").is_file() and os.access(Path(d) / "git", os.X_OK))
    folder = tmp_path / "killer"
    folder.mkdir()
    marker = tmp_path / "killed"
    wrapper = folder / "git"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *merge*--no-commit*) if [ ! -e {marker} ]; then touch {marker}; '
        f'{real} "$@"; kill -9 $PPID; exit 1; fi;; esac\n'
        f'exec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_a_launcher_killed_while_merging_for_a_resolution_round_resumes_with_the_merge(
        repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    look = {"run": ["sh", "-c", f"grep -c '^<<<<<<< ' README.md >> {seen}; true"], "rounds": [2]}
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"run": {"on_conflict": "agent", "iteration_cap": 2}, "task": [
        {"id": "alpha", "script": [_write("README.md", "# by alpha\n")]},
        {"id": "beta", "script": [_write("README.md", "# by beta\n", rounds=[1]), look,
                                  _write("README.md", "# by alpha and beta\n", rounds=[2])]},
    ]}))

    killed = launcher_cli(repo, "run", str(plan), "--quiet", env=_git_killer(tmp_path))
    assert (tmp_path / "killed").exists() and killed.returncode != 0, killed.stderr
    run_id = json.loads(launcher_cli(repo, "status", "--json").stdout)["run_id"]

    resumed = launcher_cli(repo, "resume", run_id, "--json")

    report = json.loads(resumed.stdout)
    assert [t["state"] for t in report["tasks"]] == ["merged", "merged"], resumed.stdout + resumed.stderr
    assert seen.read_text() == "1\n"  # the round started from the merge, markers and all
    assert (repo / "README.md").read_text() == "# by alpha and beta\n"
    assert git(repo, "status", "--porcelain") == ""


def _make_origin(root: Path) -> Path:
    origin = root / "origin"
    origin.mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    (origin / "shared.txt").write_text("line1\nline2\nline3\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "initial")
    remote = root / "remote.git"
    git(root, "clone", "-q", "--bare", str(origin), str(remote))
    return remote


def _clone(remote: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(remote), str(where))
    return where


def test_land_from_gives_a_conflict_between_shards_its_resolution_round(tmp_path: Path) -> None:
    # alpha and beta fall into different shards of two (a stable hash of the task id).
    plan = {"run": {"on_conflict": "agent"}, "task": [
        {"id": "alpha", "script": [{"replace": "shared.txt", "old": "line2", "new": "line2 by alpha"}]},
        {"id": "beta", "script": [
            {"replace": "shared.txt", "old": "line2", "new": "line2 by beta", "rounds": [1]},
            _write("shared.txt", "line1\nline2 by alpha and beta\nline3\n", rounds=[2])]},
    ]}
    remote = _make_origin(tmp_path)
    exports = []
    for index in (1, 2):
        job = _clone(remote, tmp_path / f"job{index}")
        (job / "plan.json").write_text(json.dumps(plan))
        out = tmp_path / f"export{index}"
        done = launcher_cli(job, "run", "plan.json", "--shard", f"{index}/2", "--no-merge",
                            "--export", str(out), "--quiet")
        assert (out / "launcher-export.json").exists(), done.stdout + done.stderr
        exports += ["--from", str(out)]
    shard_of = {t["id"]: n for n, out in enumerate(exports[1::2])
                for t in json.loads((Path(out) / "launcher-export.json").read_text())["tasks"]}
    assert shard_of["alpha"] != shard_of["beta"]
    final = _clone(remote, tmp_path / "final")

    landed = launcher_cli(final, "land", *exports, "--json")

    report = json.loads(landed.stdout)
    assert [t["state"] for t in report["tasks"]] == ["merged", "merged"], landed.stdout + landed.stderr
    assert report["queue"]["returned"] == ["beta"] and landed.returncode == 0
    assert (final / "shared.txt").read_text() == "line1\nline2 by alpha and beta\nline3\n"
    assert git(final, "status", "--porcelain") == ""


def _with_long_markers(repo: Path) -> None:
    """doc.md gets 10-character conflict markers, as Markdown files whose `=======` underlines
    would read as markers often set."""
    (repo / ".gitattributes").write_text("doc.md conflict-marker-size=10\n")
    (repo / "doc.md").write_text("title\nbase line\nend\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "doc.md with long conflict markers")


def _doc_conflict(second_round: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    seen = tmp_path / "seen.md"
    return [
        {"id": "one", "script": [{"replace": "doc.md", "old": "base line", "new": "ONE"}]},
        {"id": "two", "script": [{"replace": "doc.md", "old": "base line", "new": "TWO", "rounds": [1]},
                                 {"run": ["sh", "-c", f"cp doc.md {seen}"], "rounds": [2]},
                                 second_round]},
    ]


def test_a_text_conflict_under_a_longer_conflict_marker_size_keeps_gits_markers(
        repo: Path, tmp_path: Path) -> None:
    _with_long_markers(repo)
    resolve = _write("doc.md", "title\nONE and TWO\nend\n", rounds=[2])

    report = run_plan(repo, _doc_conflict(resolve, tmp_path), on_conflict="agent")

    # The round got git's own markers with both sides' lines, not a note calling it binary.
    seen = (tmp_path / "seen.md").read_text()
    assert seen.startswith("title\n<<<<<<<<<< ") and "\nTWO\n==========\nONE\n>>>>>>>>>> " in seen, seen
    feedback = (Path(report.artifacts) / "two" / "grading" / "1-feedback.md").read_text()
    assert "`doc.md`: changed on both sides; committed with git's conflict markers in it" in feedback
    assert "binary" not in feedback
    assert [t.state for t in report.tasks] == ["merged", "merged"], [t.message for t in report.tasks]
    assert git(repo, "show", "main:doc.md") == "title\nONE and TWO\nend\n"


def test_longer_conflict_markers_left_in_such_a_file_are_refused_at_landing(
        repo: Path, tmp_path: Path) -> None:
    _with_long_markers(repo)
    leave = {"run": ["sh", "-c", "echo '# looked at it' >> doc.md"], "rounds": [2]}

    report = run_plan(repo, _doc_conflict(leave, tmp_path), on_conflict="agent", iteration_cap=2)

    two = task(report, "two")
    assert two.state == "failed" and "adds conflict markers at doc.md:2, doc.md:6" in two.message, two.message
    assert git(repo, "show", "main:doc.md") == "title\nONE\nend\n"
