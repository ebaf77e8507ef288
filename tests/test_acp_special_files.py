"""An ACP agent cannot freeze the launcher through the files it asks the client for.

`fs/read_text_file` of a FIFO in the agent's own worktree used to block the event loop in
`open()` (a FIFO opens once a writer comes; none does), so not even the round's timeout fired.
Only regular files are opened now, without blocking, in a worker thread: a FIFO, a socket, a
device or a directory gets a JSON-RPC error and the turn goes on.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.agents.acp import AcpAdapter
from launcher.agents.base import AgentOutcome, AgentRequest
from launcher.models.plan import AgentConfig, Task
from launcher.process import Supervised
from launcher.regular_files import NotRegular, read_regular, write_regular

FAKES = Path(__file__).parent / "fakes"
ACP_AGENT = [sys.executable, str(FAKES / "fake_acp_agent.py")]


@dataclass
class Limits:  # the engine's Limits, as drive() sees it
    timeout_s: float = 20.0
    inactivity_s: float | None = None
    grace_s: float = 1.0
    log_cap: int = 1024 * 1024


def make_request(tmp_path: Path, **config: Any) -> AgentRequest:
    worktree, artifacts = tmp_path / "wt", tmp_path / "artifacts"
    worktree.mkdir(exist_ok=True)
    artifacts.mkdir(exist_ok=True)
    (worktree / "README.md").write_text("# sample\n")
    return AgentRequest(
        run_id="r-20250101-000000-abcd", task=Task(id="t1", prompt="Add a note"), agent_name="acp",
        config=AgentConfig.model_validate({"adapter": "acp", **config}), worktree=worktree,
        artifacts=artifacts, base_sha="0" * 40, iteration=1, contract_path=artifacts / "contract.agent.json",
        feedback_path=None, port_base=20000,
    )


def test_fifo_and_socket_requests_are_refused_and_the_turn_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "acp.jsonl"
    request = make_request(tmp_path, command=ACP_AGENT, permission_mode="allow",
                           set_env={"FAKE_MODE": "special_files", "FAKE_ACP_LOG": str(log)})
    done: list[tuple[AgentOutcome, Supervised]] = []
    worker = threading.Thread(target=lambda: done.append(anyio.run(AcpAdapter().drive, request, Limits())),
                              daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # blocked in open(): a writer lets it go, so the test ends either way
        fd = os.open(request.worktree / "pipe", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(30)
        pytest.fail("the launcher blocked on the agent's FIFO; its timeout never fired")
    outcome, result = done[0]
    messages = [json.loads(line) for line in log.read_text().splitlines()]
    asked = {m["msg"]["id"]: m["msg"] for m in messages if m["dir"] == "out" and "id" in m["msg"]
             and "method" in m["msg"]}
    answers = [(asked[m["msg"]["id"]]["method"], m["msg"].get("error", {}).get("message", ""))
               for m in messages if m["dir"] == "in" and m["msg"].get("id") in asked]
    fifo, sock = request.worktree / "pipe", request.worktree / "sock"
    assert answers[:3] == [
        ("fs/read_text_file", f"not a regular file (a FIFO): {fifo}"),
        ("fs/write_text_file", f"not a regular file (a FIFO): {fifo}"),
        ("fs/read_text_file", f"not a regular file (a socket): {sock}"),
    ]
    assert outcome.ok, outcome.message  # the agent went on and finished its turn
    assert not result.timed_out and result.duration_s < 15
    assert (request.worktree / "acp_note.txt").read_text() == "written through the ACP client\n"


def test_regular_files_never_open_anything_else(tmp_path: Path) -> None:
    fifo, directory, link = tmp_path / "fifo", tmp_path / "dir", tmp_path / "link"
    os.mkfifo(fifo)
    directory.mkdir()
    (tmp_path / "file").write_bytes(b"0123456789")
    link.symlink_to(tmp_path / "file")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    try:
        for path, kind in ((fifo, "a FIFO"), (directory, "a directory"), (link, "a symbolic link"),
                           (tmp_path / "sock", "a socket")):
            with pytest.raises(NotRegular) as refused:
                read_regular(path, 100)
            assert refused.value.kind == kind
            with pytest.raises(NotRegular):
                write_regular(path, b"x")
        with pytest.raises(NotRegular) as device:
            read_regular("/dev/zero", 100)  # never opened: a device has no end
        assert device.value.kind == "a character device"
    finally:
        server.close()
    assert read_regular(tmp_path / "file", 4) == b"0123"
    write_regular(tmp_path / "new", b"made")
    write_regular(tmp_path / "file", b"short")
    assert (tmp_path / "new").read_bytes() == b"made" and (tmp_path / "file").read_bytes() == b"short"
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 10)
