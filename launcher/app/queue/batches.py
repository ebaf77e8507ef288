"""Batches with bisection (DESIGN 8, the queue): fold a batch of approved branches onto the tip
in memory, run the integration check once on the combined tree; when it fails, split the
group in two and settle each half on the tip the halves before it reached, until each
culprit stands alone. The tip only ever moves to a tree whose check passed.

What is judged in a fold is judged again against what really landed: a candidate that
conflicted with a candidate folded before it that then did not land (a culprit) is folded
again onto the tip that did land, and candidates held back because the check failed on the tip
itself are folded again once a later fold moved the tip to a tree that passes.

A check's verdict is journaled by tree (`QueueLog`), so re-folding the same candidates onto
the same tip (the second half of a split whose first half passed is the whole failing group
again), or resuming after a crash, reads the verdict instead of running the check again.

A task is named culprit only on a failing run of the check on its tree (what was accepted
before it, plus its change) that is confirmed: run for it alone, or seen twice (its failing
group's run and a failing part's run, two distinct runs: on two different trees). A read
verdict only steers the bisection; a verdict of the tree its failing group ran on, read back
for a part that added nothing to it (two tasks making the same change), is that same one run. When every part
of a failing group passed, the one failure left is the group's own run, read back for its last
task: the check runs on that tree once more before it blames anyone, and if it passes, the
group's failure did not reproduce (a flaky check), it is said so, and the tree lands. So a
check that failed once never convicts the task that happened to be last in its batch, nor one
whose revision round brings back a tree whose earlier verdict was a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from launcher.git import merge
from launcher.git.repo import GitRepo
from launcher.store import queue_log

BROKEN_TIP = "not landed: the integration check fails on the tip it would land on,"
StepSink = Callable[..., None]  # (kind, task ids, tree=, ok=, detail=): journals one step
VerdictLookup = Callable[[str], "tuple[bool, str] | None"]  # tree -> journaled check verdict
Folded = list[tuple[merge.Candidate, merge.Landing]]  # candidates folded in order, each landed


@dataclass
class Verdict:
    ok: bool
    output: str
    ran: bool  # the check ran now on this tree (not read back from the journal)
    tree: str = ""  # the tree it is the verdict of (one journaled run per tree)


@dataclass
class QueueResult:
    tip: str
    landed: dict[str, str] = field(default_factory=dict)  # task -> its commit on the tip
    failed: dict[str, merge.Landing] = field(default_factory=dict)  # conflicted/refused/check_failed
    check_runs: int = 0  # integration checks really run (journaled verdicts are not counted)
    broken_tip: str | None = None  # the check fails on the tip itself: its output (no culprit)
    # Held back (not blamed) because the check failed on the tip they would land on: task ->
    # (the candidate, that tip). Folded again when the tip moves to a tree that passes.
    held_back: dict[str, tuple[merge.Candidate, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # for the user: a failure that did not reproduce
    culprit_tips: dict[str, str] = field(default_factory=dict)  # culprit -> the commit the check failed on


@dataclass
class Folder:
    """Everything one landing pass needs to fold, check and bisect."""

    repo: GitRepo
    strategy: merge.Strategy
    check: merge.IntegrationCheck | None
    record: StepSink
    verdict_of: VerdictLookup
    ran: set[str] = field(default_factory=set, init=False)  # trees the check ran on in this pass

    async def land(self, result: QueueResult, candidates: list[merge.Candidate],
                   batch: int | None) -> None:
        """Land `candidates` in batches of `batch` (None: all at once) onto `result.tip`."""
        size = batch or max(len(candidates), 1)
        for start in range(0, len(candidates), size):
            group = candidates[start:start + size]
            self.record(queue_log.BATCH, _ids(group), detail=f"onto {result.tip[:12]}")
            await self._place(result, group, screened=False)
        await self._retry_held_back(result)

    async def _retry_held_back(self, result: QueueResult) -> None:
        """Candidates held back for a failing tip are folded again once the tip moved (it moves
        only to a tree whose check passed): they land there, or a culprit among them is found."""
        while again := [c for c, tip in result.held_back.values() if tip != result.tip]:
            for candidate in again:
                del result.held_back[candidate.task_id]
                result.failed.pop(candidate.task_id, None)
            if not result.held_back:
                result.broken_tip = None
            self.record(queue_log.BATCH, _ids(again),
                        detail=f"again onto {result.tip[:12]}, which passes the check")
            await self._place(result, again, screened=True)

    async def _place(self, result: QueueResult, group: list[merge.Candidate], *,
                     screened: bool) -> None:
        """Fold `group` onto the tip and settle it. A candidate that conflicted in the fold is
        failed only if the candidates folded before it all landed (then it conflicts with what
        landed); otherwise it is folded again onto the tip that did land."""
        kept, conflicts = await self._fold(result, group, screened=screened)
        await self._settle(result, kept)
        again: list[merge.Candidate] = []
        for candidate, landing, before in conflicts:
            if all(task_id in result.landed for task_id in before):
                result.failed[candidate.task_id] = landing
            else:
                again.append(candidate)
        if again:
            self.record(queue_log.BATCH, _ids(again), detail=f"again onto {result.tip[:12]}: "
                        "they conflicted with work that did not land")
            await self._place(result, again, screened=True)

    async def _fold(self, result: QueueResult, group: list[merge.Candidate], *, screened: bool,
                    ) -> tuple[Folded, list[tuple[merge.Candidate, merge.Landing, list[str]]]]:
        """Fold `group` onto the tip: (the candidates that folded, each with the commit it made;
        the conflicted ones, each with the candidates folded before it). What is refused is
        failed. `screened`: it passed the include-file and marker screens in its batch's fold
        already."""
        _, landings = await merge.land_queue(self.repo, tip=result.tip, candidates=group,
                                             strategy=self.strategy, screened=screened)
        kept: Folded = []
        conflicts: list[tuple[merge.Candidate, merge.Landing, list[str]]] = []
        for candidate, landing in zip(group, landings, strict=True):
            if landing.outcome == "landed":
                kept.append((candidate, landing))
            elif landing.outcome == "conflicted":
                conflicts.append((candidate, landing, _ids([c for c, _ in kept])))
            else:
                result.failed[candidate.task_id] = landing
        return kept, conflicts

    async def _settle(self, result: QueueResult, kept: Folded, *,
                      failures: Mapping[str, list[str]] | None = None) -> None:
        """`kept` is folded onto `result.tip` (each landing's commit is the tip after it).
        `failures`: the trees of the failing runs of the bigger groups holding this one, each
        with the biggest group that failed there (for what is said). A failure of this group's
        tree is seen twice only if another tree is among them: a verdict read back for the same
        tree is the same run."""
        failures = failures or {}
        if not kept:
            return
        base = result.tip
        tip = kept[-1][1].commit or base
        ids = _ids([c for c, _ in kept])
        verdict = Verdict(True, "", ran=False)
        if self.check is not None and tip != base:
            verdict = await self._check(result, tip, kept)
        if not verdict.ok and len(kept) == 1 and not (verdict.ran or set(failures) - {verdict.tree}):
            # The only failure is one run, read back here: every other part of the group passed,
            # or this part added nothing to the group's tree. Run the check on this very tree
            # again before blaming anyone.
            verdict = await self._check(result, tip, kept, again=True)
            if verdict.ok:
                group = failures.get(verdict.tree, ids)
                note = (f"the integration check failed once on {tip[:12]} (the batch {', '.join(group)}), "
                        f"then passed on each part and on that same tree when run again: the failure did "
                        f"not reproduce (is the check flaky?), so no task is blamed and {', '.join(ids)} "
                        f"lands")
                result.notes.append(note)
                self.record(queue_log.NOT_REPRODUCED, group, detail=note)
        if verdict.ok:
            result.tip = tip
            result.landed.update({c.task_id: landing.commit or tip for c, landing in kept})
            self.record(queue_log.ACCEPTED, ids, detail=f"tip {tip[:12]}")
            return
        output = verdict.output
        if len(kept) == 1:
            # A change that fails alone is its culprit only if the tip it lands on passes: a
            # target that already fails would make every task a culprit in turn. (A tip accepted
            # in this pass passed: its journaled verdict answers without another run; a failure
            # journaled by an earlier pass is run again, or one flake would hold work back for good.)
            base_verdict = await self._check(result, base, [], earlier_fails=False)
            candidate = kept[0][0]
            if not base_verdict.ok:
                result.broken_tip = base_verdict.output
                result.held_back[candidate.task_id] = (candidate, base)
                result.failed[candidate.task_id] = merge.Landing(
                    candidate.task_id, "check_failed", None, [],
                    f"{BROKEN_TIP} {base[:12]}, without this task's change:\n{base_verdict.output}".rstrip())
                return
            result.failed[candidate.task_id] = merge.Landing(
                candidate.task_id, "check_failed", None, [],
                f"integration check failed on {tip[:12]} ({base[:12]} with this task's change; "
                f"{base[:12]} without it passes):\n{output}".rstrip())
            result.culprit_tips[candidate.task_id] = tip
            self.record(queue_log.CULPRIT, [candidate.task_id], detail=output[-2000:])
            return
        half = len(kept) // 2
        left, right = kept[:half], kept[half:]
        self.record(queue_log.BISECT, ids,
                    detail=f"{_ids([c for c, _ in left])} | {_ids([c for c, _ in right])}")
        # The left half on the same tip is a prefix of this fold: its commits are reused; its
        # failure would be a second failing run if its tree is another one. When it all lands,
        # so is the right half, whose tree is the failing one again (its journaled verdict
        # answers without another run, and is no more confirmed than this group's); otherwise
        # the right half is re-folded.
        seen = {**failures, verdict.tree: failures.get(verdict.tree, ids)}
        await self._settle(result, left, failures=seen)
        if result.tip != left[-1][1].commit:
            await self._place(result, [c for c, _ in right], screened=True)
            return
        await self._settle(result, right, failures=seen)

    async def _check(self, result: QueueResult, tip: str, kept: Folded, *,
                     again: bool = False, earlier_fails: bool = True) -> Verdict:
        """The check's verdict on `tip`'s tree: journaled, or run now (always with `again`;
        without `earlier_fails`, when the journal holds a failure not seen in this pass)."""
        assert self.check is not None
        tree = (await self.repo.git("rev-parse", f"{tip}^{{tree}}")).out.strip()
        known = None if again else self.verdict_of(tree)
        if known is not None and not (known[0] or earlier_fails or tree in self.ran):
            known = None
        if known is not None:
            return Verdict(known[0], known[1], ran=False, tree=tree)
        ok, output = await self.check(tip)
        self.ran.add(tree)
        result.check_runs += 1
        self.record(queue_log.CHECK, _ids([c for c, _ in kept]), tree=tree, ok=ok,
                    detail=output[-4000:])
        return Verdict(ok, output, ran=True, tree=tree)


def _ids(candidates: list[merge.Candidate]) -> list[str]:
    return [c.task_id for c in candidates]
