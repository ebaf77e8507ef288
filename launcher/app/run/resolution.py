"""A resolution round's setup (DESIGN 8, `on_conflict = "agent"`): the target's landed tip is
merged into the task's branch in its own worktree before the round, and the feedback says what
was left where.

The queue journals the intent first (`resolution/<n>.json`, "pending": the tip, the head it
merges into), then sends the task back; the merge is made here, when the round is about to run,
in the worktree the round runs in (a fresh one on the task's branch when there is none, as in
`land --from`). A launcher killed between the two redoes the merge on resume (the merge is the
same, the half-done one is dropped), so the round is never run without it. The merged record
holds the resolution merge commit and each conflicted path (`git.resolution.Conflict`), which
the landing uses to refuse a branch that leaves one as the merge committed it.

A culprit of the integration check is sent back the same way (kind "culprit"): the check failed
on the target with its change, so its round starts with the target merged in, where the failure
can be reproduced and a fix that is right on the target passes the task's own checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launcher.app.context import RunContext
from launcher.app.run import containment
from launcher.app.run.grading import feedback_path
from launcher.git import commits, patches, resolution
from launcher.models.markdown import code_path, fence, item
from launcher.regular_files import read_json_or_none
from launcher.store.files import atomic_write_json, atomic_write_text

PENDING, MERGED = "pending", "merged"
CONFLICT, CULPRIT = "conflict", "culprit"  # why the target is merged in before the round
_DIFF_CHARS = 6000


def _dir(ctx: RunContext, task_id: str) -> Path:
    return ctx.files.task_dir(task_id) / "resolution"


def _latest(ctx: RunContext, task_id: str) -> dict[str, Any] | None:
    """The task's last resolution record (None without one, or an unreadable one)."""
    folder = _dir(ctx, task_id)
    numbers = sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()) if folder.is_dir() else []
    if not numbers:
        return None
    data = read_json_or_none(folder / f"{numbers[-1]}.json")  # in the agent's reach
    return data if isinstance(data, dict) else None


def begin(ctx: RunContext, task_id: str, tip: str, files: list[str], details: str,
          kind: str = CONFLICT) -> None:
    """Journal a merge of `tip` to make before the task's next round (before it is sent back):
    a conflict's resolution merge, or (`kind` culprit, `details` its feedback) the target merged
    into a culprit's branch."""
    row = ctx.journal.task(ctx.run_id, task_id)
    atomic_write_json(_dir(ctx, task_id) / f"{row.iteration}.json", {
        "state": PENDING, "iteration": row.iteration, "tip": tip, "onto": row.head_sha or tip,
        "files": files, "details": details, "kind": kind,
    })


def pending(ctx: RunContext, task_id: str) -> bool:
    record = _latest(ctx, task_id)
    return record is not None and record.get("state") == PENDING


def left_conflicted(ctx: RunContext, task_id: str) -> tuple[str, list[str]] | None:
    """(the last resolution merge commit, the paths it left conflicted), for the landing."""
    record = _latest(ctx, task_id)
    if record is None or record.get("state") != MERGED or not isinstance(record.get("merge"), str):
        return None
    return record["merge"], [str(c.get("path")) for c in record.get("conflicts") or [] if isinstance(c, dict)]


async def prepare(ctx: RunContext, task_id: str, worktree: Path) -> None:
    """Make the pending resolution merge, if any, in `worktree` and write the round's feedback."""
    record = _latest(ctx, task_id)
    if record is None or record.get("state") != PENDING:
        return
    tip, onto = str(record["tip"]), str(record["onto"])
    row = ctx.journal.task(ctx.run_id, task_id)
    # A launcher killed during this setup left a half-done merge (or a committed one not yet
    # journaled): nothing of an agent is in the tree yet, so it is made again from the start.
    await ctx.repo.git("merge", "--abort", cwd=worktree, check=False)
    await commits.reset_to(ctx.repo, worktree, onto)
    iteration = int(record["iteration"])
    culprit = record.get("kind") == CULPRIT
    if culprit and await ctx.repo.is_ancestor(tip, onto):  # nothing of the target to bring in
        atomic_write_text(feedback_path(ctx, task_id, iteration), str(record.get("details") or ""))
        atomic_write_json(_dir(ctx, task_id) / f"{iteration}.json", {**record, "state": MERGED})
        return
    task = ctx.plan.task(task_id)
    why = "to run the integration check's failure" if culprit else "to resolve conflicts"
    head, conflicts = await resolution.merge_for_resolution(
        ctx.repo, worktree, tip, ctx.target, f"Merge {ctx.target} into {row.branch} {why}",
        {"Launcher-Run": ctx.run_id, "Launcher-Task": task_id, "Launcher-Agent": task.agent})
    text = await (_culprit_feedback if culprit else _feedback)(ctx, record, head, conflicts)
    atomic_write_text(feedback_path(ctx, task_id, iteration), text)
    atomic_write_json(_dir(ctx, task_id) / f"{iteration}.json", {
        **record, "state": MERGED, "merge": head, "conflicts": [c.to_json() for c in conflicts]})
    # From now on the task's change is measured against what it was merged with.
    ctx.journal.update_task(ctx.run_id, task_id, start_sha=tip, head_sha=head)
    await containment.record_idle(ctx, task_id, worktree)


