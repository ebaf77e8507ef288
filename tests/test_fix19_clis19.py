"""What the agent CLIs and the graders really print, read right (review19, clis19).

- A grader whose prose gives a draft verdict and then its corrected verdict as broken JSON (a
  trailing comma, or cut off by an output limit) is not approved on the draft: the last word is
  `invalid_json` (another attempt, then an escalation), never the "satisfied" draft before it.
- A Claude Code grader (told to return its verdict as structured output AND write it to
  $LAUNCHER_CONTRACT) that wrote a "satisfied" draft to the file and then answered needs_revision
  as its structured output: the structured output, its last word, is the verdict (the file won).
- A login the CLI's API refused (Codex's "401 Unauthorized", Claude Code's "Invalid API key" or
  expired OAuth token, opencode's ProviderAuthError, aider's "not able to authenticate you") says
  how to log the launcher's agent in, as "Not logged in" already did for Claude Code; a rate
  limit gets no such hint.
- opencode was told to end with its contract "or write it to the file named by $LAUNCHER_CONTRACT
  if you are allowed to": that file is outside its directory, `run` mode auto-rejects the write
  and stops the session, and the task failed as permission_denied with its work done. It is told
  to answer in its final message only.
- A Claude Code grader in a mode that asks before edits (`plan`, `default`: a read-only reviewer)
  is denied the Write of its answer file that its system prompt asks for: with its verdict in
  structured_output nothing is missing (a note), where the round failed as permission_denied
  (never retried: the task escalated at every grading).
- A CLI that refuses an option of its command line (an older Claude Code without `--json-schema`, a
  typo in `extra_args`) crashed with its parser's words only; the message now says whose option it
  is: fix the agent's `extra_args`, or upgrade the CLI.
- opencode stopped by a rejected path outside its directory (`external_directory`) was told to set
  permission_mode = "allow", which allows only edit, bash and webfetch: it now names the
  permission opencode asked for and where it can be allowed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import git, task

from launcher.app.run.runner import RunOptions, start_run
from launcher.models.plan import validate_plan
from launcher.models.report import RunReport
from launcher.store.journal import Journal

FAKES = Path(__file__).parent / "fakes"


def command_graded(repo: Path, tmp_path: Path, grader_source: str, tasks: list[dict[str, Any]],
                   **run: Any) -> RunReport:
    script = tmp_path / "grader.py"
    script.write_text(grader_source)
    plan = validate_plan({"run": {"grader": "g", **run},
                          "agents": {"g": {"adapter": "command",
                                           "command": [sys.executable, str(script), "{packet}"]}},
                          "task": tasks}, "test plan")
    return anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)


# A grader that thinks aloud: a draft that passes every criterion of its packet, then "wait", and
# its corrected verdict failing C1, with a trailing comma (CUT: cut off mid-answer instead).
SECOND_THOUGHTS = r"""
import json, re, sys
ids = re.findall(r"^### ([A-Za-z][A-Za-z0-9_-]*)\. ", open(sys.argv[1]).read(), re.M)
def verdict(word, failing):
    return json.dumps({"verdict": word, "criterion_results": [
        {"criterion": c, "pass": c not in failing, "justification": "looked"} for c in ids],
        "required_fixes": [f"add the missing test ({c})" for c in failing], "iteration": 1,
        "rubric_version": "default@1"}, indent=1)
corrected = verdict("needs_revision", {"C1"})
corrected = corrected[:200] if CUT else corrected[:-1].rstrip() + ",\n}"
print("Draft verdict:\n```json\n" + verdict("satisfied", set()) + "\n```\n"
      "Wait: re-reading the diff, C1 is not met. Corrected verdict:\n```json\n" + corrected)
