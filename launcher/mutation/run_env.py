"""What every test run of a sweep shares: its environment, the bytecode cache, the flags that
turn off plugin options in a project's `addopts`, and a src layout's import roots (found and put
first on PYTHONPATH by `launcher.git.import_roots`, which the run pipeline's checks share).

The coverage run, the generic executor (and its zygote) and the fork executor all build their
environment here, so they run the tests the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from launcher import process
from launcher.git.git_vars import USER_CONFIG_VARS, without_git_vars
from launcher.git.import_roots import package_root
from launcher.mutation.discover import PYTHON_SUFFIXES

# Marks every process a sweep's worker starts (its value: the worker's tree), so what a test run
# left behind in a session of its own is found and killed once the run is over.
WORKER_MARKER_ENV = "LAUNCHER_MUTATION_WORKER"
# Variables that would make a child start its own coverage or xdist machinery, or that describe us.
_DROP_ENV = ("COV_CORE_", "COVERAGE_PROCESS_START", "COVERAGE_RCFILE", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_")


def child_env(extra: Mapping[str, str] | None = None, *, pycache_dir: Path | None = None) -> dict[str, str]:
    """The environment of every test run: ours, minus what would start coverage or xdist
    machinery in the child (pytest-cov's variables) or describe the launcher's own test, and
    minus every GIT_* variable but the config files' names (git/git_vars.py: as for `launcher
    run`'s checks, a test's git must see the tree it runs in, never the repository a hook's
    GIT_DIR names).

    With `pycache_dir` (a sweep's bytecode cache, used where the user's environment says
    PYTHONDONTWRITEBYTECODE), bytecode is written and read there: each run of a sweep is a new
    test process, and without a cache every one recompiles pytest and re-rewrites the asserts of
    every test module (twice the cost of running toolz's whole suite). Runners that put a mutant
    on disk delete its .pyc (`bytecode_files`, wherever `bytecode_prefix` says it goes)."""
    env = {k: v for k, v in without_git_vars(os.environ, keep=USER_CONFIG_VARS).items()
           if not k.startswith(_DROP_ENV)}
    if pycache_dir is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache_dir)
    if extra:
        env.update(extra)
    return env


def import_roots(targets: Iterable[str], root: Path) -> list[str]:
    """The directories, relative to `root`, that the Python targets are imported from when that is
    not `root` itself: `src` for `src/pkg/mod.py` (a src layout). The interpreter finds those
    through its own path (an editable install, a PYTHONPATH), which points at the main tree, not
    at the worker tree a sweep runs in: every mutant would be invisible to the tests."""
    found = {package_root(rel, root) for rel in targets if rel.endswith(PYTHON_SUFFIXES)}
    return sorted(r for r in found if r is not None)


def sweep_bytecode_cache(candidate: Path) -> Path | None:
    """Where a sweep's test runs keep bytecode: beside the sources, as Python does by default
    (None: the dependencies' installed .pyc files are read, nothing is compiled again), unless
    the environment forbids writing it; then `candidate`, a cache of the sweep's own."""
    return candidate if os.environ.get("PYTHONDONTWRITEBYTECODE") else None


def bytecode_prefix(env: Mapping[str, str]) -> Path | None:
    """The bytecode prefix the runs of `env` use (ours, or the user's own), if any."""
    prefix = env.get("PYTHONPYCACHEPREFIX")
    return Path(prefix) if prefix else None


def bytecode_files(source: Path, pycache_dir: Path | None) -> list[Path]:
    """Every cached bytecode file of `source` (plain, optimized or pytest-rewritten): beside it,
    and under the cache prefix, which mirrors the source's absolute directory."""
    dirs = [source.parent / "__pycache__"]
    if pycache_dir is not None:
        for directory in {source.parent.absolute(), source.parent.resolve()}:
            dirs.append(pycache_dir / directory.relative_to(directory.anchor))
    return [pyc for d in dirs if d.is_dir() for pyc in d.glob(f"{source.stem}.*.pyc")]


# Plugins whose options in a project's addopts would defeat a sweep, and the flag that turns
# each off: pytest-cov's `--cov` starts a second coverage inside ours (whose data and contexts
# never reach our file: every mutant would look uncovered) and a coverage run in every mutant's
# tests; pytest-xdist's `-n N` runs the tests in other processes, where neither our coverage nor
# a forked mutant reaches.
_OVERRIDES = {"pytest_cov": ("--no-cov",), "xdist": ("-n", "0")}


async def plugin_overrides(python: str, root: Path) -> list[str]:
    """The flags that turn off those of the plugins above that `python` has (one probe)."""
    probe = f"import importlib.util as u; print(*[n for n in {sorted(_OVERRIDES)!r} if u.find_spec(n)])"
    found = await process.run([python, "-c", probe], cwd=root, env=child_env(), timeout=60)
    names = found.out.split() if found.returncode == 0 else []
    return [flag for name in sorted(_OVERRIDES) if name in names for flag in _OVERRIDES[name]]
