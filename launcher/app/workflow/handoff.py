"""What a phase's agents are handed of the earlier phases: their artifacts (`{artifacts}` in a
prompt), which the workflow keeps in the main checkout's `.launcher/workflows/<id>/`.

An agent runs in its own worktree, and no agent CLI may read outside it (Claude Code reads only
under its working directory and its `--add-dir` folders; Codex's sandbox, Gemini's workspace
check, opencode's `run` mode, Aider and ACP agents read their workspace only:
agents/packet_access.py). So the step's run copies the artifacts into every task's worktree, as
its setup (before the repository's own setup), under `.launcher-review/workflow/` (the folder
the launcher hides from git in `info/exclude` for reviewers' packets): the copies are never
committed, never counted as the agent's change, and the prompt names them where they are. A
worktree made again (a resumed run) is set up again, so it gets them too."""

from __future__ import annotations

import shlex
from pathlib import Path

from launcher.agents.packet_access import IN_TREE_DIR
from launcher.app.workflow.session import WorkflowSession
from launcher.errors import UsageProblem
from launcher.models.workflow import PhaseStatus, WorkflowState

__all__ = ["HANDOFF_DIR", "IN_TREE_DIR", "check_present", "earlier", "in_tree", "setup_command"]
HANDOFF_DIR = f"{IN_TREE_DIR}/workflow"  # relative to the task's worktree


def earlier(state: WorkflowState) -> list[tuple[str, str]]:
    """(phase id, artifact path in the workflow's folder) of every phase that succeeded."""
    return [(p.id, a) for p in state.phases if p.status is PhaseStatus.SUCCEEDED for a in p.artifacts]


def in_tree(paths: list[str]) -> list[str]:
    """Where the artifacts (paths in the workflow's folder) are in a task's worktree."""
    return [f"{HANDOFF_DIR}/{path}" for path in paths]


def check_present(session: WorkflowSession, state: WorkflowState) -> None:
    """Refuse (changing nothing) to run a phase whose inputs are gone: an earlier phase's artifact
    removed from the workflow's folder would otherwise be named to the agent, which then works
    without it while the phase reports success."""
    folder = session.folder(state.id)
    gone = [(phase, path) for phase, path in earlier(state) if not (folder / path).is_file()]
    if not gone:
        return
    shown = "; ".join(f"{path} (of phase {phase})" for phase, path in gone)
    raise UsageProblem(
        f"workflow {state.id}: the next phase is handed the earlier phases' artifacts, and "
        f"{len(gone)} of them {'is' if len(gone) == 1 else 'are'} missing from {folder}: {shown}",
        where=str(folder), error_key="workflow_artifact_missing",
        fix=f"put {'it' if len(gone) == 1 else 'them'} back (from a backup or an earlier copy), then run the "
            f"command again; or cancel the workflow (`launcher workflow cancel {state.id}`) and start a new one")


def setup_command(folder: Path, paths: list[str], repo_setup: str | None) -> str | None:
    """The step's run setup: copy the artifacts into the worktree, then the repository's own
    setup (launcher.toml `setup`), which a run's setup would otherwise replace. None when there
    is nothing to copy (the repository's setup applies as it is)."""
    if not paths:
        return None
    copies = " &&\n".join(
        f"mkdir -p -- {shlex.quote(str(Path(copy).parent))} && cp -- {shlex.quote(str(folder / path))} "
        f"{shlex.quote(copy)}" for path, copy in zip(paths, in_tree(paths), strict=True))
    if repo_setup and repo_setup.strip():  # on lines of its own: its `# comment` swallows nothing
        return f"{copies} &&\n{{\n{repo_setup}\n}}\n"
    return f"{copies}\n"
