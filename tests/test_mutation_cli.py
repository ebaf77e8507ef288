"""`launcher mutation ...` as a user runs it: a real subprocess on a real repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
from conftest import git, repo_from

from launcher.git.repo import GitRepo
from launcher.git.worktrees import default_worktree_root
from launcher.store.mutants import MutantStore

WEAKPKG = Path(__file__).parent / "data" / "mutation" / "weakpkg"


def launcher(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The sweep's default interpreter is the active virtualenv's: the one running these tests.
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


def test_sweep_cli_writes_every_report_and_gates_on_fail_under(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    repo_from(WEAKPKG, root, "weak package")

    gated = launcher(root, "mutation", "sweep", "calc/core.py", "--workers", "2", "--fail-under", "80", "--json")
    assert gated.returncode == 1, gated.stderr
    summary = json.loads(gated.stdout)
    assert summary["counts"]["Survived"] == 4 and summary["score"] == 50.0
    assert summary["passed_fail_under"] is False
    out = Path(summary["out_dir"])
    assert out.parent == root / ".launcher" / "mutation-runs"
    for name in ("report.json", "summary.txt", "survivors.jsonl", "mutation-report.json", "mutation-report.html"):
        assert (out / name).is_file(), name
    stryker = json.loads((out / "mutation-report.json").read_text())
    assert stryker["schemaVersion"] and "calc/core.py" in stryker["files"]
    assert "[14/14]" in gated.stderr  # progress lines on stderr, the JSON alone on stdout

    # The unchanged tree: every mutant comes from the cache; a lower bar passes.
    passed = launcher(root, "mutation", "sweep", "calc/core.py", "--workers", "2", "--fail-under", "50")
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.count("│ Survived") == 4 and "│ Killed" not in passed.stdout  # the table: what needs attention
    assert "Score: 50.0% (14 mutants)" in passed.stdout and "cached 11" in passed.stdout and "reports:" in passed.stdout

    low = launcher(root, "mutation", "merge", str(out), "-o", "merged", "--fail-under", "80")
    assert low.returncode == 1 and "mutation score 50.0%" in low.stdout and "under --fail-under 80" in low.stdout
    assert launcher(root, "mutation", "merge", str(out), "-o", "merged2", "--fail-under", "50").returncode == 0

    text = launcher(root, "mutation", "report", "--format", "text")
    assert text.returncode == 0 and "Survived" in text.stdout
    bad = launcher(root, "mutation", "report", "--format", "yaml")
    assert bad.returncode == 2 and "yaml" in bad.stderr

    survivor = json.loads((out / "survivors.jsonl").read_text().splitlines()[0])
    by_number = launcher(root, "mutation", "show", str(survivor["id"]))  # the seed's survivor number
    assert by_number.returncode == 0, by_number.stderr
    diff_lines = by_number.stdout.splitlines()
    assert any(line.startswith("-") and line.strip("- ") == survivor["orig"] for line in diff_lines)
    assert any(line.startswith("+") and line.strip("+ ") == survivor["mut"] for line in diff_lines)
    stable_id = next(m["mutant_id"] for m in json.loads((out / "report.json").read_text())["mutants"]
                     if m["status"] == "SURVIVED")
    by_id = launcher(root, "mutation", "show", stable_id[:8])
    assert by_id.returncode == 0 and "Survived" in by_id.stdout
    unknown = launcher(root, "mutation", "show", "nosuchid")
    assert unknown.returncode != 0 and "Fix:" in unknown.stderr


def test_clean_all_removes_worktrees_of_a_killed_sweep_but_not_of_a_running_one(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    repo_from(WEAKPKG, root, "weak package")
    store = MutantStore(root / ".launcher" / "launcher.db")
    dead_pid = int(subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True).stdout)
    workers_root = default_worktree_root(anyio.run(GitRepo.discover, root), None) / "mutation"
    trees: dict[str, Path] = {}
    for sweep_id, pid in (("m-killed", dead_pid), ("m-live", os.getpid())):
        store.create_sweep(lambda sweep_id=sweep_id: sweep_id, repo=str(root), base_sha="x", options_key="k",
                           options={})
        store._db.execute("UPDATE mutation_sweeps SET pid=? WHERE id=?", (pid, sweep_id))
        trees[sweep_id] = workers_root / sweep_id / "w1"  # where a sweep puts its worker trees
        git(root, "worktree", "add", "--detach", "-q", str(trees[sweep_id]), "HEAD")
        (workers_root / sweep_id / "pyc" / "x").mkdir(parents=True)  # its bytecode cache
    store.close()

    cleaned = launcher(root, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert not trees["m-killed"].exists() and trees["m-live"].is_dir()
    assert "skipped sweep m-live: still running" in cleaned.stdout
    assert not (workers_root / "m-killed").exists() and (workers_root / "m-live" / "pyc").is_dir()
    assert "removed sweep bytecode cache" in cleaned.stdout
    assert f"worktree {workers_root / 'm-killed' / 'pyc'}" not in cleaned.stdout
    listed = git(root, "worktree", "list")
    assert "m-killed" not in listed and "m-live" in listed


def test_the_ci_example_is_valid_yaml_with_a_shard_matrix_and_a_gated_merge() -> None:
    import yaml

    example = Path(__file__).resolve().parent.parent / "docs" / "github-actions-mutation.yml"
    workflow = yaml.safe_load(example.read_text())
    shards = workflow["jobs"]["sweep"]["strategy"]["matrix"]["shard"]
    sweep_steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["sweep"]["steps"])
    assert f"--shard ${{{{ matrix.shard }}}}/{len(shards)}" in sweep_steps and "--since" in sweep_steps
    merge_steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["merge"]["steps"])
    assert "launcher mutation merge" in merge_steps and "--fail-under" in merge_steps
    assert workflow["jobs"]["merge"]["needs"] == "sweep"
