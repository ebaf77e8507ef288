"""The client side of an ACP session (`acp.py`): the permission policy, the file system confined
to the task's worktree, and what the agent said and did."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from launcher.agents.acp_rpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    AgentGone,
    Connection,
    _obj,
)
from launcher.agents.base import AgentRequest, finite_number
from launcher.regular_files import NotRegular, read_regular, write_regular

ALLOW_MODES = frozenset({"allow", "acceptEdits", "bypassPermissions"})
READ_CAP = 16 * 1024 * 1024  # bytes served by one fs/read_text_file
# What is kept of a long session, whatever the agent sends: the final message's last characters
# (the contract is at its end), and so many tool calls, refusals and permission decisions.
TEXT_KEPT = 4 * 1024 * 1024
KEPT = 1000


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
        self._chunk_chars = 0
        self.bad_updates = 0  # session/update notifications that could not be read
        self._fs = anyio.CapacityLimiter(1)  # file system work, in a worker thread
        self.thoughts = 0
        self.tool_calls: dict[str, dict[str, Any]] = {}
        self.permissions: list[Decision] = []  # the first KEPT decisions
        self.refused = 0  # permission requests not allowed, all of them
        self.fs_refusals: list[str] = []
        self.files_written: list[str] = []
        self.cost_usd: float | None = None
        self.context_used: int | None = None

    @property
    def final_text(self) -> str:
        return "".join(self.chunks)[-TEXT_KEPT:]

    async def handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = _obj(message.get("params"))
        is_request = "id" in message
        if method == "session/update":
            try:
                self._update(params)
            except Exception:  # a notification has no answer: one that cannot be read is counted
                self.bad_updates += 1
            return
        if not is_request:
            return  # an unknown notification: nothing to answer
        request_id = message["id"]
        try:
            if method == "session/request_permission":
                await self.conn.respond(request_id, self._permission(params))
            elif method == "fs/read_text_file":
                # Off the event loop: a slow disk (or anything unforeseen) never stops the
                # watchdog; a thread stuck anyway is abandoned when the round is cancelled.
                content = await anyio.to_thread.run_sync(
                    self._read, params, abandon_on_cancel=True, limiter=self._fs
                )
                await self.conn.respond(request_id, content)
            elif method == "fs/write_text_file":
                await anyio.to_thread.run_sync(self._write, params, abandon_on_cancel=True, limiter=self._fs)
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
                self._chunk(content["text"])
        elif kind == "agent_thought_chunk":
            self.thoughts += 1
        elif kind in ("tool_call", "tool_call_update"):
            call_id = str(update.get("toolCallId") or "")
            if call_id not in self.tool_calls and len(self.tool_calls) >= KEPT:
                return
            entry = self.tool_calls.setdefault(call_id, {"id": call_id})
            for key in ("title", "kind", "status"):
                if update.get(key) is not None:
                    entry[key] = update[key]
        elif kind == "usage_update":
            cost = _obj(update.get("cost"))
            amount = finite_number(cost.get("amount"))
            if amount is not None and str(cost.get("currency") or "USD").upper() == "USD":
                self.cost_usd = amount
            used = update.get("used")
            if isinstance(used, int) and not isinstance(used, bool):
                self.context_used = used

    def _chunk(self, text: str) -> None:
        self.chunks.append(text)
        self._chunk_chars += len(text)
        if self._chunk_chars > 2 * TEXT_KEPT:  # now and then: keep the last TEXT_KEPT characters
            kept = "".join(self.chunks)[-TEXT_KEPT:]
            self.chunks, self._chunk_chars = [kept], len(kept)

    # session/request_permission ---------------------------------------------------------------

    def _permission(self, params: dict[str, Any]) -> dict[str, Any]:
        offered = params.get("options")
        options = [o for o in offered if isinstance(o, dict) and o.get("optionId")] if isinstance(offered, list) else []
        call = _obj(params.get("toolCall"))
        known = self.tool_calls.get(str(call.get("toolCallId") or ""), {})
        title = str(call.get("title") or known.get("title") or call.get("toolCallId") or "tool call")
        kind = call.get("kind") or known.get("kind")
        wanted = ("allow_once", "allow_always") if self.allow else ("reject_once", "reject_always")
        for option_kind in wanted:
            for option in options:
                if option.get("kind") == option_kind:
                    decision = "allowed" if self.allow else "rejected"
                    self._decided(Decision(title, kind, decision, option["optionId"]))
                    return {"outcome": {"outcome": "selected", "optionId": option["optionId"]}}
        if self.allow:
            # Allowed by policy but the agent offered no allow option: nothing to select.
            self._decided(Decision(title, kind, "rejected", None))
        else:
            self._decided(Decision(title, kind, "cancelled", None))
        return {"outcome": {"outcome": "cancelled"}}

    def _decided(self, decision: Decision) -> None:
        self.refused += decision.decision != "allowed"
        if len(self.permissions) < KEPT:
            self.permissions.append(decision)

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
            self._refused(raw)
            raise _Refused(INVALID_PARAMS, f"path is outside the task's worktree ({self.root}): {raw}") from None
        if rel.parts[:1] == (".git",):
            self._refused(raw)
            raise _Refused(INVALID_PARAMS, f"the worktree's .git is off limits: {raw}")
        return real

    def _refused(self, raw: str) -> None:
        if len(self.fs_refusals) < KEPT:
            self.fs_refusals.append(raw[:1000])

    def _in_worktree(self, path: Path) -> bool:
        try:
            path.relative_to(self.root)
        except ValueError:
            return False
        return True

    def _read(self, params: dict[str, Any]) -> dict[str, Any]:
        """fs/read_text_file, in a worker thread: only a regular file is opened (a FIFO would
        block the open for ever, a device has no end), at most READ_CAP bytes of it."""
        path = self._resolve(params, write=False)
        try:
            data = read_regular(path, READ_CAP)
        except FileNotFoundError:
            if path != self.contract and self._in_worktree(path):
                # What ACP agents expect of a file not written yet: gemini's write tool reads its
                # target first and takes an error for a failure ("Error checking existing file").
                return {"content": ""}
            raise _Refused(RESOURCE_NOT_FOUND, f"no such file: {path}") from None
        except NotRegular as exc:
            raise _Refused(INVALID_PARAMS, f"not a regular file ({exc.kind}): {path}") from None
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
        """fs/write_text_file, in a worker thread: only a regular file (or a new one) is written."""
        path = self._resolve(params, write=True)
        content = params.get("content")
        if not isinstance(content, str):
            raise _Refused(INVALID_PARAMS, "content must be a string")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_regular(path, content.encode("utf-8"))
        except NotRegular as exc:
            raise _Refused(INVALID_PARAMS, f"not a regular file ({exc.kind}): {path}") from None
        except OSError as exc:
            raise _Refused(INVALID_PARAMS, f"cannot write {path}: {exc.strerror}") from None
        if path != self.contract:
            rel = str(path.relative_to(self.root))
            if rel not in self.files_written and len(self.files_written) < KEPT:
                self.files_written.append(rel)


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message
