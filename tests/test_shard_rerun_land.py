"""The documented CI recovery: a shard job failed, so the land job failed too; "Re-run failed
jobs" runs that shard job again (same commit, same plan, a new run id) and then the land job in a
fresh clone of the remote, which already holds what the first land pushed. A task of the plan
already on the target is never landed a second time: it is reported merged ("already landed"),
and a task built on the shard's second version of it is refused, saying why and what to do,
since landing it would bring that second version in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from helpers import git, launcher_cli

from launcher.git.commits import reserved_lines_dropped

# Like an LLM: what the agent writes differs from one run to the next.
AGENT = """f="$LAUNCHER_TASK_ID-$LAUNCHER_RUN_ID.txt"; printf 'x\\n' > "$f"
printf '{"contract_version":"1","task_id":"%s","status":"done","summary":"s","files_changed":["%s"],\
"tests_added":[],"decisions":[],"blockers":[],"llm_observations":"wrote it"}' "$LAUNCHER_TASK_ID" "$f" \
> "$LAUNCHER_CONTRACT"
"""


def _remote(tmp_path: Path, flag: Path) -> Path:
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "agent.sh").write_text(AGENT)
    (seed / "launcher.toml").write_text(
        'default_agent = "bot"\n[agents.bot]\nadapter = "command"\ncommand = ["sh", "agent.sh"]\n')
    (seed / "plan.json").write_text(json.dumps({"task": [
        {"id": "a", "prompt": "task a"},
        {"id": "b", "prompt": "task b", "depends_on": ["a"], "checks": [f"test -e {flag}"]},
        {"id": "d", "prompt": "task d"}]}))
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    return remote


def _clone(remote: Path, where: Path) -> Path:
    if where.exists():  # each CI job starts from a fresh clone
        shutil.rmtree(where)
    git(where.parent, "clone", "-q", str(remote), str(where))
    git(where, "config", "user.name", "ci")
    git(where, "config", "user.email", "ci@example.invalid")
    return where


def _shard_job(remote: Path, tmp_path: Path, index: int, out: Path, commit: str) -> int:
    """A shard job at the workflow's commit (a re-run checks out the same one)."""
    job = _clone(remote, tmp_path / f"job{index}")
    git(job, "checkout", "-q", "-B", "main", commit)
    done = launcher_cli(job, "run", "plan.json", "--shard", f"{index}/2", "--no-merge", "--export", str(out),
                        "--quiet")
    assert (out / "launcher-export.json").exists(), done.stdout + done.stderr
    return done.returncode


def _land_job(remote: Path, tmp_path: Path, exports: list[Path]) -> tuple[int, dict[str, Any], Path]:
    final = _clone(remote, tmp_path / "final")
    landed = launcher_cli(final, "land", *[a for out in exports for a in ("--from", str(out))],
                          "--plan", "plan.json", "--json")
    git(final, "push", "-q", "origin", "main")
    return landed.returncode, json.loads(landed.stdout), final


def test_a_rerun_shard_job_does_not_land_its_plans_landed_task_again(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    remote = _remote(tmp_path, flag)
    exports = [tmp_path / "export1", tmp_path / "export2"]
    commit = git(remote, "rev-parse", "main").strip()
    codes = [_shard_job(remote, tmp_path, i, exports[i - 1], commit) for i in (1, 2)]
    failed = codes.index(1)  # the shard with a and b: b's check failed
    first_code, first, _ = _land_job(remote, tmp_path, exports)
    assert first_code == 1 and {t["id"]: t["state"] for t in first["tasks"]}["a"] == "merged", first

    flag.touch()  # "Re-run failed jobs": the failed shard job, then the land job
    old_run = json.loads((exports[failed] / "launcher-export.json").read_text())["run_id"]
    shutil.rmtree(exports[failed])
    assert _shard_job(remote, tmp_path, failed + 1, exports[failed], commit) == 0
    code, report, final = _land_job(remote, tmp_path, exports)
    tasks = {t["id"]: (t["state"], t["message"]) for t in report["tasks"]}
    assert tasks["a"][0] == "merged" and tasks["d"][0] == "merged", tasks
    assert "already landed on main" in tasks["a"][1] and f"from run {old_run}'s export" in tasks["a"][1]
    assert "not landed again" in tasks["a"][1]
    assert tasks["b"][0] == "failed" and "would land 'a' a second time" in tasks["b"][1], tasks
    assert "git cherry-pick" in tasks["b"][1]
    assert code == 1
    landings = git(final, "log", "--first-parent", "--format=%(trailers:key=Launcher-Task,valueonly)", "main")
    assert landings.split().count("a") == 1
    assert len([p for p in final.iterdir() if p.name.startswith("a-")]) == 1  # one version of a's work


def test_an_agents_commit_cannot_claim_a_plan_task_landed() -> None:
    message = "work\n\nLauncher-Origin-Plan: " + "0" * 64 + "/a\nLauncher-Task: a\n"
    assert "Launcher-Origin-Plan" not in reserved_lines_dropped(message)
