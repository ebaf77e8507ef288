"""Long-lived launcher processes that outlive their caller (a workflow phase started from the
MCP server): started in their own session, collected once they end so none stays a zombie."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from launcher.private_files import open_private_append


def spawn_detached(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log_path: Path) -> int:
    """Start a long-lived launcher process that outlives its caller (a workflow phase started
    from the MCP server): its own session, stdin from /dev/null, output to `log_path`. Its
    progress and its pid are in the journal; the caller does not wait for it."""
    with open_private_append(log_path) as log:  # the runner's output, agents' included: private
        child = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    with _DETACHED_LOCK:
        _DETACHED.append(child)
    if _REAP_PROMPTLY:
        threading.Thread(target=_await_detached, args=(child,), name=f"reap-{child.pid}", daemon=True).start()
    return child.pid


_DETACHED: list[subprocess.Popen[bytes]] = []  # polled by `reap_detached`, so none stays a zombie
_DETACHED_LOCK = threading.Lock()
_REAP_PROMPTLY = False


def reap_detached_promptly() -> None:
    """A long-lived caller (the MCP server): from now on, each detached child gets a thread that
    waits for it alone, so a finished one is collected at once, never left a zombie until the
    next call. Only our detached children are waited for, never any other child."""
    global _REAP_PROMPTLY
    _REAP_PROMPTLY = True


def _await_detached(child: subprocess.Popen[bytes]) -> None:
    child.wait()
    reap_detached()


def reap_detached() -> None:
    with _DETACHED_LOCK:
        _DETACHED[:] = [child for child in _DETACHED if child.poll() is None]
