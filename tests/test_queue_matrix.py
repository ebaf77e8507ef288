"""The conflict matrix (DESIGN 8) reports every pair `git merge-tree` finds conflicting, also
when the two branches change no path in common: a file against a directory of the same name,
and a new file in a directory the other branch renamed. A conflicted task is told the user's
path, never the name git gives a file it moves aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from helpers import launcher_cli


def _status_conflicts(repo: Path, tasks: list[dict[str, object]], tmp_path: Path) -> list[dict[str, object]]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": tasks}))
    done = launcher_cli(repo, "run", str(plan), "--no-merge", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(launcher_cli(repo, "status", "--json").stdout)
    return status["conflicts"]


def test_a_file_and_a_directory_of_the_same_name_conflict_in_the_matrix_and_at_landing(
        repo: Path, tmp_path: Path) -> None:
    tasks: list[dict[str, object]] = [
        {"id": "fileside", "script": [{"write": "d", "content": "a file named d\n"}]},
        {"id": "dirside", "script": [{"write": "d/e.txt", "content": "a file in a directory d\n"}]},
        {"id": "plain", "script": [{"write": "plain.txt", "content": "p\n"}]},
    ]

    conflicts = _status_conflicts(repo, tasks, tmp_path)

    assert conflicts == [{"a": "fileside", "b": "dirside", "kind": "conflict", "files": ["d"]}]
    landed = json.loads(launcher_cli(repo, "land", "--json").stdout)
    states = {t["id"]: (t["state"], t["message"]) for t in landed["tasks"]}
    assert states["dirside"] == ("conflicted", "conflicts with main in d; branch kept")
    assert states["fileside"][0] == states["plain"][0] == "merged"


def test_a_new_file_in_a_directory_another_task_renamed_conflicts_in_the_matrix(
        repo: Path, tmp_path: Path) -> None:
    (repo / "lib").mkdir()
    (repo / "lib" / "x.txt").write_text("x\n")
    (repo / "lib" / "y.txt").write_text("y\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "lib")
    tasks: list[dict[str, object]] = [
        {"id": "mover", "script": [{"delete": "lib/x.txt"}, {"delete": "lib/y.txt"},
                                   {"write": "src/x.txt", "content": "x\n"},
                                   {"write": "src/y.txt", "content": "y\n"}]},
        {"id": "adder", "script": [{"write": "lib/new.txt", "content": "new\n"}]},
        {"id": "elsewhere", "script": [{"write": "docs/more.txt", "content": "m\n"}]},
    ]

    conflicts = _status_conflicts(repo, tasks, tmp_path)

    assert [(c["a"], c["b"], c["kind"]) for c in conflicts] == [("mover", "adder", "conflict")]


def _commit_shared_file(repo: Path, count: int) -> str:
    """shared.txt with `count` lines far enough apart that edits of different lines merge."""
    lines = "".join(f"line {i}\n\n\n" for i in range(count))
    (repo / "shared.txt").write_text(lines)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "shared")
    return lines


def test_past_its_merge_budget_the_matrix_reports_a_pair_as_may_conflict_not_as_nothing(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tasks that all edit one file make N² pairs to merge; past the budget a pair is reported as
    # "predicted" (unchecked), never as a conflict or as nothing; the landing's fold decides.
    from launcher.git import conflict_matrix

    lines = _commit_shared_file(repo, 8)
    import anyio

    from launcher.git.repo import GitRepo

    r = anyio.run(GitRepo.discover, repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    heads = {}
    for i in range(5):
        git(repo, "switch", "-q", "-c", f"t{i}", base)
        (repo / "shared.txt").write_text(lines.replace(f"line {i}\n", f"line {i} edited\n"))
        git(repo, "commit", "-q", "-am", f"edit {i}")
        heads[f"t{i}"] = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "switch", "-q", "main")
    monkeypatch.setattr(conflict_matrix, "MAX_MERGED_PAIRS", 3)
    pairs = anyio.run(lambda: conflict_matrix.pairwise(r, heads, base))
    assert len(pairs) == 10 - 3 and {p.kind for p in pairs} == {"predicted"}
    assert all(p.files == ["shared.txt"] for p in pairs)


def test_a_prediction_about_two_tasks_that_both_landed_is_not_reported(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import run_plan

    from launcher.git import conflict_matrix

    lines = _commit_shared_file(repo, 4)
    monkeypatch.setattr(conflict_matrix, "MAX_MERGED_PAIRS", 1)  # the rest are "predicted"
    report = run_plan(repo, [
        {"id": f"t{i}", "script": [{"write": "shared.txt", "content": lines.replace(f"line {i}\n", f"line {i}!\n")}]}
        for i in range(4)])
    assert [t.state for t in report.tasks] == ["merged"] * 4
    assert report.conflicts == []  # all landed: no "may conflict" left to show
