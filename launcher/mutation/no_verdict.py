"""Test runs that say nothing about the mutant by themselves: a death, not a test's failure.

`Killed` means the suite detected the mutant, `Survived` that every test passed. A run can also
end in a way that, alone, is neither (a `Death`):
  * killed by a signal the launcher did not send for its own time limit (that one is a
    `Timeout`, told apart by `timed_out`). A custom test command run by the shell reports its
    program's death by signal N as exit 128+N;
  * interrupted: pytest turns a SIGINT (or a KeyboardInterrupt raised anywhere) into its
    KeyboardInterrupt banner and exits 2, the status it also gives an error during collection
    (a kill: the mutant broke an import); the banner tells them apart;
  * a custom test command whose shell could not start a program: exit 126 (not executable) or
    127 (not found).
Each has two possible authors. The world outside the mutant: the OOM killer, a service manager
or CI runner stopping processes, someone's `kill`, a virtualenv being recreated or a tool
uninstalled meanwhile. Or the mutant itself: code that signals its own process group
(`os.kill(0, SIGTERM)`), a shell script that now runs an empty or misspelt program name, code
that now raises KeyboardInterrupt -- the suite detected those mutants as surely as a failing
assertion would.

The exit status alone cannot tell the authors apart; the runs around it can (`judge`, used by
the generic executor on every death): the unmutated tree runs the same tests right after, then
the mutant runs again.
  * the unmutated tree fails too: something outside the mutant is at work -> no verdict;
  * the unmutated tree passes and the mutant dies again the same way (the same signal, the
    same exit status, interrupted again) -> the mutant's doing, reproduced: `Killed`, the death
    named in the note;
  * the unmutated tree passes and the mutant's second run ends otherwise: the first death did
    not reproduce (a one-off from outside) and the second run's own verdict stands; if that one
    says nothing either, no verdict.
No verdict is a `RuntimeError` with the reason, never recorded nor cached as a verdict
(`sweep.CACHEABLE`): `unclassified` re-runs it with the whole suite where that can help, else it
is left out of the score and named, exit status 3. mutmut keeps these apart from its kills too:
pytest's exit 2 is "interrupted", a SIGKILL or SIGSEGV "segfault".
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

from launcher import process

# pytest's banner for a KeyboardInterrupt (`!!!!!!!! KeyboardInterrupt !!!!!!!!`, also printed by
# `fork_session.run_items`) or, raised where pytest does not expect it, its INTERNALERROR.
_INTERRUPTED = re.compile(r"^(?:!+ KeyboardInterrupt !+|INTERNALERROR>\s*KeyboardInterrupt\b.*)\s*$", re.MULTILINE)
_SHELL_CANNOT_RUN = {126: "found but not executable", 127: "not found"}
_FIRST_LINE = re.compile(r"\S.*")


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def killed_by_signal(returncode: int, *, shell: bool) -> int | None:
    """The signal the test process died of: a negative status (it was our child, or the shell
    exec'd it), or, from a shell, 128+N."""
    if returncode < 0:
        return -returncode
    if shell and 128 < returncode <= 128 + signal.NSIG and returncode - 128 in set(signal.valid_signals()):
        return returncode - 128
    return None


def interrupted(output: str) -> bool:
    """pytest said the run was interrupted by a KeyboardInterrupt (a SIGINT)."""
    return bool(_INTERRUPTED.search(output))


@dataclass(frozen=True)
class Death:
    """How a run ended that says nothing about the mutant by itself. Two deaths are the same
    when their `key`s are (a signal's number, whether the status was -N or 128+N)."""

    key: tuple[str, int]
    what: str  # "the test process was killed by SIGTERM (exit 143)", "the test command could not run ..."
    reason: str  # the no-verdict note of this run alone


def death(done: process.Completed, *, shell: bool) -> Death | None:
    """The death a finished, non-timed-out, failed run is; None when its failure is the tests'
    (`shell`: a custom test command run by `/bin/sh -c`)."""
    rc = done.returncode
    if rc == 0 or done.timed_out:
        return None
    number = killed_by_signal(rc, shell=shell)
    if number is not None:
        what = f"the test process was killed by {signal_name(number)}" + (f" (exit {rc})" if rc > 0 else "")
        return Death(("signal", number), what,
                     f"no verdict: {what} (not by the launcher's time limit: the OOM killer, or a service manager "
                     "or CI runner stopping it?)")  # fmt: skip
    if shell and rc in _SHELL_CANNOT_RUN:
        said = _FIRST_LINE.search(done.err) or _FIRST_LINE.search(done.text)
        shown = f": {said.group(0)[:200]}" if said else ""
        what = f"the test command could not run (exit {rc}: a program it names was {_SHELL_CANNOT_RUN[rc]}{shown})"
        return Death(("exit", rc), what, f"no verdict: {what}")
    if interrupted(done.text + done.err):
        return Death(("interrupted", 2), "the test run was interrupted (KeyboardInterrupt)",
                     "no verdict: the test run was interrupted (KeyboardInterrupt: a SIGINT from outside the "
                     "launcher, such as a CI runner's or a service manager's stop?)")  # fmt: skip
    return None


def no_verdict(done: process.Completed, *, shell: bool) -> str | None:
    """Why a finished, non-timed-out, failed run says nothing about the mutant by itself; None
    when its failure is the tests'."""
    found = death(done, shell=shell)
    return found.reason if found is not None else None


def _outcome(done: process.Completed, *, shell: bool) -> str:
    """A run's end in a few words, for a note."""
    if done.timed_out:
        return "timed out"
    found = death(done, shell=shell)
    if found is not None:
        return found.what
    return "passed" if done.returncode == 0 else f"failed, exit {done.returncode}"


def clean_failed(first: Death, clean: process.Completed, *, shell: bool) -> str:
    """The note of a death whose unmutated tree failed too, right after: no verdict."""
    return (f"{first.reason}; the unmutated tree, run right after, did not pass either "
            f"({_outcome(clean, shell=shell)}): something outside the mutant is at work")  # fmt: skip


def reproduced(first: Death, again: process.Completed, *, shell: bool) -> bool:
    """The mutant's second run died the same way as its first."""
    second = death(again, shell=shell)
    return second is not None and second.key == first.key


def own_doing(first: Death) -> str:
    """The note of a reproduced death: a kill."""
    return (f"{first.what}, on the mutant twice, while the unmutated tree passed between the two runs: "
            "the mutant's doing")  # fmt: skip


def not_reproduced(first: Death, again: process.Completed, note: str, *, verdict: bool, shell: bool) -> str:
    """The note of the mutant's second run after a first death it did not repeat (`note`: the
    second run's own; `verdict`: whether that run gave one)."""
    said = f"first run: {first.what}; the re-run ended otherwise ({_outcome(again, shell=shell)})"
    said += ": the death did not reproduce, the re-run's verdict stands" if verdict else ""
    return "; ".join(filter(None, [note, said]))
