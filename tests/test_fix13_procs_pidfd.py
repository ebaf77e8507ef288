"""A launcher holding many files (a big run's pipes, logs and pidfds under a raised open-file
limit) gets descriptors above FD_SETSIZE (1024): waiting on a child's exit must still work there.
select() refuses such a descriptor (ValueError); the waits use poll()."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent("""
    import os, resource, subprocess, sys, threading, time
    from launcher import process_threads

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1400), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # the busy launcher's files
    assert held[-1] >= 1024
    # A child that closes its pipes before it exits (a daemonizing check): collect then waits
    # on its exit alone, through its pidfd, which is above 1024 here.
    proc = subprocess.Popen(["sh", "-c", "exec >&- 2>&-; sleep 0.5; exit 3"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    started = time.monotonic()
    timed_out = process_threads.collect(proc, lambda b: None, lambda b: None, time.monotonic() + 20,
                                        threading.Event(), 0.5)
    took = time.monotonic() - started
    print(timed_out, proc.returncode, round(took, 1))
    r, w = os.pipe()
    assert r >= 1024
    assert process_threads.wait_readable(r, 0.05) is False  # nothing to read: the wait times out
    os.write(w, b"x")
    assert process_threads.wait_readable(r, 5) is True
""")


@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_NOFILE)[1] not in (resource.RLIM_INFINITY,)
                    and resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 1400,
                    reason="the hard open-file limit cannot be raised above 1400 here")
def test_a_childs_exit_is_waited_for_with_its_pidfd_above_fd_setsize() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    timed_out, returncode, took = done.stdout.split()
    assert (timed_out, returncode) == ("False", "3")  # its own exit, reported as it is
    assert float(took) < 10
