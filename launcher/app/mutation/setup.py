"""A sweep's options as the project configures them, its mutants, and `--dry-run`'s count.

Flags win over `[mutation]` in launcher.toml (or `[tool.launcher.mutation]` in pyproject.toml),
which win over the defaults: the project's interpreter (`mutation.interpreter`), pytest with
per-test selection. `--pytest-args` keep that fast path; a custom `--test-cmd` gives it up.
"""

from __future__ import annotations

import os
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.errors import UsageProblem
from launcher.git.repo import GitRepo
from launcher.models.config import config_file, load_repo_config
from launcher.mutation import interpreter, python_ops, shell_ops
from launcher.mutation.discover import Collected, collect_mutants, discover_files, generate_mutants, parse_shard
from launcher.mutation.model import Mutant, check_operators

if TYPE_CHECKING:
    from launcher.app.mutation.sweep_options import SweepOptions


_TEST_FILES = (":(glob)**/test_*.py", ":(glob)**/*_test.py", ":(glob)**/conftest.py")  # pytest's defaults
_PYTEST_SECTIONS = (("pyproject.toml", "[tool.pytest"), ("setup.cfg", "[tool:pytest]"), ("tox.ini", "[pytest]"))


async def has_tests(repo: GitRepo) -> bool:
    """Whether pytest would find tests here: a test file (or conftest.py) anywhere in the tracked
    tree (tests inside the package, as toolz and isodate keep them), a `tests`/`test` directory,
    or a pytest configuration section (pytest.ini, pyproject.toml, setup.cfg, tox.ini)."""
    root = repo.root
    if any((root / m).exists() for m in ("tests", "test", "pytest.ini")):
        return True
    for name, section in _PYTEST_SECTIONS:
        path = root / name
        if path.is_file() and section in path.read_text(encoding="utf-8", errors="replace"):
            return True
    listed = await repo.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *_TEST_FILES)
    return bool(listed.out.strip("\0"))


_LOAD_TESTS = re.compile(rb"^def load_tests\(", re.MULTILINE)
_HOOK_SCAN_BYTES = 1024 * 1024  # a test module, not data: what is past this is not read


async def unittest_hooks_note(repo: GitRepo) -> str | None:
    """A note when a test module defines unittest's `load_tests` hook, which pytest never calls:
    the tests it adds (doctests through `doctest.DocTestSuite`, generated suites) are not in a
    pytest sweep, so a mutant only they kill is reported Survived; None when there is none."""
    listed = await repo.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                            *_TEST_FILES[:2], ":(glob)**/tests/**/*.py", ":(glob)**/test/**/*.py")  # fmt: skip
    found: list[str] = []
    for name in sorted(set(filter(None, listed.out.split("\0")))):
        try:
            with (repo.root / name).open("rb") as fh:
                head = fh.read(_HOOK_SCAN_BYTES)
        except OSError:
            continue
        if _LOAD_TESTS.search(head):
            found.append(name)
    if not found:
        return None
    named = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return (f"{named} define(s) unittest's load_tests hook, which pytest does not call: the tests it adds "
            "(doctests through doctest.DocTestSuite, generated suites) are not run by this sweep, so a mutant "
            "only they kill is reported Survived; to count them pass --test-cmd 'python -m unittest' (or, for "
            "doctests, --pytest-args=--doctest-modules)")


def split_args(text: str | None) -> list[str]:
    """`--pytest-args "-m 'not slow' --deselect t.py::x"` as an argument list (shell quoting)."""
    if not text:
        return []
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageProblem(f"cannot split --pytest-args {text!r}: {exc}", where="--pytest-args",
                           fix="quote the arguments as in a shell") from None  # fmt: skip


def _test_run(options: SweepOptions, table_cmd: str | None, table_args: list[str], config: str
              ) -> tuple[str | None, list[str]]:  # fmt: skip
    """(test command, pytest arguments): the flags win over the `[mutation]` table as a pair, since
    they are two ways of running the tests (the table's `pytest_args` never refuses `--test-cmd`);
    only the two given together, both as flags or both in the table, are refused."""
    if options.test_cmd is not None and options.pytest_args:
        where, fix = "--pytest-args / --test-cmd", "drop --test-cmd"
    elif options.test_cmd is not None or options.pytest_args:
        return options.test_cmd, list(options.pytest_args)
    elif table_cmd is not None and table_args:
        where, fix = f"[mutation] pytest_args / test_cmd in {config}", "drop test_cmd there"
    else:
        return table_cmd, table_args
    raise UsageProblem(
        "pytest arguments and a test command do not go together: the arguments extend the built-in pytest runs",
        where=where,
        fix=f"{fix} (pytest with your arguments keeps per-test selection and the fast executor), "
            "or put the arguments into the command",
    )  # fmt: skip


