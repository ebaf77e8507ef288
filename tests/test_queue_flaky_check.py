"""A task is named culprit of the integration check only on a confirmed failure of the check on
its own tree (what was accepted before it, plus its change): a check that fails once (a flaky
check) blames nobody, and a failure read back from the journal is run again before it blames a
task in a later round. Bisection to real culprits keeps its cost: a deterministic check runs
about log2(batch) times per culprit, counted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
from conftest import git
from helpers import run_plan, task

from launcher.app.queue.batches import Folder, QueueResult
from launcher.git import merge
from launcher.git.integration_check import run_integration_check
from launcher.git.repo import GitRepo


def _flaky_check(tmp_path: Path, fails: int = 1) -> str:
    """An integration check that fails on its first `fails` calls, whatever the tree holds,
    and counts its calls in calls.txt."""
    script = tmp_path / "flaky.py"
    script.write_text(
        "import pathlib, sys\n"
        f"calls = pathlib.Path({str(tmp_path / 'calls.txt')!r})\n"
        "n = len(calls.read_text().splitlines()) + 1 if calls.exists() else 1\n"
        "calls.write_text('call\\n' * n)\n"
        f"if n <= {fails}:\n"
        "    print(f'call {n}: FLAKE: network hiccup')\n"
        "    sys.exit(1)\n"
        "print(f'call {n}: fine')\n"
    )
    return f"{sys.executable} {script}"


def _calls(tmp_path: Path) -> int:
    found = tmp_path / "calls.txt"
    return len(found.read_text().splitlines()) if found.exists() else 0


def test_a_check_that_fails_once_blames_no_task_and_the_batch_lands(repo: Path, tmp_path: Path) -> None:
    tasks = [{"id": name, "script": [{"write": f"{name}.txt", "content": f"{name}\n"}]} for name in "abc"]

    report = run_plan(repo, tasks, integration_check=_flaky_check(tmp_path))

    assert [t.state for t in report.tasks] == ["merged"] * 3, [t.message for t in report.tasks]
    assert report.queue.culprits == [] and report.queue.returned == []
    # a+b+c fails (the flake); a passes; a+b passes; c, the last, would only be blamed by the
    # batch's one run: that same tree is checked once more, and passes.
    assert _calls(tmp_path) == report.queue.check_runs == 4
    said = [n.message for n in report.notes]
    assert any("did not reproduce" in m and "no task is blamed" in m and "a, b, c" in m for m in said), said
    assert all((repo / f"{name}.txt").exists() for name in "abc")


def test_a_culprits_revision_round_runs_the_check_again_on_the_same_tree(repo: Path, tmp_path: Path) -> None:
    # The check fails on its first call only, on a task checked alone: that task is the culprit
    # (a confirmed failure on its own tree). Its revision round changes nothing, so its tree is
    # the one that failed: the journaled failure is run again, passes, and the task lands.
    tasks = [{"id": "c", "script": [{"write": "c.txt", "content": "c\n"}]}]

    report = run_plan(repo, tasks, integration_check=_flaky_check(tmp_path), iteration_cap=3)

    c = task(report, "c")
    assert c.state == "merged", c.message
    assert report.queue.culprits == ["c"] and report.queue.returned == ["c"]
    feedback = (Path(report.artifacts) / "c" / "grading" / "1-feedback.md").read_text()
    assert "failed there, and it passed on the same tree without your change" in feedback
    assert "with your change alone" not in feedback
    assert "FLAKE: network hiccup" in feedback


def test_a_flake_blames_no_task_when_two_tasks_make_the_same_change(repo: Path, tmp_path: Path) -> None:
    # a and b fix the same typo: the batch's tree a+b is a's tree alone. The batch's one failing
    # run, read back for a, is the same run, not a second one: a's tree is checked again, passes,
    # and both land on it.
    tasks = [{"id": name, "script": [{"write": "typo.txt", "content": "fixed\n"}]} for name in "ab"]

    report = run_plan(repo, tasks, integration_check=_flaky_check(tmp_path), iteration_cap=1)

    assert [t.state for t in report.tasks] == ["merged", "merged"], [t.message for t in report.tasks]
    assert report.queue.culprits == [] and report.queue.returned == []
    assert _calls(tmp_path) == report.queue.check_runs == 2  # the batch, then that tree again
    said = [n.message for n in report.notes]
    assert any("did not reproduce" in m and "no task is blamed" in m for m in said), said


# -- the queue itself, on branches made with git plumbing (no agent): runs of a check counted


def _branches(root: Path, names: list[str], broken: set[str]) -> list[merge.Candidate]:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# queue\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "initial")
    base = git(root, "rev-parse", "HEAD").strip()
    found = []
    for name in names:
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=root,
            check=True,
            text=True,
            capture_output=True,
            input="BROKEN\n" if name in broken else f"{name}\n",
        ).stdout.strip()
        git(root, "read-tree", base)
        git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}.txt")
        tree = git(root, "write-tree").strip()
        commit = git(
            root, "-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", tree, "-p", base, "-m", name
        ).strip()
        git(root, "update-ref", f"refs/heads/{name}", commit)
        found.append(merge.Candidate(task_id=name, branch=name, head=commit, message=f"Merge {name}"))
    git(root, "read-tree", base)
    return found


def _queue(
    root: Path, candidates: list[merge.Candidate], command: str, journaled: dict[str, tuple[bool, str]] | None = None
) -> tuple[QueueResult, list[str]]:
    """Land `candidates` in one batch; (the result, the kinds of the queue steps recorded).
    `journaled`: verdicts by tree an earlier landing pass journaled."""
    steps: list[str] = []
    verdicts: dict[str, tuple[bool, str]] = dict(journaled or {})

    async def go() -> QueueResult:
        repo = await GitRepo.discover(root)

        async def check(commit: str) -> tuple[bool, str]:
            return await run_integration_check(repo, commit, command, root.parent / "scratch" / commit[:12], 60)

        def record(kind: str, tasks: list[str], **fields: object) -> None:
            steps.append(kind)
            if kind == "check":
                verdicts[str(fields["tree"])] = (bool(fields["ok"]), str(fields["detail"]))

        folder = Folder(repo=repo, strategy="merge", check=check, record=record, verdict_of=verdicts.get)
        result = QueueResult(await repo.rev_parse("main"))
        await folder.land(result, candidates, None)
        return result

    return anyio.run(go), steps


NAMES = [f"t{n:02d}" for n in range(32)]
GREP_BROKEN = "! grep -rq BROKEN --include=*.txt ."


def test_bisection_finds_three_culprits_of_32_in_log2_check_runs(tmp_path: Path) -> None:
    broken = {"t05", "t15", "t25"}
    candidates = _branches(tmp_path / "repo", NAMES, broken)

    result, steps = _queue(tmp_path / "repo", candidates, GREP_BROKEN)

    assert sorted(result.failed) == sorted(broken)
    assert all(result.failed[t].outcome == "check_failed" for t in broken)
    assert sorted(result.landed) == sorted(set(NAMES) - broken)
    # The whole batch and log2(32) = 5 runs of the binary search down to t05 (t00..t04 land);
    # the rest folded again onto that tip: its run and 5 more down to t15; then batches of 8
    # (the culprit rate seen): t16..t23 passes, t24..t31 fails and 3 runs find t25, t26..t29
    # and t30..t31 pass: 19 runs, where landing one by one runs 32.
    assert result.check_runs == steps.count("check") == 19
    assert result.notes == [] and "not_reproduced" not in steps


def test_a_culprit_last_in_its_batch_is_confirmed_by_one_more_run(tmp_path: Path) -> None:
    names = NAMES[:8]
    candidates = _branches(tmp_path / "repo", names, {"t07"})

    result, steps = _queue(tmp_path / "repo", candidates, GREP_BROKEN)

    assert list(result.failed) == ["t07"] and sorted(result.landed) == names[:7]
    # t00..t07 fails; t00..t03, t00..t05, t00..t06 pass; t07's tree is the batch's: run again, fails.
    assert result.check_runs == 5
    assert "culprit" in steps and result.notes == []
    assert result.failed["t07"].details.startswith("integration check failed on ")
    assert "with this task's change;" in result.failed["t07"].details


def test_a_batch_whose_failure_does_not_reproduce_lands_whole(tmp_path: Path) -> None:
    names = NAMES[:8]
    candidates = _branches(tmp_path / "repo", names, set())
    command = _flaky_check(tmp_path)

    result, steps = _queue(tmp_path / "repo", candidates, command)

    assert sorted(result.landed) == names and result.failed == {}
    assert result.check_runs == _calls(tmp_path) == 5  # the batch, 3 prefixes, the batch again
    assert steps.count("not_reproduced") == 1
    assert "did not reproduce" in result.notes[0]


def test_a_failure_of_the_target_journaled_by_an_earlier_pass_is_run_again(tmp_path: Path) -> None:
    # An earlier landing pass saw the check fail on main (a flake). Now t01 breaks the check:
    # main is checked again (it passes), so t01 is its culprit, not held back for a broken main.
    candidates = _branches(tmp_path / "repo", ["t01"], {"t01"})
    main_tree = git(tmp_path / "repo", "rev-parse", "main^{tree}").strip()

    result, steps = _queue(tmp_path / "repo", candidates, GREP_BROKEN, {main_tree: (False, "FLAKE")})

    assert result.broken_tip is None and result.held_back == {}
    assert list(result.failed) == ["t01"] and "with this task's change" in result.failed["t01"].details
    assert result.check_runs == 2 and "culprit" in steps  # t01 on main, then main itself


def _same_change(root: Path, names: list[str]) -> list[merge.Candidate]:
    """Branches of `names` that each make the same change (typo.txt = "fixed") on main."""
    _branches(root, [], set())
    base = git(root, "rev-parse", "HEAD").strip()
    found = []
    for name in names:
        git(root, "checkout", "-q", "-b", name, base)
        (root / "typo.txt").write_text("fixed\n")
        git(root, "add", "typo.txt")
        git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", name)
        found.append(merge.Candidate(name, name, git(root, "rev-parse", "HEAD").strip(), f"Merge {name}"))
    git(root, "checkout", "-q", "main")
    return found


def test_a_failure_an_earlier_pass_saw_on_the_batchs_own_tree_is_one_run_not_two(tmp_path: Path) -> None:
    # An earlier landing pass saw the check fail (a flake) on the tree that t01 and t02, which
    # make the same change, make together and each alone. That one run is read back for the
    # batch and for its part t01: never a confirmation of itself. The tree is checked again.
    root = tmp_path / "repo"
    candidates = _same_change(root, ["t01", "t02"])
    tree = git(root, "rev-parse", "t01^{tree}").strip()

    result, steps = _queue(root, candidates, "true", {tree: (False, "FLAKE")})

    assert sorted(result.landed) == ["t01", "t02"] and result.failed == {}
    assert result.check_runs == 1 and "culprit" not in steps
    assert steps.count("not_reproduced") == 1
