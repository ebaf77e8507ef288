"""`launcher land --from`: what the final CI job must refuse (exit 2, nothing fetched, nothing
landed) and what it must not report as a success: an edited plan, a missing shard or task, a
task that failed in its shard, a damaged bundle; and a culprit of the integration check found
while landing gets its revision round on its exported work, with the check's output."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import git, launcher_cli

from launcher.app.run.shard import select_shard
from launcher.models.plan import validate_plan

MANIFEST = "launcher-export.json"


def _write(path: str, content: str, rounds: list[int] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"write": path, "content": content}
    if rounds:
        step["rounds"] = rounds
    return step


# Three shards: beta is shard 1's, delta shard 2's, alpha and epsilon shard 3's (the split is a
# stable hash of the task id); epsilon fails in its shard.
THREE_SHARDS = {"task": [
    {"id": "alpha", "script": [_write("alpha.txt", "a\n")]},
    {"id": "beta", "script": [_write("beta.txt", "b\n")]},
    {"id": "delta", "script": [_write("delta.txt", "d\n")]},
    {"id": "epsilon", "script": [_write("epsilon.txt", "e\n"),
                                 {"contract": {"status": "failed", "summary": "could not finish"}}]},
]}


def _clone(remote: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(remote), str(where))
    git(where, "config", "user.name", "ci")
    git(where, "config", "user.email", "ci@example.invalid")
    return where


def _make_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@t")
    (root / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (root / ".gitignore").write_text(".env\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def _export_shards(base: Path, plan: dict[str, Any], count: int,
                   env: dict[str, str] | None = None) -> tuple[Path, list[Path]]:
    """A bare remote, and the export directories of `count` shard jobs (one clone each)."""
    repo = _make_repo(base / "origin")
    remote = base / "remote.git"
    git(base, "clone", "-q", "--bare", str(repo), str(remote))
    exports = []
    for index in range(1, count + 1):
        job = _clone(remote, base / f"job{index}")
        (job / "plan.json").write_text(json.dumps(plan))  # untracked, as a generated plan
        out = base / f"export{index}"
        done = launcher_cli(job, "run", "plan.json", "--shard", f"{index}/{count}", "--no-merge",
                            "--export", str(out), "--quiet", env=env)
        assert (out / MANIFEST).exists(), done.stdout + done.stderr
        exports.append(out)
    return remote, exports


@pytest.fixture(scope="module")
def three_shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    plan = validate_plan(THREE_SHARDS, "plan")
    split = {i: [t.id for t in select_shard(plan, i, 3).tasks] for i in (1, 2, 3)}
    assert split == {1: ["beta"], 2: ["delta"], 3: ["alpha", "epsilon"]}
    base = tmp_path_factory.mktemp("three-shards")
    return _export_shards(base, THREE_SHARDS, 3, env={"XDG_CACHE_HOME": str(base / "cache")})


@pytest.fixture
def shards(three_shards: tuple[Path, list[Path]], tmp_path: Path) -> tuple[Path, list[Path]]:
    """This test's own copy of the three exports (it may damage them)."""
    remote, exports = three_shards
    copies = []
    for out in exports:
        copy = tmp_path / out.name
        shutil.copytree(out, copy)
        copies.append(copy)
    return remote, copies


def _land(final: Path, exports: list[Path], *extra: str) -> Any:
    args = [a for out in exports for a in ("--from", str(out))]
    return launcher_cli(final, "land", *args, *extra)


def _launcher_refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/launcher", "refs/launcher")


def _edit(out: Path, change: Any) -> None:
    data = json.loads((out / MANIFEST).read_text())
    change(data)
    (out / MANIFEST).write_text(json.dumps(data, indent=2))


def _assert_nothing_happened(final: Path, before: str) -> None:
    assert git(final, "rev-parse", "main") == before
    assert _launcher_refs(final) == ""  # no branch fetched from any bundle


# --- defect 1: the plan in a manifest must be the plan its digest names -------------------

def test_a_manifest_whose_plan_was_edited_is_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    check = tmp_path / "check.py"
    check.write_text("import pathlib, sys\n"
                     "bad = [p for p in pathlib.Path('.').glob('*.txt') if 'BROKEN' in p.read_text()]\n"
                     "print(*bad, 'BROKEN found' if bad else 'fine')\n"
                     "sys.exit(1 if bad else 0)\n")
    plan = {"run": {"integration_check": f"{sys.executable} {check}", "iteration_cap": 1},
            "task": [{"id": "bad", "script": [_write("bad.txt", "BROKEN\n")]}]}
    remote, exports = _export_shards(tmp_path, plan, 1)
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")

    def weaken(data: dict[str, Any]) -> None:
        data["plan"]["run"]["integration_check"] = "true"

    _edit(exports[0], weaken)
    landed = _land(final, exports, "--json")
    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "plan_digest" in landed.stderr
    assert "BROKEN" not in git(final, "log", "-p", "main")
    _assert_nothing_happened(final, before)


