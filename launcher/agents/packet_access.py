"""Where a reviewer (a grader, a judge) reads its packet, whatever CLI it runs on.

The relays write a reviewer's packet into the run's state (a grading dir, a sweep's `judge/`),
outside the reviewer's working directory (its scratch worktree). Claude Code can be given the
packet's directory (`--add-dir`); the others cannot be pointed outside their working directory
reliably (Codex's sandbox, Gemini's workspace check, opencode's `run` mode auto-rejecting
`external_directory`, Aider, which only sees the files it is handed, ACP agents that check their
own workspace before asking the client). They get the packet quoted in the prompt when it is
small enough for the way the prompt travels (`inline_limit`), else a copy inside the working
directory, under `.launcher-review/`, which the repository's `info/exclude` hides from git: it is
never committed nor counted as a change, and no `.gitignore` is written (Gemini's read_file
refuses to read a file a `.gitignore` names).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

from launcher.agents.base import AgentRequest
from launcher.agents.git_exclude import exclude_from_git
from launcher.regular_files import read_regular, remove_any

IN_TREE_DIR = ".launcher-review"
INLINE_OPEN = "<launcher-packet path="


def outside_dirs(request: AgentRequest) -> list[Path]:
    """The directories outside the worktree an agent or a reviewer must reach: its answer's, its
    packet's and its feedback's (one entry when they are the same), in that order. An answer
    lies in a private directory of its attempt, the feedback in the task's artifacts."""
    wanted = [request.contract_path.parent]
    if request.packet_path is not None:
        wanted.append(request.packet_path.parent)
    if request.feedback_path is not None:
        wanted.append(request.feedback_path.parent)
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
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        remove_any(folder)  # what an earlier reviewer left there; never followed
    folder.mkdir(parents=True, exist_ok=True)
    exclude_from_git(request.worktree, f"/{IN_TREE_DIR}/")
    copy = folder / packet.name
    remove_any(copy)  # a FIFO, a link or a directory an earlier round left is never opened
    shutil.copyfile(packet, copy)
    prompt = request.task.prompt
    if str(packet) in prompt:
        prompt = prompt.replace(str(packet), str(copy))
    else:
        prompt = f"{prompt}\n\nThe packet is at {copy} ($LAUNCHER_PACKET)."
    task = request.task.model_copy(update={"prompt": prompt})
    return replace(request, packet_path=copy, task=task)


def packet_for_workspace(request: AgentRequest, inline_limit: int) -> AgentRequest:
    """For a CLI confined to its working directory: the packet quoted in the prompt when it
    holds at most `inline_limit` bytes of UTF-8, else copied inside (`packet_inside`)."""
    packet = request.packet_path
    if packet is None or _inside(packet, request.worktree):
        return request
    try:
        data = read_regular(packet, inline_limit + 1)  # never blocking, whatever is there
    except OSError:
        return request  # the relay wrote it; if it is gone, the reviewer's error says so
    if len(data) > inline_limit:
        return packet_inside(request)
    text = data.decode("utf-8", "replace")
    # The closing tag carries a hash of the content, so a packet quoting the tag cannot end it.
    tag = hashlib.sha256(data).hexdigest()[:12]
    quoted = (f"The packet ({packet}) is quoted here in full; you need not open the file.\n"
              f'{INLINE_OPEN}"{packet}" id="{tag}">\n{text}\n</launcher-packet id="{tag}">')  # fmt: skip
    task = request.task.model_copy(update={"prompt": f"{request.task.prompt}\n\n{quoted}"})
    return replace(request, task=task)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
