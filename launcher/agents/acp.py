"""The `acp` adapter: drive any Agent Client Protocol agent over stdio.

The agent is a subprocess (its argv is the agent config's `command`, e.g.
`["gemini", "--experimental-acp"]`) speaking JSON-RPC 2.0 as newline-delimited JSON on its stdin
and stdout (ACP protocol version 1). The launcher is the *client*:

1. `initialize` with `protocolVersion: 1` and the client capabilities
   `fs.readTextFile` / `fs.writeTextFile` (no terminal);
2. `session/load` of the previous round's session when the agent has `loadSession` and the
   request carries a session id (revision rounds keep their context), else `session/new` with
   `cwd` = the task's worktree and no MCP servers;
3. `session/prompt` with the task prompt as one text block; the turn ends with the response's
   `stopReason` (`end_turn` is success; `max_turn_requests` → `max_turns`; `max_tokens`,
   `refusal`, `cancelled` → `crashed`).

While the turn runs the agent sends `session/update` notifications (`agent_message_chunk`
text accumulates into the final message; `usage_update` carries the cumulative cost) and
requests that are answered here:

- `session/request_permission`: by policy. `permission_mode = "allow"`, `"acceptEdits"` or
  `"bypassPermissions"` selects an allow option (`allow_once` first; never a remembered
  `allow_always` when a one-shot one exists); anything else, the default included, selects a
  reject option (`reject_once` first) or answers `cancelled`. Rejections are reported as
  `permission_denied` with the fix.
- `fs/read_text_file` / `fs/write_text_file`: confined to the worktree (symlinks resolved,
  `.git` refused); the only paths outside it are `$LAUNCHER_CONTRACT` (read/write),
  `$LAUNCHER_FEEDBACK` and `$LAUNCHER_PACKET` (read). Other paths get a JSON-RPC error. A file
  inside the worktree that does not exist yet reads as empty content, as ACP agents expect (their
  write tools read the target first).
- anything else (`terminal/*`, unknown methods): "method not found".

Why a JSON-RPC client of our own rather than the `agent-client-protocol` package: that SDK
spawns and talks to agents through asyncio subprocesses and `asyncio.StreamReader/Writer`;
it has no notion of our process groups, wall-clock and inactivity watchdogs, capped agent
log or the group kill on Ctrl-C, and fitting it onto anyio's process streams would mean
re-implementing its transport anyway. The client side needs seven message shapes; the SDK is a
fast-moving 0.x dependency with its full generated schema. This module keeps the wire format
small, lenient on input and strict on output.

Process handling reuses `launcher.process`: a new session (`start_new_session=True`) so the whole
group can be signalled, the group registered with the launcher's kill-on-exit set, the capped
`agent.log`, `terminate_group` (SIGTERM, grace, SIGKILL) on timeout, stall, end of turn or
cancellation. stdin is a pipe here by necessity: it is the protocol's request channel.

The engine cannot run this adapter through `invocation()` + `process.supervise()` (stdin is
/dev/null there); it calls `drive()` instead (see `DrivenAdapter`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio
from anyio.abc import Process

from launcher import __version__, process
from launcher.agents.base import AgentOutcome, AgentRequest, Invocation
from launcher.agents.cli_common import (
    answer_instructions,
    cli_env,
    remember_session,
    resume_session,
    round_prompt,
)
from launcher.agents.packet_access import packet_for_workspace
from launcher.errors import ConfigError
from launcher.models.decoding import json_loads
from launcher.process import CappedLog, Supervised, group_alive, terminate_group

PROTOCOL_VERSION = 1
INSTALL_HINT = (
    'set command = [...] in [agents.<name>] with adapter = "acp" to an ACP agent, '
    'e.g. ["gemini", "--experimental-acp"]'
)
ALLOW_MODES = frozenset({"allow", "acceptEdits", "bypassPermissions"})
MAX_LINE = 64 * 1024 * 1024
KEEP_BYTES = 2 * 1024 * 1024
READ_CAP = 16 * 1024 * 1024  # bytes served by one fs/read_text_file
INLINE_LIMIT = 1024 * 1024  # bytes of a reviewer's packet quoted in the prompt

# JSON-RPC / ACP error codes.
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
AUTH_REQUIRED = -32000
RESOURCE_NOT_FOUND = -32002

_AUTH_TEXT = re.compile(
    r"(auth|api[ _-]?key|unauthori[sz]ed|\b401\b|\b403\b|\b429\b|rate.?limit|quota|credit|billing|login)",
    re.IGNORECASE,
)
_STOP_REASONS = {
    "max_turn_requests": ("max_turns", "the agent hit its limit of model requests in one turn"),
    "max_tokens": ("crashed", "the agent hit its maximum token limit"),
    "refusal": ("crashed", "the agent refused to continue"),
    "cancelled": ("crashed", "the turn was cancelled"),
}


def _obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (input is read leniently)."""
    return value if isinstance(value, dict) else {}


