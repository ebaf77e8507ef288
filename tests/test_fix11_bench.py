"""The benchmarks measure what they say: the merge-queue bench verifies which branches landed and
what the final tip holds, `--broken K` makes K broken branches, the fan-out reference does the
launcher's git work the way the launcher does it (registration under the lock, checkout outside
it), a worktree left on disk fails a run, a size run twice starts clean, and the mutation bench
counts the mutants behind its speed ratios."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import git_on_path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import fanout_common  # noqa: E402
import fanout_raw  # noqa: E402
import merge_queue  # noqa: E402
import mutation_tools  # noqa: E402
from mutation_common import Entry, ToolRun  # noqa: E402
from mutation_projects import PROJECTS  # noqa: E402
from mutation_report import ProjectResult, summary_lines  # noqa: E402


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


# --- merge_queue.py -------------------------------------------------------------------------


def test_a_queue_that_lands_a_branch_breaking_the_check_fails_the_bench(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The queue's integration check is made to pass everything (a queue bug landing a failing
    # tree); one by one keeps the real check.
    real_checker = merge_queue._checker

    async def passes_all_for_the_queue(repo, scratch, runs):  # type: ignore[no-untyped-def]
        if scratch.name != "scratch-2":
            return await real_checker(repo, scratch, runs)

        async def check(commit: str) -> tuple[bool, str]:
            runs[0] += 1
            return True, ""

        return check

    monkeypatch.setattr(merge_queue, "_checker", passes_all_for_the_queue)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert merge_queue.main(["--branches", "6", "--broken", "1", "--conflicting", "2"]) == 1
    out = capsys.readouterr().out
    broken = merge_queue.layout(6, 1, 2).broken[0]
    assert f"6 branches: 1 break the check ({broken}), 2 rewrite the same line (one lands, 1 conflict)" in out
    assert "one by one: verified: failed b01 (conflicted), " + f"{broken} (check_failed)" in out
    assert "queue: WRONG RESULT" in out
    assert f"{broken}: landed, expected check_failed (it breaks the check)" in out
    assert "holds BROKEN" in out and "the integration check fails on the final tip" in out
    assert f"landed a different set than one by one: only by the queue {broken}" in out


@pytest.mark.parametrize(("branches", "broken", "conflicting"),
                         [(8, 3, 4), (16, 4, 4), (8, 4, 4), (32, 3, 4), (32, 28, 4), (5, 0, 2), (3, 3, 0)])
def test_broken_k_makes_exactly_k_branches_that_break_the_check(
        tmp_path: Path, branches: int, broken: int, conflicting: int) -> None:
    candidates = merge_queue.make_repo(tmp_path / "r", branches, broken, conflicting)
    made = [c.task_id for c in candidates if _git(tmp_path / "r", "grep", "-q", "BROKEN", c.head).returncode == 0]
    rewrites_shared = [c.task_id for c in candidates
                       if "shared.txt" in _git(tmp_path / "r", "diff", "--name-only", f"{c.head}^", c.head).stdout]
    assert len(made) == broken
    assert len(rewrites_shared) == conflicting and not set(made) & set(rewrites_shared)
    assert merge_queue.broken_in(tmp_path / "r", candidates) == sorted(made)


def test_more_broken_branches_than_can_be_made_is_refused_with_the_most_there_can_be(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert merge_queue.main(["--branches", "8", "--broken", "5", "--conflicting", "4"]) == 1
    assert "--broken 5: only the 4 branches that do not conflict can break the check" in capsys.readouterr().err
    with pytest.raises(ValueError, match="ask for at most 4"):
        merge_queue.make_repo(tmp_path / "r", 8, 5, 4)
    assert not (tmp_path / "r").exists()


# --- fanout.py / fanout_raw.py --------------------------------------------------------------


def _raw(tmp_path: Path, script_text: str, label: str = "raw", n: int = 1, files: int = 20) -> fanout_common.Measure:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    template = work / "template"
    if not template.exists():
        fanout_common.make_template(work, files)
    script = work / f"{label}.sh"
    script.write_text(script_text)
    return fanout_raw.run_raw(template, work, n, script, label)


def test_the_raw_reference_registers_a_worktree_under_the_lock_and_checks_it_out_outside_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As the launcher's create_worktree: `worktree add --no-checkout` under the lock, then the
    # checkout (`read-tree --reset -u HEAD`) with the lock free.
    log = tmp_path / "git.log"
    prelude = ('case "$*" in *"worktree add"*|*"read-tree --reset"*)\n'
               '  if flock -n "$REPO/.git/bench.lock" true; then s=free; else s=held; fi\n'
               f'  echo "$s $*" >> {log};;\nesac')
    monkeypatch.setenv("PATH", git_on_path(tmp_path, prelude)["PATH"])
    _raw(tmp_path, fanout_raw.RAW_SCRIPT)
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("held ") and "worktree add --quiet --no-checkout --no-track -b br/t000" in lines[0]
    assert lines[1].startswith("free -C ") and lines[1].endswith("/raw-wt/t000 read-tree --reset -u HEAD")


def test_a_size_run_twice_starts_clean(tmp_path: Path) -> None:
    _raw(tmp_path, fanout_raw.RAW_SCRIPT, label="raw-n1-r0")
    stale = tmp_path / "work" / "raw-n1-r0-contracts"
    stale.mkdir()  # what a pass that died left: its contracts, an extra one among them
    (stale / "t999.json").write_text("{}")
    _raw(tmp_path, fanout_raw.RAW_SCRIPT, label="raw-n1-r0")
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["raw-n1-r0.sh", "template"]


def test_a_reference_that_unregisters_its_worktrees_but_leaves_their_files_fails(tmp_path: Path) -> None:
    unregister_only = fanout_raw.RAW_SCRIPT.replace(
        'retry git -C "$REPO" worktree remove --force --force "$WT/$1"',
        'mv "$WT/$1" "$WT/kept-$1" && git -C "$REPO" worktree prune')
    assert unregister_only != fanout_raw.RAW_SCRIPT
    with pytest.raises(fanout_common.BenchError, match=r"left \d+ file\(s\) under .*-wt when it exited"):
        _raw(tmp_path, unregister_only)


def test_a_reference_that_skips_the_checkout_fails_on_what_main_holds(tmp_path: Path) -> None:
    no_checkout = fanout_raw.RAW_SCRIPT.replace('git -C "$wt" read-tree --reset -u HEAD', ":")
    assert no_checkout != fanout_raw.RAW_SCRIPT
    with pytest.raises(fanout_common.BenchError, match=r"main changes 20 file\(s\) no task wrote"):
        _raw(tmp_path, no_checkout)


def test_only_a_warm_pool_may_stay_under_the_launchers_worktree_root(tmp_path: Path) -> None:
    root = tmp_path / "launcher" / "worktrees"
    (root / "repo-1234abcd" / "_pool" / "w1").mkdir(parents=True)
    (root / "repo-1234abcd" / "_pool" / "w1" / "f.txt").write_text("x")
    fanout_common.verify_no_trees_left(root, "the launcher", pool=1)
    fanout_common.verify_no_trees_left(tmp_path / "never-made", "the launcher")
    with pytest.raises(fanout_common.BenchError, match="left 1 pool worktree"):
        fanout_common.verify_no_trees_left(root, "the launcher", pool=2)
    (root / "repo-1234abcd" / "run-1" / "t000").mkdir(parents=True)
    (root / "repo-1234abcd" / "run-1" / "t000" / "a.txt").write_text("x")
    with pytest.raises(fanout_common.BenchError, match=r"left 1 file\(s\) .* in repo-1234abcd/run-1"):
        fanout_common.verify_no_trees_left(root, "the launcher", pool=1)


# --- mutation.py ----------------------------------------------------------------------------


def _tool(name: str, mutants: int, file: str = "m.py") -> ToolRun:
    return ToolRun(name, [Entry(f"{name}-{i}", "Killed", file) for i in range(mutants)])


def _result(launcher: ToolRun, mutmut: ToolRun, walls: tuple[float, float], reason: str = "") -> ProjectResult:
    project = dataclasses.replace(PROJECTS["cachetools"], fewer_mutants=reason)
    return ProjectResult(project, tools=[(mutmut, None), (launcher, None)],
                         walls={mutmut.name: [walls[1]], launcher.name: [walls[0]]})


def test_the_speed_targets_count_the_mutants_behind_each_wall_time() -> None:
    # cachetools in bench/README.md: 546 mutants in 227.5 s against mutmut's 1,654 in 735.6 s
    result = _result(_tool("launcher (fast)", 546), _tool("mutmut 3.8.1", 1654), (227.5, 735.6))
    targets = result.targets()
    assert targets["wall_ratio"]["value"] == pytest.approx(0.309, abs=1e-3) and targets["wall_ratio"]["pass"]
    assert targets["per_mutant_ratio"]["value"] == pytest.approx(0.937, abs=1e-3)
    assert not targets["mutant_share"]["pass"]  # a third of mutmut's mutants, and no reason given
    lines, missed = summary_lines([result])
    assert missed
    assert ("launcher wall_ratio 0.31  PASS (target <= 1; launcher 546 mutants in 227.5 s, mutmut 1654 in "
            "735.6 s)") in "\n".join(lines)
    assert "below 0.5, with no reason stated" in "\n".join(lines) and "m.py 546/1654" in "\n".join(lines)
    explained = _result(_tool("launcher (fast)", 546), _tool("mutmut 3.8.1", 1654), (227.5, 735.6), "checked cause")
    assert explained.targets()["mutant_share"]["pass"]
    assert "fewer, because: checked cause" in "\n".join(summary_lines([explained])[0])
    # toolz: the wall time passes, the time per mutant does not
    toolz = _result(_tool("launcher (fast)", 865), _tool("mutmut 3.8.1", 1492), (132.2, 143.2))
    assert toolz.targets()["wall_ratio"]["pass"] and not toolz.targets()["per_mutant_ratio"]["pass"]


def test_a_launcher_run_with_no_mutants_passes_no_speed_target() -> None:
    result = _result(_tool("launcher (fast)", 0), _tool("mutmut 3.8.1", 1000), (5.0, 100.0), "any reason")
    assert result.wall_ratio() is None and result.per_mutant_ratio() is None
    assert result.targets() == {"mutant_share": {"value": 0.0, "target": 0.5, "pass": False, "reason": "any reason"}}


def test_a_launcher_sweep_that_makes_no_mutant_is_a_failed_run(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "pkg").mkdir(parents=True)
    (base / "pkg" / "__init__.py").write_text("")
    (base / "pkg" / "core.py").write_text("def add(a, b):\n    return a + b\n")
    (base / "pkg" / "names.py").write_text("from pkg.core import *\n")  # nothing to mutate
    (base / "tests").mkdir()
    (base / "tests" / "test_core.py").write_text(
        "from pkg.core import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n")
    mutation_tools.git(base, "init", "-q", "-b", "main")
    mutation_tools.git(base, "add", "-A")
    mutation_tools.git(base, "commit", "-q", "-m", "tiny")
    tool = mutation_tools.run_launcher(base, tmp_path, "fast", ["--workers", "1"], None, ["pkg/names.py"],
                                       Path(sys.executable))
    assert not tool.entries
    assert "launcher sweep reported no mutants of 1 file(s) (pkg/names.py): nothing was measured" in tool.error
