#!/usr/bin/env python3
"""A fake Agent Client Protocol agent: JSON-RPC 2.0, one JSON object per line, on stdin/stdout.

It answers `initialize`, `session/new`, `session/load` and `session/prompt` as ACP v1 agents do
(agentclientprotocol.com), and during a prompt turn it sends what real agents send:
`session/update` notifications (`available_commands_update`, `agent_message_chunk`,
`tool_call`, `tool_call_update`, `usage_update`), a `session/request_permission` request for
its edit, then `fs/read_text_file` and `fs/write_text_file` requests to the client, and ends
the turn with `{"stopReason": ...}`. Every message it receives is appended to FAKE_ACP_LOG.

FAKE_MODE (see _fakelib): success | contract_file (the contract is written with
fs/write_text_file to $LAUNCHER_CONTRACT) | escape (also tries to write FAKE_ACP_OUTSIDE) |
auth (session/new fails with auth_required) | crash (exits 3 after initialize) | hang (never
ends the turn) | refusal | max_turns | ignore_eof (ends the turn, then ignores stdin EOF) |
noisy (a log line on stdout before speaking) | review (a reviewer: reads the packet its prompt
names and answers from it, see _fakelib) | special_files (first asks to read and to write a FIFO
it made in its worktree, then to read a Unix socket, then goes on as in success).
FAKE_EDIT: the file it writes (default acp_note.txt).
FAKE_ACP_FLAVOR: whose tools it imitates.
- claude (default; claude-agent-acp): Write sends fs/write_text_file straight away; Read sends
  fs/read_text_file for the path it is given; an error answer fails the tool call.
- gemini (`gemini --acp`): write_file first reads its target through fs/read_text_file to
  compare contents, and any error answer fails the tool with "Error checking existing file"
  (gemini recognises only an empty content as "new file"); read_file refuses a path outside the
  session's cwd itself ("File path must be within one of the workspace directories"), and one a
  `.gitignore` names ("is ignored by configured ignore patterns"), before asking the client.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _fakelib as fake

LOG = os.environ.get("FAKE_ACP_LOG")
_next_id = 1000


def log(direction: str, message: Any) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"dir": direction, "msg": message}) + "\n")


def send(message: dict[str, Any]) -> None:
    log("out", message)
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def receive() -> dict[str, Any] | None:
    while True:
        line = sys.stdin.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            continue
        message = json.loads(line)
        log("in", message)
        return message


def respond(request_id: Any, result: Any = None, error: dict[str, Any] | None = None) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        message["error"] = error
    else:
        message["result"] = result
    send(message)


def notify(session: str, update: dict[str, Any]) -> None:
    send({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": session, "update": update}})


def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A request to the client; returns its response (result or error)."""
    global _next_id
    _next_id += 1
    request_id = _next_id
    send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    while True:
        message = receive()
        if message is None:
            sys.exit(0)
        if message.get("id") == request_id and "method" not in message:
            return message


def chunk(session: str, text: str) -> None:
    notify(session, {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}})


FLAVOR = os.environ.get("FAKE_ACP_FLAVOR", "claude")


def read_tool(session: str, cwd: Path, path: Path) -> str:
    """The agent's read tool; raises fake.Unreadable with the tool's error."""
    if FLAVOR == "gemini" and not fake.within(path, [cwd]):
        raise fake.Unreadable(f"File path must be within one of the workspace directories: {cwd}", denied=True)
    if FLAVOR == "gemini" and fake.gitignored(path, cwd):
        raise fake.Unreadable(f"File path '{path}' is ignored by configured ignore patterns.", denied=True)
    answer = call("fs/read_text_file", {"sessionId": session, "path": str(path)})
    if "error" in answer:
        raise fake.Unreadable(str(answer["error"].get("message")), denied=True)
    return str((answer.get("result") or {}).get("content", ""))


