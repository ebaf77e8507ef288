"""The merge queue's bisection and batch sizes (DESIGN 8, README "Merge queue"): a culprit costs
its batch's check run, about log2(batch) runs to find it (a binary search for the longest
prefix of the fold that passes: that prefix lands) and one run for the rest of the batch, folded
again onto the new tip. When culprits are common the batches shrink: a pass never runs more
checks than landing one by one would, plus 2*ceil(log2 batch)+1. The target never moves to a
tree whose check failed, and a pass cut short resumes on the journaled verdicts without running
the check again on a tree it judged.

The branches are made with git plumbing; the integration check is a real one (a scratch tree
of each merged commit, a shell command)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest
from conftest import git

from launcher.app.queue.batches import Folder, QueueResult
from launcher.git import merge
from launcher.git.integration_check import run_integration_check
from launcher.git.repo import GitRepo

GREP_BROKEN = "! grep -rq BROKEN --include=*.txt ."


class Crash(Exception):
    """The launcher dying in the middle of a landing pass."""


def _branches(root: Path, count: int, content: dict[int, str] | None = None) -> list[merge.Candidate]:
    """`count` branches off main, t00, t01, ...: each adds tNN.txt holding its name, or
    `content[n]`."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# queue\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    base = git(root, "rev-parse", "HEAD").strip()
    found = []
    for n in range(count):
        name = f"t{n:02d}"
        blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=root, check=True, text=True,
                              capture_output=True, input=(content or {}).get(n, f"{name}\n")).stdout.strip()
        git(root, "read-tree", base)
        git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}.txt")
        commit = git(root, "commit-tree", git(root, "write-tree").strip(), "-p", base, "-m", name).strip()
        git(root, "update-ref", f"refs/heads/{name}", commit)
        found.append(merge.Candidate(task_id=name, branch=name, head=commit, message=f"Merge {name}"))
    git(root, "read-tree", base)
    return found


def _broken(count: int, broken: set[int], root: Path) -> list[merge.Candidate]:
    return _branches(root, count, {n: "BROKEN\n" for n in broken})


class Queue:
    """One landing pass of the real queue over `root`'s branches; what it journaled stays in
    `verdicts` and `steps` (a later pass reads the verdicts back, as a resumed landing does)."""

    def __init__(self, root: Path, command: str) -> None:
        self.root, self.command = root, command
        self.verdicts: dict[str, tuple[bool, str]] = {}
        self.steps: list[tuple[str, list[str], str]] = []
        self.calls = 0  # check runs started, one cut short by a crash included

    def land(self, candidates: list[merge.Candidate], batch: int | None = None,
             crash_at: int | None = None) -> QueueResult:
        async def go() -> QueueResult:
            repo = await GitRepo.discover(self.root)

            async def check(commit: str) -> tuple[bool, str]:
                self.calls += 1
                if self.calls == crash_at:
                    raise Crash(f"killed during check run {self.calls}")
                return await run_integration_check(repo, commit, self.command,
                                                   self.root.parent / "scratch" / commit[:12], 60)

            def record(kind: str, tasks: list[str], **fields: object) -> None:
                self.steps.append((kind, tasks, str(fields.get("detail", ""))))
                if kind == "check":
                    self.verdicts[str(fields["tree"])] = (bool(fields["ok"]), str(fields["detail"]))

            folder = Folder(repo=repo, strategy="merge", check=check, record=record,
                            verdict_of=self.verdicts.get)
            result = QueueResult(await repo.rev_parse("main"))
            await folder.land(result, candidates, batch)
            return result

        return anyio.run(go)

    def kinds(self, kind: str) -> list[list[str]]:
        return [tasks for k, tasks, _ in self.steps if k == kind]


def _files(root: Path, commit: str) -> str:
    return git(root, "ls-tree", "--name-only", commit)


def _tip_passes(root: Path, result: QueueResult) -> bool:
    return subprocess.run(["git", "grep", "-q", "BROKEN", result.tip, "--", "*.txt"], cwd=root).returncode == 1


@pytest.mark.parametrize(("position", "runs"), [(0, 7), (4, 6), (8, 6), (15, 6)])
def test_one_culprit_costs_its_batchs_run_log2_runs_to_find_it_and_one_run_for_the_rest(
        tmp_path: Path, position: int, runs: int) -> None:
    # 16 branches, one culprit: the batch's run, log2(16) = 4 runs of the binary search, one run
    # for the 15 - position candidates after the culprit, folded again onto the new tip: 6. At
    # position 0 the tip itself is checked too (a change that fails alone is a culprit only if
    # the tip it lands on passes). At 15 nothing is left after it, but the batch's run is its only
    # failing run (every shorter prefix passed): that tree is checked once more before blaming.
    # (Re-checking each level's right half on the way back up cost 10, 8, 8 and 6.)
    root = tmp_path / "repo"
    candidates = _broken(16, {position}, root)
    queue = Queue(root, GREP_BROKEN)

    result = queue.land(candidates)

    culprit = f"t{position:02d}"
    assert list(result.failed) == [culprit] and result.failed[culprit].outcome == "check_failed"
    assert sorted(result.landed) == sorted(c.task_id for c in candidates if c.task_id != culprit)
    assert result.check_runs == queue.calls == runs <= 4 + 3
    assert _tip_passes(root, result)
    # The culprit's tree is the longest passing prefix plus its change; the prefix landed.
    assert f"{culprit}.txt" in _files(root, result.culprit_tips[culprit])
    assert "with this task's change;" in result.failed[culprit].details
    # Journaled: the batch, each step of the search, what landed, the culprit, and the rest as
    # a batch of its own onto the new tip.
    batches = queue.kinds("batch")
    assert batches[0] == [c.task_id for c in candidates]
    assert batches[1:] == ([[c.task_id for c in candidates[position + 1:]]] if position < 15 else [])
    assert len(queue.kinds("bisect")) == 4 and queue.kinds("culprit") == [[culprit]]


