"""The parallel run pipeline, end to end, with real repos and real agent subprocesses."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from helpers import git, run_plan, task

from launcher.models.states import RunStatus


def edit(path: str, old: str, new: str) -> dict[str, str]:
    return {"replace": path, "old": old, "new": new}


def test_two_tasks_on_different_hunks_both_land(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "top", "script": [edit("app.py", "return a + b", "return b + a")]},
        {"id": "bottom", "script": [edit("app.py", "return a - b", "return -(b - a)")]},
    ])
    assert report.status == RunStatus.SUCCEEDED
    assert [t.state for t in report.tasks] == ["merged", "merged"]
    text = (repo / "app.py").read_text()  # the clean main work tree was updated
    assert "return b + a" in text and "return -(b - a)" in text
    log = git(repo, "log", "--format=%(trailers:key=Launcher-Task,valueonly)", "main")
    assert "top" in log and "bottom" in log


def test_overlapping_hunks_one_lands_the_other_is_conflicted_and_kept(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "first", "script": [edit("app.py", "return a + b", "return a + b + 0")]},
        {"id": "second", "script": [edit("app.py", "return a + b", "return sum((a, b))")]},
    ])
    assert report.status == RunStatus.FAILED
    first, second = task(report, "first"), task(report, "second")
    assert first.state == "merged" and second.state == "conflicted"
    assert "app.py" in second.message
    # The target is exactly what the first landing made: a merge of base and `first`'s head.
    main = git(repo, "rev-parse", "main").strip()
    parents = git(repo, "rev-list", "--parents", "-n1", "main").split()[1:]
    assert parents == [report.base_sha, first.head_sha]
    assert git(repo, "show", f"{main}:app.py") == (repo / "app.py").read_text()
    assert "a + b + 0" in (repo / "app.py").read_text()
    # The conflicted branch and worktree are kept for inspection.
    assert second.branch and git(repo, "rev-parse", second.branch).strip() == second.head_sha
    assert second.worktree and Path(second.worktree).is_dir()


def test_agents_never_touch_the_main_work_tree(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    report = run_plan(repo, [{"id": "a", "script": [{"write": "new.txt", "content": "x\n"}]}],
                      merge=False)
    assert task(report, "a").state == "approved"
    assert git(repo, "rev-parse", "HEAD") == head
    assert not (repo / "new.txt").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_an_agent_writing_into_the_main_checkout_fails_naming_the_files(repo: Path) -> None:
    intruder = str(repo / "intruded.txt")
    report = run_plan(repo, [
        {"id": "rogue", "script": [{"write": intruder, "content": "oops\n"},
                                   {"write": "fine.txt", "content": "ok\n"}]},
    ])
    rogue = task(report, "rogue")
    assert rogue.state == "failed"
    assert "main checkout" in rogue.message and "intruded.txt" in rogue.message
    assert git(repo, "log", "--oneline", "main").count("\n") == 1  # nothing landed


def test_dependent_task_builds_on_its_dependency(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "docs", "depends_on": ["lib"],
         "script": [{"append": "lib.py", "content": "# documented\n"}]},
        {"id": "lib", "script": [{"write": "lib.py", "content": "X = 1\n"}]},
    ])
    assert report.status == RunStatus.SUCCEEDED
    assert (repo / "lib.py").read_text() == "X = 1\n# documented\n"
    # Landing follows depends_on: lib's merge comes before docs's.
    subjects = git(repo, "log", "--format=%s", "--merges", "main").splitlines()
    assert subjects[0].startswith("Merge docs") and subjects[1].startswith("Merge lib")


def test_failed_dependency_skips_its_dependents(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "base", "script": [{"exit": 3}]},
        {"id": "child", "depends_on": ["base"], "script": [{"write": "c.txt", "content": "c"}]},
    ])
    assert task(report, "base").state == "failed"
    assert "exit code 3" in task(report, "base").message
    child = task(report, "child")
    assert child.state == "skipped" and "base" in child.message


def test_failing_check_is_not_merged_and_its_worktree_is_kept(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "bad", "checks": ["test -f must-exist.txt"],
         "script": [{"write": "other.txt", "content": "x"}]},
        {"id": "good", "checks": ["test -f made.txt"],
         "script": [{"write": "made.txt", "content": "x"}]},
    ])
    bad, good = task(report, "bad"), task(report, "good")
    assert bad.state == "failed" and "check failed: test -f must-exist.txt" in bad.message
    assert good.state == "merged"
    assert bad.worktree and Path(bad.worktree).is_dir()
    assert not (repo / "other.txt").exists() and (repo / "made.txt").exists()
    facts = json.loads((Path(report.artifacts) / "bad" / "facts.json").read_text())
    assert facts["checks"][0]["ok"] is False and facts["checks"][0]["exit_code"] == 1


def test_contract_status_blocked_and_failed_map_to_task_states(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "stuck", "script": [{"write": "s.txt", "content": "s"},
                                   {"contract": {"status": "blocked", "blockers": ["need creds"]}}]},
        {"id": "gaveup", "script": [{"contract": {"status": "failed"}}]},
    ])
    assert task(report, "stuck").state == "blocked"
    assert "need creds" in task(report, "stuck").message
    assert task(report, "gaveup").state == "failed"


def test_unchanged_task_removes_its_worktree_and_branch(repo: Path) -> None:
    report = run_plan(repo, [{"id": "noop", "script": [{"say": "nothing to do"}]}])
    noop = task(report, "noop")
    assert noop.state == "skipped" and noop.message.startswith("no changes")
    assert report.status == RunStatus.SUCCEEDED
    assert "launcher/" not in git(repo, "branch", "--list", "launcher/*")
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_invalid_contract_gets_the_envelope_and_one_corrective_round(repo: Path) -> None:
    report = run_plan(repo, [{"id": "sloppy", "script": [
        {"write": "s.txt", "content": "s"},
        {"raw_contract": '{"contract_version": "1"}', "attempts": [1]},
    ]}])
    sloppy = task(report, "sloppy")
    assert sloppy.state == "merged"
    task_dir = Path(report.artifacts) / "sloppy"
    feedback = json.loads((task_dir / "feedback.json").read_text())
    assert feedback == {
        "ok": False,
        "error_key": "missing_key:task_id",
        "observations": "the contract has no 'task_id' key",
        "usage": feedback["usage"],
    }
    assert "LAUNCHER_CONTRACT" in feedback["usage"]
    facts = json.loads((task_dir / "facts.json").read_text())
    assert facts["contract_origin"] == "contract_file"
    assert (task_dir / "agent.log").read_text().count("=== launcher") == 2


def test_still_invalid_after_the_corrective_round_records_a_derived_contract(repo: Path) -> None:
    report = run_plan(repo, [{"id": "mute", "script": [
        {"write": "m.txt", "content": "m"}, {"raw_contract": "not json at all"},
    ]}])
    mute = task(report, "mute")
    assert mute.contract is not None and mute.contract["source"] == "derived"
    assert mute.contract["files_changed"] == ["m.txt"]
    facts = json.loads((Path(report.artifacts) / "mute" / "facts.json").read_text())
    assert facts["contract_error"]["error_key"] == "invalid_json"


def test_facts_record_claimed_versus_real_files(repo: Path) -> None:
    report = run_plan(repo, [{"id": "liar", "script": [
        {"write": "real.txt", "content": "r"},
        {"contract": {"files_changed": ["claimed.txt"]}},
    ]}])
    facts = json.loads((Path(report.artifacts) / "liar" / "facts.json").read_text())
    assert facts["files_changed"] == ["real.txt"]
    assert facts["claimed_not_changed"] == ["claimed.txt"]
    assert facts["changed_not_claimed"] == ["real.txt"]
    assert facts["exit_code"] == 0 and facts["head_sha"] != facts["base_sha"]
    assert (Path(report.artifacts) / "liar" / "diff.patch").read_text().startswith("diff --git")


def test_uncommitted_changes_are_committed_with_trailers(repo: Path) -> None:
    report = run_plan(repo, [{"id": "t1", "script": [{"write": "x.txt", "content": "x"}]}],
                      merge=False)
    branch = task(report, "t1").branch
    assert branch
    trailers = git(repo, "log", "-1", "--format=%(trailers)", branch)
    assert f"Launcher-Run: {report.run_id}" in trailers and "Launcher-Task: t1" in trailers


def test_agent_commits_are_kept(repo: Path) -> None:
    report = run_plan(repo, [{"id": "committer", "script": [
        {"write": "a.txt", "content": "a"}, {"commit": "agent: add a"},
        {"write": "b.txt", "content": "b"},
    ]}])
    assert task(report, "committer").state == "merged"
    subjects = git(repo, "log", "--format=%s", "main").splitlines()
    assert "agent: add a" in subjects
    assert (repo / "a.txt").exists() and (repo / "b.txt").exists()


def test_scope_violation_fails_the_task(repo: Path) -> None:
    report = run_plan(repo, [{"id": "scoped", "scope": ["docs/"], "script": [
        {"write": "docs/ok.md", "content": "ok"}, {"write": "app.py", "content": "x"},
    ]}])
    scoped = task(report, "scoped")
    assert scoped.state == "failed" and "outside its scope: app.py" in scoped.message


def test_dirty_main_tree_leaves_the_result_on_the_integration_branch(repo: Path) -> None:
    (repo / "README.md").write_text("# local edit in progress\n")
    before = git(repo, "rev-parse", "main")
    report = run_plan(repo, [{"id": "w", "script": [{"write": "w.txt", "content": "w"}]}])
    assert git(repo, "rev-parse", "main") == before
    assert report.integration_branch == f"launcher/{report.run_id}/_integration"
    assert report.status == "parked"  # approved work that did not reach the target
    assert "w.txt" in git(repo, "ls-tree", "--name-only", report.integration_branch)
    assert (repo / "README.md").read_text() == "# local edit in progress\n"
    assert "integration" in report.message


def test_epics_report_their_decision_and_shared_files(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "api", "epic": "login", "script": [{"write": "auth.py", "content": "A = 1\n"}]},
        {"id": "ui", "epic": "login", "script": [
            {"write": "login.html", "content": "<form>\n"}, {"write": "auth.py", "content": "B\n"}]},
        {"id": "docs", "epic": "guide", "script": [{"write": "guide.md", "content": "g\n"}]},
    ], merge=False)
    epics = {e.id: e for e in report.epics}
    assert epics["guide"].decision == "pass" and epics["guide"].shared_files == {}
    assert epics["login"].tasks == ["api", "ui"]
    assert epics["login"].shared_files == {"auth.py": ["api", "ui"]}
    assert epics["login"].decision == "pass"
    landed = run_plan(repo, [
        {"id": "a", "epic": "e", "script": [{"write": "a.txt", "content": "a"}]},
        {"id": "b", "epic": "e", "checks": ["false"], "script": [{"write": "b.txt", "content": "b"}]},
    ])
    assert landed.epics[0].decision == "block"


def test_best_of_n_lands_the_best_attempt_and_removes_the_others(repo: Path) -> None:
    report = run_plan(repo, [
        {"id": "pick", "attempts": 3, "checks": ["test -f result.txt"],
         "script": [{"write": "result.txt", "content": "same\n"}]},
        {"id": "after", "depends_on": ["pick"],
         "script": [{"append": "result.txt", "content": "more\n"}]},
    ])
    assert report.status == RunStatus.SUCCEEDED, [(t.id, t.state, t.message) for t in report.tasks]
    pick = task(report, "pick")
    assert pick.state == "merged" and (pick.branch or "").endswith("/pick.attempt-1")
    attempts = [task(report, f"pick.attempt-{k}") for k in (1, 2, 3)]
    assert [a.state for a in attempts] == ["skipped"] * 3
    assert "selected" in attempts[0].message and "not selected" in attempts[1].message
    assert (repo / "result.txt").read_text() == "same\nmore\n"
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "log", "--merges", "--format=%s", "main").count("Merge") == 2


AGENT_CODE = """
import json, os, pathlib, sys
files = sys.argv[1:]
for name in files:
    lines = 100 if name == "big.txt" else 1
    pathlib.Path(name).write_text("x\\n" * lines)