def review(session: str, cwd: Path, prompt: str) -> dict[str, Any]:
    notify(session, {"sessionUpdate": "tool_call", "toolCallId": "call_r", "title": "Read the packet",
                     "kind": "read", "status": "pending"})
    def through_the_tool(path: Path) -> str | None:  # a named packet is read with the read tool
        try:
            read_tool(session, cwd, path)
        except fake.Unreadable as exc:
            return str(exc)
        return None

    try:
        name, text = fake.review_packet(prompt, through_the_tool)
    except fake.Unreadable as exc:
        notify(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call_r", "status": "failed",
                         "content": [{"type": "content", "content": {"type": "text", "text": str(exc)}}]})
        chunk(session, f"I could not read the packet: {exc}")
        return {"stopReason": "end_turn"}
    notify(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call_r", "status": "completed"})
    chunk(session, "I read the packet.\n\n" + json.dumps(fake.review_answer(name, text)))
    notify(session, {"sessionUpdate": "usage_update", "used": 21000, "size": 200000,
                     "cost": {"amount": 0.0077, "currency": "USD"}})
    return {"stopReason": "end_turn", "usage": {"inputTokens": 900, "outputTokens": 120, "totalTokens": 1020}}


def special_files(session: str, cwd: Path) -> None:
    """Ask the client for files that are not regular: a FIFO (an open() of it waits for a writer
    that never comes) and a Unix socket."""
    import socket

    fifo, sock_path = cwd / "pipe", cwd / "sock"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    call("fs/read_text_file", {"sessionId": session, "path": str(fifo)})
    call("fs/write_text_file", {"sessionId": session, "path": str(fifo), "content": "x"})
    call("fs/read_text_file", {"sessionId": session, "path": str(sock_path)})
    server.close()


def turn(session: str, cwd: Path, mode: str, prompt: str = "") -> dict[str, Any]:
    if mode == "review":
        return review(session, cwd, prompt)
    if mode == "special_files":
        special_files(session, cwd)
    notify(session, {"sessionUpdate": "available_commands_update", "availableCommands": []})
    chunk(session, "I'll write the note file. ")
    target = cwd / (os.environ.get("FAKE_EDIT") or "acp_note.txt")
    notify(session, {"sessionUpdate": "tool_call", "toolCallId": "call_1", "title": f"Write {target.name}",
                     "kind": "edit", "status": "pending", "locations": [{"path": str(target)}],
                     "rawInput": {"path": str(target)}})
    answer = call("session/request_permission", {
        "sessionId": session,
        "toolCall": {"toolCallId": "call_1", "title": f"Write {target.name}", "kind": "edit"},
        "options": [
            {"optionId": "allow-always", "name": "Always allow", "kind": "allow_always"},
            {"optionId": "allow-once", "name": "Allow", "kind": "allow_once"},
            {"optionId": "reject-once", "name": "Reject", "kind": "reject_once"},
        ],
    })
    outcome = (answer.get("result") or {}).get("outcome") or {}
    allowed = outcome.get("outcome") == "selected" and str(outcome.get("optionId", "")).startswith("allow")
    if not allowed:
        notify(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "failed"})
        chunk(session, "Permission was rejected, so I did not write the file.")
        return {"stopReason": "end_turn"}
    readme = cwd / "README.md"
    if readme.exists():
        call("fs/read_text_file", {"sessionId": session, "path": str(readme), "line": 1, "limit": 1})
    notify(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "in_progress"})
    if FLAVOR == "gemini":  # write_file reads its target first
        existing = call("fs/read_text_file", {"sessionId": session, "path": str(target)})
        if "error" in existing:
            problem = f"Error checking existing file '{target}': {existing['error'].get('message')}"
            notify(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "failed",
                             "content": [{"type": "content", "content": {"type": "text", "text": problem}}]})
            chunk(session, problem)
            return {"stopReason": "end_turn"}
    written = call("fs/write_text_file", {"sessionId": session, "path": str(target),
                                          "content": "written through the ACP client\n"})
    if "error" in written:
        notify(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "failed"})
        return {"stopReason": "end_turn"}
    if mode == "escape":
        outside = os.environ.get("FAKE_ACP_OUTSIDE", "/tmp/acp_escape.txt")
        call("fs/write_text_file", {"sessionId": session, "path": outside, "content": "escaped\n"})
        call("fs/read_text_file", {"sessionId": session, "path": "/etc/hostname"})
    notify(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "completed",
                     "content": [{"type": "diff", "path": str(target), "oldText": None,
                                  "newText": "written through the ACP client\n"}]})
    contract = json.dumps(fake.contract([target.name], f"Wrote {target.name}."))
    if mode == "contract_file":
        call("fs/write_text_file", {"sessionId": session, "path": os.environ["LAUNCHER_CONTRACT"],
                                    "content": contract})
        chunk(session, "Done; the contract is in $LAUNCHER_CONTRACT.")
    else:
        half = len(contract) // 2
        chunk(session, "Done.\n\n")
        chunk(session, contract[:half])
        chunk(session, contract[half:])
    notify(session, {"sessionUpdate": "usage_update", "used": 53000, "size": 200000,
                     "cost": {"amount": 0.0123, "currency": "USD"}})
    stop = {"refusal": "refusal", "max_turns": "max_turn_requests"}.get(mode, "end_turn")
    return {"stopReason": stop, "usage": {"inputTokens": 1200, "outputTokens": 340, "totalTokens": 1540}}


def main() -> None:
    fake.record("acp")
    mode = fake.mode()
    if mode == "noisy":
        sys.stdout.write("[fake-acp] starting up\n")
        sys.stdout.flush()
    sessions: dict[str, Path] = {}
    while True:
        message = receive()
        if message is None:
            return  # stdin closed: the client is done with us
        method, params, request_id = message.get("method"), message.get("params") or {}, message.get("id")
        if method == "initialize":
            respond(request_id, {"protocolVersion": 1, "agentCapabilities": {
                "loadSession": True, "promptCapabilities": {"image": False, "audio": False, "embeddedContext": True}},
                "authMethods": [] if mode != "auth" else [
                    {"id": "oauth-personal", "name": "Log in with Google", "description": None}]})
            if mode == "crash":
                sys.stderr.write("Error: failed to load model config: ENOENT ~/.fake-acp/settings.json\n")
                sys.exit(3)
        elif method == "session/new":
            if mode == "auth":
                respond(request_id, error={"code": -32000, "message": "Authentication required"})
                continue
            session = "sess_" + uuid.uuid4().hex[:12]
            sessions[session] = Path(params["cwd"])
            respond(request_id, {"sessionId": session})
        elif method == "session/load":
            session = params["sessionId"]
            sessions[session] = Path(params["cwd"])
            notify(session, {"sessionUpdate": "user_message_chunk", "content": {"type": "text", "text": "(old)"}})
            chunk(session, "(history replayed, not part of this turn)")
            respond(request_id, {})
        elif method == "session/prompt":
            session = params["sessionId"]
            if mode == "hang":
                chunk(session, "Thinking...")
                while True:
                    time.sleep(3600)
            text = "".join(str(b.get("text", "")) for b in params.get("prompt") or [] if isinstance(b, dict))
            result = turn(session, sessions.get(session, Path.cwd()), mode, text)
            respond(request_id, result)
            if mode == "ignore_eof":
                while True:
                    time.sleep(3600)
        elif method == "session/cancel":
            continue
        elif request_id is not None:
            respond(request_id, error={"code": -32601, "message": f"Method not found: {method}"})


if __name__ == "__main__":
    main()