"""


def test_a_graders_corrected_verdict_that_is_broken_json_is_never_read_as_its_draft(
    repo: Path, tmp_path: Path
) -> None:
    for cut in (False, True):
        report = command_graded(repo, tmp_path, SECOND_THOUGHTS.replace("CUT", str(cut)),
                                [{"id": f"t{int(cut)}", "script": [{"write": f"t{int(cut)}.txt", "content": "x"}]}])
        graded = task(report, f"t{int(cut)}")
        assert graded.state == "escalated", (cut, graded.state, graded.message)
        assert "invalid_json" in graded.message, graded.message


def test_a_claude_graders_structured_answer_is_its_verdict_not_the_draft_it_wrote_to_the_file_before(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def verdict(failing: set[str]) -> Path:
        path = tmp_path / f"verdict-{len(failing)}.json"
        path.write_text(json.dumps({
            "verdict": "needs_revision" if failing else "satisfied", "iteration": 1, "rubric_version": "default@1",
            "required_fixes": [f"docs/NOTES.md:1 say what it is for ({c})" for c in sorted(failing)],
            "criterion_results": [{"criterion": f"C{n}", "pass": f"C{n}" not in failing, "justification": "read"}
                                  for n in range(1, 8)]}))  # fmt: skip
        return path

    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    # The fake Claude Code writes its draft (satisfied) to $LAUNCHER_CONTRACT, as it is told to give its
    # answer there too, then answers needs_revision (C3 fails) as its structured output.
    grader = {"adapter": "claude", "set_env": {"FAKE_DRAFT": str(verdict(set())), "FAKE_ANSWER": str(verdict({"C3"}))}}
    plan = validate_plan({"run": {"grader": "g", "iteration_cap": 1}, "agents": {"g": grader},
                          "task": [{"id": "docs", "script": [{"write": "NOTES.md", "content": "notes\n"}]}]},
                         "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    graded = task(report, "docs")
    assert graded.state == "escalated", (graded.state, graded.message)
    assert "needs_revision \u2014 failed: C3" in graded.message, graded.message
    assert "NOTES.md" not in git(repo, "ls-tree", "--name-only", "main")


@pytest.mark.parametrize(
    ("adapter", "mode", "cli_said", "fix"),
    [
        ("codex", "turn_failed", "unexpected status 401 Unauthorized",
         "; run `codex login` on this machine, or name CODEX_API_KEY (an OpenAI API key) in env = [...] of [agents.a]"),
        ("claude", "api_error", "Invalid API key · Fix external API key",
         "; run `claude` once on this machine to log in, or name ANTHROPIC_API_KEY in env = [...] of [agents.a]"),
        ("opencode", "auth_error", "ProviderAuthError: Invalid API key.",
         "; set the API key of the provider of model = 'anthropic/claude-sonnet-4-5' (e.g. ANTHROPIC_API_KEY) in "
         "the launcher's environment, or name it in env = [...] of [agents.a], or run `opencode auth login`"),
        ("aider", "auth_error", "The API provider is not able to authenticate you.",
         "; set the API key of the provider of model = 'anthropic/claude-sonnet-4-5' (e.g. ANTHROPIC_API_KEY) in "
         "the launcher's environment, or name it in env = [...] of [agents.a]"),
        ("opencode", "api_error", "APIError: Rate limit exceeded", None),
    ],
)
def test_a_refused_login_says_how_to_log_the_launchers_agent_in(
    repo: Path, monkeypatch: pytest.MonkeyPatch, adapter: str, mode: str, cli_said: str, fix: str | None
) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    agent: dict[str, Any] = {"adapter": adapter, "set_env": {"FAKE_MODE": mode}}
    if adapter in ("opencode", "aider"):
        agent["model"] = "anthropic/claude-sonnet-4-5"
    plan = validate_plan({"agents": {"a": agent}, "task": [{"id": "t1", "agent": "a", "prompt": "Add a sub"}]},
                         "test plan")
    failed = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None).tasks[0]
    assert failed.state == "failed" and failed.message.startswith("agent api_error: "), failed.message
    assert cli_said in failed.message
    if fix is None:
        assert "env = [...]" not in failed.message and "login" not in failed.message, failed.message
    else:
        assert failed.message.endswith(fix), failed.message


def test_opencode_is_never_offered_an_answer_file_its_run_mode_refuses_to_write(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `opencode run` auto-rejects a write outside its directory ($LAUNCHER_CONTRACT is outside), and
    # the session stops there: the fake's model writes the file whenever its message offers it.
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    agent = {"adapter": "opencode", "model": "anthropic/claude-sonnet-4-5", "set_env": {"FAKE_MODE": "obedient"}}
    plan = validate_plan({"agents": {"a": agent}, "task": [{"id": "t1", "agent": "a", "prompt": "Add a sub"}]},
                         "test plan")
    done = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None).tasks[0]
    assert done.state == "merged", done.message
    assert "opencode_t1.txt" in git(repo, "ls-tree", "--name-only", "main")


def test_a_read_only_claude_grader_denied_its_answer_file_still_answers_by_its_structured_output(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    answer = tmp_path / "verdict.json"
    answer.write_text(json.dumps({
        "verdict": "satisfied", "required_fixes": [], "iteration": 1, "rubric_version": "default@1",
        "criterion_results": [{"criterion": f"C{n}", "pass": True, "justification": "read"} for n in range(1, 8)]}))
    # Plan mode (a grader that must not edit): its Write of $LAUNCHER_CONTRACT, which its system prompt
    # asks for beside the structured output, is denied and listed in permission_denials.
    grader = {"adapter": "claude", "permission_mode": "plan",
              "set_env": {"FAKE_ANSWER": str(answer), "FAKE_WRITES_ANSWER": "1"}}
    plan = validate_plan({"run": {"grader": "g"}, "agents": {"g": grader},
                          "task": [{"id": "docs", "script": [{"write": "NOTES.md", "content": "notes\n"}]}]},
                         "test plan")
    report = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None)
    graded = task(report, "docs")
    assert graded.state == "merged", graded.message
    notes = [n["message"] for n in Journal(repo / ".launcher" / "launcher.db").notes(report.run_id)]
    assert any("denied writing its answer to $LAUNCHER_CONTRACT by permission mode plan" in n for n in notes), notes


@pytest.mark.parametrize(
    ("adapter", "config", "fix"),
    [
        ("claude", {"set_env": {"FAKE_UNKNOWN_OPTIONS": "--json-schema"}},
         "; claude does not know the option --json-schema the launcher passes: this claude is older than the "
         "launcher's claude adapter expects; upgrade it (`launcher agents` shows how)"),
        ("codex", {"extra_args": ["--reasoning", "high"]},
         "; codex does not know the option --reasoning of extra_args in [agents.a]: remove or correct it"),
        ("gemini", {"extra_args": ["--yolo-mode"]},
         "; gemini does not know the option --yolo-mode of extra_args in [agents.a]: remove or correct it"),
        ("aider", {"model": "anthropic/claude-sonnet-4-5", "extra_args": ["--auto-test-cmd", "pytest"]},
         "; aider does not know the option --auto-test-cmd of extra_args in [agents.a]: remove or correct it"),
    ],
)
def test_a_cli_that_refuses_an_option_says_whose_option_it_is_and_what_to_do(
    repo: Path, monkeypatch: pytest.MonkeyPatch, adapter: str, config: dict[str, Any], fix: str
) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    plan = validate_plan({"agents": {"a": {"adapter": adapter, **config}},
                          "task": [{"id": "t1", "agent": "a", "prompt": "Add a sub"}]}, "test plan")
    failed = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None).tasks[0]
    assert failed.state == "failed" and failed.message.startswith("agent crashed: "), failed.message
    assert failed.message.endswith(fix), failed.message


def test_opencode_denied_a_path_outside_its_directory_is_not_told_to_set_a_permission_mode_that_cannot_allow_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # permission_mode = "allow" allows edit, bash and webfetch; a path outside the directory asks for
    # external_directory, which `run` auto-rejects whatever the mode (the fake reads /etc/hosts).
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    agent = {"adapter": "opencode", "permission_mode": "allow", "set_env": {"FAKE_MODE": "permission"}}
    plan = validate_plan({"agents": {"a": agent}, "task": [{"id": "t1", "agent": "a", "prompt": "Add a sub"}]},
                         "test plan")
    failed = anyio.run(start_run, repo, plan, RunOptions(merge=True), lambda _e: None).tasks[0]
    assert failed.message.startswith("agent permission_denied: opencode stopped: 1 tool call(s)"), failed.message
    assert "set permission_mode" not in failed.message, failed.message
    assert failed.message.endswith(
        "it asked for external_directory (/etc/*): paths outside its working directory are allowed only in "
        "opencode's configuration (permission.external_directory)"), failed.message
