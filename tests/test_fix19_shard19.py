"""One plan across a CI matrix, attacked as a CI user would: several clones of one bare remote,
shard jobs (`launcher run PLAN --shard I/N --no-merge --export DIR`) and a final
`launcher land --from DIR ...`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest
from helpers import git, launcher_cli, start_launcher, wait_for_file
from test_land_from_final_job import _clone

MANIFEST = "launcher-export.json"
PLAN = {"task": [
    {"id": "alpha", "script": [{"write": "alpha.txt", "content": "a\n"}]},
    {"id": "delta", "script": [{"write": "delta.txt", "content": "d\n"}]},
]}


def _remote(base: Path) -> Path:
    origin = base / "origin"
    origin.mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.name", "t")
    git(origin, "config", "user.email", "t@t")
    (origin / "app.py").write_text("def add(a, b):\n    return a + b\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "initial")
    remote = base / "remote.git"
    git(base, "clone", "-q", "--bare", str(origin), str(remote))
    return remote


def _shard_job(remote: Path, where: Path, shard: str, export: Path) -> tuple[Path, str]:
    job = _clone(remote, where)
    (job / "plan.json").write_text(json.dumps(PLAN))
    done = launcher_cli(job, "run", "plan.json", "--shard", shard, "--no-merge", "--export", str(export),
                        "--quiet", env={"XDG_CACHE_HOME": str(where.parent / "cache")})
    return job, done.stdout + done.stderr


@pytest.mark.parametrize("shard", ["1/10001", "3/99999999999999999999999", "\u0661/\u0662"])
def test_a_shard_job_whose_split_no_land_takes_is_refused_before_it_runs_an_agent(
        shard: str, tmp_path: Path) -> None:
    # `land --from` refuses a manifest splitting the plan into more than 10,000 shards (and reads
    # only ASCII digits): the shard job itself refuses such a --shard, exit 2, before any agent
    # ran and paid for work that no final job could ever land.
    remote = _remote(tmp_path)
    job = _clone(remote, tmp_path / "job")
    (job / "plan.json").write_text(json.dumps(PLAN))

    done = launcher_cli(job, "run", "plan.json", "--shard", shard, "--no-merge", "--export",
                        str(tmp_path / "export"), "--quiet", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})

    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--shard {shard!r}" in done.stderr
    assert not (tmp_path / "export").exists()
    assert git(job, "for-each-ref", "refs/heads/launcher") == ""
    assert not (job / ".launcher" / "runs").exists() or not any((job / ".launcher" / "runs").iterdir())


def test_the_largest_split_a_land_takes_still_runs(tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    _, said = _shard_job(remote, tmp_path / "job", "10000/10000", tmp_path / "export")
    assert (tmp_path / "export" / MANIFEST).exists(), said


def test_shard_jobs_that_started_from_different_commits_are_refused_saying_so(tmp_path: Path) -> None:
    # The target moved between two shard jobs (a push in between): each one's tasks are built on
    # its own base, and the land refuses them, saying that and what to do (not "use the
    # directories of one plan": they are of one plan).
    remote = _remote(tmp_path)
    _, said = _shard_job(remote, tmp_path / "job1", "1/2", tmp_path / "export1")
    assert (tmp_path / "export1" / MANIFEST).exists(), said
    human = _clone(remote, tmp_path / "human")
    (human / "human.txt").write_text("h\n")
    git(human, "add", "-A")
    git(human, "commit", "-q", "-m", "a push between the jobs")
    git(human, "push", "-q", "origin", "main")
    _, said = _shard_job(remote, tmp_path / "job2", "2/2", tmp_path / "export2")
    assert (tmp_path / "export2" / MANIFEST).exists(), said
    final = _clone(remote, tmp_path / "final")

    landed = launcher_cli(final, "land", "--from", str(tmp_path / "export1"), "--from", str(tmp_path / "export2"))

    assert landed.returncode == 2, landed.stdout + landed.stderr
    said = " ".join(landed.stderr.split())
    assert "the shard jobs started from different commits" in said
    assert "run every shard job on one commit" in said and "nothing was fetched or landed" in said
    assert git(final, "for-each-ref", "refs/heads/launcher") == ""
    assert git(final, "rev-parse", "main") == git(final, "rev-parse", "origin/main")


def test_an_export_rewritten_after_an_approved_branch_moved_lands_the_rest_and_says_why_not_that_one(
        tmp_path: Path) -> None:
    # The shard run ends with alpha approved and gamma failed (its check's file is missing), and
    # writes its export. Someone then commits on alpha's branch in its worktree, and `resume
    # --retry-failed` approves gamma and writes the export again: its bundle holds alpha's branch
    # where it is now, not at the head the manifest gives, an export that `land --from` refused
    # as a whole (exit 2, gamma's work with it). Alpha is listed as not exported, saying why.
    remote = _remote(tmp_path)
    flag = tmp_path / "flag"
    job = _clone(remote, tmp_path / "job")
    (job / "plan.json").write_text(json.dumps({"task": [
        {"id": "alpha", "script": [{"write": "alpha.txt", "content": "a\n"}]},
        {"id": "gamma", "script": [{"write": "gamma.txt", "content": "g\n"},
                                   {"run": ["sh", "-c", f"test -e {flag}"]}]},
    ]}))
    export = tmp_path / "export"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    ran = launcher_cli(job, "run", "plan.json", "--shard", "1/1", "--no-merge", "--export", str(export),
                       "--json", env=env)
    report = json.loads(ran.stdout)
    run_id = report["run_id"]
    alpha = next(t for t in report["tasks"] if t["id"] == "alpha")
    assert alpha["state"] == "approved", ran.stdout
    worktree = Path(alpha["worktree"])
    (worktree / "alpha.txt").write_text("a, edited after the export\n")
    git(worktree, "commit", "-q", "-am", "an edit after approval")
    flag.write_text("")
    resumed = launcher_cli(job, "resume", run_id, "--retry-failed", "--quiet", env=env)
    manifest = json.loads((export / MANIFEST).read_text())
    assert [t["id"] for t in manifest["tasks"]] == ["gamma"], resumed.stdout + resumed.stderr
    assert manifest["not_exported"]["alpha"].startswith("approved: approval withdrawn: its branch ")

    final = _clone(remote, tmp_path / "final")
    landed = launcher_cli(final, "land", "--from", str(export), "--json")

    assert landed.returncode == 1, landed.stdout + landed.stderr
    tasks = {t["id"]: t for t in json.loads(landed.stdout)["tasks"]}
    assert tasks["gamma"]["state"] == "merged" and (final / "gamma.txt").read_text() == "g\n"
    assert tasks["alpha"]["state"] == "failed" and not (final / "alpha.txt").exists()
    assert "approval withdrawn" in tasks["alpha"]["message"]
    assert f"launcher grade {run_id} alpha" in tasks["alpha"]["message"]


def test_two_exports_of_one_shard_from_a_re_run_job_are_refused_naming_both_runs(tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    exports = [tmp_path / name for name in ("first-1", "rerun-1", "export-2")]
    for export, shard in zip(exports, ("1/2", "1/2", "2/2"), strict=True):
        _, said = _shard_job(remote, tmp_path / f"job-{export.name}", shard, export)
        assert (export / MANIFEST).exists(), said
    runs = [json.loads((export / MANIFEST).read_text())["run_id"] for export in exports[:2]]
    final = _clone(remote, tmp_path / "final")

    landed = launcher_cli(final, "land", *[arg for export in exports for arg in ("--from", str(export))])

    assert landed.returncode == 2, landed.stdout + landed.stderr
    said = " ".join(landed.stderr.split())
    assert f"shard 1/2 is also exported in {exports[0]} (by run {runs[0]}; this one by run {runs[1]}" in said
    assert "the one of that job's latest run" in said
    assert git(final, "for-each-ref", "refs/heads/launcher") == ""


def test_a_land_in_the_shards_own_clone_after_a_commit_on_an_exported_branch_says_what_happened_and_what_to_do(
        tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    export = tmp_path / "export"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    job = _clone(remote, tmp_path / "job")
    (job / "plan.json").write_text(json.dumps({"task": [PLAN["task"][0]]}))
    ran = launcher_cli(job, "run", "plan.json", "--shard", "1/1", "--no-merge", "--export", str(export), "--json",
                       env=env)
    (alpha,) = json.loads(ran.stdout)["tasks"]
    run_id = json.loads(ran.stdout)["run_id"]
    worktree = Path(alpha["worktree"])
    (worktree / "alpha.txt").write_text("a, edited after the export\n")
    git(worktree, "commit", "-q", "-am", "an edit after the export")

    refused = launcher_cli(job, "land", "--from", str(export), env=env)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    said = " ".join(refused.stderr.split())
    assert f"task 'alpha': branch {alpha['branch']} is at " in said and "not at the head" in said
    assert f"`launcher grade {run_id} alpha`" in said and "fresh clone" in said
    # What it says to do works: the re-graded head is exported again, and lands.
    graded = launcher_cli(job, "grade", run_id, "alpha", "--quiet", env=env)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    landed = launcher_cli(job, "land", "--from", str(export), "--json", env=env)
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert (job / "alpha.txt").read_text() == "a, edited after the export\n"


def test_a_task_a_re_run_shard_job_failed_whose_first_version_landed_is_reported_merged(tmp_path: Path) -> None:
    # The final job landed every shard's work and pushed. Shard 1's job is then run again (same
    # plan, same commit): this time gamma fails. The final job run again finds alpha's first
    # version on main (reported merged, the second left out), and gamma's too: gamma's work is
    # on main, so it is merged as well, never `failed` with the land exiting 1.
    remote = _remote(tmp_path)
    flag = tmp_path / "gamma-fails"
    plan = {"task": [*PLAN["task"], {"id": "gamma", "script": [
        {"write": "gamma.txt", "content": "g\n"}, {"run": ["sh", "-c", f"test ! -e {flag}"]}]}]}
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    def shard_job(name: str, shard: str, base: str | None = None) -> Path:
        job = _clone(remote, tmp_path / name)
        if base:  # the re-run job checks out the workflow's commit, as the first one did
            git(job, "checkout", "-q", "-B", "main", base)
        (job / "plan.json").write_text(json.dumps(plan))
        export = tmp_path / f"export-{name}"
        done = launcher_cli(job, "run", "plan.json", "--shard", shard, "--no-merge", "--export", str(export),
                            "--quiet", env=env)
        assert (export / MANIFEST).exists(), done.stdout + done.stderr
        return export

    first, second = shard_job("1", "1/2"), shard_job("2", "2/2")
    final = _clone(remote, tmp_path / "final")
    landed = launcher_cli(final, "land", "--from", str(first), "--from", str(second), "--quiet")
    assert landed.returncode == 0, landed.stdout + landed.stderr
    git(final, "push", "-q", "origin", "main")
    flag.write_text("")
    rerun = shard_job("rerun-1", "1/2", base=json.loads((first / MANIFEST).read_text())["base_sha"])
    assert "gamma" in json.loads((rerun / MANIFEST).read_text())["not_exported"]

    again = _clone(remote, tmp_path / "final-again")
    relanded = launcher_cli(again, "land", "--from", str(rerun), "--from", str(second), "--json")

    assert relanded.returncode == 0, relanded.stdout + relanded.stderr
    tasks = {t["id"]: (t["state"], t["message"]) for t in json.loads(relanded.stdout)["tasks"]}
    assert all(state == "merged" for state, _ in tasks.values()), tasks
    assert tasks["gamma"][1].startswith("already landed on main by ")
    assert "did it a second time and did not export it (failed: " in tasks["gamma"][1]
    assert git(again, "rev-parse", "main") == git(again, "rev-parse", "origin/main")  # nothing landed twice


@pytest.mark.parametrize(("field", "value"), [
    ("included", ["../../../etc/passwd"]), ("included", ["a\u0000b"]), ("files", ["/etc/passwd"]),
    ("included_blobs", {"0" * 40: "../outside"}), ("included_blobs", {"not-a-blob": "x.env"}),
    ("bundle", "branches.bundle\u0000x"),
])
def test_an_export_naming_files_outside_the_repository_or_with_a_nul_is_refused_naming_the_field(
        field: str, value: object, tmp_path: Path) -> None:
    # An edited or damaged manifest: the landing reads the include files it names under the
    # clone's root, and passes names to the OS, which stops at a NUL with an internal error.
    remote = _remote(tmp_path)
    export = tmp_path / "export"
    _, said = _shard_job(remote, tmp_path / "job", "1/1", export)
    assert (export / MANIFEST).exists(), said
    data = json.loads((export / MANIFEST).read_text())
    if field == "bundle":
        data["bundle"]["file"] = value
    else:
        data["tasks"][0][field] = value
    (export / MANIFEST).write_text(json.dumps(data))
    final = _clone(remote, tmp_path / "final")

    landed = launcher_cli(final, "land", "--from", str(export))

    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "internal error" not in landed.stderr
    assert "export refused" in landed.stderr or MANIFEST in landed.stderr, landed.stderr
    assert (f"tasks[0] (id 'alpha').{field}" if field != "bundle" else "bundle.file") in landed.stderr
    assert git(final, "for-each-ref", "refs/heads/launcher") == ""
    assert git(final, "rev-parse", "main") == git(final, "rev-parse", "origin/main")


def test_a_land_after_a_killed_land_stops_that_lands_orphaned_agent_before_a_round_in_its_worktree(
        tmp_path: Path) -> None:
    # The integration check sends alpha back; the first land's revision round edits a file, and
    # is still working when that land is killed (-9). `land --from` again: its own round of alpha
    # runs in the worktree holding alpha's branch, where the orphan still edits. The orphan is
    # stopped first and its uncommitted edit saved under a kept ref: it is not committed and
    # landed as the new round's work.
    remote = _remote(tmp_path)
    marker, second, pid_file = tmp_path / "in-round", tmp_path / "second", tmp_path / "orphan.pid"
    round_script = (f'if [ ! -e alpha.txt ]; then echo BAD > alpha.txt; elif [ -e {second} ]; then '
                    f'echo good > alpha.txt; else echo "$$" > {pid_file}; echo orphan > orphan-edit.txt; '
                    f'touch {marker}; sleep 60; fi')
    job = _clone(remote, tmp_path / "job")
    (job / "plan.json").write_text(json.dumps({
        "run": {"integration_check": "! grep -q BAD alpha.txt"},
        "task": [{"id": "alpha", "script": [{"run": ["sh", "-c", round_script]}]}]}))
    export = tmp_path / "export"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    ran = launcher_cli(job, "run", "plan.json", "--shard", "1/1", "--no-merge", "--export", str(export), "--quiet",
                       env=env)
    assert (export / MANIFEST).exists(), ran.stdout + ran.stderr
    final = _clone(remote, tmp_path / "final")
    first = start_launcher(final, "land", "--from", str(export), "--quiet", env=env)
    try:
        wait_for_file(marker, first)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        second.write_text("")

        landed = launcher_cli(final, "land", "--from", str(export), "--json", env=env)

        assert landed.returncode == 0, landed.stdout + landed.stderr
        (task,) = json.loads(landed.stdout)["tasks"]
        assert task["state"] == "merged", task
        assert (final / "alpha.txt").read_text() == "good\n"
        assert not (final / "orphan-edit.txt").exists()  # the dead land's agent's edit did not land
        assert "orphaned process(es) of run " in landed.stderr + landed.stdout
        saved = git(final, "for-each-ref", "--format=%(refname)", "refs/launcher/").split()
        assert any("/alpha/interrupted-" in ref for ref in saved), saved  # and is not lost
        orphan = int(pid_file.read_text())
        time.sleep(0.2)
        assert not Path(f"/proc/{orphan}").exists() or "Z" in Path(f"/proc/{orphan}/stat").read_text().split()[2]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
