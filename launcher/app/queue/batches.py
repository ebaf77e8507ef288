"""Batches with bisection (DESIGN 8, the queue): fold a batch of approved branches onto the tip
in memory, run the integration check once on the combined tree; when it fails, binary-search
the fold for its longest prefix whose tree passes. That prefix lands, the candidate right after
it is the culprit (its tree is that prefix plus its change, and fails), and the candidates
after the culprit go back to the front of the queue, to be folded onto the new tip with the
next ones. A prefix known to pass is never checked again. A culprit so costs its batch's run
and about log2(batch) runs to find it. How big the next batch is follows the culprits seen
(`sizing.py`): a pass never runs more checks than landing one by one would, plus
2*ceil(log2 batch)+1. The tip only ever moves to a tree whose check passed.

What is judged in a fold is judged again against what really landed: a candidate that
conflicted with a candidate folded before it that then did not land (a culprit, or one sent
back to the queue after it) is folded again onto the tip that did land, and candidates held
back because the check failed on the tip itself are folded again once a later fold moved the
tip to a tree that passes (while the tip fails, candidates are folded one at a time: one that
passes on it fixes it).

A check's verdict is journaled by tree (`QueueLog`), so a tree met again (two candidates making
the same change), or a resumed pass after a crash, reads the verdict instead of running the
check again; the batch sizes count verdicts, not runs, so a resumed pass folds the same trees.

A task is named culprit only on a failing run of the check on its tree (what was accepted
before it, plus its change) that is confirmed: run for it alone (its batch of one, or a probe of
the search), or seen twice (two failing runs on two different trees that hold its change: its
batch's and a shorter prefix's). Failures journaled by an earlier pass that found the check
failing on the tip itself (a service the check needed was down then) only steer the search: the
task's tree is checked again before it is blamed. A read verdict only steers the search; a verdict of the tree
its failing batch ran on, read back for a prefix that added nothing to it (two tasks making the
same change), is that same one run. When every shorter prefix passed, the one failure left is
the batch's own run, read back for its last task: the check runs on that tree once more before
it blames anyone, and if it passes, the batch's failure did not reproduce (a flaky check), it is
said so, and the tree lands. So a check that failed once never convicts the task that happened
to be last in its batch, nor one whose revision round brings back a tree whose earlier verdict
was a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from launcher.app.queue.sizing import Sizer
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
    # A ref kept at the fold's last commit while its checks run (None: none): the fold's commits
    # are in no branch, and a check that runs `git gc --prune=now` would delete them.
    pin_ref: str | None = None
    # An earlier pass found the check failing on the tip itself: the failures it journaled say
    # nothing of the tasks, so only this pass's runs confirm a culprit (a resumed pass of an
    # ordinary landing reads its verdicts back and runs no tree twice).
    tip_failed_before: bool = False
    pinned: str | None = field(default=None, init=False)  # the commit `pin_ref` was last set to
    ran: set[str] = field(default_factory=set, init=False)  # trees the check ran on in this pass
    counted: set[str] = field(default_factory=set, init=False)  # trees whose verdict the sizer counted
    screened: set[str] = field(default_factory=set, init=False)  # tasks past the fold's screens
    sizer: Sizer = field(default_factory=Sizer, init=False)

    async def land(self, result: QueueResult, candidates: list[merge.Candidate],
                   batch: int | None) -> None:
        """Land `candidates` in batches of at most `batch` (None: all) onto `result.tip`."""
        limit = batch or max(len(candidates), 1)
        self.sizer.allow(limit)
        await self._queue(result, candidates, limit, "")
        await self._retry_held_back(result, limit)

    async def _retry_held_back(self, result: QueueResult, limit: int) -> None:
        """Candidates held back for a failing tip are folded again once the tip moved (it moves
        only to a tree whose check passed): they land there, or a culprit among them is found."""
        while again := [c for c, tip in result.held_back.values() if tip != result.tip]:
            for candidate in again:
                del result.held_back[candidate.task_id]
                result.failed.pop(candidate.task_id, None)
            if not result.held_back:
                result.broken_tip = None
            await self._queue(result, again, limit, "again: the tip passes the check now")

    async def _queue(self, result: QueueResult, waiting: list[merge.Candidate], limit: int,
                     why: str) -> None:
        """Fold `waiting` in order, batch after batch, until each landed or failed (or is held
        back); what a batch leaves unsettled goes back to the front."""
        folded_before = set(self.screened)
        while waiting:
            if self.check is not None and any(tip == result.tip for _, tip in result.held_back.values()):
                size, reason = 1, "the tip fails the check: one at a time"
            elif self.check is None:
                size, reason = min(limit, len(waiting)), ""
            else:
                size, reason = self.sizer.size(limit, len(waiting))
            group, waiting = waiting[:size], waiting[size:]
            again = [c.task_id for c in group if c.task_id in folded_before]
            detail = "; ".join(part for part in (
                f"onto {result.tip[:12]}", why, reason,
                f"{len(again)} of them folded before" if again else "") if part)
            self.record(queue_log.BATCH, _ids(group), detail=detail)
            why = ""
            waiting = await self._place(result, group) + waiting
            folded_before |= self.screened

    async def _place(self, result: QueueResult, group: list[merge.Candidate]) -> list[merge.Candidate]:
        """Fold `group` onto the tip and settle it: the candidates to fold again, in order. A
        candidate that conflicted in the fold is failed only if the candidates folded before it
        all landed (then it conflicts with what landed); otherwise it is folded again onto the
        tip that did land."""
        kept, conflicts = await self._fold(result, group)
        again = {c.task_id for c in await self._settle(result, kept)}
        for candidate, landing, before in conflicts:
            if all(task_id in result.landed for task_id in before):
                result.failed[candidate.task_id] = landing
            else:
                again.add(candidate.task_id)
        return [c for c in group if c.task_id in again]

    async def _fold(self, result: QueueResult, group: list[merge.Candidate],
                    ) -> tuple[Folded, list[tuple[merge.Candidate, merge.Landing, list[str]]]]:
        """Fold `group` onto the tip: (the candidates that folded, each with the commit it made;
        the conflicted ones, each with the candidates folded before it). What is refused is
        failed. A candidate that passed the include-file and marker screens in an earlier fold
        is not screened again (the tip only moved forward since)."""
        _, landings = await merge.land_queue(self.repo, tip=result.tip, candidates=group,
                                             strategy=self.strategy, screened=self.screened)
        kept: Folded = []
        conflicts: list[tuple[merge.Candidate, merge.Landing, list[str]]] = []
        for candidate, landing in zip(group, landings, strict=True):
            if landing.outcome != "refused":
                self.screened.add(candidate.task_id)
            if landing.outcome == "landed":
                kept.append((candidate, landing))
            elif landing.outcome == "conflicted":
                conflicts.append((candidate, landing, _ids([c for c, _ in kept])))
            else:
                result.failed[candidate.task_id] = landing
        return kept, conflicts

    async def _settle(self, result: QueueResult, kept: Folded) -> list[merge.Candidate]:
        """`kept` is folded onto `result.tip` (each landing's commit is the tip after it). Land
        it whole when its tree passes; otherwise land its longest prefix that passes, blame (or
        hold back) the candidate after it, and return the candidates after that one."""
        if not kept:
            return []
        tips = [result.tip]
        for _, landing in kept:
            tips.append(landing.commit or tips[-1])
        whole = len(kept)
        if self.check is not None and self.pin_ref:  # each tip is an ancestor of the last
            async with self.repo.lock.hold():
                await self.repo.git("update-ref", "--no-deref", self.pin_ref, tips[-1])
            self.pinned = tips[-1]
        verdict = await self._verdict(result, tips, kept, whole)
        if verdict.ok:
            self._accept(result, kept, tips, whole)
            return []
        failing = [(whole, verdict)]  # the failing prefixes met, longest first
        lo = 0  # the longest prefix known to pass (0: the tip, not judged here)
        while True:
            hi = failing[-1][0]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                self.record(queue_log.BISECT, _ids([c for c, _ in kept[lo:hi]]),
                            detail=f"{_ids([c for c, _ in kept[lo:mid]])} | "
                                   f"{_ids([c for c, _ in kept[mid:hi]])}")
                probe = await self._verdict(result, tips, kept, mid)
                if probe.ok:
                    lo = mid
                else:
                    failing.append((mid, probe))
                    hi = mid
            verdict = failing[-1][1]
            # Failures an earlier pass journaled while the check failed on the tip itself (a
            # service it needed was down?) only steer the search: that cause may be gone.
            counted = {v.tree for _, v in failing if v.tree in self.ran or not self.tip_failed_before}
            if (whole == 1 and verdict.ran) or (verdict.tree in counted and counted - {verdict.tree}):
                break  # confirmed: run for it alone, or two failing runs on two trees
            # The only failure is one run, read back here: every shorter prefix passed, or this
            # one added nothing to the failing tree; or its failures were journaled by a pass
            # that found the tip failing. Run the check on this very tree again.
            earlier = self.tip_failed_before and verdict.tree not in self.ran
            verdict = await self._check(result, tips[hi], kept[:hi], again=True)
            if not verdict.ok:
                failing[-1] = (hi, verdict)
                break
            self._not_reproduced(result, tips[hi], kept, failing, verdict.tree, earlier=earlier)
            passing = [j for j, v in failing if v.tree == verdict.tree]
            failing = [(j, v) for j, v in failing if v.tree != verdict.tree]
            if not failing:
                self._accept(result, kept, tips, whole)
                return []
            lo = max(j for j in passing if j < failing[-1][0])
        self._accept(result, kept, tips, hi - 1)
        await self._blame(result, kept[hi - 1][0], tips[hi], verdict.output, judged_base=lo > 0)
        return [c for c, _ in kept[hi:]]

    def _not_reproduced(self, result: QueueResult, tip: str, kept: Folded,
                        failing: list[tuple[int, Verdict]], tree: str, *, earlier: bool) -> None:
        group = _ids([c for c, _ in kept[:max(j for j, v in failing if v.tree == tree)]])
        last = kept[failing[-1][0] - 1][0].task_id
        if earlier:  # journaled by an earlier pass that found the check failing on the tip itself
            note = (f"the integration check failed on {tip[:12]} (the batch {', '.join(group)}) in an "
                    f"earlier landing pass and passes on that same tree now: what made it fail is "
                    f"gone (or the check is flaky), so no task is blamed for it and {last} lands")
        else:
            note = (f"the integration check failed once on {tip[:12]} (the batch {', '.join(group)}), "
                    f"then passed on every shorter part of it that was checked and on that same tree "
                    f"when run again: the failure did not reproduce (is the check flaky?), so no task "
                    f"is blamed and {last} lands")
        result.notes.append(note)
        self.record(queue_log.NOT_REPRODUCED, group, detail=note)

    def _accept(self, result: QueueResult, kept: Folded, tips: list[str], upto: int) -> None:
        """The first `upto` candidates of `kept` land: the tip moves to the tree after them."""
        if upto <= 0:
            return
        result.tip = tips[upto]
        result.landed.update({c.task_id: landing.commit or tips[n + 1]
                              for n, (c, landing) in enumerate(kept[:upto])})
        self.sizer.settle(upto)
        self.record(queue_log.ACCEPTED, _ids([c for c, _ in kept[:upto]]), detail=f"tip {tips[upto][:12]}")

    async def _blame(self, result: QueueResult, candidate: merge.Candidate, tip: str, output: str,
                     *, judged_base: bool) -> None:
        """`candidate` on `result.tip` (its tree `tip`) fails the check, confirmed. It is its
        culprit only if `result.tip` passes (`judged_base`: it passed in this search): a target
        that already fails would make every task a culprit in turn. (A tip accepted in this pass
        passed: its journaled verdict answers without another run; a failure journaled by an
        earlier pass is run again, or one flake would hold work back for good.)"""
        base = result.tip
        if not judged_base:
            base_verdict = await self._check(result, base, [], earlier_fails=False)
            if not base_verdict.ok:
                result.broken_tip = base_verdict.output
                result.held_back[candidate.task_id] = (candidate, base)
                self.record(queue_log.HELD_BACK, [candidate.task_id], detail=f"the check fails on {base[:12]}")
                result.failed[candidate.task_id] = merge.Landing(
                    candidate.task_id, "check_failed", None, [],
                    f"{BROKEN_TIP} {base[:12]}, without this task's change:\n{base_verdict.output}".rstrip())
                self.sizer.settle(1)
                return
        self.sizer.settle(1, culprit=True)
        result.failed[candidate.task_id] = merge.Landing(
            candidate.task_id, "check_failed", None, [],
            f"integration check failed on {tip[:12]} ({base[:12]} with this task's change; "
            f"{base[:12]} without it passes):\n{output}".rstrip())
        result.culprit_tips[candidate.task_id] = tip
        self.record(queue_log.CULPRIT, [candidate.task_id], detail=output[-2000:])

    async def _verdict(self, result: QueueResult, tips: list[str], kept: Folded, upto: int) -> Verdict:
        """The check's verdict on the fold's first `upto` candidates (a fold that changes
        nothing is the tip's own tree: it passes here)."""
        if self.check is None or tips[upto] == tips[0]:
            return Verdict(True, "", ran=False)
        return await self._check(result, tips[upto], kept[:upto])

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
            if tree not in self.counted:
                self.counted.add(tree)
                self.sizer.checks += 1
            return Verdict(known[0], known[1], ran=False, tree=tree)
        ok, output = await self.check(tip)
        self.ran.add(tree)
        self.counted.add(tree)
        self.sizer.checks += 1
        result.check_runs += 1
        self.record(queue_log.CHECK, _ids([c for c, _ in kept]), tree=tree, ok=ok,
                    detail=output[-4000:])
        return Verdict(ok, output, ran=True, tree=tree)


def _ids(candidates: list[merge.Candidate]) -> list[str]:
    return [c.task_id for c in candidates]
