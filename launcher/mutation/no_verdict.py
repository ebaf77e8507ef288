"""Test runs that say nothing about the mutant: stopped from outside, or never run.

`Killed` means a test failed on the mutant, `Survived` that every test passed. A run that ended
any other way is neither, and is never recorded (nor cached: `sweep.CACHEABLE`) as either:
  * killed by a signal the launcher did not send for its own time limit (that one is a
    `Timeout`, told apart by `timed_out`): the OOM killer's SIGKILL, the SIGTERM or SIGINT of a
    service manager or CI runner stopping every process, someone's `kill`. A custom test command
    run by the shell reports its program's death by signal N as exit 128+N;
  * interrupted: pytest turns a SIGINT into KeyboardInterrupt and exits 2, the status it also
    gives an error during collection (a kill: the mutant broke an import); its banner tells
    them apart;
  * a custom test command that could not start its program: exit 126 (not executable) or 127
    (not found), as the shell reports them; the clean run and the sanity probes ran it, so
    something outside the mutant changed (a virtualenv being recreated, a tool uninstalled).
Such a run is a `RuntimeError` with the reason (`unclassified`: re-run with the whole suite
where that can help, else left out of the score and named, exit status 3). mutmut keeps these
apart from its kills too: pytest's exit 2 is "interrupted", a SIGKILL or SIGSEGV "segfault".

A signal the test process raised itself (SIGSEGV, SIGABRT) cannot be told from one sent from
outside by the exit status alone: it is no verdict either, conservatively.
"""

from __future__ import annotations

import re
import signal

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


def no_verdict(done: process.Completed, *, shell: bool) -> str | None:
    """Why a finished, non-timed-out, failed run says nothing about the mutant; None when its
    failure is the tests' (`shell`: a custom test command run by `/bin/sh -c`)."""
    rc = done.returncode
    if rc == 0 or done.timed_out:
        return None
    number = killed_by_signal(rc, shell=shell)
    if number is not None:
        how = f"exit {rc}, " if rc > 0 else ""
        return (f"no verdict: the test process was killed by {signal_name(number)} ({how}not by the launcher's "
                "time limit: the OOM killer, or a service manager or CI runner stopping it?)")
    if shell and rc in _SHELL_CANNOT_RUN:
        said = _FIRST_LINE.search(done.err) or _FIRST_LINE.search(done.text)
        shown = f": {said.group(0)[:200]}" if said else ""
        return (f"no verdict: the test command could not run (exit {rc}: a program it names was "
                f"{_SHELL_CANNOT_RUN[rc]}; it ran before the mutants did){shown}")
    if interrupted(done.text + done.err):
        return ("no verdict: the test run was interrupted (KeyboardInterrupt: a SIGINT from outside the launcher, "
                "such as a CI runner's or a service manager's stop?)")
    return None