class DriveLimits(Protocol):
    """What `drive` needs from the engine's limits (the engine's `Limits` has these fields)."""

    timeout_s: float
    inactivity_s: float | None
    grace_s: float
    log_cap: int


@runtime_checkable
class DrivenAdapter(Protocol):
    """An adapter that must talk to its process while it runs; the engine calls `drive`."""

    name: str

    async def drive(
        self, request: AgentRequest, limits: DriveLimits, *,
        on_spawn: Callable[[int], None] | None = None,
    ) -> tuple[AgentOutcome, Supervised]: ...


class RpcError(Exception):
    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method, self.code, self.rpc_message, self.data = method, code, message, data


class AgentGone(Exception):
    """The agent closed its stdout (exited) while a request was pending."""


class _Tail:
    def __init__(self, limit: int) -> None:
        self.limit, self.data, self.total = limit, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]


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
        self.stdout = _Tail(KEEP_BYTES)
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
            message = json_loads(text)
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


@dataclass
class Decision:
    tool: str
    kind: str | None
    decision: str  # allowed | rejected | cancelled
    option_id: str | None


class AcpClient:
    """The client side of one ACP session: permission policy, confined fs, message collection."""

    def __init__(self, request: AgentRequest, conn: Connection) -> None:
        self.request = request
        self.conn = conn
        self.allow = (request.config.permission_mode or "") in ALLOW_MODES
        self.root = Path(os.path.realpath(request.worktree))
        self.contract = Path(os.path.realpath(request.contract_path))
        self.feedback = (
            Path(os.path.realpath(request.feedback_path)) if request.feedback_path else None
        )
        self.packet = Path(os.path.realpath(request.packet_path)) if request.packet_path else None
        self.session_id: str | None = None
        self.collecting = False
        self.chunks: list[str] = []
        self.thoughts = 0
        self.tool_calls: dict[str, dict[str, Any]] = {}
        self.permissions: list[Decision] = []
        self.fs_refusals: list[str] = []
        self.files_written: list[str] = []
        self.cost_usd: float | None = None
        self.context_used: int | None = None

    @property
    def final_text(self) -> str:
        return "".join(self.chunks)

    async def handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = _obj(message.get("params"))
        is_request = "id" in message
        if method == "session/update":
            self._update(params)
            return
        if not is_request:
            return  # an unknown notification: nothing to answer
        request_id = message["id"]
        try:
            if method == "session/request_permission":
                await self.conn.respond(request_id, self._permission(params))
            elif method == "fs/read_text_file":
                await self.conn.respond(request_id, self._read(params))
            elif method == "fs/write_text_file":
                self._write(params)
                await self.conn.respond(request_id, None)
            else:
                await self.conn.respond(
                    request_id, error={"code": METHOD_NOT_FOUND, "message": f"method not found: {method}"}
                )
        except _Refused as refused:
            await self.conn.respond(request_id, error={"code": refused.code, "message": refused.message})
        except (AgentGone, anyio.get_cancelled_exc_class()):
            raise
        except Exception as exc:  # a malformed request must not bring the session down
            error = {"code": INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}"}
            await self.conn.respond(request_id, error=error)

    # session/update ---------------------------------------------------------------------------

    def _update(self, params: dict[str, Any]) -> None:
        update = _obj(params.get("update"))
        kind = update.get("sessionUpdate")
        if kind == "agent_message_chunk":
            content = _obj(update.get("content"))
            if self.collecting and content.get("type") == "text" and isinstance(content.get("text"), str):
                self.chunks.append(content["text"])
        elif kind == "agent_thought_chunk":
            self.thoughts += 1
        elif kind in ("tool_call", "tool_call_update"):
            call_id = str(update.get("toolCallId") or "")
            entry = self.tool_calls.setdefault(call_id, {"id": call_id})
            for key in ("title", "kind", "status"):
                if update.get(key) is not None:
                    entry[key] = update[key]
        elif kind == "usage_update":
            cost = update.get("cost")
            if (
                isinstance(cost, dict) and isinstance(cost.get("amount"), (int, float))
                and str(cost.get("currency") or "USD").upper() == "USD"
            ):
                self.cost_usd = float(cost["amount"])
            if isinstance(update.get("used"), int):
                self.context_used = update["used"]

    # session/request_permission ---------------------------------------------------------------

    def _permission(self, params: dict[str, Any]) -> dict[str, Any]:
        options = [o for o in params.get("options") or [] if isinstance(o, dict) and o.get("optionId")]
        call = _obj(params.get("toolCall"))
        known = self.tool_calls.get(str(call.get("toolCallId") or ""), {})
        title = str(call.get("title") or known.get("title") or call.get("toolCallId") or "tool call")
        kind = call.get("kind") or known.get("kind")
        wanted = ("allow_once", "allow_always") if self.allow else ("reject_once", "reject_always")
        for option_kind in wanted:
            for option in options:
                if option.get("kind") == option_kind:
                    decision = "allowed" if self.allow else "rejected"
                    self.permissions.append(Decision(title, kind, decision, option["optionId"]))
                    return {"outcome": {"outcome": "selected", "optionId": option["optionId"]}}
        if self.allow:
            # Allowed by policy but the agent offered no allow option: nothing to select.
            self.permissions.append(Decision(title, kind, "rejected", None))
        else:
            self.permissions.append(Decision(title, kind, "cancelled", None))
        return {"outcome": {"outcome": "cancelled"}}

    # fs/* -------------------------------------------------------------------------------------

    def _resolve(self, params: dict[str, Any], *, write: bool) -> Path:
        raw = params.get("path")
        if not isinstance(raw, str) or not raw:
            raise _Refused(INVALID_PARAMS, "path is required")
        if not os.path.isabs(raw):
            raise _Refused(INVALID_PARAMS, f"path must be absolute: {raw}")
        real = Path(os.path.realpath(raw))
        if real == self.contract or (not write and real in (self.feedback, self.packet)):
            return real
        try:
            rel = real.relative_to(self.root)
        except ValueError:
            self.fs_refusals.append(raw)
            raise _Refused(INVALID_PARAMS, f"path is outside the task's worktree ({self.root}): {raw}") from None
        if rel.parts[:1] == (".git",):
            self.fs_refusals.append(raw)
            raise _Refused(INVALID_PARAMS, f"the worktree's .git is off limits: {raw}")
        return real

    def _in_worktree(self, path: Path) -> bool:
        try:
            path.relative_to(self.root)
        except ValueError:
            return False
        return True

    def _read(self, params: dict[str, Any]) -> dict[str, Any]:
        path = self._resolve(params, write=False)
        try:
            with path.open("rb") as fh:
                data = fh.read(READ_CAP)
        except FileNotFoundError:
            if path != self.contract and self._in_worktree(path):
                # What ACP agents expect of a file not written yet: gemini's write tool reads its
                # target first and takes an error for a failure ("Error checking existing file").
                return {"content": ""}
            raise _Refused(RESOURCE_NOT_FOUND, f"no such file: {path}") from None
        except IsADirectoryError:
            raise _Refused(INVALID_PARAMS, f"not a file: {path}") from None
        except OSError as exc:
            raise _Refused(INVALID_PARAMS, f"cannot read {path}: {exc.strerror}") from None
        text = data.decode("utf-8", "replace")
        line, limit = params.get("line"), params.get("limit")
        if isinstance(line, int) or isinstance(limit, int):
            lines = text.splitlines(keepends=True)
            start = max(line - 1, 0) if isinstance(line, int) else 0
            end = start + max(limit, 0) if isinstance(limit, int) else len(lines)
            text = "".join(lines[start:end])
        return {"content": text}

    def _write(self, params: dict[str, Any]) -> None:
        path = self._resolve(params, write=True)
        content = params.get("content")
        if not isinstance(content, str):
            raise _Refused(INVALID_PARAMS, "content must be a string")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        except OSError as exc:
            raise _Refused(INVALID_PARAMS, f"cannot write {path}: {exc.strerror}") from None
        if path != self.contract:
            rel = str(path.relative_to(self.root))
            if rel not in self.files_written:
                self.files_written.append(rel)


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Turn:
    stop_reason: str | None = None
    usage: dict[str, Any] | None = None
    session_id: str | None = None
    failure: Exception | None = None
    notes: list[str] = field(default_factory=list)


