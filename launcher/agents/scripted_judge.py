"""The built-in scripted judge: deterministic, no model, for the demo and the tests.

Run as `python -m launcher.agents.scripted_judge PACKET_PATH`. It reads a judge packet
(`{"survivors": [...], "report": ..., "contract_version": "1"}`) and prints a judge verdict
(DESIGN 7.4). Its rules, a crude stand-in for reading the code: a changed string inside a
logging call, and `!= 0` turned into `> 0` on a `len(...)`, are `equivalent`; every other
survivor is `genuine`. A real judge is an agent CLI with `mutation/judge-prompt.md`.

LAUNCHER_JUDGE_MODE (for tests): `rule` (default), `all_genuine`, `all_equivalent`, `prose`
(the rule's verdict inside prose), `missing` (drops the first verdict), `garbage` (no JSON),
`crash` (exit 3). A comma-separated list picks one mode per call by $LAUNCHER_ATTEMPT; the last
mode repeats.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

MODES = ("rule", "all_genuine", "all_equivalent", "prose", "missing", "garbage", "crash")
_LOG_CALL = re.compile(r"\b(log|logger|logging|LOG|_log|_logger)\.(debug|info|warning|warn|error|exception)\(")
_LEN_NONZERO = re.compile(r"len\(.*\)\s*!=\s*0")


def classify(survivor: dict[str, Any]) -> tuple[str, float, str]:
    orig, fault = str(survivor.get("orig", "")), str(survivor.get("fault", ""))
    if fault == "string" and _LOG_CALL.search(orig):
        return "equivalent", 0.7, "only the text of a log message changes; no behaviour depends on it"
    if fault == "comparison" and _LEN_NONZERO.search(orig) and "> 0" in str(survivor.get("mut", "")):
        return "equivalent", 0.8, "len() is never negative, so != 0 and > 0 agree on every input"
    return "genuine", 0.6, f"{survivor.get('rationale', 'the change')}: an input at this line can tell them apart"


def verdict(packet: dict[str, Any], mode: str) -> dict[str, Any]:
    calls = []
    for survivor in packet.get("survivors", []):
        classification, confidence, why = classify(survivor)
        if mode in ("all_genuine", "all_equivalent"):
            classification = mode.removeprefix("all_")
        calls.append({"id": survivor.get("id"), "classification": classification, "confidence": confidence,
                      "justification": why})  # fmt: skip
    if mode == "missing":
        calls = calls[1:]
    return {"contract_version": "1", "verdicts": calls, "calibration": {"precision": None, "recall": None}}


def _mode() -> str:
    modes = [m.strip() for m in os.environ.get("LAUNCHER_JUDGE_MODE", "rule").split(",") if m.strip()] or ["rule"]
    attempt = int(os.environ.get("LAUNCHER_ATTEMPT", "1") or 1)
    mode = modes[min(attempt, len(modes)) - 1]
    if mode not in MODES:
        raise SystemExit(f"unknown LAUNCHER_JUDGE_MODE {mode!r}: use one of {', '.join(MODES)}")
    return mode


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m launcher.agents.scripted_judge PACKET_PATH", file=sys.stderr)
        return 2
    mode = _mode()
    if mode == "crash":
        print("scripted judge: crashing as asked", file=sys.stderr)
        return 3
    if mode == "garbage":
        print("I looked at the survivors and they all seem fine to me.")
        return 0
    packet = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    text = json.dumps(verdict(packet, mode), indent=2)
    print(f"Here is my verdict:\n{text}\nThat is all." if mode == "prose" else text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
