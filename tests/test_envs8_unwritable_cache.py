"""A cache directory the launcher cannot write to (a read-only HOME, a file where
`$XDG_CACHE_HOME` points) is the machine's environment: exit 3, with a fix naming
XDG_CACHE_HOME and the directory, never "set worktree_root in launcher.toml" alone. A demo that
stops on it removes the sample repository it had just made, and says so. A landing that sends
nothing back to an agent needs no port registry, so it is not refused for one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import git, launcher_cli

from launcher.errors import EnvironmentProblem
from launcher.store import ports


@pytest.mark.parametrize("kind", [[], ["--workflow"], ["--mutation"]], ids=["run", "workflow", "mutation"])
def test_a_demo_under_an_unwritable_cache_exits_3_names_the_cache_and_leaves_no_sample(
    tmp_path: Path, kind: list[str]
) -> None:
    cache = tmp_path / "cachefile"
    cache.write_text("")  # stands for a read-only ~/.cache
    where = tmp_path / "w"
    done = launcher_cli(
        tmp_path, "demo", *kind, "--quiet", "--where", str(where), env={"XDG_CACHE_HOME": str(cache)}, timeout=300
    )
    said = done.stdout + done.stderr
    assert done.returncode == 3, said
    assert "XDG_CACHE_HOME" in said and str(cache) in said, said
    assert "internal error" not in said
    sample = where / "calc-repo"
    assert not sample.exists(), said
    assert f"the demo's half-made sample repository {sample} was removed" in said, said


def test_run_with_the_default_worktree_root_unwritable_is_an_environment_problem(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cachefile"
    cache.write_text("")
    done = launcher_cli(repo, "run", "--task", "write a.txt", "--agent", "scripted", env={"XDG_CACHE_HOME": str(cache)})
    said = done.stdout + done.stderr
    assert done.returncode == 3, said
    assert "default worktree root" in said and "export XDG_CACHE_HOME=" in said, said
    assert git(repo, "branch", "--list", "launcher/*") == ""  # nothing was created


def test_run_with_a_configured_worktree_root_unwritable_is_still_a_config_error(repo: Path, tmp_path: Path) -> None:
    (repo / "launcher.toml").write_text(f'worktree_root = "{tmp_path / "file" / "wt"}"\n')
    (tmp_path / "file").write_text("")
    done = launcher_cli(repo, "run", "--task", "write a.txt", "--agent", "scripted")
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "set worktree_root in launcher.toml" in said, said


def test_pool_warm_with_the_default_worktree_root_unwritable_is_an_environment_problem(
    repo: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cachefile"
    cache.write_text("")
    done = launcher_cli(repo, "pool", "warm", "1", env={"XDG_CACHE_HOME": str(cache)})
    said = done.stdout + done.stderr
    assert done.returncode == 3, said  # not an internal error, nor "run `launcher resume`"
    assert "export XDG_CACHE_HOME=" in said and "resume" not in said, said


def test_a_cache_directory_that_cannot_hold_the_port_registry_is_refused_before_anything_is_made(
    repo: Path, tmp_path: Path
) -> None:
    # worktree_root elsewhere and writable: the ports every task claims still live in the cache.
    (repo / "launcher.toml").write_text(f'worktree_root = "{tmp_path / "wt"}"\n')
    cache = tmp_path / "cachefile"
    cache.write_text("")
    done = launcher_cli(repo, "run", "--task", "write a.txt", "--agent", "scripted", env={"XDG_CACHE_HOME": str(cache)})
    said = done.stdout + done.stderr
    assert done.returncode == 3, said
    assert "port registry" in said and "export XDG_CACHE_HOME=" in said and "resume" not in said, said
    assert git(repo, "branch", "--list", "launcher/*") == "" and not (tmp_path / "wt").exists()


ESCALATING = """
[run]
grader = "scripted-grader"
iteration_cap = 1
[[task]]
id = "t1"
agent = "scripted"
prompt = "p"
script = [{ write = "b.py", content = "y = 2\\n" }]
"""


def test_every_command_that_carries_a_run_on_refuses_a_cache_without_room_for_the_port_registry(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "launcher.toml").write_text(f'worktree_root = "{tmp_path / "wt"}"\n')
    (repo / "plan.toml").write_text(ESCALATING)
    ran = launcher_cli(repo, "run", "plan.toml", "--no-merge", "--json")
    run_id = json.loads(ran.stdout)["run_id"]
    assert json.loads(ran.stdout)["tasks"][0]["state"] == "escalated", ran.stdout
    cache = tmp_path / "cachefile"
    cache.write_text("")
    for command in (["resume", run_id, "--retry-failed"], ["choose", run_id, "t1", "continue", "--note", "go on"],
                    ["grade", run_id, "t1"]):
        done = launcher_cli(repo, *command, "--json", env={"XDG_CACHE_HOME": str(cache)})
        envelope = json.loads(done.stdout)
        assert done.returncode == 3, (command, done.stdout + done.stderr)
        assert envelope["error_key"] == "port_registry_unwritable" and "XDG_CACHE_HOME" in envelope["observations"]
        status = json.loads(launcher_cli(repo, "status", run_id, "--json").stdout)
        assert status["tasks"][0]["state"] == "escalated", command  # nothing was done
    chosen = launcher_cli(repo, "choose", run_id, "t1", "approve", "--note", "ok", "--json")
    assert chosen.returncode == 0 and json.loads(chosen.stdout)["status"] == "succeeded", chosen.stdout


def test_a_landing_that_sends_nothing_back_needs_no_port_registry(repo: Path, tmp_path: Path) -> None:
    # A plain land starts no agent: a cache without room for the port registry does not stop it.
    (repo / "launcher.toml").write_text(f'worktree_root = "{tmp_path / "wt"}"\n')
    (repo / "plan.toml").write_text(ESCALATING.replace('grader = "scripted-grader"\n', ""))
    ran = launcher_cli(repo, "run", "plan.toml", "--no-merge", "--json")
    run_id = json.loads(ran.stdout)["run_id"]
    assert json.loads(ran.stdout)["tasks"][0]["state"] == "approved", ran.stdout
    cache = tmp_path / "cachefile"
    cache.write_text("")
    landed = launcher_cli(repo, "land", run_id, "--json", env={"XDG_CACHE_HOME": str(cache)})
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert json.loads(landed.stdout)["tasks"][0]["merged"] is True
    assert git(repo, "log", "-1", "--format=%s", "main").startswith("Merge")


def test_a_port_claim_in_an_unwritable_cache_is_a_clear_environment_problem(tmp_path: Path) -> None:
    blocked = tmp_path / "cachefile"
    blocked.write_text("")
    with pytest.raises(EnvironmentProblem) as caught:
        ports.claim_block("r-1", "t1", path=blocked / "launcher" / "ports.json")
    assert caught.value.error_key == "port_registry_unwritable"
    assert "export XDG_CACHE_HOME=" in caught.value.fix and "launcher resume" in caught.value.fix
