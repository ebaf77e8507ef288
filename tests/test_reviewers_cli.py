"""Graders and judges on every CLI adapter read their packet (issue 12).

Each reviewer runs on its adapter's faithful fake (tests/fakes/, FAKE_MODE=review): the fake
finds the packet's path in its prompt, reads it the way the real CLI lets it (Claude Code: the
working directory and `--add-dir`; Codex: its sandbox's workspace roots; Gemini: its workspace;
opencode `run`: the project directory, `external_directory` auto-rejected; Aider: only files
handed over with `--read`; ACP agents: their own tools, then the client's fs/read_text_file)
and answers from what it read. A reviewer that could not read its packet cannot answer with the
packet's criteria or survivor ids, so every test below fails unless the packet was read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import git, launcher_cli, task

from launcher.agents.acp import AcpAdapter, AcpClient
from launcher.agents.base import AgentRequest
from launcher.agents.gemini import INLINE_LIMIT as GEMINI_INLINE_LIMIT
from launcher.agents.packet_access import IN_TREE_DIR, packet_inside
from launcher.app.mutation.judge import JudgeOptions, judge_survivors
from launcher.app.run.runner import RunOptions, start_run
from launcher.engine.agent_round import Limits
from launcher.gates import judge_relay
from launcher.git.repo import GitRepo
from launcher.models.plan import AgentConfig, Task, validate_plan

FAKES = Path(__file__).parent / "fakes"
ACP_AGENT = [sys.executable, str(FAKES / "fake_acp_agent.py")]

# name -> agent config of a reviewer on that adapter's fake
REVIEWERS: dict[str, dict[str, Any]] = {
    "claude": {"adapter": "claude"},
    "codex": {"adapter": "codex"},
    "gemini": {"adapter": "gemini"},
    "opencode": {"adapter": "opencode"},
    "aider": {"adapter": "aider"},
    "acp-gemini": {"adapter": "acp", "command": ACP_AGENT, "set_env": {"FAKE_ACP_FLAVOR": "gemini"}},
    "acp-claude": {"adapter": "acp", "command": ACP_AGENT, "set_env": {"FAKE_ACP_FLAVOR": "claude"}},
}
# What each fake reports a reviewer's call costs (Codex and Gemini report tokens, not money).
CALL_COST = {"claude": 0.0421, "codex": None, "gemini": None, "opencode": 0.007, "aider": 0.0071,
             "acp-gemini": 0.0077, "acp-claude": 0.0077}  # fmt: skip


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


def reviewer(name: str) -> dict[str, Any]:
    config = json.loads(json.dumps(REVIEWERS[name]))
    config["set_env"] = {**config.get("set_env", {}), "FAKE_MODE": "review"}
    return config


def survivors(count: int) -> list[dict[str, Any]]:
    return [{"id": n, "fault": "boundary", "target": "app.py", "line": 2, "rationale": "r", "orig": "a + b",
             "mut": "a - b", "status": "SURVIVED"} for n in range(1, count + 1)]  # fmt: skip


def run_judge(repo: Path, name: str, count: int, batch: int) -> judge_relay.JudgeOutcome:
    async def go() -> judge_relay.JudgeOutcome:
        git_repo = await GitRepo.discover(repo)
        spec = judge_relay.JudgeInput(
            label="m-20260101-000000-abcd", agent_name=name, config=AgentConfig.model_validate(reviewer(name)),
            survivors=survivors(count), report="report.json", out_dir=repo.parent / "sweep",
            scratch=repo.parent / "scratch" / "judge", base_sha=await git_repo.rev_parse("HEAD"),
            limits=Limits(timeout_s=60, inactivity_s=None, grace_s=0.5), batch_size=batch,
        )  # fmt: skip
        return await judge_relay.judge(git_repo, spec)

    return anyio.run(go)


# --- the grader ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(REVIEWERS))
def test_grader_reads_its_packet_on_every_adapter(repo: Path, name: str) -> None:
    plan = validate_plan({"run": {"grader": "rev"}, "agents": {"rev": reviewer(name)},
                          "task": [{"id": "docs", "script": [{"write": "NOTES.md", "content": "notes\n"}]}]}, "plan")
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    docs = task(report, "docs")
    assert docs.state == "merged", docs.message
    verdict_files = list((repo / ".launcher").rglob("1-verdict.json"))
    verdict = json.loads(verdict_files[0].read_text())
    assert verdict["verdict"] == "satisfied"
    assert {r["justification"] for r in verdict["criterion_results"]} >= {"read 1-packet.md"}
    assert IN_TREE_DIR not in git(repo, "log", "--name-only", "--format=", "main")


def test_gemini_grader_reads_a_packet_too_large_to_quote_from_inside_its_workspace(repo: Path) -> None:
    """Over the prompt's bound the packet is copied into the workspace, where Gemini's read_file
    accepts it: git ignores the copy through info/exclude, not a `.gitignore` read_file obeys."""
    lines = "".join(f"line {n} of a long file to grade\n" for n in range(900))
    script = [{"write": f"part{n}.txt", "content": lines} for n in range(4)]
    plan = validate_plan({"run": {"grader": "rev"}, "agents": {"rev": reviewer("gemini")},
                          "task": [{"id": "big", "script": script}]}, "plan")  # fmt: skip
    report = anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None)
    big = task(report, "big")
    assert big.state == "merged", big.message
    packet = next((repo / ".launcher").rglob("1-packet.md"))
    assert packet.stat().st_size > GEMINI_INLINE_LIMIT
    verdict = json.loads(next((repo / ".launcher").rglob("1-verdict.json")).read_text())
    assert {r["justification"] for r in verdict["criterion_results"]} >= {"read 1-packet.md"}
    assert IN_TREE_DIR not in git(repo, "log", "--name-only", "--format=", "main")


# --- the judge -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(REVIEWERS))
@pytest.mark.parametrize(("count", "batch"), [(3, 25), (5, 2)], ids=["one-batch", "three-batches"])
def test_judge_reads_each_batch_packet_on_every_adapter(repo: Path, name: str, count: int, batch: int) -> None:
    outcome = run_judge(repo, name, count, batch)
    assert outcome.verdict is not None, (outcome.error, outcome.notes)
    calls = -(-count // batch)
    assert outcome.calls == calls and outcome.notes == []
    by_id = {v.id: v.justification for v in outcome.verdict.verdicts}
    assert sorted(by_id) == list(range(1, count + 1))
    assert {by_id[n] for n in range(1, count + 1)} == {f"read packet-{-(-n // batch)}.json"
                                                       for n in range(1, count + 1)}  # fmt: skip
    expected = CALL_COST[name]
    if expected is None:
        assert outcome.cost_usd is None
    else:
        assert outcome.cost_usd == pytest.approx(expected * calls)
    assert git(repo, "status", "--porcelain") == ""


def test_the_fake_claude_code_is_denied_a_packet_outside_its_directories(tmp_path: Path) -> None:
    """The fake is faithful: without `--add-dir` for its folder, reading the packet is denied."""
    packet = tmp_path / "elsewhere" / "packet.json"
    packet.parent.mkdir()
    packet.write_text(json.dumps({"survivors": survivors(1), "report": "r", "contract_version": "1"}))
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "FAKE_MODE": "review", "LAUNCHER_PACKET": str(packet)}
    argv = [sys.executable, str(FAKES / "claude"), "-p", f"The judge packet is at {packet}.", "--output-format",
            "json", "--json-schema", json.dumps(judge_relay.JUDGE_ANSWER.schema)]  # fmt: skip
    denied = json.loads(subprocess.run([*argv, "--add-dir", str(work)], cwd=work, env=env, capture_output=True,
                                       text=True).stdout)  # fmt: skip
    assert denied["permission_denials"][0]["tool_input"]["file_path"] == str(packet)
    assert "structured_output" not in denied
    allowed = json.loads(subprocess.run([*argv, "--add-dir", str(work), str(packet.parent)], cwd=work, env=env,
                                        capture_output=True, text=True).stdout)  # fmt: skip
    assert allowed["permission_denials"] == [] and allowed["structured_output"]["verdicts"][0]["id"] == 1


# --- what the judge cost -------------------------------------------------------------------------


def sweep_dir(repo: Path, count: int) -> Path:
    out = repo / ".launcher" / "mutation-runs" / "m-20260101-000000-abcd"
    out.mkdir(parents=True)
    (out / "mutants.json").write_text("{}\n")
    (out / "report.json").write_text(json.dumps({"base_sha": git(repo, "rev-parse", "HEAD").strip()}))
    (out / "survivors.jsonl").write_text("".join(json.dumps(s) + "\n" for s in survivors(count)))
    return out


def test_judge_summary_sums_the_cost_of_every_call(repo: Path) -> None:
    sweep_dir(repo, 5)
    lines = ["[agents.j]", 'adapter = "claude"', 'set_env = { FAKE_MODE = "review" }']
    (repo / "launcher.toml").write_text("\n".join(lines) + "\n")
    summary = anyio.run(judge_survivors, repo, JudgeOptions(agent="j", confirm=True, batch_size=2), None)
    assert summary.exit_code == 0, summary.message
    assert summary.calls == 3
    assert summary.cost_usd == pytest.approx(3 * 0.0421)
    assert summary.as_dict()["cost_usd"] == pytest.approx(0.1263)


def test_mutation_judge_prints_what_the_judge_cost(repo: Path) -> None:
    sweep_dir(repo, 3)
    lines = ["[agents.j]", 'adapter = "claude"', 'set_env = { FAKE_MODE = "review" }']
    (repo / "launcher.toml").write_text("\n".join(lines) + "\n")
    done = launcher_cli(repo, "mutation", "judge", "--agent", "j", "--confirm-judge",
                        env={"PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "judge cost: $0.0421 (1 call(s))" in done.stdout
    as_json = launcher_cli(repo, "mutation", "judge", "--agent", "j", "--confirm-judge", "--json",
                           env={"PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}"})
    assert json.loads(as_json.stdout)["cost_usd"] == pytest.approx(0.0421)


# --- the packet's copy inside the tree -----------------------------------------------------------


def test_a_packet_copied_into_the_tree_is_never_a_change(repo: Path, tmp_path: Path) -> None:
    packet = tmp_path / "grading" / "1-packet.md"
    packet.parent.mkdir()
    packet.write_text("# packet\n")
    request = AgentRequest(
        run_id="r", task=Task(id="t", prompt=f"Read the grading packet at {packet}."), agent_name="g",
        config=AgentConfig.model_validate({"adapter": "gemini"}), worktree=repo, artifacts=tmp_path,
        base_sha="0" * 40, iteration=1, contract_path=tmp_path / "v.json", feedback_path=None, port_base=0,
        packet_path=packet,
    )  # fmt: skip
    inside = packet_inside(request)
    assert inside.packet_path == repo / IN_TREE_DIR / "1-packet.md"
    assert inside.packet_path.read_text() == "# packet\n"
    assert inside.task.prompt == f"Read the grading packet at {inside.packet_path}."
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    git(repo, "add", "-A")
    assert git(repo, "diff", "--cached", "--name-only") == ""


# --- ACP: a file not written yet ----------------------------------------------------------------


def acp_request(tmp_path: Path, flavor: str, mode: str = "success") -> AgentRequest:
    worktree, artifacts = tmp_path / "wt", tmp_path / "artifacts"
    worktree.mkdir()
    artifacts.mkdir()
    config = AgentConfig.model_validate({
        "adapter": "acp", "command": ACP_AGENT, "permission_mode": "acceptEdits",
        "set_env": {"FAKE_ACP_FLAVOR": flavor, "FAKE_MODE": mode, "FAKE_ACP_LOG": str(tmp_path / "acp.jsonl")},
    })  # fmt: skip
    return AgentRequest(
        run_id="r", task=Task(id="t1", prompt="Write the note"), agent_name="a", config=config,
        worktree=worktree, artifacts=artifacts, base_sha="0" * 40, iteration=1,
        contract_path=artifacts / "contract.agent.json", feedback_path=None, port_base=0,
    )  # fmt: skip


@pytest.mark.parametrize("flavor", ["gemini", "claude"])
def test_acp_agents_write_a_new_file(tmp_path: Path, flavor: str) -> None:
    request = acp_request(tmp_path, flavor)
    limits = Limits(timeout_s=30, inactivity_s=None, grace_s=0.5)
    outcome, _ = anyio.run(lambda: AcpAdapter().drive(request, limits))
    assert outcome.ok, outcome.message
    assert (request.worktree / "acp_note.txt").read_text() == "written through the ACP client\n"
    assert "Error checking existing file" not in outcome.final_text


def test_acp_missing_files_read_empty_only_inside_the_worktree(tmp_path: Path) -> None:
    request = acp_request(tmp_path, "gemini")
    client = AcpClient(request, conn=None)  # type: ignore[arg-type]
    assert client._read({"path": str(request.worktree / "new" / "file.py")}) == {"content": ""}
    refused = [str(tmp_path / "outside-and-missing.txt"), str(request.worktree / ".git" / "HEAD"), "relative.txt"]
    for path in refused:
        with pytest.raises(Exception) as raised:
            client._read({"path": path})
        assert type(raised.value).__name__ == "_Refused", path
