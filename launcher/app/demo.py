"""`launcher demo`: a sample repo, built-in scripted agents, the whole pipeline."""

from __future__ import annotations

import contextlib
import itertools
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from launcher.app.context import EventSink
from launcher.app.run.runner import RunOptions, start_run
from launcher.errors import EnvironmentProblem, LauncherError, UsageProblem
from launcher.git.environment import git_env
from launcher.git.repo import GitRepo
from launcher.git.worktrees import default_worktree_root
from launcher.invocation import launcher_program
from launcher.models.plan import Plan, validate_plan
from launcher.models.report import RunReport

CORE = '''"""A tiny calculator package: the demo's sample code."""

GREETING = "calc 1.0"


def add(a, b):
    return a + b


def sub(a, b):
    return a - b
'''

TESTS = '''import unittest

from calc.core import add, sub


class CoreTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(add(2, 3), 5)

    def test_sub(self):
        self.assertEqual(sub(5, 3), 2)
'''


def sample_repo_dir(where: Path | None, prefix: str, name: str = "calc-repo") -> Path:
    """A new, empty directory for a demo's sample repository: `name` in a new temp directory,
    or in `where` (created if missing). When `where/name` is taken (an earlier demo), the next
    free `name-2`, `name-3`...: a demo never writes into an existing directory (an earlier demo's
    repository, or a repository of the user's)."""
    if where is None:
        root = Path(tempfile.mkdtemp(prefix=prefix)) / name
        root.mkdir()
        return root
    if where.exists() and not where.is_dir():
        raise UsageProblem(f"--where {where} is not a directory", where="launcher demo",
                           fix="give a directory (it is created if missing), or no --where for a temp directory")
    where = where.absolute()  # the workflow demo's agents run elsewhere and name files beside it
    for n in itertools.count(1):
        root = where / (name if n == 1 else f"{name}-{n}")
        try:
            root.mkdir(parents=True)
        except FileExistsError:
            continue
        except OSError as exc:  # a file on the way, no permission, read-only file system
            raise UsageProblem(f"cannot create the demo's directory {root}: {exc.strerror or exc}",
                               where="launcher demo", fix="give --where a directory you can write to") from None
        return root
    raise AssertionError("unreachable")


def make_sample_repo(root: Path) -> Path:
    """A small Python package with tests, committed on branch main (`root`: a new directory)."""
    (root / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "calc" / "__init__.py").write_text("")
    (root / "calc" / "core.py").write_text(CORE)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_core.py").write_text(TESTS)
    (root / "README.md").write_text("# calc\n\nA sample package for the launcher demo.\n")
    (root / ".gitignore").write_text(".env\n__pycache__/\n")
    (root / ".env").write_text("API_TOKEN=demo-secret\n")
    (root / ".worktreeinclude").write_text(".env\n")
    init_sample_repo(root, "calc: initial commit")
    return root


# A demo's sample repository is the launcher's own throw-away repository, not one of the user's:
# their policy for their own commits (commit.gpgsign, with a key that may not be at hand;
# core.safecrlf refusing the sample's LF files under core.autocrlf) is switched off in its local
# config, for the demo's run too. Any other git failure there is an EnvironmentProblem naming
# the command and git's message, and the half-made directory is removed.
SAMPLE_CONFIG = (("commit.gpgsign", "false"), ("core.safecrlf", "false"))


# The sample repository keeps its refs as files whatever the user's init.defaultRefFormat (or
# feature.experimental, or a git 3.0) says: the launcher refuses reftable (git/ref_format.py).
# Older gits ignore the variable.
SAMPLE_ENV = {"GIT_DEFAULT_REF_FORMAT": "files"}


def sample_git(root: Path, *args: str) -> None:
    """`git args` in the demo's sample repository `root`; a failure removes `root` (the demo made
    it, new and empty: nothing of the user's is in it) and says which command failed and why."""
    argv = ["git", *args]
    try:
        done = subprocess.run(argv, cwd=root, env=git_env(SAMPLE_ENV), capture_output=True, text=True,
                              check=False)
    except FileNotFoundError:
        _remove_sample(root)
        raise EnvironmentProblem("git is not installed", fix="install git 2.38 or newer") from None
    if done.returncode == 0:
        return
    _remove_sample(root)
    said = "; ".join(line.strip() for line in (done.stderr or done.stdout).strip().splitlines()[:4])
    raise EnvironmentProblem(
        f"`{' '.join(argv)}` failed while the demo built its sample repository: "
        f"{said or f'exit {done.returncode}'} (the half-made sample directory {root} was removed)",
        where="launcher demo",
        fix="the same git command fails in any new repository with your git config (~/.gitconfig): fix what "
            "git's message names (`git config --global --list` shows your settings), then run the demo again",
        error_key="demo_git_failed",
    )


def init_sample_repo(root: Path, message: str) -> None:
    """`git init` a demo's sample repository in `root` (branch main, SAMPLE_CONFIG) and commit
    everything in it with `message`."""
    sample_git(root, "init", "-q", "-b", "main")
    for key, value in SAMPLE_CONFIG:
        sample_git(root, "config", key, value)
    sample_git(root, "add", "-A")
    sample_git(root, "commit", "-q", "-m", message)