def configured(root: Path, options: SweepOptions) -> SweepOptions:
    """The options with the repository's `[mutation]` defaults and the interpreter filled in."""
    table = load_repo_config(root).mutation
    if options.test_cmd is not None and not options.test_cmd.strip():  # `sh -c ""` passes: nothing killed
        raise UsageProblem("--test-cmd is empty, and an empty command passes whatever the code does",
                           where="--test-cmd", fix="name the command that runs the tests, or drop --test-cmd "
                                                   "(the sweep then runs pytest)")
    test_cmd, pytest_args = _test_run(options, table.test_cmd, list(table.pytest_args), config_file(root))
    # The table's path is the repository's (its tests run in worker trees, never in the directory
    # the sweep was started in): made absolute against the root, as `--python` is against the cwd.
    from_table = None
    if not options.python:
        from_table = interpreter.resolve_python(
            table.python, root, where=f"[mutation] python in {config_file(root)}",
            relative_to="set an existing interpreter there, relative to the repository's root")
    python = interpreter.check_exists(options.python or from_table or interpreter.project_python())
    return replace(options, test_cmd=test_cmd, pytest_args=pytest_args, python=python)


async def collect(repo: GitRepo, options: SweepOptions) -> tuple[Collected, list[Mutant]]:
    """The sweep's mutants (`--since`, `--shard`, `--operators`, then `--max-mutants`)."""
    shard = parse_shard(options.shard) if options.shard else None
    collected = await collect_mutants(repo.root, options.paths or None, since=options.since, shard=shard,
                                      operators=options.operators, include_invalid=True)  # fmt: skip
    mutants = collected.mutants[: options.max_mutants] if options.max_mutants is not None else collected.mutants
    return collected, mutants


async def discover(repo: GitRepo, options: SweepOptions
                   ) -> tuple[list[str], dict[str, set[int]] | None, dict[str, str]]:  # fmt: skip
    """The files a sweep mutates, `--since`'s changed lines and the files left out (file -> why);
    bad options fail here, before anything is written."""
    if options.shard:
        parse_shard(options.shard)
    check_operators(options.operators, tuple(dict.fromkeys(python_ops.OPERATORS + shell_ops.OPERATORS)))
    return await discover_files(repo.root, options.paths or None, since=options.since)


async def generate(root: Path, options: SweepOptions, files: list[str], changed: dict[str, set[int]] | None
                   ) -> tuple[Collected, list[Mutant]]:  # fmt: skip
    """The mutants of `discover`'s files (`--shard`, `--operators`, then `--max-mutants`), read
    from `root` (a sweep's snapshot of the checkout)."""
    shard = parse_shard(options.shard) if options.shard else None
    collected = await generate_mutants(root, files, changed, shard=shard, operators=options.operators,
                                       include_invalid=True)  # fmt: skip
    mutants = collected.mutants[: options.max_mutants] if options.max_mutants is not None else collected.mutants
    return collected, mutants


@dataclass
class DryRun:
    """What a sweep would mutate, without running anything."""

    total: int
    by_file: dict[str, int]
    by_operator: dict[str, int]
    invalid: int  # mutants that do not compile: CompileError without running
    skipped: dict[str, str] = field(default_factory=dict)
    by_file_operator: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"total": self.total, "by_file": self.by_file, "by_operator": self.by_operator,
                "compile_errors": self.invalid, "skipped": self.skipped,
                "by_file_operator": self.by_file_operator}  # fmt: skip

    def text(self) -> str:
        lines = [f"{self.total} mutants in {len(self.by_file)} file(s) (nothing run: --dry-run)"]
        width = max((len(f) for f in self.by_file), default=4)
        lines.append(f"{'file':<{width}}  mutants  operators")
        for file, n in self.by_file.items():
            ops = ", ".join(f"{op} {k}" for op, k in self.by_file_operator[file].items())
            lines.append(f"{file:<{width}}  {n:>7}  {ops}")
        lines.append("by operator: " + ", ".join(f"{op} {n}" for op, n in self.by_operator.items()))
        if self.invalid:
            lines.append(f"{self.invalid} of them do not compile (CompileError, not run)")
        lines += [f"skipped {path}: {why}" for path, why in self.skipped.items()]
        return "\n".join(lines) + "\n"


async def dry_run(cwd: Path, options: SweepOptions) -> DryRun:
    repo = await GitRepo.discover(cwd)
    collected, mutants = await collect(repo, options)
    per_file: dict[str, Counter[str]] = {}
    for m in mutants:
        per_file.setdefault(m.target, Counter())[m.fault] += 1
    operators = Counter(m.fault for m in mutants)
    return DryRun(
        total=len(mutants), by_file={f: sum(c.values()) for f, c in sorted(per_file.items())},
        by_operator=dict(operators.most_common()), invalid=sum(not m.valid for m in mutants),
        skipped=dict(collected.skipped),
        by_file_operator={f: dict(c.most_common()) for f, c in sorted(per_file.items())},
    )  # fmt: skip


def duration_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def custom_command_cost(command: str, suite_s: float, mutants: int, workers: int) -> str:
    """What a custom test command costs: the whole command, in a new process, for every mutant."""
    parallel = max(1, min(workers or os.cpu_count() or 1, max(1, mutants)))
    estimate = suite_s * mutants / parallel
    text = (f"custom --test-cmd: every mutant runs the whole command in a new process (no per-test "
            f"selection, no fork executor): {suite_s:.1f}s on the clean tree x {mutants} mutant(s) / "
            f"{parallel} worker(s) = about {duration_text(estimate)}")  # fmt: skip
    if "pytest" in command:
        text += "; for pytest, pass its arguments with --pytest-args (or [mutation] pytest_args) to keep both"
    return text
