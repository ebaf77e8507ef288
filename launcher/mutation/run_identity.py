"""What the tests' outcome depends on besides the files and the mutant: the interpreter they run
under and the environment variables they read (the result keys' and the coverage map's part).

- The interpreter is keyed by what it is, not by its path (a venv rebuilt with another Python at
  the same path): `sys.version`, the implementation and its bytecode tag, `sys.flags` (so
  `PYTHONOPTIMIZE`, `-O`-like settings, hash randomisation), the real path of the executable with
  its size and mtime. One probe per sweep, in the tests' environment.
- The environment: a fixed list of variables known to change Python's or pytest's behaviour
  (`PYTHON*`, `PYTEST_*`, locale, TZ: `FIXED_PREFIXES`, `FIXED_NAMES`), plus the variables the
  code and tests read during the clean coverage run (recorded by the coverage plugin: reads of
  `os.environ`/`os.getenv` in the pytest process, names only). A variable only tested for
  presence (`"CI" in os.environ`) is keyed on its presence, not its value (a CI build number
  changes every run). A copy of the whole environment (`{**os.environ}` for a test's child
  process) is keyed on what it holds, except the variables of a shell session or CI job
  (`SESSION_NAMES`, `SESSION_PREFIXES`). Values are digested, never stored in clear.
  Not seen: reads by C code (`getenv` in an extension), by child processes, and reads a mutated
  code path makes that the clean run did not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from launcher import process

FIXED_PREFIXES = ("PYTHON", "PYTEST_", "LC_")
FIXED_NAMES = ("LANG", "LANGUAGE", "TZ")
# Variables the sweep sets or drops itself (their value is the sweep's, not the user's).
IGNORED_PREFIXES = ("LAUNCHER_MUTATION", "COV_CORE_", "COVERAGE_PROCESS_START", "COVERAGE_RCFILE",
                    "PYTEST_CURRENT_TEST", "PYTEST_XDIST_", "PYTHONPYCACHEPREFIX")  # fmt: skip
PRESENCE = "?"  # the mark of a name read for its presence only (`"CI" in os.environ`)
LISTED = "*"  # the mark of a name read only as one of the whole environment's (`{**os.environ}`)
# What differs from one shell, terminal or CI job to the next with nothing of the project's
# changed: a copy of the whole environment (for a test's child process) is not keyed on these,
# or no verdict would ever be reused after a `cd` (OLDPWD) or in the next CI job. Read by name,
# they are keyed as any variable.
SESSION_NAMES = frozenset({
    "_", "OLDPWD", "PWD", "SHLVL", "WINDOWID", "TERM_SESSION_ID", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY",
    "SSH_AUTH_SOCK", "XDG_SESSION_ID", "TMUX", "TMUX_PANE", "STY", "INVOCATION_ID", "JOURNAL_STREAM",
    "COLUMNS", "LINES", "BUILD_NUMBER", "BUILD_ID", "BUILD_URL", "GITHUB_JOB", "GITHUB_SHA"})
SESSION_PREFIXES = ("GITHUB_RUN_", "RUNNER_", "CI_JOB_", "CI_PIPELINE_", "BUILDKITE_BUILD_", "CIRCLE_BUILD_",
                    "CIRCLE_WORKFLOW_", "TRAVIS_BUILD_", "TRAVIS_JOB_", "ACTIONS_")

_PROBE = """
import json, os, sys
exe = os.path.realpath(sys.executable)
try:
    st = os.stat(exe)
    stat = [st.st_size, st.st_mtime_ns]
except OSError:
    stat = None
print(json.dumps([sys.version, sys.implementation.name, sys.implementation.cache_tag, list(sys.flags),
                  sys.warnoptions, sorted(map(str, sys._xoptions.items())), exe, stat, sys.platform]))
"""


async def interpreter_identity(python: str, root: Path, env: Mapping[str, str]) -> str:
    """A digest of what `python` is (see the module doc); the path itself when the probe fails
    (the sweep's sanity checks then say why)."""
    done = await process.run([python, "-c", _PROBE], cwd=root, env=dict(env), timeout=60)
    answer = done.out.strip() if done.returncode == 0 else f"unprobed:{python}"
    return hashlib.sha256(answer.encode()).hexdigest()[:32]


def _fixed(name: str) -> bool:
    return name.startswith(FIXED_PREFIXES) or name in FIXED_NAMES


def _ignored(name: str) -> bool:
    return name.startswith(IGNORED_PREFIXES)


def env_digest(env: Mapping[str, str], read: Iterable[str] = ()) -> str:
    """The digest of the fixed list's variables present in `env` and of the `read` names (each
    `NAME` keyed on its value or absence, `NAME?` on its presence only, `NAME*` (read in a copy of
    the whole environment) as `NAME` unless it is a session's variable)."""
    wanted: dict[str, bool] = {n: True for n in env if _fixed(n) and not _ignored(n)}
    for entry in read:
        name, presence = (entry[:-1], True) if entry.endswith(PRESENCE) else (entry, False)
        if entry.endswith(LISTED):
            name = entry[:-1]
            if name in SESSION_NAMES or name.startswith(SESSION_PREFIXES):
                continue
        if name and not _ignored(name):
            wanted[name] = wanted.get(name, False) or not presence
    parts: list[list[str | None]] = []
    for name in sorted(wanted):
        if not wanted[name]:
            parts.append([name, PRESENCE, "1" if name in env else None])
        else:
            value = env.get(name)
            parts.append([name, None if value is None else hashlib.sha256(value.encode()).hexdigest()])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