def _remove_sample(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(OSError):  # the temp directory `sample_repo_dir` made for it, if empty
        if root.parent.name.startswith(tuple(PREFIXES.values())):
            root.parent.rmdir()


def demo_plan() -> Plan:
    test_cmd = "python3 -m unittest discover -s tests -t . -q"
    tasks = [
        {
            "id": "backend-mul", "title": "Add mul()", "role": "backend",
            "prompt": "Add a mul(a, b) function with a test.",
            "checks": [test_cmd],
            "script": [
                # Round 1 forgets the test; the grader asks for one (C2); round 2 adds it.
                {"say": "reading calc/core.py"},
                {"sleep": 0.6, "rounds": [1]},
                {"append": "calc/core.py", "content": "\n\ndef mul(a, b):\n    return a * b\n",
                 "rounds": [1]},
                {"say": "adding the test the grader asked for", "rounds": [2]},
                {"write": "tests/test_mul.py", "rounds": [2], "content": (
                    "import unittest\n\nfrom calc.core import mul\n\n\n"
                    "class MulTest(unittest.TestCase):\n"
                    "    def test_mul(self):\n        self.assertEqual(mul(4, 5), 20)\n")},
                {"contract": {"tests_added": ["tests/test_mul.py::MulTest::test_mul"]}},
            ],
        },
        {
            "id": "docs-mul", "title": "Document mul()", "role": "docs",
            "depends_on": ["backend-mul"],
            "prompt": "Document the new mul() function in the README.",
            "script": [
                {"sleep": 0.3},
                {"append": "README.md", "content": "\n## API\n\n- `add`, `sub`, `mul`\n"},
            ],
        },
        {
            "id": "devops-version", "title": "Bump the version banner", "role": "devops",
            "prompt": "Set the banner to calc 1.1.",
            "checks": [test_cmd],
            "script": [
                {"sleep": 0.4},
                {"replace": "calc/core.py", "old": 'GREETING = "calc 1.0"',
                 "new": 'GREETING = "calc 1.1"'},
                {"write": "tests/test_banner.py", "content": _banner_test("calc 1.1")},
            ],
        },
        {
            "id": "frontend-banner", "title": "Friendlier banner", "role": "frontend",
            "prompt": "Make the banner friendlier.",
            "checks": [test_cmd],
            "script": [
                {"sleep": 0.5},
                {"replace": "calc/core.py", "old": 'GREETING = "calc 1.0"',
                 "new": 'GREETING = "Welcome to calc!"'},
                {"write": "tests/test_welcome.py", "content": _banner_test("Welcome to calc!")},
            ],
        },
        {
            "id": "qa-div", "title": "Add a div() test", "role": "qa",
            "prompt": "Add a test for div(); the function does not exist yet.",
            "checks": [test_cmd],
            "script": [
                {"sleep": 0.3},
                {"write": "tests/test_div.py", "content": (
                    "import unittest\n\nfrom calc.core import div\n\n\n"
                    "class DivTest(unittest.TestCase):\n"
                    "    def test_div(self):\n        self.assertEqual(div(6, 3), 2)\n")},
            ],
        },
    ]
    run = {"max_parallel": 4, "grader": "scripted-grader", "iteration_cap": 3}
    return validate_plan({"run": run, "task": tasks}, "demo plan")


def _banner_test(expected: str) -> str:
    return (
        "import unittest\n\nfrom calc.core import GREETING\n\n\n"
        "class BannerTest(unittest.TestCase):\n"
        f"    def test_banner(self):\n        self.assertEqual(GREETING, {expected!r})\n"
    )


PREFIXES = {"run": "launcher-demo-", "workflow": "launcher-wf-demo-", "mutation": "launcher-mutation-demo-"}


async def new_sample_dir(where: Path | None, demo: str) -> Path:
    """The new, empty directory a demo (`run`, `workflow`, `mutation`) builds its sample repo in,
    made before anything runs so that a stopped demo can name where it stopped."""
    return sample_repo_dir(where, PREFIXES[demo])


async def run_demo(emit: EventSink, root: Path) -> RunReport:
    """The demo's run, in the sample repo made in `root` (new_sample_dir)."""
    return await in_sample(root, lambda: _sample_run(emit, root))


async def _sample_run(emit: EventSink, root: Path) -> RunReport:
    repo = make_sample_repo(root)
    return await start_run(repo, demo_plan(), RunOptions(), emit)


T = TypeVar("T")


async def in_sample(root: Path, body: Callable[[], Awaitable[T]]) -> T:
    """`body`, a demo working in its new sample repository `root`. When it stops on an error
    (a refusal before its run starts: worktrees that cannot be made under a read-only cache
    directory, say), nothing of the user's is in `root`: when nothing was made for it outside
    `root` either (no worktree under its worktree root), the half-made sample is removed,
    else it is kept; the error says which, and where."""
    try:
        return await body()
    except LauncherError as exc:
        exc.what += _sample_left(root)
        raise


def _sample_left(root: Path) -> str:
    outside = default_worktree_root(GitRepo(root, root / ".git"), None)
    with contextlib.suppress(OSError):
        if outside.exists():
            quoted = shlex.quote(str(root))
            return (f"; the demo's sample repository {root} is kept: remove it with "
                    f"`cd {quoted} && {launcher_program()} clean --all --force`, then delete it")
    _remove_sample(root)
    return f"; the demo's half-made sample repository {root} was removed"
