"""`launcher mcp` stops on Ctrl-C, SIGTERM and SIGHUP (a process manager, `timeout`, a client that
kills its server but keeps its end of the pipe, a closed terminal) even while its client keeps
stdin open: it exits at once (130), as it does when the client closes stdin, instead of
living on, serving nothing, until a SIGKILL. A workflow phase it started runs in a process of its
own and goes on. A real server process, spoken to over its pipes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_workflows import _scripts, wf_repo  # noqa: F401  (the fixture)

pytest.importorskip("mcp")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _started_server(cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "mcp"], cwd=cwd, env=_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _send(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": {"name": "test", "version": "1"}}})
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["id"] == 1
    _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    return proc


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()


def _call(proc: subprocess.Popen[bytes], rid: int, arguments: dict[str, Any]) -> dict[str, Any]:
    _send(proc, {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                 "params": {"name": "orchestrator", "arguments": arguments}})
    assert proc.stdout is not None
    reply = json.loads(proc.stdout.readline())
    assert reply["id"] == rid, reply
    return json.loads(reply["result"]["content"][0]["text"])  # type: ignore[no-any-return]


def _exit_after(proc: subprocess.Popen[bytes], signum: int) -> tuple[int | None, str]:
    """The server's exit code and what it said on stderr once `signum` was sent with its stdin
    still open (None: still running 30 s later; it is killed then)."""
    assert proc.stderr is not None
    proc.send_signal(signum)
    try:
        code: int | None = proc.wait(30)
    except subprocess.TimeoutExpired:
        code = None
        proc.kill()
        proc.wait()
    said = proc.stderr.read().decode(errors="replace")
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return code, said


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_signal_ends_the_server_while_its_client_keeps_stdin_open(repo: Path, signum: int) -> None:
    proc = _started_server(repo)
    assert _call(proc, 2, {"action": "list"})["ok"] is True

    code, said = _exit_after(proc, signum)

    assert code is not None, f"launcher mcp still ran 30 s after {signal.Signals(signum).name} (stdin open)"
    assert code == 130, said
    assert "launcher mcp: stopped by a signal" in said and "Traceback" not in said


def test_the_phase_a_stopped_server_started_goes_on_in_its_own_process(wf_repo: Path) -> None:  # noqa: F811
    proc = _started_server(wf_repo)
    started = _call(proc, 2, {"action": "start", "workflow": "mini", "params": {"what": "mul"},
                              "options": {"scripts": _scripts(wf_repo)}})
    assert started["ok"] is True, started
    wid = started["result"]["workflowId"]

    assert _exit_after(proc, signal.SIGTERM)[0] == 130

    state: dict[str, Any] = {}
    for _ in range(600):
        state = json.loads((wf_repo / ".launcher" / "workflows" / wid / "state.json").read_text())
        if state["status"] != "running" and state["status"] != "ready":
            break
        time.sleep(0.2)
    assert state["status"] == "waiting_checkpoint", state  # the first phase ran to its end
    assert state["phases"][0]["status"] == "succeeded"
