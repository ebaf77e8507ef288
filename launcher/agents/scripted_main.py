"""Entry point of the scripted agent process. Reads its script and the LAUNCHER_* variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from launcher.models.decoding import json_loads, read_text
from launcher.models.plan_schema import ScriptStep


def load_steps(script_path: str) -> list[dict[str, Any]]:
    """The script's steps, each checked against the plan's own step schema (a hand-written or
    damaged script file fails here with a message, not with a traceback mid-way)."""
    try:
        raw = json_loads(read_text(Path(script_path)))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScriptInvalid(f"cannot read the script {script_path}: {exc}") from None
    if not isinstance(raw, list):
        raise ScriptInvalid(f"the script {script_path} must be a JSON list of steps")
    steps = []
    for index, step in enumerate(raw):
        try:
            steps.append(ScriptStep.model_validate(step).model_dump(exclude_none=True))
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ScriptInvalid(f"script step {index}{'.' + key if key else ''}: "
                                f"{str(first['msg']).removeprefix('Value error, ')}") from None
    return steps


class ScriptInvalid(Exception):
    """A script file that is not a list of valid steps (the agent exits 2)."""


_FILE_STEPS = ("write", "append", "replace", "delete")


def earlier_rounds_files(steps: list[dict[str, Any]], iteration: int, attempt: int) -> list[str]:
    """The files this attempt's script edits in rounds before `iteration` only (steps without
    `rounds` run in every round, so this one's edits already name them)."""
    found: list[str] = []
    for step in steps:
        rounds = step.get("rounds")
        if rounds is None or iteration in rounds or not any(r < iteration for r in rounds):
            continue
        if "attempts" in step and attempt not in step["attempts"]:
            continue
        found += [step[key] for key in _FILE_STEPS if key in step]
    return found


def commit_env() -> dict[str, str]:
    """The environment of the script's `git commit`: the identity the launcher's own commits use
    (git/repo.py): LAUNCHER_GIT_NAME/EMAIL, else the user's git config, else
    `launcher <launcher@localhost>` (git refuses to commit without an identity)."""
    env = dict(os.environ)
    if any(k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")) for k in env):
        return env  # an identity given to the agent: git takes it
    name, email = env.get("LAUNCHER_GIT_NAME"), env.get("LAUNCHER_GIT_EMAIL")
    if name is None and email is None:
        found = [subprocess.run(["git", "config", "--get", key], capture_output=True, text=True, check=False)
                 for key in ("user.name", "user.email")]
        if all(done.returncode == 0 and done.stdout.strip() for done in found):
            return env
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = name or "launcher", email or "launcher@localhost"
    return env


def main(script_path: str) -> int:
    try:
        steps = load_steps(script_path)
    except ScriptInvalid as exc:
        print(f"scripted agent: {exc}", file=sys.stderr)
        return 2
    task_id = os.environ["LAUNCHER_TASK_ID"]
    iteration = int(os.environ.get("LAUNCHER_ITERATION", "1"))
    attempt = int(os.environ.get("LAUNCHER_ATTEMPT", "1"))
    contract_path = Path(os.environ["LAUNCHER_CONTRACT"])
    touched: list[str] = []
    contract: dict[str, Any] = {}
    write_contract = True
    raw: str | None = None
    for step in steps:
        if "rounds" in step and iteration not in step["rounds"]:
            continue
        if "attempts" in step and attempt not in step["attempts"]:
            continue
        if "write" in step:
            path = Path(step["write"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(step.get("content", ""), encoding="utf-8")
            touched.append(step["write"])
        elif "append" in step:
            with Path(step["append"]).open("a", encoding="utf-8") as fh:
                fh.write(step.get("content", ""))
            touched.append(step["append"])
        elif "replace" in step:
            path = Path(step["replace"])
            text = path.read_text(encoding="utf-8")
            if step["old"] not in text:
                print(f"scripted agent: {step['old']!r} not found in {path}", file=sys.stderr)
                return 4
            path.write_text(text.replace(step["old"], step.get("new", ""), 1), encoding="utf-8")
            touched.append(step["replace"])
        elif "delete" in step:
            Path(step["delete"]).unlink()
            touched.append(step["delete"])
        elif "sleep" in step:
            time.sleep(float(step["sleep"]))
        elif "spawn_sleeper" in step:
            child = subprocess.Popen(
                [sys.executable, "-c", f"import time; time.sleep({float(step['spawn_sleeper'])})"]
            )
            print(f"spawned {child.pid}", flush=True)
        elif "flood_mb" in step:
            block = b"x" * 1023 + b"\n"
            for _ in range(int(float(step["flood_mb"]) * 1024)):
                sys.stdout.buffer.write(block)
            sys.stdout.flush()
        elif "say" in step:
            print(step["say"], flush=True)
        elif "commit" in step:
            subprocess.run(["git", "add", "-A"], check=True)
            # Nothing staged: a round replayed after a kill (`launcher resume`) keeps the commit
            # its first run made, so the same script has nothing new to commit; a real agent
            # would see its work committed and go on, not fail the task.
            if subprocess.run(["git", "diff", "--cached", "--quiet"], check=False).returncode == 0:
                print(f"scripted agent: nothing to commit for {step['commit']!r}", flush=True)
                continue
            committed = subprocess.run(["git", "commit", "-q", "-m", step["commit"]], env=commit_env(), check=False)
            if committed.returncode != 0:
                print(f"scripted agent: git commit -m {step['commit']!r} exited {committed.returncode}",
                      file=sys.stderr)
                return 5
        elif "run" in step:
            done = subprocess.run(step["run"], check=False)
            if done.returncode != 0:
                print(f"scripted agent: {step['run']} exited {done.returncode}", file=sys.stderr)
                return 5
        elif "contract" in step:
            contract.update(step["contract"])
        elif "no_contract" in step:
            write_contract = False
        elif "raw_contract" in step:
            raw = step["raw_contract"]
        elif "exit" in step:
            return int(step["exit"])
    # The contract speaks for the whole task (its branch's changes), so a revision round also
    # claims what its earlier rounds wrote: a claim of this round's files alone would be a
    # "changed but not claimed" for every file an earlier round changed.
    claimed = sorted(set(touched + earlier_rounds_files(steps, iteration, attempt)))
    if raw is not None:
        contract_path.write_text(raw, encoding="utf-8")
    elif write_contract:
        full = {
            "contract_version": "1",
            "task_id": task_id,
            "status": "done",
            "summary": f"Scripted agent applied {len(touched)} edit(s) for {task_id}.",
            "files_changed": claimed,
            "tests_added": [],
            "decisions": ["Applied the declared edits verbatim."],
            "blockers": [],
            "llm_observations": "Deterministic scripted agent; no model was called.",
        }
        full.update(contract)
        contract_path.write_text(json.dumps(full, indent=2), encoding="utf-8")
    print(f"scripted agent finished {task_id} round {iteration}: {len(touched)} edit(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
