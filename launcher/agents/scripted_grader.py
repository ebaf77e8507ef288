"""The built-in scripted grader: deterministic, no model, for the demo and the tests.

Run as `python -m launcher.agents.scripted_grader PACKET_PATH`. It reads the grading packet,
answers every criterion of its rubric section, and prints a verdict (DESIGN 7.3) on stdout (and
to $LAUNCHER_VERDICT when that is set). Its one rule: code changed under a source directory
with no test file touched fails C2; otherwise the work is satisfied.

LAUNCHER_GRADER_MODE changes the behaviour (for tests): `rule` (default), `always_satisfied`,
`always_revise`, `prose` (the rule's verdict inside prose), `invalid` (a verdict with a bad
enum), `garbage` (prose with no JSON), `crash` (exit 3), `hang` (sleeps). A comma-separated
list picks one mode per call: by the call count kept in $LAUNCHER_GRADER_STATE (a file) when
set, else by $LAUNCHER_ATTEMPT; the last mode repeats.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Any

from launcher.models.verdict import PACKET_HEADER, packet_marker

CODE_SUFFIXES = {
    ".py", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".go", ".rs", ".java", ".kt", ".rb", ".php",
    ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala", ".vue", ".svelte",
}
TEST_DIRS = {"test", "tests", "__tests__", "spec", "specs", "testing"}
_TEST_NAME = re.compile(r"(^test_.*|.*_test\.[^.]+$|.*\.(test|spec)\.[^.]+$|.*Tests?\.(java|kt|cs|swift)$)")
_CRITERION = re.compile(r"^###\s+([A-Za-z][A-Za-z0-9_-]{0,31})\.\s+(.*)$", re.MULTILINE)
_DIFF_FILE = re.compile(r"^diff --git a/.*? b/(.*)$", re.MULTILINE)
MODES = ("rule", "always_satisfied", "always_revise", "prose", "invalid", "garbage", "crash", "hang")


def is_test_file(path: str) -> bool:
    pure = PurePosixPath(path)
    return bool(TEST_DIRS & {p.lower() for p in pure.parts[:-1]}) or bool(_TEST_NAME.match(pure.name))


def is_code_file(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in CODE_SUFFIXES and not is_test_file(path)


def read_header(packet: str) -> dict[str, Any]:
    first = packet.split("\n", 1)[0]
    if not first.startswith(PACKET_HEADER) or not first.endswith("-->"):
        return {}
    try:
        value = json.loads(first[len(PACKET_HEADER) : -3])
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def section(packet: str, name: str, nonce: str | None) -> str:
    """The text between a section's markers (the whole packet if it has none)."""
    if not nonce:
        return packet
    begin, end = packet_marker(name, nonce, "begin"), packet_marker(name, nonce, "end")
    start = packet.find(begin)
    stop = packet.find(end, start + 1) if start >= 0 else -1
    return packet[start + len(begin) : stop] if start >= 0 and stop >= 0 else packet


