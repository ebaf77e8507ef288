"""Shared by the fake agent CLIs in this directory (imported from the script's own folder).

Each fake is chosen and steered through its environment, which the launcher passes only because
the test's agent config names the variables (`set_env`):

- FAKE_MODE: comma-separated behaviours, one per process attempt of the task
  (LAUNCHER_ATTEMPT 1 takes the first, 2 the second, ...; the last repeats).
- FAKE_ARGV_LOG: a file; every invocation appends one JSON line {cli, argv, cwd, env}.
- FAKE_EDIT: the file the fake writes in its working directory on success
  (default `<cli>_<task>.txt`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

_ENV_PREFIXES = ("LAUNCHER_", "CLAUDE_", "IS_SANDBOX", "NO_BROWSER", "GIT_", "ANTHROPIC_", "OPENAI_", "GEMINI_",
                 "GITHUB_", "OPENROUTER_", "GROQ_", "AWS_", "UNRELATED_")


def record(cli: str) -> None:
    log = os.environ.get("FAKE_ARGV_LOG")
    if not log:
        return
    env = {k: v for k, v in sorted(os.environ.items()) if k.startswith(_ENV_PREFIXES)}
    line = json.dumps({"cli": cli, "argv": sys.argv[1:], "cwd": os.getcwd(), "env": env})
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def mode() -> str:
    modes = [m.strip() for m in os.environ.get("FAKE_MODE", "success").split(",") if m.strip()]
    modes = modes or ["success"]
    attempt = int(os.environ.get("LAUNCHER_ATTEMPT", "1") or "1")
    return modes[min(attempt, len(modes)) - 1]


def task_id() -> str:
    return os.environ.get("LAUNCHER_TASK_ID", "task")


def edit(cli: str, cwd: Path | None = None) -> str:
    """Change a file in the working directory, as a real agent would; return its path."""
    name = os.environ.get("FAKE_EDIT") or f"{cli}_{task_id()}.txt"
    path = (cwd or Path.cwd()) / name
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"edited by the fake {cli} (attempt {os.environ.get('LAUNCHER_ATTEMPT', '1')})\n")
    return name


def contract(files: list[str], summary: str) -> dict[str, Any]:
    return {
        "contract_version": "1",
        "task_id": task_id(),
        "status": "done",
        "summary": summary,
        "files_changed": files,
        "tests_added": [],
        "decisions": ["kept the change minimal"],
        "blockers": [],
        "llm_observations": "A fake agent: it edited one file and reports it.",
    }


def hang(prompt: str | None = None) -> None:
    """Block like a CLI waiting for input it will never get (stdin is /dev/null)."""
    if prompt:
        sys.stdout.write(prompt)
        sys.stdout.flush()
    while True:
        time.sleep(3600)


def uuid7ish() -> str:
    """A time-ordered id shaped like Codex's thread ids (UUIDv7)."""
    millis = int(time.time() * 1000)
    rand = uuid.uuid4().hex
    stamp = f"{millis:012x}"
    return f"{stamp[:8]}-{stamp[8:]}-7{rand[:3]}-8{rand[3:6]}-{rand[6:18]}"


# --- reviewers (graders, judges) ------------------------------------------------------------------

PACKET_HEADER = "<!-- launcher-packet "


class Unreadable(Exception):
    """The reviewer could not read its packet; the message is what the real CLI's tool says.
    `denied`: the CLI refused the path (else the prompt never said where the packet is)."""

    def __init__(self, message: str, denied: bool = False) -> None:
        super().__init__(message)
        self.denied = denied


def within(path: Path, roots: list[Path]) -> bool:
    real = Path(os.path.realpath(path))
    for root in roots:
        try:
            real.relative_to(os.path.realpath(root))
        except ValueError:
            continue
        return True
    return False


def gitignored(path: Path, root: Path) -> bool:
    """Whether a `.gitignore` between `root` and `path` (or `root/.git/info/exclude`, when `.git`
    is a directory) names it: simple patterns only, enough for what the tests write."""
    real, top = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    try:
        parts = real.relative_to(top).parts
    except ValueError:
        return False
    sources = [(top / ".git" / "info" / "exclude", top)] if (top / ".git").is_dir() else []
    folder = top
    for part in parts[:-1]:
        sources.append((folder / ".gitignore", folder))
        folder = folder / part
    sources.append((folder / ".gitignore", folder))
    for source, base in sources:
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        rel = real.relative_to(base).parts
        for line in lines:
            pattern = line.strip().strip("/")
            if pattern and not pattern.startswith("#") and any(fnmatch.fnmatch(p, pattern) for p in rel):
                return True
    return False


def review_packet(prompt: str, refusal: Any) -> tuple[str, str]:
    """The packet a reviewer was told about, read the way its CLI lets it: (name, text).

    Like a model, it knows the packet only from its prompt: quoted there in full (the launcher's
    `<launcher-packet path=... id=...>` block), else named there ($LAUNCHER_PACKET) and read
    from disk. `refusal(path)` is the CLI's rule: None when it may read the path, else the
    tool's error.
    """
    quoted = re.search(r'<launcher-packet path="([^"]*)" id="([0-9a-f]+)">\n', prompt)
    if quoted:
        end = prompt.find(f'\n</launcher-packet id="{quoted.group(2)}">', quoted.end())
        if end < 0:
            raise Unreadable("the quoted packet has no end")
        return Path(quoted.group(1)).name, prompt[quoted.end():end]
    raw = os.environ.get("LAUNCHER_PACKET", "")
    if not raw:
        raise Unreadable("there is no packet ($LAUNCHER_PACKET is empty)")
    if raw not in prompt:
        raise Unreadable(f"the prompt does not say where the packet is (not {raw})")
    path = Path(raw)
    refused = refusal(path)
    if refused:
        raise Unreadable(refused, denied=True)
    try:
        return path.name, path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Unreadable(f"{raw}: {exc.strerror}") from None


def review_answer(name: str, text: str) -> dict[str, Any]:
    """What a reviewer that read the packet answers: a judge calls every survivor of its batch
    genuine, a grader passes every criterion of the packet; each justification names the packet."""
    seen = f"read {name}"
    if text.startswith(PACKET_HEADER):
        header = json.loads(text[len(PACKET_HEADER):].split(" -->", 1)[0])
        return {
            "verdict": "satisfied", "required_fixes": [], "iteration": header["iteration"],
            "rubric_version": header["rubric_version"],
            "criterion_results": [{"criterion": c, "pass": True, "justification": seen} for c in header["criteria"]],
        }
    packet = json.loads(text)
    return {
        "contract_version": "1", "calibration": {"precision": None, "recall": None},
        "verdicts": [{"id": s["id"], "classification": "genuine", "confidence": 0.9, "justification": seen}
                     for s in packet["survivors"]],
    }
