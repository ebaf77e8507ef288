"""How many candidates the merge queue folds into its next batch (DESIGN 8).

A batch that passes lands all its candidates for one check run; one that fails costs its run
plus the binary search for its culprit (about log2(size) runs) and settles only the candidates
up to the culprit. So big batches pay when culprits are rare, and cost more than landing one by
one when they are common. The size follows what the pass has seen:

- until a second culprit shows, a batch is as big as `batch` allows (all that are ready by
  default): one culprit alone costs its batch's run, about log2(batch) runs to find it, and one
  run for the rest, folded again onto the new tip;
- from then on, the size (a power of two, or all that are left, up to `batch`) that needs the
  fewest expected check runs per settled candidate at the culprit rate seen: the higher of the
  rate over the whole pass and the rate over the last candidates (each candidate settled
  weighs 0.85 times the one after it), both with a prior of half a culprit in 8 candidates.
  Size 1 is landing one by one; culprits that come in a row (a target that breaks once it
  holds enough of the work) soon bring the size down to it;
- a batch whose worst case (ceil(log2 size) runs more than the candidates it settles) could take
  the pass past `allowance` + the candidates settled so far is not tried: a smaller one is.
  With a check that gives the same verdict on the same tree, a pass therefore never runs more
  checks than landing one by one would (one per settled candidate) plus 2*ceil(log2 batch)+1.

Only verdicts count, whether run now or read back from the journal (a tree counted once per
pass), so a resumed pass sizes its batches as the pass it resumes did and reads back the
verdicts of the same trees.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIOR_CULPRITS = 0.5  # the prior of the culprit rate: half a culprit ...
PRIOR_SETTLED = 8.0  # ... in 8 settled candidates
RECENT = 0.85  # the weight of a settled candidate in the recent rate, per candidate settled after it


def probes(size: int) -> int:
    """The most check runs a binary search over a failing fold of `size` takes: ceil(log2 size)."""
    return max(size - 1, 0).bit_length()


def expected_cost(rate: float, size: int) -> float:
    """Expected check runs per settled candidate of a batch of `size` when each candidate is a
    culprit with probability `rate`: the batch's run, the search when it fails, and one more run
    when the culprit is its last candidate; it settles the candidates up to its first culprit."""
    if size <= 1:
        return 1.0
    clean = 1.0 - rate
    fails = 1.0 - clean ** size
    runs = 1.0 + fails * probes(size) + rate * clean ** (size - 1)
    return runs * rate / fails


@dataclass
class Sizer:
    """The tally of one landing pass, and the batch size it gives."""

    allowance: int = 0  # check runs allowed beyond one per settled candidate
    checks: int = 0  # verdicts consulted (a tree counted once per pass, and every run again)
    settled: int = 0  # candidates landed, blamed or held back by a verdict
    culprits: int = 0
    recent_settled: float = 0.0  # the same two, each candidate weighed by RECENT per later one
    recent_culprits: float = 0.0

    def allow(self, limit: int) -> None:
        self.allowance = max(self.allowance, 2 * probes(limit) + 1)

    def settle(self, count: int, *, culprit: bool = False) -> None:
        """`count` more candidates settled (the last one a culprit, with `culprit`)."""
        weight = RECENT ** count
        self.settled += count
        self.recent_settled = self.recent_settled * weight + (1 - weight) / (1 - RECENT)
        self.recent_culprits = self.recent_culprits * weight + (1 if culprit else 0)
        self.culprits += 1 if culprit else 0

    def rate(self) -> float:
        return max((self.culprits + PRIOR_CULPRITS) / (self.settled + PRIOR_SETTLED),
                   (self.recent_culprits + PRIOR_CULPRITS) / (self.recent_settled + PRIOR_SETTLED))

    def size(self, limit: int, waiting: int) -> tuple[int, str]:
        """The next batch's size out of `waiting` candidates, up to `limit`: (size, why it is
        smaller than it could be, or "")."""
        top = max(min(limit, waiting), 1)
        slack = self.allowance + self.settled - self.checks
        sizes = sorted({top, *(1 << k for k in range(top.bit_length()) if 1 << k <= top)})
        allowed = [s for s in sizes if probes(s) <= slack] or [1]
        if self.culprits < 2:
            size = allowed[-1]
        else:
            rate = self.rate()
            size = min(allowed, key=lambda s: (round(expected_cost(rate, s), 3), -s))
        if size == top:
            return size, ""
        why = f"{self.culprits} culprit(s) in {self.settled} candidate(s) settled (rate {self.rate():.2f})"
        if size == allowed[-1] and size < top:
            why += f", {self.checks} verdict(s): a bigger batch could cost more than one by one"
        return size, f"{size} of up to {top}: {why}"
