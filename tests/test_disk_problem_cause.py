"""A disk error is the machine's (exit 3, "free space"); a launcher bug met while handling one
(a PTY read's EIO is normal) is still the launcher's bug, never reported as a disk problem."""

from __future__ import annotations

import errno
from collections.abc import Callable

from launcher.errors import disk_problem


def _raised(make: Callable[[], None]) -> BaseException:
    try:
        make()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing raised")


def test_an_error_raised_while_handling_an_io_error_is_not_a_disk_problem() -> None:
    def bug_in_handler() -> None:
        try:
            raise OSError(errno.EIO, "Input/output error")  # a PTY whose child exited
        except OSError:
            raise KeyError("launcher bug")  # noqa: B904

    assert disk_problem(_raised(bug_in_handler)) is None


def test_a_disk_error_given_as_the_cause_or_inside_a_group_is_a_disk_problem() -> None:
    def caused() -> None:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/x/journal")
        except OSError as exc:
            raise RuntimeError("could not write the journal") from exc

    def grouped() -> None:
        raise ExceptionGroup("tasks", [ValueError("other"), OSError(errno.EROFS, "Read-only file system")])

    found = disk_problem(_raised(caused))
    assert found is not None and found.where == "/x/journal" and "free space" in (found.fix or "")
    assert disk_problem(_raised(grouped)) is not None
