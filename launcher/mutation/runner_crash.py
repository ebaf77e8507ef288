"""A test runner crashed by the mutated code: a kill, not a runner failure.

Pytest exits 3 (`INTERNALERROR`) when an exception it does not handle escapes into its own
machinery: a `SystemExit` or `KeyboardInterrupt` raised while a test module is imported (semver's
`if __name__ != "__main__": sys.exit(main(sys.argv[1:]))` parses pytest's own arguments at
import and exits 2), or any error in a hook of the project's conftest. The clean suite passed, so
when the crash's traceback runs through the mutated file, the mutant caused it, and the whole
suite fails on it: the suite detected it. Without such a frame (a hook in conftest.py that uses a
wrong value the mutated code returned, review15 mutation 02) the crash is decided like a death
(`no_verdict`): the unmutated tree runs the same tests, then the mutant again; the clean tree
passing and the mutant crashing again is a kill, the clean tree crashing too the runner's own
failure (`RuntimeError`, retried and counted by `unclassified`).
"""

from __future__ import annotations

import re

from launcher import process
from launcher.mutation.no_verdict import Death

_INTERNAL = "INTERNALERROR>"
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_EXCEPTION = re.compile(r"^INTERNALERROR>\s*((?:[\w.]+(?:Error|Exception|Exit|Interrupt)\b).*\S)\s*$", re.MULTILINE)


def crash_in_mutated_file(output: str, target: str) -> str | None:
    """The crash in a pytest run's output when its traceback passes through `target` (the
    mutated file, relative to the tree): `SystemExit: 2 (raised through src/m.py:29)`; else None."""
    if _INTERNAL not in output or not target:
        return None
    suffix = "/" + target.replace("\\", "/").lstrip("/")
    lines = [line for line in output.splitlines() if line.startswith(_INTERNAL)]
    frames = [line for text in lines for path, line in _FRAME.findall(text)
              if path.replace("\\", "/").endswith(suffix)]  # fmt: skip
    if not frames:
        return None
    errors = _EXCEPTION.findall("\n".join(lines))
    error = errors[-1][:200] if errors else "internal error"
    return f"{error} (raised through {target}:{frames[-1]})"


def internal_error(done: process.Completed) -> Death | None:
    """pytest's own crash (exit 3, `INTERNALERROR`) as a death the runs around it decide."""
    output = done.text + done.err
    if done.timed_out or done.returncode != 3 or _INTERNAL not in output:
        return None
    lines = "\n".join(line for line in output.splitlines() if line.startswith(_INTERNAL))
    errors = _EXCEPTION.findall(lines)
    error = errors[-1][:200] if errors else "internal error"
    what = f"pytest crashed (exit 3, INTERNALERROR: {error})"
    return Death(("internal", 3), what, f"pytest exit 3: the runner itself failed ({error})")