@pytest.mark.parametrize("batch", [None, 4])
def test_with_a_culprit_in_every_other_branch_the_queue_runs_at_most_one_by_one_plus_2log2_plus_1(
        tmp_path: Path, batch: int | None) -> None:
    # One by one runs the check 16 times. Folding all 16 and bisecting down to each culprit ran
    # it 32 times (29 in batches of 4): the batches now shrink as the culprits show.
    root = tmp_path / "repo"
    candidates = _broken(16, set(range(0, 16, 2)), root)
    queue = Queue(root, GREP_BROKEN)

    result = queue.land(candidates, batch)

    assert sorted(result.failed) == [f"t{n:02d}" for n in range(0, 16, 2)]
    assert sorted(result.landed) == [f"t{n:02d}" for n in range(1, 16, 2)]
    limit = batch or 16
    assert result.check_runs <= 16 + 2 * (limit - 1).bit_length() + 1
    assert result.check_runs == {None: 25, 4: 21}[batch]
    assert _tip_passes(root, result)
    assert any("culprit(s) in" in detail for kind, _, detail in queue.steps if kind == "batch")


def test_culprits_in_a_row_are_each_blamed_on_the_tip_they_complete(tmp_path: Path) -> None:
    # A check that fails once the tree holds 10 branches' files (a resource limit): t09 completes
    # the failing combination, then so does each branch after it on the tip that holds t00..t08.
    root = tmp_path / "repo"
    candidates = _branches(root, 16)
    queue = Queue(root, 'test "$(ls t*.txt | wc -l)" -lt 10')

    result = queue.land(candidates)

    assert sorted(result.landed) == [f"t{n:02d}" for n in range(9)]
    assert sorted(result.failed) == [f"t{n:02d}" for n in range(9, 16)]
    assert all(d.outcome == "check_failed" for d in result.failed.values())
    assert len({result.culprit_tips[t] for t in result.failed}) == 7  # each on its own tree
    assert _files(root, result.tip).count(".txt") == 9
    assert result.check_runs <= 16 + 2 * 4 + 1


def test_a_pass_cut_short_resumes_on_the_journaled_verdicts_and_runs_no_tree_twice(tmp_path: Path) -> None:
    # The same landing twice: once uninterrupted, once killed during its 9th check run (in the
    # search for the second culprit, in the rest of the first batch) and run again on what
    # the first attempt journaled. The batch sizes follow the verdicts, read back or run, so the
    # second attempt folds the same trees: only the run cut short is run again.
    whole = Queue(_root := tmp_path / "whole", GREP_BROKEN)
    expected = whole.land(_broken(16, {3, 9}, _root))
    assert expected.check_runs == 12

    root = tmp_path / "repo"
    candidates = _broken(16, {3, 9}, root)
    queue = Queue(root, GREP_BROKEN)
    with pytest.raises(Crash):
        queue.land(candidates, crash_at=9)
    assert queue.kinds("culprit") == [["t03"]]

    result = queue.land(candidates)

    assert sorted(result.landed) == sorted(expected.landed) and sorted(result.failed) == ["t03", "t09"]
    assert git(root, "rev-parse", f"{result.tip}^{{tree}}") == git(_root, "rev-parse", f"{expected.tip}^{{tree}}")
    assert queue.calls == 12 + 1 and result.check_runs == 12 - 8
    checked = [tasks for kind, tasks, _ in queue.steps if kind == "check"]
    assert len(checked) == 12  # one journaled verdict per tree


def test_a_batch_that_mixes_refolded_and_new_candidates_screens_the_new_ones(tmp_path: Path) -> None:
    # Batches of 4: t01 is the culprit of the first, so t02 and t03 are folded again with t04
    # and t05. t04 adds conflict markers: it is refused there, as in a batch of its own.
    root = tmp_path / "repo"
    candidates = _branches(root, 8, {1: "BROKEN\n", 4: "<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n"})
    queue = Queue(root, GREP_BROKEN)

    result = queue.land(candidates, 4)

    assert queue.kinds("batch")[1] == ["t02", "t03", "t04", "t05"]
    assert result.failed["t01"].outcome == "check_failed"
    assert result.failed["t04"].outcome == "refused" and "conflict markers" in result.failed["t04"].details
    assert sorted(result.landed) == ["t00", "t02", "t03", "t05", "t06", "t07"]
    assert "t04.txt" not in _files(root, result.tip)