pathlib.Path(os.environ["LAUNCHER_CONTRACT"]).write_text(json.dumps({
    "contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
    "summary": "wrote " + ", ".join(files), "files_changed": files, "tests_added": [],
    "decisions": [], "blockers": [], "llm_observations": "command agent for best-of-N"}))
"""


def test_best_of_n_prefers_passing_checks_then_the_smaller_diff(repo: Path) -> None:
    import sys

    def agent(*files: str) -> dict[str, object]:
        return {"adapter": "command", "command": [sys.executable, "-c", AGENT_CODE, *files]}

    plan = {
        "agents": {"bulky": agent("ok.txt", "big.txt"), "broken": agent("nope.txt"),
                   "lean": agent("ok.txt")},
        "task": [{"id": "pick", "attempts": 3, "attempt_agents": ["bulky", "broken", "lean"],
                  "checks": ["test -f ok.txt"]}],
    }
    import anyio

    from launcher.app.run.runner import RunOptions, start_run
    from launcher.models.plan import validate_plan

    report = anyio.run(start_run, repo, validate_plan(plan, "p"), RunOptions(), lambda _e: None)
    pick = task(report, "pick")
    assert pick.state == "merged" and (pick.branch or "").endswith("/pick.attempt-3"), pick.branch
    assert (repo / "ok.txt").exists() and not (repo / "big.txt").exists()
    broken = task(report, "pick.attempt-2")
    assert broken.state == "skipped" and "not selected (failed)" in broken.message
    assert report.status == RunStatus.SUCCEEDED
    assert git(repo, "branch", "--list", "launcher/*").strip() == ""


def test_a_check_killed_at_its_timeout_says_so_not_just_an_exit_code(repo: Path) -> None:
    check = f"{sys.executable} -c 'import time; time.sleep(60)'"
    report = run_plan(repo, [{"id": "slow", "timeout_s": 2, "checks": [check],
                              "script": [{"write": "s.txt", "content": "s\n"}]}])
    slow = task(report, "slow")
    assert slow.state == "failed" and "timed out after 2 s and was killed" in slow.message, slow.message
    assert "exit -" not in slow.message


def test_a_base_that_is_not_on_the_target_is_noted_with_its_extra_commits(repo: Path) -> None:
    # On a feature branch with work in progress, `into = "main"` lands that work too: say so.
    git(repo, "switch", "-q", "-c", "feature")
    (repo / "wip.txt").write_text("do not merge\n")
    git(repo, "add", "wip.txt")
    git(repo, "commit", "-q", "-m", "WIP do not merge")
    report = run_plan(repo, [{"id": "a", "script": [{"write": "a.txt", "content": "a\n"}]}], into="main")
    assert task(report, "a").state == "merged"
    noted = [n.message for n in report.notes if "is not on main" in n.message]
    assert noted and "1 commit(s)" in noted[0] and "--base main" in noted[0], report.notes
    plain = run_plan(repo, [{"id": "b", "script": [{"write": "b.txt", "content": "b\n"}]}])
    assert not [n for n in plain.notes if "is not on" in n.message]  # base on the target: silent


def _ignore_and_commit(repo: Path, pattern: str) -> None:
    (repo / ".gitignore").write_text(f"{pattern}\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")


def test_checks_passing_only_thanks_to_an_ignored_file_the_agent_left_fail_the_task(repo: Path) -> None:
    # The committed module imports a helper the agent left as an ignored file: it never lands,
    # so the check that passed in the worktree would fail on main. Not approved.
    _ignore_and_commit(repo, "helper_local.py")
    report = run_plan(repo, [{"id": "t", "checks": [f"{sys.executable} -c 'import feature'"], "script": [
        {"write": "helper_local.py", "content": "VALUE = 42\n"},
        {"write": "feature.py", "content": "from helper_local import VALUE\n"}]}])
    t = task(report, "t")
    assert t.state == "failed" and not t.merged, t.message
    assert "helper_local.py" in t.message and "clean checkout" in t.message
    assert not (repo / "feature.py").exists()


def test_an_ignored_file_the_checks_do_not_need_is_noted_and_the_task_lands(repo: Path) -> None:
    _ignore_and_commit(repo, "*.log")
    report = run_plan(repo, [{"id": "t", "checks": [f"{sys.executable} -c 'import feature'"], "script": [
        {"write": "scratch.log", "content": "agent notes\n"},
        {"write": "feature.py", "content": "VALUE = 42\n"}]}])
    t = task(report, "t")
    assert t.state == "merged", t.message
    assert [n for n in report.notes if "scratch.log" in n.message and "without them too" in n.message]


def test_diff_patch_holds_the_whole_diff_however_long(repo: Path, monkeypatch: Any) -> None:
    # It used to be the last 64 MiB of the diff, starting mid-line, with no marker: a patch that
    # applies to nothing. Written by git straight to the file now (memory limit tiny here).
    from launcher.git.repo import GitRepo

    monkeypatch.setattr(GitRepo, "max_output", 64 * 1024)
    big = "".join(f"line {i} {'x' * 60}\n" for i in range(4000))  # about 270 KB
    report = run_plan(repo, [{"id": "t", "script": [{"write": "aaaa_first.txt", "content": "first\n"},
                                                     {"write": "big.txt", "content": big}]}], merge=False)
    assert task(report, "t").state == "approved"
    patch = Path(report.artifacts) / "t" / "diff.patch"
    assert patch.read_text().startswith("diff --git a/aaaa_first.txt")
    git(repo, "apply", "--check", str(patch))  # the whole change, from its first line


def test_a_claimed_directory_covers_the_files_changed_under_it() -> None:
    from launcher.app.run.claims import disagreements

    assert disagreements(["src/"], ["src/a.py", "src/b/c.py", "x.py"]) == ([], ["x.py"])
    assert disagreements(["./src"], ["src/a.py"]) == ([], [])
    assert disagreements(["docs/", "gone.py"], ["src/a.py"]) == (["docs", "gone.py"], ["src/a.py"])
