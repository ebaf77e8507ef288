"""Scale-out (issue 16 parts 4 and 5): warm worktrees, cheap copies, one plan across a CI matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git, launcher_cli, run_plan, task

from launcher.git import cow_copy
from launcher.models.states import RunStatus


def edit(path: str, old: str, new: str) -> dict[str, str]:
    return {"replace": path, "old": old, "new": new}


def pool_trees(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in listing.splitlines()
            if line.startswith("worktree ") and "/_pool/" in line]


# --- part 5: cheap copies ----------------------------------------------------------------

def test_copy_on_write_copy_keeps_content_and_mode(tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(bytes(range(256)) * 4096 + b"tail")
    src.chmod(0o750)
    dest = tmp_path / "copy.bin"
    how = cow_copy.copy_file(src, dest)
    assert how in {"clone", "copy_file_range", "plain"}
    assert dest.read_bytes() == src.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o750


def test_copy_falls_back_to_a_plain_copy_when_the_file_system_cannot_share(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(*_args: object) -> int:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(cow_copy.fcntl, "ioctl", unsupported)
    monkeypatch.setattr(cow_copy.os, "copy_file_range", unsupported, raising=False)
    src = tmp_path / "node_modules.tar"
    src.write_bytes(b"x" * 300_000)
    dest = tmp_path / "copy.tar"
    assert cow_copy.copy_file(src, dest) == "plain"
    assert dest.read_bytes() == src.read_bytes()


def test_empty_file_copies(tmp_path: Path) -> None:
    src = tmp_path / "empty"
    src.write_bytes(b"")
    cow_copy.copy_file(src, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b""


# --- part 5: warm worktrees --------------------------------------------------------------

def test_pool_warm_keeps_detached_worktrees_ready_and_a_run_takes_them(repo: Path) -> None:
    warmed = launcher_cli(repo, "pool", "warm", "2")
    assert warmed.returncode == 0, warmed.stderr
    assert "2 worktree(s) ready" in warmed.stdout
    assert len(pool_trees(repo)) == 2
    again = launcher_cli(repo, "pool", "warm", "2")
    assert "(0 new)" in again.stdout  # topping up, not adding

    (repo / ".env").write_text("TOKEN=1\n")
    (repo / ".worktreeinclude").write_text(".env\n")
    report = run_plan(repo, [
        {"id": "top", "script": [edit("app.py", "return a + b", "return b + a")]},
        {"id": "bottom", "script": [edit("app.py", "return a - b", "return -(b - a)")]},
    ])
    assert report.status == RunStatus.SUCCEEDED
    assert task(report, "top").state == "merged" and task(report, "bottom").state == "merged"
    assert pool_trees(repo) == []  # both were taken, none created
    assert "return b + a" in (repo / "app.py").read_text()
    assert "return -(b - a)" in (repo / "app.py").read_text()


def test_a_taken_worktree_is_on_its_own_branch_with_the_include_files(repo: Path) -> None:
    assert launcher_cli(repo, "pool", "warm", "1").returncode == 0
    (repo / ".env").write_text("TOKEN=1\n")
    (repo / ".worktreeinclude").write_text(".env\n")
    report = run_plan(repo, [{"id": "only", "script": [edit("app.py", "return a + b", "return b + a")]}],
                      merge=False)
    row = task(report, "only")
    assert row.state == "approved"
    assert row.worktree is not None and "/_pool/" not in row.worktree
    tree = Path(row.worktree)
    assert (tree / ".env").read_text() == "TOKEN=1\n"
    assert git(tree, "rev-parse", "--abbrev-ref", "HEAD").strip() == row.branch


def test_run_setting_warm_pool_refills_for_the_next_run_and_clean_all_removes_them(repo: Path) -> None:
    report = run_plan(repo, [{"id": "one", "script": [edit("app.py", "return a + b", "return b + a")]}],
                      warm_pool=2)
    assert report.status == RunStatus.SUCCEEDED
    trees = pool_trees(repo)
    assert len(trees) == 2
    tip = git(repo, "rev-parse", "main").strip()
    assert all(git(Path(t), "rev-parse", "HEAD").strip() == tip for t in trees)
    cleaned = launcher_cli(repo, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert pool_trees(repo) == []


# --- part 4: one plan across a CI matrix --------------------------------------------------

SHARDED_PLAN = {"task": [
    {"id": "alpha", "script": [edit("app.py", "return a + b", "return b + a")]},
    {"id": "beta", "script": [edit("app.py", "return a - b", "return -(b - a)")]},
    {"id": "gamma", "depends_on": ["beta"], "script": [{"write": "gamma.txt", "content": "g\n"}]},
    {"id": "delta", "script": [{"write": "delta.txt", "content": "d\n"}]},
]}


def test_shards_are_deterministic_cover_the_plan_once_and_keep_dependencies_together() -> None:
    from launcher.app.run.shard import select_shard
    from launcher.models.plan import validate_plan

    plan = validate_plan(SHARDED_PLAN, "plan")
    first = [t.id for t in select_shard(plan, 1, 2).tasks]
    second = [t.id for t in select_shard(plan, 2, 2).tasks]
    assert sorted(first + second) == ["alpha", "beta", "delta", "gamma"]
    assert first == [t.id for t in select_shard(plan, 1, 2).tasks]  # every job computes the same
    assert ("beta" in first) == ("gamma" in first)  # a dependency never crosses shards
    assert first and second


def clone(remote: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(remote), str(where))
    git(where, "config", "user.name", "ci")
    git(where, "config", "user.email", "ci@example.invalid")
    return where


def shard_exports(repo: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    plan_text = json.dumps(SHARDED_PLAN)
    exports = []
    for index in (1, 2):
        job = clone(remote, tmp_path / f"job{index}")
        (job / "plan.json").write_text(plan_text)  # untracked, as a CI checkout with a generated plan
        out = tmp_path / f"export{index}"
        done = launcher_cli(job, "run", "plan.json", "--shard", f"{index}/2", "--no-merge",
                            "--export", str(out), "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr
        exports.append(out)
    return remote, exports


def test_shards_export_and_a_final_clone_lands_them_all(repo: Path, tmp_path: Path) -> None:
    remote, exports = shard_exports(repo, tmp_path)
    manifests = [json.loads((out / "launcher-export.json").read_text()) for out in exports]
    assert sorted(t["id"] for m in manifests for t in m["tasks"]) == ["alpha", "beta", "delta", "gamma"]
    assert len({m["base_sha"] for m in manifests}) == 1 and len({m["plan_digest"] for m in manifests}) == 1
    assert all(t["approval_hash"] for m in manifests for t in m["tasks"])

    final = clone(remote, tmp_path / "final")
    landed = launcher_cli(final, "land", "--from", str(exports[0]), "--from", str(exports[1]), "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    report = json.loads(landed.stdout)
    assert {t["id"]: t["state"] for t in report["tasks"]} == dict.fromkeys(
        ["alpha", "beta", "gamma", "delta"], "merged")
    assert "return b + a" in (final / "app.py").read_text()
    assert "return -(b - a)" in (final / "app.py").read_text()
    assert (final / "gamma.txt").read_text() == "g\n" and (final / "delta.txt").read_text() == "d\n"
    git(final, "push", "-q", "origin", "main")
    assert git(remote, "rev-parse", "main") == git(final, "rev-parse", "main")


def test_land_from_refuses_mismatched_or_damaged_exports_and_lands_nothing(repo: Path, tmp_path: Path) -> None:
    remote, exports = shard_exports(repo, tmp_path)
    final = clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")

    bundle_owner = next(out for out in exports if (out / "branches.bundle").exists())
    (bundle_owner / "branches.bundle").write_bytes(b"# v2 git bundle\nnot really\n")
    damaged = launcher_cli(final, "land", "--from", str(exports[0]), "--from", str(exports[1]))
    assert damaged.returncode == 2
    assert "checksum" in damaged.stderr

    manifest = exports[1] / "launcher-export.json"
    data = json.loads(manifest.read_text())
    data["base_sha"] = "0" * 40
    manifest.write_text(json.dumps(data))
    mismatched = launcher_cli(final, "land", "--from", str(exports[0]), "--from", str(exports[1]))
    assert mismatched.returncode == 2
    assert "base commit" in mismatched.stderr

    manifest.write_text("{ not json")
    malformed = launcher_cli(final, "land", "--from", str(exports[1]))
    assert malformed.returncode == 2 and "not readable JSON" in malformed.stderr
    assert "Traceback" not in malformed.stderr
    assert git(final, "rev-parse", "main") == before  # nothing half-landed


def test_export_needs_no_merge(repo: Path, tmp_path: Path) -> None:
    (repo / "plan.json").write_text(json.dumps(SHARDED_PLAN))
    refused = launcher_cli(repo, "run", "plan.json", "--export", str(tmp_path / "out"))
    assert refused.returncode == 2 and "--no-merge" in refused.stderr
    bad_shard = launcher_cli(repo, "run", "plan.json", "--shard", "3/2", "--no-merge")
    assert bad_shard.returncode == 2 and "I/N" in bad_shard.stderr


def test_the_shipped_github_actions_workflow_parses_and_runs_shards_then_lands() -> None:
    import yaml

    path = Path(__file__).resolve().parent.parent / "docs" / "github-actions-run.yml"
    workflow = yaml.safe_load(path.read_text())
    shard_job, land_job = workflow["jobs"]["shard"], workflow["jobs"]["land"]
    assert len(shard_job["strategy"]["matrix"]["shard"]) == int(workflow["env"]["SHARDS"])
    assert land_job["needs"] == "shard"
    shard_script = "\n".join(step.get("run", "") for step in shard_job["steps"])
    land_script = "\n".join(step.get("run", "") for step in land_job["steps"])
    assert "launcher run" in shard_script
    assert all(flag in shard_script for flag in ("--shard", "--no-merge", "--export"))
    assert "launcher land" in land_script and "--from" in land_script
    uses = [step.get("uses", "") for job in (shard_job, land_job) for step in job["steps"]]
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    assert any(u.startswith("actions/download-artifact") for u in uses)
    # A culprit of the integration check is revised by its agent in the land job: that job
    # installs the same agent CLIs as the shard jobs.
    installs = [[step["run"] for step in job["steps"] if step.get("name") == "Install the agent CLIs"]
                for job in (shard_job, land_job)]
    assert installs[0] and installs[0] == installs[1]
    # The land job lands onto the target's current tip (a re-run keeps the workflow's commit),
    # after the checkout and before the land.
    names = [step.get("name", step.get("uses", "")) for step in land_job["steps"]]
    tip = names.index("Check out the target branch at its current tip")
    assert names.index("actions/checkout@v4") < tip < names.index("Land every shard's approved work")
    assert 'git checkout -B "$TARGET" "origin/$TARGET"' in land_job["steps"][tip]["run"]
    assert workflow["env"]["TARGET"] == "${{ github.ref_name }}"
    # The land checks the exports' plan against the plan file the shard jobs ran (kept from the
    # workflow's commit before the target was checked out), not against the exports' own copy.
    assert 'cp "$PLAN" "$RUNNER_TEMP/shards-plan/"' in land_job["steps"][tip]["run"]
    assert '--plan "$RUNNER_TEMP/shards-plan/$(basename "$PLAN")"' in land_script
    # A shard job that did not succeed fails the workflow, whatever its export says of its tasks.
    last = land_job["steps"][-1]
    assert last["if"] == "${{ !cancelled() && needs.shard.result != 'success' }}"
    assert last["run"].rstrip().endswith("exit 1")


def test_a_clone_that_ran_a_shard_can_land_it_and_its_worktree_is_cleaned(repo: Path, tmp_path: Path) -> None:
    (repo / "plan.json").write_text(json.dumps({"task": [SHARDED_PLAN["task"][0]]}))
    out = tmp_path / "out"
    ran = launcher_cli(repo, "run", "plan.json", "--shard", "1/1", "--no-merge", "--export", str(out), "--quiet")
    assert ran.returncode == 0, ran.stderr
    assert "exported 1 approved task(s)" in ran.stderr
    again = launcher_cli(repo, "run", "plan.json", "--no-merge", "--export", str(out))
    assert again.returncode == 2 and "already holds an export" in again.stderr
    landed = launcher_cli(repo, "land", "--from", str(out), "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert "return b + a" in (repo / "app.py").read_text()
    assert git(repo, "branch", "--list", "launcher/*") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1
