"""The transport of the `acp` adapter: newline-delimited JSON-RPC 2.0 over a child's stdin and
stdout (see `acp.py` for the protocol and why it is our own)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import Process

from launcher.capped_log import CappedLog, Tail
from launcher.models.decoding import json_loads

MAX_LINE = 64 * 1024 * 1024
KEEP_BYTES = 2 * 1024 * 1024

# JSON-RPC / ACP error codes.
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
AUTH_REQUIRED = -32000
RESOURCE_NOT_FOUND = -32002


def _obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (input is read leniently)."""
    return value if isinstance(value, dict) else {}


class RpcError(Exception):
    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method, self.code, self.rpc_message, self.data = method, code, message, data


class AgentGone(Exception):
    """The agent closed its stdout (exited) while a request was pending."""


@dataclass
class _Pending:
    method: str
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: dict[str, Any] | None = None
    gone: bool = False


class Connection:
    """Newline-delimited JSON-RPC 2.0 over a child's stdin/stdout."""

    def __init__(self, proc: Process, log: CappedLog, on_activity: Callable[[], None]) -> None:
        self._proc = proc
        self._log = log
        self._on_activity = on_activity
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._write_lock = anyio.Lock()
        self.stdout = Tail(KEEP_BYTES)
        self.noise: list[str] = []
        self.eof = anyio.Event()
        self.agent_closed = False  # the agent closed its stdout (not: we stopped reading)
        self.waiting_for: str | None = None

    async def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode()
        self._log.write(b"[launcher -> agent] " + data)
        if self._proc.stdin is None:
            raise AgentGone("the agent has no stdin")
        async with self._write_lock:
            try:
                await self._proc.stdin.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise AgentGone(f"cannot write to the agent: {exc}") from None

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        if self.eof.is_set():
            raise AgentGone(f"the agent exited before {method}")
        request_id = self._next_id
        self._next_id += 1
        pending = _Pending(method)
        self._pending[request_id] = pending
        self.waiting_for = method
        try:
            await self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            await pending.done.wait()
        finally:
            self._pending.pop(request_id, None)
            self.waiting_for = None
        if pending.gone:
            raise AgentGone(f"the agent exited before answering {method}")
        if pending.error is not None:
            err = pending.error
            raise RpcError(method, err.get("code"), str(err.get("message") or ""), err.get("data"))
        return pending.result

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def respond(self, request_id: Any, result: Any = None, error: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if error is not None:
            message["error"] = error
        else:
            message["result"] = result
        await self._send(message)

    async def read_loop(self, handle: Callable[[dict[str, Any]], Any]) -> None:
        """Read lines until EOF; responses resolve pending requests, the rest goes to `handle`."""
        buffer = bytearray()
        stream = self._proc.stdout
        closed = (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)
        try:
            if stream is not None:
                try:
                    async for chunk in stream:
                        self._on_activity()
                        self._log.write(chunk)
                        self.stdout.add(chunk)
                        buffer += chunk
                        while True:
                            cut = buffer.find(b"\n")
                            if cut < 0:
                                break
                            line = bytes(buffer[:cut])
                            del buffer[: cut + 1]
                            await self._dispatch(line, handle)
                        if len(buffer) > MAX_LINE:
                            self.noise.append(f"dropped a line over {MAX_LINE} bytes")
                            buffer.clear()
                except closed:
                    pass
            self.agent_closed = True
            if buffer.strip():
                await self._dispatch(bytes(buffer), handle)
        finally:
            self.eof.set()
            for pending in self._pending.values():
                pending.gone = True
                pending.done.set()

    async def _dispatch(self, line: bytes, handle: Callable[[dict[str, Any]], Any]) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            message = json_loads(text, duplicate_keys=True)  # the agent's JSON-RPC stream
        except json.JSONDecodeError:
            if len(self.noise) < 20:
                self.noise.append(text[:200])
            return
        if not isinstance(message, dict):
            return
        if "method" in message:
            # AgentGone: it went away before our answer; the read loop is about to see EOF.
            with contextlib.suppress(AgentGone):
                await handle(message)
            return
        request_id = message.get("id")
        pending = self._pending.get(request_id) if isinstance(request_id, int) else None
        if pending is None:
            return
        error = message.get("error")
        if isinstance(error, dict):
            pending.error = error
        else:
            pending.result = message.get("result")
        pending.done.set()
