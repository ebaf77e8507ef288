"""Hostile input to the readers the first fuzz file (test_fuzz_readers.py) did not reach, and
hostile agents: each bad input is one structured error (what, where, how to fix), never an
internal error, and nothing is left half-made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.errors import PlanError, UsageProblem
from launcher.git.include import load_spec
from launcher.models.plan import validate_plan

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

# Gitignore patterns, with the ones pathspec cannot compile (`!`, a trailing backslash, a
# reversed character range) among them.
pattern_chars = st.sampled_from([*"ab/*?[]!\\-z.^ \t#", "\u202e", "\x00", "é", "**"])
patterns = st.one_of(st.lists(pattern_chars, max_size=8).map("".join),
                     st.sampled_from(["!", "\\", "a\\", "[z-a]", "[b-a]*", "![", "**/[9-0]", "src/", ".env"]))


def _one_task_plan(**task: Any) -> dict[str, Any]:
    return {"task": [{"id": "t", "agent": "scripted", "script": [
        {"write": "b.txt", "content": "b\n"}, {"commit": "add b"}], **task}]}


def _no_branch_nor_worktree(repo: Path) -> None:
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1


# --- gitignore patterns: a task's `scope`, and `.worktreeinclude` ------------------------------


@FUZZ
@given(scope=st.lists(patterns, max_size=4))
def test_any_scope_is_a_plan_or_a_plan_error(scope: list[str]) -> None:
    try:
        validate_plan(_one_task_plan(scope=scope), "fuzz.json")
    except PlanError as exc:
        assert "scope" in exc.message and exc.exit_code == 2


@FUZZ
@given(lines=st.lists(patterns, max_size=5))
def test_any_include_file_is_a_spec_or_a_usage_problem(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / ".worktreeinclude"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        load_spec(path)
    except UsageProblem as exc:
        assert exc.where and exc.where.startswith(str(path) + ":") and exc.fix


def test_a_scope_pathspec_cannot_compile_is_refused_before_any_agent_runs(repo: Path, tmp_path: Path) -> None:
    # It used to pass validation, let the agent work, then end the run as an internal error (70).
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_one_task_plan(scope=["src/", "[z-a]"])))
    result = launcher_cli(repo, "run", str(plan), "--quiet")
    assert result.returncode == 2, result.stderr
    assert "scope entry 2" in result.stderr and "[z-a]" in result.stderr and "internal error" not in result.stderr
    assert not (repo / ".launcher").exists()
    _no_branch_nor_worktree(repo)


def test_an_include_file_line_pathspec_cannot_compile_is_a_usage_error_naming_the_line(
        repo: Path, tmp_path: Path) -> None:
    (repo / ".worktreeinclude").write_text(".env\n!\n")
    (repo / ".env").write_text("KEY=1\n")
    git(repo, "add", ".worktreeinclude")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "include")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_one_task_plan()))
    result = launcher_cli(repo, "run", str(plan), "--quiet")
    assert result.returncode == 2, result.stderr
    assert f"{repo / '.worktreeinclude'}:2" in result.stderr and "internal error" not in result.stderr
    _no_branch_nor_worktree(repo)  # the run is journaled as "could not start", resumable once fixed


# --- [mutation] of launcher.toml, and `mutation sweep --test-cmd` -----------------------------

_bmp_text = st.text(st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",)), max_size=6)  # as TOML escapes
mutation_values = st.one_of(st.none(), _bmp_text,
                            st.sampled_from(["", " ", "\0", "pytest\0 -q", "-x"]),
                            st.lists(st.sampled_from(["-q", "\0", "-q\0", "", "-k x"]), max_size=3),
                            st.integers(), st.booleans())


@FUZZ
@given(table=st.dictionaries(st.sampled_from(["test_cmd", "python", "pytest_args", "judge", "judge_batch"]),
                             mutation_values, max_size=3))
def test_any_mutation_table_is_a_config_or_a_config_error_and_never_a_command_that_cannot_run(
        tmp_path: Path, table: dict[str, Any]) -> None:
    from launcher.errors import ConfigError
    from launcher.models.config import load_repo_config
    root = tmp_path / "cfg"
    root.mkdir(exist_ok=True)
    (root / "launcher.toml").write_text("[mutation]\n" + "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in table.items() if value is not None))
    try:
        mutation = load_repo_config(root).mutation
    except ConfigError as exc:
        assert "mutation." in exc.message and exc.exit_code == 2
        return
    commands = [mutation.test_cmd or "x", mutation.python or "x", *mutation.pytest_args]
    assert not any("\0" in text for text in commands)
    assert mutation.test_cmd is None or mutation.test_cmd.strip()


def _sweepable(repo: Path) -> None:
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "calc")


def test_a_nul_in_the_mutation_test_command_is_refused_naming_the_setting_before_a_sweep_starts(repo: Path) -> None:
    # It used to start (and journal) a sweep, then end with exit 3: "cannot start '/bin/sh':
    # embedded null byte", naming no setting.
    _sweepable(repo)
    (repo / "launcher.toml").write_text('[mutation]\ntest_cmd = "pytest\\u0000 -q"\n')
    result = launcher_cli(repo, "mutation", "sweep", "calc.py")
    assert result.returncode == 2, result.stderr
    assert "mutation.test_cmd" in result.stderr and "NUL" in result.stderr
    assert not (repo / ".launcher" / "mutation-runs").exists()


def test_an_empty_test_command_is_refused_instead_of_blaming_the_tests_imports(repo: Path) -> None:
    # `sh -c ""` passes whatever the code does: the sweep used to fail its sanity check with
    # "make the tests import the code from the work tree", which was not the problem.
    _sweepable(repo)
    flag = launcher_cli(repo, "mutation", "sweep", "calc.py", "--test-cmd", " ")
    assert flag.returncode == 2 and "--test-cmd is empty" in flag.stderr, flag.stderr
    (repo / "launcher.toml").write_text('[mutation]\ntest_cmd = ""\n')
    config = launcher_cli(repo, "mutation", "sweep", "calc.py")
    assert config.returncode == 2 and "mutation.test_cmd: test_cmd is empty" in config.stderr, config.stderr
    assert not (repo / ".launcher" / "mutation-runs").exists()


# --- `land --from`: the exported completion contract ---------------------------------------


def test_an_exported_contract_whose_fields_were_edited_is_refused_before_anything_lands(tmp_path: Path) -> None:
    # `contract` was checked to be an object only: `files_changed: 5` or a contract without its
    # task_id landed, into the journal and the --json report that `status` and `grade` read.
    import shutil

    from test_land_from_final_job import _clone, _shard_exports
    remote, exports = _shard_exports(tmp_path / "shards", {"task": [
        {"id": "alpha", "script": [{"write": "alpha.txt", "content": "a\n"}]}]})
    for number, edit in enumerate([{"files_changed": 5}, {"tests_added": None}, {"task_id": None},
                                   {"contract_version": "9"}]):
        copies = [tmp_path / f"edit{number}" / out.name for out in exports]
        for out, copy in zip(exports, copies, strict=True):
            shutil.copytree(out, copy)
        edited = next(c for c in copies if json.loads((c / "launcher-export.json").read_text())["tasks"])
        data = json.loads((edited / "launcher-export.json").read_text())
        contract = {**data["tasks"][0]["contract"], **edit}
        data["tasks"][0]["contract"] = {k: v for k, v in contract.items() if v is not None or k == "tests_added"}
        (edited / "launcher-export.json").write_text(json.dumps(data))
        final = _clone(remote, tmp_path / f"final{number}")
        before = git(final, "rev-parse", "main")
        landed = launcher_cli(final, "land", *[a for out in copies for a in ("--from", str(out))])
        assert landed.returncode == 2, (edit, landed.stdout + landed.stderr)
        assert "tasks[0] (id 'alpha').contract: not a completion contract" in landed.stderr, landed.stderr
        assert git(final, "rev-parse", "main") == before
        assert "r-" not in launcher_cli(final, "runs").stdout  # no run journaled


def test_exported_paths_that_lead_outside_the_repository_or_hold_a_nul_are_refused_naming_the_field(
        tmp_path: Path) -> None:
    # `included` (the files .worktreeinclude copied, which the land's secret guard opens) was any
    # text: a NUL ended the land as an internal error (exit 70) once it had journaled a run and
    # fetched the branches; `../../x` had it read a file outside the repository.
    import shutil

    from test_land_from_final_job import _clone, _shard_exports
    remote, exports = _shard_exports(tmp_path / "shards", {"task": [
        {"id": "alpha", "script": [{"write": "alpha.txt", "content": "a\n"}]}]})
    blob = "0" * 40
    for number, (edit, named) in enumerate([
            ({"included": ["x\0"]}, ".included[0]"), ({"included": ["../../etc/passwd"]}, ".included[0]"),
            ({"files": ["a\0b"]}, ".files[0]"), ({"included_blobs": {blob: "/etc/passwd"}}, ".included_blobs"),
            ({"included_blobs": {"zz": ".env"}}, ".included_blobs")]):
        copies = [tmp_path / f"edit{number}" / out.name for out in exports]
        for out, copy in zip(exports, copies, strict=True):
            shutil.copytree(out, copy)
        edited = next(c for c in copies if json.loads((c / "launcher-export.json").read_text())["tasks"])
        data = json.loads((edited / "launcher-export.json").read_text())
        data["tasks"][0].update(edit)
        (edited / "launcher-export.json").write_text(json.dumps(data))
        final = _clone(remote, tmp_path / f"final{number}")
        landed = launcher_cli(final, "land", *[a for out in copies for a in ("--from", str(out))])
        assert landed.returncode == 2, (edit, landed.stdout + landed.stderr)
        assert f"tasks[0] (id 'alpha'){named}" in landed.stderr, landed.stderr
        assert "r-" not in launcher_cli(final, "runs").stdout  # no run journaled
