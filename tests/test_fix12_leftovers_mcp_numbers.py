"""`launcher mcp` rewrites a request line that holds text Unicode cannot carry (a lone surrogate
escape, bytes that are not UTF-8) so that the SDK reads it and the tool answers with an envelope
naming the argument. The rewrite changes those strings only: every number stays as the client
wrote it. It used to parse and re-dump the whole line, so `1e400` became `Infinity` (not JSON:
a strict reader refuses the line) and `0.1000000000000000055511151231257827` became `0.1`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git

from launcher.app.workflow.tool_args import INVALID_TEXT_MARK
from launcher.cli.mcp_stdin import clean_line


def _strict(text: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_rewritten_line_keeps_every_number_as_written_and_stays_json() -> None:
    sent = (b'{"limit": 1e400, "tiny": -1E-400, "exact": 0.1000000000000000055511151231257827, '
            b'"big": 123456789012345678901234567890, "list": [1.0, -0, true, null, {}], '
            b'"context": "caf\\udce9"}\n')  # fmt: skip
    cleaned = clean_line(sent)
    parsed = _strict(cleaned)  # valid JSON: no Infinity, no NaN
    assert parsed["context"] == "caf" + INVALID_TEXT_MARK
    for written in (b"1e400", b"-1E-400", b"0.1000000000000000055511151231257827",
                    b"123456789012345678901234567890", b"[1.0, -0, true, null, {}]"):  # fmt: skip
        assert written in cleaned
    assert b"Infinity" not in cleaned


def test_a_line_with_bytes_that_are_not_utf8_keeps_its_numbers_too() -> None:
    cleaned = clean_line(b'{"a": 1e400, "b": "caf\xe9", "a": 2}\n')
    assert cleaned == ('{"a": 1e400, "b": "caf' + INVALID_TEXT_MARK + '", "a": 2}\n').encode()


def test_a_clean_line_is_passed_through_untouched() -> None:
    sent = b'{"limit": 1e400, "context": "caf\\u00e9"}\n'
    assert clean_line(sent) is sent


def test_the_server_answers_a_request_holding_a_huge_number_and_a_lone_surrogate(tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "init")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "mcp"], cwd=tmp_path, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26",'
                         b'"capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}\n')
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        proc.stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"orchestrator",'
                         b'"arguments":{"action":"recommend","limit":1e400,"context":"caf\\udce9"}}}\n')
        proc.stdin.flush()
        reply = _strict(proc.stdout.readline())
        assert reply["id"] == 2, reply
        envelope = json.loads(reply["result"]["content"][0]["text"])
        assert envelope["ok"] is False, envelope
    finally:
        proc.kill()
        proc.wait()
