"""A value the run passes is masked wherever it is shown, whole, and only where it is shown.

- A cut made in text before it is masked (`launcher logs`' 4 MiB tail, the elided middle of a
  setup's long output) no longer leaves the part of a value past the cut unmasked: the text is
  masked with the bytes around the cut in view, and a value the cut goes through is its mask.
- Where the text is JSON (a JSON-lines agent log, the contract the agent wrote) a value with `"`,
  `\\` or non-ASCII characters is matched in its escaped forms too.
- Two values that overlap are masked over the union of what they cover.
- What the launcher compares or acts on is never masked: a contract's files (checked against the
  diff) stay as the agent wrote them, so a value that is an ordinary word (`production`) no
  longer makes an honest claim disagree with the diff, in the report or a resumed round."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from launcher.capped_log import HeadTail
from launcher.models.redact import mask

TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0ZZQQ"  # 40 characters


def _launcher(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=repo, env=full,
                          capture_output=True, text=True, timeout=300)


def _pieces_shown(text: str, value: str) -> list[str]:
    """Every stretch of 8 or more characters of `value` found in `text` outside its masks."""
    rest = re.sub(r"\*\*\*\([A-Z_]+\)", "\x00", text)
    return [value[i:i + 8] for i in range(len(value) - 7) if value[i:i + 8] in rest]


def _run_id(repo: Path, env: dict[str, str]) -> str:
    return str(json.loads(_launcher(repo, "runs", "--json", env=env).stdout)[0]["run_id"])


def test_two_overlapping_values_leave_no_part_of_either_shown() -> None:
    secrets = {"xxxx1234": "A", "1234yyyy": "B"}
    assert mask("at xxxx1234yyyy end", secrets) == "at ***(A)***(B) end"
    assert mask("1234yyyy and xxxx1234", secrets) == "***(B) and ***(A)"


def test_a_value_is_masked_as_json_text_holds_it_with_or_without_ascii_escapes() -> None:
    value = 'Tr0ub4dor&3"horse\\stäple'
    secrets = {value: "DB_PASSWORD"}
    for ascii_only in (True, False):
        line = json.dumps({"output": f"connecting with {value}"}, ensure_ascii=ascii_only)
        assert mask(line, secrets) == '{"output": "connecting with ***(DB_PASSWORD)"}'


def test_a_value_cut_by_an_elided_middle_is_masked_at_both_edges() -> None:
    kept = HeadTail(100, 300, {TOKEN: "DB_PASSWORD"})
    stream = (TOKEN * 60).encode()  # one long line: each edge of the elision cuts a value through
    for at in range(0, len(stream), 7):
        kept.add(stream[at:at + 7])
    text = kept.data.decode()
    assert "elided from the middle" in text
    assert _pieces_shown(text, TOKEN) == []


def test_logs_tail_of_a_long_agent_log_shows_no_part_of_a_value_at_its_cut(repo: Path, tmp_path: Path) -> None:
    # ~5.2 MB on one line: the 4 MiB tail `logs` shows starts inside a value (unless it happened
    # to start on one's first byte, which the odd prefix below rules out)
    agent = tmp_path / "agent.py"
    agent.write_text("import os, sys\nsys.stdout.write('abc' + os.environ['MY_TOKEN'] * 130000 + '\\n')\n"
                     "open('f.txt', 'w').write('x')\n")
    (tmp_path / "plan.toml").write_text(
        f'[agents.bot]\nadapter = "command"\nenv = ["MY_TOKEN"]\n'
        f'command = ["{sys.executable}", "{agent}", "{{prompt}}"]\n'
        '\n[[task]]\nid = "t1"\nagent = "bot"\nprompt = "p"\n')
    env = {"MY_TOKEN": TOKEN}
    done = _launcher(repo, "run", str(tmp_path / "plan.toml"), "--no-merge", "--quiet", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = _launcher(repo, "logs", _run_id(repo, env), "t1", env=env)
    assert shown.returncode == 0, shown.stderr
    first, _, log = shown.stdout.partition("\n")
    assert "are not shown" in first
    assert log.startswith("***(MY_TOKEN)")
    assert _pieces_shown(shown.stdout, TOKEN) == []


def test_setup_log_keeps_no_part_of_a_value_at_the_edges_of_its_elided_middle(repo: Path, tmp_path: Path) -> None:
    setup = "python3 -c \\\"import os,sys; sys.stdout.write('abc' + os.environ['DB_PASSWORD'] * 40000)\\\""
    (tmp_path / "plan.toml").write_text(
        '[run]\ncheck_env = ["DB_PASSWORD"]\n\n[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\n'
        f'setup = "{setup}"\nscript = [{{ write = "a.txt", content = "a\\n" }}]\n')
    env = {"DB_PASSWORD": TOKEN}
    done = _launcher(repo, "run", str(tmp_path / "plan.toml"), "--no-merge", "--quiet", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    log = next((repo / ".launcher" / "runs").glob("*/t1/setup.log")).read_text()
    assert "elided from the middle" in log
    assert _pieces_shown(log, TOKEN) == []


def test_json_escaped_value_is_masked_in_logs_and_the_kept_contract(repo: Path, tmp_path: Path) -> None:
    value = 'Tr0ub4dor&3"horse\\staple'
    agent = tmp_path / "agent.py"
    agent.write_text(
        "import json, os\npw = os.environ['DB_PASSWORD']\n"
        "print(json.dumps({'type': 'tool_result', 'output': 'connecting with ' + pw}))\n"
        "open('a.txt', 'w').write('a\\n')\n"
        "json.dump({'contract_version': '1', 'task_id': 't1', 'status': 'done', 'summary': 'used ' + pw,\n"
        "           'files_changed': ['a.txt'], 'tests_added': [], 'decisions': [], 'blockers': [],\n"
        "           'llm_observations': 'none'}, open(os.environ['LAUNCHER_CONTRACT'], 'w'))\n")
    (tmp_path / "plan.toml").write_text(
        f'[agents.bot]\nadapter = "command"\nenv = ["DB_PASSWORD"]\n'
        f'command = ["{sys.executable}", "{agent}", "{{prompt}}"]\n'
        '\n[[task]]\nid = "t1"\nagent = "bot"\nprompt = "p"\n')
    env = {"DB_PASSWORD": value}
    escaped = json.dumps(value)[1:-1]
    done = _launcher(repo, "run", str(tmp_path / "plan.toml"), "--no-merge", "--quiet", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = _launcher(repo, "logs", _run_id(repo, env), "t1", env=env).stdout
    assert '"connecting with ***(DB_PASSWORD)"' in shown
    assert escaped not in shown
    kept = next((repo / ".launcher" / "runs").glob("*/t1/contract.agent.json")).read_text()
    assert json.loads(kept)["summary"] == "used ***(DB_PASSWORD)"
    assert escaped not in kept


def test_a_value_that_is_an_ordinary_word_never_masks_the_files_a_contract_claims(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_text(
        '[run]\ncheck_env = ["DEPLOY_ENV"]\n\n[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "x"\n'
        'script = [{ write = "config/production.yml", content = "replicas: 3\\n" }, '
        '{ contract = { files_changed = ["config/production.yml"], summary = "tuned the production config" } }]\n')
    env = {"DEPLOY_ENV": "production"}
    done = _launcher(repo, "run", str(tmp_path / "plan.toml"), "--quiet", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "disagree" not in done.stdout + done.stderr
    task = json.loads(_launcher(repo, "status", "--json", env=env).stdout)["tasks"][0]
    assert task["contract"]["files_changed"] == ["config/production.yml"]
    assert task["contract"]["summary"] == "tuned the ***(DEPLOY_ENV) config"  # prose: still masked
    assert task["claimed_not_changed"] == [] and task["changed_not_claimed"] == []
    # what a resumed round reads back, and what the task's artifacts keep, claim the real file too
    artifacts = next((repo / ".launcher" / "runs").glob("*/t1"))
    round_record = json.loads((artifacts / "rounds" / "1.json").read_text())
    assert round_record["contract"]["files_changed"] == ["config/production.yml"]
    assert round_record["contract"]["summary"] == "tuned the ***(DEPLOY_ENV) config"
    assert json.loads((artifacts / "contract.json").read_text())["files_changed"] == ["config/production.yml"]


def test_a_followed_log_masks_a_json_escaped_value_split_between_reads() -> None:
    from launcher.models.redact import StreamMask

    value = 'Tr0ub4dor&3"horse\\staple'
    escaped = json.dumps(value)[1:-1]
    line = '{"output": "connecting with ' + escaped + '"}\n'
    for split in range(1, len(line)):
        stream = StreamMask({value: "DB_PASSWORD"})
        shown = stream.feed(line[:split]) + stream.feed(line[split:]) + stream.end()
        assert shown == '{"output": "connecting with ***(DB_PASSWORD)"}\n', split