# --- defect 2: every task of the plan is accounted for --------------------------------------

def test_a_missing_shard_is_refused_and_named(shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = shards
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")
    landed = _land(final, [exports[0], exports[2]])
    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "shard 2/3" in landed.stderr and "missing" in landed.stderr
    assert "--from" in landed.stderr  # says how to fix it
    _assert_nothing_happened(final, before)


def test_a_task_removed_from_a_manifest_is_refused_and_named(
        shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = shards
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")

    def drop_alpha(data: dict[str, Any]) -> None:
        data["tasks"] = [t for t in data["tasks"] if t["id"] != "alpha"]

    _edit(exports[2], drop_alpha)
    landed = _land(final, exports)
    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "'alpha'" in landed.stderr and "shard 3/3" in landed.stderr
    _assert_nothing_happened(final, before)


def test_a_task_exported_by_the_wrong_shard_is_refused(
        shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = shards
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")

    def claim_epsilon(data: dict[str, Any]) -> None:
        data["not_exported"]["epsilon"] = "failed: elsewhere"

    _edit(exports[0], claim_epsilon)
    landed = _land(final, exports)
    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "'epsilon'" in landed.stderr
    _assert_nothing_happened(final, before)


def test_a_task_that_failed_in_its_shard_fails_the_land(
        shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = shards
    manifest = json.loads((exports[2] / MANIFEST).read_text())
    assert "epsilon" in manifest["not_exported"]
    final = _clone(remote, tmp_path / "final")
    landed = _land(final, exports, "--json")
    assert landed.returncode == 1, landed.stdout + landed.stderr
    report = json.loads(landed.stdout)
    assert report["status"] == "failed"
    states = {t["id"]: t["state"] for t in report["tasks"]}
    assert states == {"alpha": "merged", "beta": "merged", "delta": "merged", "epsilon": "failed"}
    epsilon = next(t for t in report["tasks"] if t["id"] == "epsilon")
    assert "shard 3/3" in epsilon["message"] and "could not finish" in epsilon["message"]
    for name in ("alpha", "beta", "delta"):
        assert (final / f"{name}.txt").exists()
    assert not (final / "epsilon.txt").exists()
    assert git(final, "status", "--porcelain") == ""  # the journal is excluded, as in a run


# --- defect 3: a refused export leaves nothing behind ---------------------------------------

def test_an_edited_head_in_a_later_manifest_leaves_no_branch_fetched(
        shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = shards
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")

    def move_head(data: dict[str, Any]) -> None:
        data["tasks"][0]["head"] = data["base_sha"]

    _edit(exports[2], move_head)
    landed = _land(final, exports)
    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "head" in landed.stderr
    _assert_nothing_happened(final, before)


def test_a_truncated_bundle_with_a_matching_checksum_leaves_no_branch_fetched(
        shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    from launcher.app.run.export import file_sha256

    remote, exports = shards
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")
    bundle = exports[2] / "branches.bundle"
    data = bundle.read_bytes()
    bundle.write_bytes(data[:-40])  # the header is intact; the pack is cut short

    def new_checksum(manifest: dict[str, Any]) -> None:
        manifest["bundle"]["sha256"] = file_sha256(bundle)

    _edit(exports[2], new_checksum)
    landed = _land(final, exports)
    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "Traceback" not in landed.stderr
    _assert_nothing_happened(final, before)


def _fifo_manifest(out: Path, outside: Path) -> None:
    (out / MANIFEST).unlink()
    os.mkfifo(out / MANIFEST)


def _manifest_linked_to_dev_zero(out: Path, outside: Path) -> None:
    (out / MANIFEST).unlink()
    (out / MANIFEST).symlink_to("/dev/zero")


def _huge_manifest(out: Path, outside: Path) -> None:
    with open(out / MANIFEST, "r+b") as handle:  # sparse: big, but costs no disk
        handle.truncate(65 * 1024 * 1024)


def _bundle_linked_outside(out: Path, outside: Path) -> None:
    """The very bundle, with its checksum, but as a link to a file outside the export."""
    outside.mkdir()
    (out / "branches.bundle").rename(outside / "branches.bundle")
    (out / "branches.bundle").symlink_to(outside / "branches.bundle")


def _fifo_bundle(out: Path, outside: Path) -> None:
    (out / "branches.bundle").unlink()
    os.mkfifo(out / "branches.bundle")


@pytest.mark.parametrize(("damage", "said"), [
    (_fifo_manifest, "launcher-export.json is a FIFO, not a regular file"),
    (_manifest_linked_to_dev_zero, "launcher-export.json is a symbolic link, which is not followed"),
    (_huge_manifest, "launcher-export.json is larger than the 67108864 bytes read"),
    (_bundle_linked_outside, "bundle branches.bundle is a symbolic link, which is not followed"),
    (_fifo_bundle, "bundle branches.bundle is a FIFO, not a regular file"),
])
def test_an_export_file_that_is_no_regular_file_or_huge_is_refused_without_being_read(
        damage: Any, said: str, shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    remote, exports = shards
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")
    damage(exports[2], tmp_path / "outside")
    landed = _land(final, exports)  # (a FIFO opened for reading would wait here for ever)
    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert f"export refused: {said}" in landed.stderr
    assert str(exports[2]) in landed.stderr
    _assert_nothing_happened(final, before)


def test_a_bundle_whose_branch_has_unrelated_history_is_refused_and_nothing_is_left_behind(
        shards: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """The branch replaced by an orphan commit of the same tree (so its approval hash still
    matches), the bundle rebuilt and its head and checksum updated in the manifest."""
    from launcher.app.run.export import file_sha256

    remote, exports = shards
    forge = _clone(remote, tmp_path / "forge")
    bundle = exports[2] / "branches.bundle"
    git(forge, "fetch", "-q", str(bundle), "refs/heads/*:refs/heads/*")
    manifest = json.loads((exports[2] / MANIFEST).read_text())
    branch = manifest["tasks"][0]["branch"]
    orphan = git(forge, "commit-tree", "-m", "unrelated", f"{branch}^{{tree}}").strip()
    git(forge, "update-ref", f"refs/heads/{branch}", orphan)
    git(forge, "bundle", "create", "-q", str(bundle), f"refs/heads/{branch}")

    def forged(data: dict[str, Any]) -> None:
        data["tasks"][0]["head"] = orphan
        data["bundle"]["sha256"] = file_sha256(bundle)

    _edit(exports[2], forged)
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")
    landed = _land(final, exports)

    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert f"export refused: task {manifest['tasks'][0]['id']!r}: its exported head {orphan[:12]}" in landed.stderr
    assert "unrelated or rewritten history" in landed.stderr
    assert "re-run that job" in landed.stderr
    _assert_nothing_happened(final, before)
    assert not (final / ".launcher" / "launcher.db").exists()  # no run journaled
    status = launcher_cli(final, "status")
    assert "merge-tree" not in status.stderr and "unrelated histories" not in status.stderr


# --- defect 4: a culprit found while landing is revised from its exported work --------------

def test_a_culprit_found_by_land_from_is_revised_from_its_exported_head_with_the_feedback(
        tmp_path: Path) -> None:
    check = tmp_path / "check.py"
    check.write_text("import pathlib, sys\n"
                     "for p in pathlib.Path('.').glob('*.txt'):\n"
                     "    if 'BROKEN' in p.read_text():\n"
                     "        print(f'{p}: BROKEN found')\n"
                     "        sys.exit(1)\n"
                     "print('fine')\n")
    seen = tmp_path / "rounds.log"
    record = {"run": ["sh", "-c", f'{{ echo "round=$LAUNCHER_ITERATION"; '
                                  f'cat "$LAUNCHER_FEEDBACK" 2>/dev/null || true; }} >> {seen}']}
    plan = {"run": {"integration_check": f"{sys.executable} {check}"},
            "task": [{"id": "fixer", "script": [
                record,
                _write("work.txt", "first round\n", rounds=[1]),
                _write("f.txt", "BROKEN\n", rounds=[1]),
                _write("f.txt", "fixed\n", rounds=[2]),
            ]}]}
    remote, exports = _export_shards(tmp_path, plan, 1)
    exported = json.loads((exports[0] / MANIFEST).read_text())["tasks"][0]
    seen.write_text("")  # only the land's rounds from here on
    final = _clone(remote, tmp_path / "final")

    landed = _land(final, exports, "--json")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    report = json.loads(landed.stdout)
    fixer = next(t for t in report["tasks"] if t["id"] == "fixer")
    assert fixer["state"] == "merged", fixer["message"]
    assert report["queue"]["culprits"] == ["fixer"] and report["queue"]["returned"] == ["fixer"]
    rounds = seen.read_text()
    assert rounds.startswith("round=2\n"), rounds  # one revision round, counted after the shard's
    assert "f.txt: BROKEN found" in rounds  # its feedback is the check's output
    assert rounds.count("round=") == 1
    # The round continued the exported work: its commit is in the landed history.
    git(final, "merge-base", "--is-ancestor", exported["head"], "main")
    assert (final / "work.txt").read_text() == "first round\n"
    assert (final / "f.txt").read_text() == "fixed\n"
    assert "/.launcher/" in (final / ".git" / "info" / "exclude").read_text().splitlines()
    assert git(final, "status", "--porcelain") == ""