def _tokens(usage: dict[str, Any] | None) -> dict[str, int] | None:
    if not isinstance(usage, dict):
        return None
    names = {
        "inputTokens": "input", "outputTokens": "output", "thoughtTokens": "reasoning",
        "cachedReadTokens": "cache_read", "cachedWriteTokens": "cache_write", "totalTokens": "total",
    }
    tokens = {ours: int(usage[theirs]) for theirs, ours in names.items() if isinstance(usage.get(theirs), int)}
    return tokens or None


def _tail_lines(text: str, n: int = 15) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-n:])


class AcpAdapter:
    name = "acp"
    binary: str | None = None  # whatever the agent config's command names
    install_hint = INSTALL_HINT

    def invocation(self, request: AgentRequest) -> Invocation:
        command = request.config.command
        if not command:
            raise ConfigError(
                f"agent {request.agent_name!r} uses the acp adapter but has no command",
                where=f"agents.{request.agent_name}.command",
                fix='set command = ["gemini", "--experimental-acp"] (any agent that speaks ACP on stdio)',
            )
        return Invocation([*command, *request.config.extra_args], cli_env(request))

    def outcome(self, request: AgentRequest, result: Supervised) -> AgentOutcome:
        """Only reached if an engine ran this adapter as a plain process: it cannot work that way."""
        return AgentOutcome(
            False, "crashed",
            "the acp adapter talks to its agent over stdin, so it must be run with drive(); "
            "this engine started it as a plain process with stdin closed",
        )

    async def drive(
        self, request: AgentRequest, limits: DriveLimits, *,
        on_spawn: Callable[[int], None] | None = None,
    ) -> tuple[AgentOutcome, Supervised]:
        """Run one round over ACP; raises FileNotFoundError/PermissionError like supervise()."""
        # A reviewer's packet is quoted in the prompt (it travels over the pipe, not in argv),
        # or copied inside the worktree: agents check their own workspace (gemini's read tool
        # refuses other paths) before they ever ask the client.
        request = packet_for_workspace(request, INLINE_LIMIT)
        invocation = self.invocation(request)
        start = time.monotonic()
        log = CappedLog(request.artifacts / "agent.log", limits.log_cap)
        try:
            proc = await anyio.open_process(
                invocation.argv,
                cwd=request.worktree,
                env=invocation.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except BaseException:
            log.close()
            raise
        process._LIVE_GROUPS.add(proc.pid)  # killed with the launcher, whatever happens
        last_activity = start
        verdict = {"timed_out": False, "stalled": False}
        waiting: list[str] = []  # what the agent owed us when the watchdog fired
        stderr = _Tail(KEEP_BYTES)
        turn = _Turn()

        def touched() -> None:
            nonlocal last_activity
            last_activity = time.monotonic()

        conn = Connection(proc, log, touched)
        client = AcpClient(request, conn)

        async def read_stderr() -> None:
            if proc.stderr is None:
                return
            closed = (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError)
            try:
                async for chunk in proc.stderr:
                    touched()
                    log.write(chunk)
                    stderr.add(chunk)
            except closed:
                pass

        async def watchdog(scope: anyio.CancelScope) -> None:
            while True:
                await anyio.sleep(0.1)
                now = time.monotonic()
                if now - start > limits.timeout_s:
                    verdict["timed_out"] = True
                    break
                if limits.inactivity_s is not None and now - last_activity > limits.inactivity_s:
                    verdict["stalled"] = True
                    break
            if conn.waiting_for:
                waiting.append(conn.waiting_for)
            scope.cancel()

        async def converse(scope: anyio.CancelScope) -> None:
            try:
                await self._converse(conn, client, request, turn)
            except (RpcError, AgentGone) as exc:
                turn.failure = exc
            finally:
                scope.cancel()

        try:
            if on_spawn is not None:
                on_spawn(proc.pid)
            async with anyio.create_task_group() as tg:
                tg.start_soon(watchdog, tg.cancel_scope)
                tg.start_soon(read_stderr)
                tg.start_soon(conn.read_loop, client.handle)
                tg.start_soon(converse, tg.cancel_scope)
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    ending = turn.stop_reason is not None or conn.agent_closed
                    killed = verdict["timed_out"] or verdict["stalled"]
                    await self._finish(proc, ending, limits.grace_s if killed else min(limits.grace_s, 2.0))
                finally:
                    process._LIVE_GROUPS.discard(proc.pid)
                    log.close()
                    await proc.aclose()

        completed_turn = turn.stop_reason is not None
        returncode = proc.returncode
        notes = list(turn.notes)
        if completed_turn and returncode != 0:
            # The round's result is the turn's; how the process went away after it does not count.
            notes.append(f"the agent process ended with code {returncode} after its turn was over")
            returncode = 0
        if conn.noise:
            notes.append(f"{len(conn.noise)} non-JSON line(s) on the agent's stdout, ignored")
        if client.fs_refusals:
            notes.append("refused fs access outside the worktree: " + ", ".join(client.fs_refusals[:5]))
        supervised = Supervised(
            returncode=returncode,
            duration_s=time.monotonic() - start,
            pid=proc.pid,
            timed_out=verdict["timed_out"],
            stalled=verdict["stalled"],
            stdout_tail=bytes(conn.stdout.data),
            stderr_tail=bytes(stderr.data),
            stdout_bytes=conn.stdout.total,
            stderr_bytes=stderr.total,
            log_truncated=log.truncated,
            notes=notes,
        )
        outcome = self._outcome(request, client, waiting[0] if waiting else None, turn, supervised)
        remember_session(request, self.name, outcome)
        return outcome, supervised

    async def _converse(self, conn: Connection, client: AcpClient, request: AgentRequest, turn: _Turn) -> None:
        init = await conn.request("initialize", {
            "protocolVersion": PROTOCOL_VERSION,
            "clientCapabilities": {"fs": {"readTextFile": True, "writeTextFile": True}, "terminal": False},
            "clientInfo": {"name": "launcher", "title": "launcher", "version": __version__},
        })
        init = _obj(init)
        version = init.get("protocolVersion")
        if version is not None and version != PROTOCOL_VERSION:
            raise RpcError("initialize", None, f"the agent speaks ACP protocol version {version}; "
                           f"the launcher speaks version {PROTOCOL_VERSION}")
        caps = _obj(init.get("agentCapabilities"))
        session_id: str | None = None
        previous = resume_session(request, self.name)
        if previous and caps.get("loadSession"):
            try:
                await conn.request("session/load", {
                    "sessionId": previous, "cwd": str(request.worktree), "mcpServers": [],
                })
                session_id = previous
            except RpcError as exc:
                turn.notes.append(f"could not resume session {previous}: {exc.rpc_message}")
        resumed = session_id is not None
        if session_id is None:
            created = await conn.request("session/new", {"cwd": str(request.worktree), "mcpServers": []})
            if not isinstance(created, dict) or not isinstance(created.get("sessionId"), str):
                raise RpcError("session/new", None, "the agent returned no sessionId")
            session_id = created["sessionId"]
        turn.session_id = client.session_id = session_id
        client.collecting = True  # chunks replayed by session/load are history, not this turn
        final = (
            f"Write it to {request.contract_path} (the file named by $LAUNCHER_CONTRACT; that one "
            "file outside the worktree may be written), or end your final message with it."
        )
        prompt = round_prompt(request, resumed=resumed) + "\n\n" + answer_instructions(request, final=final)
        result = await conn.request("session/prompt", {
            "sessionId": session_id, "prompt": [{"type": "text", "text": prompt}],
        })
        result = _obj(result)
        turn.stop_reason = str(result.get("stopReason") or "end_turn")
        turn.usage = result.get("usage") if isinstance(result.get("usage"), dict) else None

    async def _finish(self, proc: Process, ending: bool, grace_s: float) -> None:
        """Close stdin (an ACP agent exits on EOF), give it a moment if it was ending anyway
        (its turn is over, or it closed its stdout), then end whatever is left of its group."""
        if proc.stdin is not None:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await proc.stdin.aclose()
        if ending and proc.returncode is None:
            with anyio.move_on_after(min(grace_s, 2.0)):
                await proc.wait()
        if proc.returncode is None or group_alive(proc.pid):
            await terminate_group(proc.pid, grace_s)
            await proc.wait()

    def _outcome(
        self, request: AgentRequest, client: AcpClient, waiting_for: str | None, turn: _Turn,
        result: Supervised,
    ) -> AgentOutcome:
        extra: dict[str, Any] = {
            "stop_reason": turn.stop_reason,
            "permissions": [asdict(d) for d in client.permissions],
            "tool_calls": list(client.tool_calls.values()),
            "files_written": client.files_written,
            "fs_refusals": client.fs_refusals,
        }
        common: dict[str, Any] = {
            "final_text": client.final_text,
            "tokens": _tokens(turn.usage),
            "cost_usd": client.cost_usd,
            "session_id": turn.session_id,
            "extra": extra,
        }
        stderr_tail = _tail_lines(result.stderr)
        if result.timed_out or result.stalled:
            waiting = f" while waiting for the agent's answer to {waiting_for}" if waiting_for else ""
            if result.timed_out:
                return AgentOutcome(False, "timeout", f"killed after {result.duration_s:.1f}s "
                                    f"(wall-clock timeout){waiting}", **common)
            return AgentOutcome(False, "stalled", "killed: no message from the agent within the "
                                f"inactivity timeout{waiting}", **common)
        failure = turn.failure
        if isinstance(failure, RpcError):
            text = f"ACP {failure.method} failed: {failure.rpc_message}"
            if failure.code is not None:
                text += f" (code {failure.code})"
            auth = failure.code == AUTH_REQUIRED or _AUTH_TEXT.search(failure.rpc_message or "")
            if stderr_tail:
                text += f"; stderr: {stderr_tail[-400:]}"
            return AgentOutcome(False, "api_error" if auth else "crashed", text, **common)
        if isinstance(failure, AgentGone) or turn.stop_reason is None:
            code = result.returncode
            text = f"the ACP agent exited (code {code}) before the turn ended"
            if stderr_tail:
                text += f": {stderr_tail}"
            kind = "api_error" if _AUTH_TEXT.search(stderr_tail) else "crashed"
            return AgentOutcome(False, kind, text, **common)
        if turn.stop_reason in _STOP_REASONS:
            kind, why = _STOP_REASONS[turn.stop_reason]
            return AgentOutcome(False, kind, f"{why} (stopReason {turn.stop_reason})", **common)
        refused = [d for d in client.permissions if d.decision != "allowed"]
        if refused:
            titles = "; ".join(d.tool for d in refused[:5])
            return AgentOutcome(
                False, "permission_denied",
                f"{len(refused)} permission request(s) refused by policy "
                f"(permission_mode = {request.config.permission_mode!r}): {titles}; set "
                f'permission_mode = "acceptEdits" or "allow" in [agents.{request.agent_name}] '
                "to let the agent act",
                **common,
            )
        return AgentOutcome(True, message=f"ACP turn ended ({turn.stop_reason})", **common)
