"""Where a reviewer (a grader, a judge) reads its packet, whatever CLI it runs on.

The relays write a reviewer's packet into the run's state (a grading dir, a sweep's `judge/`),
outside the reviewer's working directory (its scratch worktree). Claude Code can be given the
packet's directory (`--add-dir`); the others cannot be pointed outside their working directory
reliably (Codex's sandbox, Gemini's workspace check, opencode's `run` mode auto-rejecting
`external_directory`, Aider, which only sees the files it is handed, ACP agents that check their
own workspace before asking the client), so they get a copy inside it. The copy goes in a
directory that ignores itself (its `.gitignore` is `*`): it is never committed, never shown by
`git status`, never counted as a change, and it touches no file the repository tracks.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from launcher.agents.base import AgentRequest

IN_TREE_DIR = ".launcher-review"


def outside_dirs(request: AgentRequest) -> list[Path]:
    """The directories outside the worktree a reviewer must reach: its answer's and its packet's
    (one entry when they are the same), in that order."""
    wanted = [request.contract_path.parent]
    if request.packet_path is not None:
        wanted.append(request.packet_path.parent)
    found: list[Path] = []
    for folder in wanted:
        if not _inside(folder, request.worktree) and folder not in found:
            found.append(folder)
    return found


def packet_inside(request: AgentRequest) -> AgentRequest:
    """The request with its packet copied into the worktree: `packet_path`, `$LAUNCHER_PACKET`
    and the path quoted in the prompt all name the copy. Unchanged when there is no packet or it
    already is inside."""
    packet = request.packet_path
    if packet is None or _inside(packet, request.worktree):
        return request
    folder = request.worktree / IN_TREE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitignore").write_text("*\n", encoding="utf-8")
    copy = folder / packet.name
    shutil.copyfile(packet, copy)
    prompt = request.task.prompt
    if str(packet) in prompt:
        prompt = prompt.replace(str(packet), str(copy))
    else:
        prompt = f"{prompt}\n\nThe packet is at {copy} ($LAUNCHER_PACKET)."
    task = request.task.model_copy(update={"prompt": prompt})
    return replace(request, packet_path=copy, task=task)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