async def _feedback(ctx: RunContext, record: dict[str, Any], head: str,
                    conflicts: list[resolution.Conflict]) -> str:
    tip, target = str(record["tip"]), ctx.target
    # A name git made up (`conf~HEAD`) is on neither side: the other side's change is at the name it stands for.
    files = (list(dict.fromkeys(c.moved_from or c.path for c in conflicts))
             or [str(f) for f in record.get("files") or []])
    lines = [
        "# Resolve a merge conflict\n",
        f"Your branch conflicts with `{target}`. The launcher merged `{target}` ({tip[:12]}) into "
        f"your branch and committed the result as {head[:12]} (its first parent `HEAD^1` is your "
        f"branch, its second `HEAD^2` is `{target}`). Each conflicted path, how it was left, and "
        "the command that puts back either side's version (run it at the top of your worktree):\n",
    ]
    for c in conflicts:
        lines.append(f"- {code_path(c.path)}: {c.kind(target)}; {c.how_left()}. {c.restore_hint(target)}.")
    if not conflicts:
        lines.append("- (the merge left no unmerged path this time)")
    lines.append(
        "\nResolve every one so both changes work together: edit a marked file and remove all "
        "the markers; for a path without markers, decide its content (one side's version, both "
        "combined, or no file), and remove a copy git moved aside (a name ending in `~...`). "
        "The branch is not landed while a marker line is left, or while a conflicted path is "
        "still exactly as this merge committed it.\n")
    details = str(record.get("details") or "").strip()
    if details:  # names files and commit subjects as they are: quoted, never read as structure
        lines.append(f"What the landing found (each side's latest commits, git's messages):\n\n{fence(details)}\n")
    change = await _target_change(ctx, tip, str(record["onto"]), files)
    lines.append(f"\nThe other side's change of those files:\n\n{fence(change, 'diff')}\n")
    return "\n".join(lines)


async def _culprit_feedback(ctx: RunContext, record: dict[str, Any], head: str,
                            conflicts: list[resolution.Conflict]) -> str:
    tip, onto, target = str(record["tip"]), str(record["onto"]), ctx.target
    landed = await ctx.repo.git("log", "--no-merges", "--format=%h %s", "-20", f"{onto}..{tip}",
                                check=False)
    # A subject is the commit's author's text (a CR in it would end the line): one line each.
    commits_landed = "\n".join(f"- {item(line)}" for line in landed.text.strip().split("\n") if line)
    lines = [
        str(record.get("details") or "").rstrip() + "\n",
        f"## Your worktree now holds `{target}`\n",
        f"Before this round the launcher merged `{target}` ({tip[:12]}) into your branch and "
        f"committed the result as {head[:12]} (`HEAD^1` is your branch, `HEAD^2` is `{target}`), "
        f"so the check's failure can be reproduced here and your own checks run on what would "
        f"land. What `{target}` has that your branch did not (newest first, at most 20):\n",
        commits_landed or "- (only merge commits)",
    ]
    if conflicts:
        lines.append("\nThe merge also conflicted; each path is committed as it was left:\n")
        lines += [f"- {code_path(c.path)}: {c.kind(target)}; {c.how_left()}." for c in conflicts]
        lines.append("\nResolve those too: the branch is not landed while a marker line is left.")
    return "\n".join(lines) + "\n"


async def _target_change(ctx: RunContext, tip: str, head: str, files: list[str]) -> str:
    fork = await ctx.repo.git("merge-base", tip, head, check=False)
    if not fork.ok or not files:
        return "(not available)"
    diff = await patches.patch(ctx.repo, fork.out.strip(), tip, binary=False, paths=files, check=False)
    text = diff.text.strip() or "(no textual change)"
    return text if len(text) <= _DIFF_CHARS else text[:_DIFF_CHARS] + "\n[... cut]"