def rubric_criteria(packet: str) -> list[tuple[str, bool]]:
    """(criterion id, decided by a launcher check) for each `### <ID>.` heading of the rubrics."""
    text = section(packet, "rubrics", read_header(packet).get("nonce"))
    found: list[tuple[str, bool]] = []
    matches = list(_CRITERION.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        checked = "Deterministic: decided by the launcher's check" in text[match.end() : end]
        if match.group(1) not in [cid for cid, _ in found]:
            found.append((match.group(1), checked))
    return found


def facts_of(packet: str) -> dict[str, Any]:
    text = section(packet, "facts", read_header(packet).get("nonce"))
    fence = re.search(r"^(`{3,})json\n(.*?)\n\1$", text, re.MULTILINE | re.DOTALL)
    if not fence:
        return {}
    try:
        value = json.loads(fence.group(2))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def changed_files(packet: str) -> list[str]:
    facts = facts_of(packet)
    files = facts.get("files_changed")
    cut = facts.get("lists_cut")
    if isinstance(cut, dict) and "files_changed" in cut:  # the packet shows the first ones: ask git
        whole = subprocess.run(["git", "diff", "--name-only", "-z", str(facts.get("start_sha")),
                                str(facts.get("head_sha"))], capture_output=True, check=False)
        if whole.returncode == 0:
            return [os.fsdecode(name) for name in whole.stdout.split(b"\0") if name]
    if isinstance(files, list):
        return [str(f) for f in files]
    return sorted(set(_DIFF_FILE.findall(packet)))


def grade(packet: str, iteration: int, force: str | None = None) -> dict[str, Any]:
    """The verdict for a packet. `force` is None (the rule), "pass" or "fail"."""
    criteria = rubric_criteria(packet)
    header = read_header(packet)
    files = changed_files(packet)
    code = [f for f in files if is_code_file(f)]
    tests = [f for f in files if is_test_file(f)]
    ids = [cid for cid, _ in criteria]
    target = "C2" if "C2" in ids else next((cid for cid, checked in criteria if not checked), None)
    failing: str | None = None
    if force == "fail":
        failing = target
    elif force is None and code and not tests and "C2" in ids:
        failing = "C2"
    results = []
    for cid, checked in criteria:
        if cid == failing:
            why = f"{', '.join(code) or 'the change'} changed but no test file was added or updated"
            results.append({"criterion": cid, "pass": False, "justification": why})
        elif checked:
            results.append({"criterion": cid, "pass": True, "justification": "decided by the launcher's check"})
        else:
            results.append({"criterion": cid, "pass": True, "justification": "scripted grader: no finding"})
    fixes = []
    if failing:
        where = code[0] if code else (files[0] if files else "tests/")
        fixes.append(f"{where} — add or update a test that exercises this change ({failing})")
    return {
        "verdict": "needs_revision" if failing else "satisfied",
        "criterion_results": results,
        "required_fixes": fixes,
        "iteration": iteration,
        "rubric_version": str(header.get("rubric_version") or "scripted"),
    }


def _mode() -> str:
    modes = [m.strip() for m in os.environ.get("LAUNCHER_GRADER_MODE", "rule").split(",") if m.strip()] or ["rule"]
    call = int(os.environ.get("LAUNCHER_ATTEMPT", "1") or 1)
    state = os.environ.get("LAUNCHER_GRADER_STATE")
    if state:
        path = Path(state)
        previous = int(path.read_text().strip() or 0) if path.is_file() else 0
        call = previous + 1
        path.write_text(str(call))
    return modes[min(max(call, 1), len(modes)) - 1]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m launcher.agents.scripted_grader PACKET_PATH", file=sys.stderr)
        return 2
    mode = _mode()
    if mode not in MODES:
        print(f"scripted grader: unknown LAUNCHER_GRADER_MODE {mode!r}; use one of {', '.join(MODES)}", file=sys.stderr)
        return 2
    if mode == "hang":
        time.sleep(3600)
        return 1
    if mode == "crash":
        print("scripted grader: crashing as asked (LAUNCHER_GRADER_MODE=crash)", file=sys.stderr)
        return 3
    packet = Path(argv[0]).read_text(encoding="utf-8")
    iteration = int(os.environ.get("LAUNCHER_ITERATION") or read_header(packet).get("iteration") or 1)
    force = {"always_satisfied": "pass", "always_revise": "fail"}.get(mode)
    verdict = grade(packet, iteration, force)
    if mode == "invalid":
        verdict["verdict"] = "approved"
    text = json.dumps(verdict, indent=2, ensure_ascii=False)
    if mode == "prose":
        text = f"I read the packet and checked each criterion.\n\n```json\n{text}\n```\n\nThat is my verdict."
    elif mode == "garbage":
        text = "Looks good to me overall; nothing else to add."
    print(text)
    target = os.environ.get("LAUNCHER_VERDICT")
    if target and mode not in ("prose", "garbage"):
        Path(target).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
