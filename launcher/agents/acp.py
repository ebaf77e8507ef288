"""The `acp` adapter: drive any Agent Client Protocol agent over stdio.

The agent is a subprocess (its argv is the agent config's `command`, e.g.
`["gemini", "--acp"]`) speaking JSON-RPC 2.0 as newline-delimited JSON on its stdin
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
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import anyio
from anyio.abc import Process

from launcher import __version__, process
from launcher.agents.acp_client import AcpClient
from launcher.agents.acp_rpc import AUTH_REQUIRED, KEEP_BYTES, AgentGone, Connection, RpcError, _obj
from launcher.agents.base import AgentOutcome, AgentRequest, Invocation
from launcher.agents.cli_common import (
    answer_instructions,
    cli_env,
    remember_session,
    resume_session,
    round_prompt,
)
from launcher.agents.packet_access import packet_for_workspace
from launcher.capped_log import Tail
from launcher.errors import ConfigError
from launcher.process import CappedLog, Supervised, group_alive, terminate_group
from launcher.spawn_failure import spawn_failed

PROTOCOL_VERSION = 1
INSTALL_HINT = (
    'set command = [...] in [agents.<name>] with adapter = "acp" to an ACP agent, '
    'e.g. ["gemini", "--acp"] (gemini before --acp: "--experimental-acp")'
)
INLINE_LIMIT = 1024 * 1024  # bytes of a reviewer's packet quoted in the prompt

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
                fix='set command = ["gemini", "--acp"] (any agent that speaks ACP on stdio)',
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
        """Run one round over ACP; raises SpawnFailed like supervise() when it cannot start."""
        # A reviewer's packet is quoted in the prompt (it travels over the pipe, not in argv),
        # or copied inside the worktree: agents check their own workspace (gemini's read tool
        # refuses other paths) before they ever ask the client.
        request = packet_for_workspace(request, INLINE_LIMIT)
        invocation = self.invocation(request)
        start = time.monotonic()
        log = CappedLog(request.artifacts / "agent.log", limits.log_cap)
        try:
            proc = await process.open_tracked(list(invocation.argv), cwd=request.worktree, env=invocation.env,
                                              stdin=subprocess.PIPE)  # killed with the launcher, whatever happens
        except (OSError, ValueError) as exc:  # exec refused it (ENOENT, EACCES...) or a NUL byte
            log.close()
            raise spawn_failed(exc, invocation.argv, cwd=request.worktree, env=invocation.env) from exc
        except BaseException:
            log.close()
            raise
        last_activity = start
        verdict = {"timed_out": False, "stalled": False}
        waiting: list[str] = []  # what the agent owed us when the watchdog fired
        stderr = Tail(KEEP_BYTES)
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
        if client.bad_updates:
            notes.append(f"{client.bad_updates} session/update notification(s) could not be read, ignored")
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
        if client.refused:
            titles = "; ".join(d.tool[:200] for d in refused[:5])
            return AgentOutcome(
                False, "permission_denied",
                f"{client.refused} permission request(s) refused by policy "
                f"(permission_mode = {request.config.permission_mode!r}): {titles}; set "
                f'permission_mode = "acceptEdits" or "allow" in [agents.{request.agent_name}] '
                "to let the agent act",
                **common,
            )
        return AgentOutcome(True, message=f"ACP turn ended ({turn.stop_reason})", **common)
