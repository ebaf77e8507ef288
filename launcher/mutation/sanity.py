"""Sanity checks before mutating (DESIGN 11): a sweep whose checks fail would report nonsense.

1. The suite passes on the clean tree (else: the failing test names).
2. A forced-fail mutant (`raise AssertionError` before a covered statement) is killed: the tests
   really run the code in the worker tree (not an installed copy) and can fail.
3. A no-op mutant (`pass;` before the same statement) survives: the suite is deterministic and
   does not depend on the file's exact bytes.
"""

from __future__ import annotations

import ast
import itertools
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from launcher import process
from launcher.errors import EnvironmentProblem, ExitCode, LauncherError, UsageProblem
from launcher.mutation import interpreter
from launcher.mutation.coverage_map import IMPORT_CONTEXT, CoverageMap, SuiteRun
from launcher.mutation.discover import PYTHON_SUFFIXES, SHELL_SUFFIXES, read_source
from launcher.mutation.executor import Executor, MutantJob
from launcher.mutation.model import Language, Mutant, MutantStatus, excerpt, line_starts, position
from launcher.mutation.source_text import parse_quietly
from launcher.mutation.test_ids import in_suite_order, stable_selection

FORCED_FAIL = 'raise AssertionError("launcher forced fail")'
_SHOWN = 10


class SanityFailed(LauncherError):
    """A pre-mutation check failed; the sweep did not start (exit 1)."""

    default_key = "mutation_sanity"


class SanityEnvironment(SanityFailed, EnvironmentProblem):
    """The Python that runs the tests lacks what they need (pytest, coverage, a module the tests or
    the pytest arguments import): the machine's problem, not the suite's, so exit 3 as for a missing
    agent CLI (a CI job tells "fix the environment" from a failing suite or a score under
    --fail-under, both exit 1)."""

    exit_code = ExitCode.ENVIRONMENT


def _names(tests: Sequence[str]) -> str:
    shown = ", ".join(tests[:_SHOWN])
    return shown + (f" (and {len(tests) - _SHOWN} more)" if len(tests) > _SHOWN else "")


# What `python -m pytest` under `python -m coverage` says when either is missing.
_MISSING_TOOL = re.compile(r"No module named '?(pytest|coverage)'?(?:\s|$)")


# argparse's own line when pytest (or a plugin) does not know an option.
_UNRECOGNIZED = re.compile(r"^.*error: unrecognized arguments:.*$", re.MULTILINE)


def check_suite(run: SuiteRun, where: str, python: str = "python", lacking: Sequence[str] = (),
                user_args: Sequence[str] = ()) -> None:  # fmt: skip
    """The pytest suite passed on the clean tree (`python`: the interpreter that ran it, named in
    every error, since the wrong one is the likeliest cause; `lacking`: git-ignored files the main
    tree has and the worker tree lacks, e.g. a generated `version.py`, named in the fix;
    `user_args`: the user's own pytest arguments, the likeliest cause when they were given)."""
    fix = "make the suite pass on a clean checkout first (`python -m pytest`), then sweep again"
    if lacking:
        fix = (f"the worker trees are clean checkouts and lack git-ignored files the main tree has: "
               f"{_names(list(lacking))}; list those the tests need in .worktreeinclude (gitignore syntax) "
               f"and the sweep copies them, or else {fix}")  # fmt: skip
    given = f"your pytest arguments (--pytest-args / [mutation] pytest_args: {shlex.join(user_args)})"
    if user_args and not run.ok:
        fix = f"check {given} first, they go into every run (try `{python} -m pytest {shlex.join(user_args)}`); {fix}"
    who = interpreter.describe(python)
    rejected = _UNRECOGNIZED.search(run.output_tail) if run.exit_code == 4 else None
    if rejected or (user_args and run.exit_code == 4 and not run.failed):
        line = rejected.group(0).strip() if rejected else "pytest exit 4 (usage error)"
        cause = f"pytest does not accept {given}" if user_args else "pytest does not accept its arguments"
        raise SanityFailed(
            f"{line}: {cause} (run with {who}):\n{run.output_tail[-1500:]}", where=where,
            fix=(f"correct or drop the option in {given}, or install the plugin that provides it for {python}"
                 if user_args else fix),
            error_key="mutation_sanity:clean_suite_failed",
        )  # fmt: skip
    missing = _MISSING_TOOL.search(run.output_tail) if run.exit_code != 0 else None
    if missing:
        tool = missing.group(1)
        raise SanityEnvironment(
            f"{tool} is not installed for {who}, the Python that runs the tests", where=where,
            fix=f"install it there (`{python} -m pip install {tool}`), or {interpreter.PICK_ANOTHER}, "
                "or pass --test-cmd",
            error_key="mutation_sanity:tool_missing",
        )  # fmt: skip
    # A module the worker tree lacks because it is a git-ignored file of the main tree (a generated
    # `version.py`) is not the interpreter's fault: the failure below names those files.
    module = interpreter.missing_module(run.output_tail) if not run.ok and not lacking else None
    if module and any(module in arg for arg in user_args):  # `-p plugin` naming a module not installed
        raise SanityEnvironment(
            f"pytest cannot import {module!r} named in {given} (run with {who})", where=where,
            fix=f"correct {given}, or install {module} for {python}", error_key="mutation_sanity:module_missing",
        )  # fmt: skip
    if module:
        raise SanityEnvironment(
            f"the tests cannot import {module!r} with {who}, the Python that runs them", where=where,
            fix=f"{interpreter.PICK_ANOTHER}; or install {module} there (`{python} -m pip install ...`)",
            error_key="mutation_sanity:module_missing",
        )  # fmt: skip
    if run.timed_out:
        raise SanityFailed(f"the test suite did not finish on the clean tree with {who}", where=where, fix=fix)
    if run.failed:
        error = f"; first error: {run.first_error}" if run.first_error else ""
        raise SanityFailed(
            f"the test suite fails on the clean tree with {who}: {len(run.failed)} failing: "
            f"{_names(run.failed)}{error}",
            where=where, fix=fix, error_key="mutation_sanity:clean_suite_failed",
        )  # fmt: skip
    if run.exit_code == 5 and user_args:
        listing = f"{python} -m pytest --collect-only -q {shlex.join(user_args)}"
        raise SanityFailed(f"pytest collected no tests with {given} (run with {who})", where=where,
                           fix=f"{given} select no test: check their -k, -m, --deselect or paths "
                               f"(`{listing}` lists what they select)")  # fmt: skip
    if run.exit_code == 5:
        raise SanityFailed(f"pytest collected no tests (run with {who})", where=where,
                           fix="pass --test-cmd, or add tests")  # fmt: skip
    if run.exit_code != 0:
        raise SanityFailed(
            f"the test suite exited {run.exit_code} on the clean tree with {who}:\n{run.output_tail[-1500:]}",
            where=where, fix=fix,
        )


_WORKER_TREE = ("--test-cmd runs in a worker tree ({tree}), a clean checkout of the commit: git-ignored files "
                "such as .venv or build outputs are absent there")  # fmt: skip
_ABSOLUTE = ("give the program by its absolute path, or, for pytest, drop --test-cmd and pass --python PY "
             "(with --pytest-args): it keeps per-test selection too")  # fmt: skip


def program_of(command: str) -> str | None:
    """The program a shell command starts (its first word after `VAR=value` assignments)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    words = list(itertools.dropwhile(lambda w: re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", w), words))
    return words[0] if words else None


def check_program(command: str, tree: Path, main_root: Path) -> None:
    """A relative program path (`.venv/bin/python -m pytest`) must exist in the worker tree: a
    git-ignored one of the main tree (a virtualenv) is not there, said at once (exit 2)."""
    program = program_of(command)
    if not program or "/" not in program or program.startswith(("/", "~", "$")):
        return
    if (tree / program).exists() or not (main_root / program).exists():
        return  # (not in either: the baseline run fails and says so)
    raise UsageProblem(
        f"{program} is not in the worker tree: " + _WORKER_TREE.format(tree=tree) + f"; it is in the main tree "
        f"({main_root / program})", where="--test-cmd",
        fix=f"{_ABSOLUTE} (e.g. --test-cmd {shlex.quote(command.replace(program, str(main_root / program), 1))})",
    )  # fmt: skip


def check_command(done: process.Completed, command: str, where: str, tree: Path | None = None) -> None:
    """A custom test command passed on the clean tree (run in the worker tree `tree`)."""
    if not done.ok:
        why = "did not finish" if done.timed_out else f"exited {done.returncode}"
        fix = "make the command pass on a clean checkout first"
        if tree is not None:
            fix = (_WORKER_TREE.format(tree=tree) + f"; {fix}"
                   + (f"; {_ABSOLUTE}" if done.returncode in (126, 127) else ""))  # fmt: skip
        raise SanityFailed(
            f"the test command {command!r} {why} on the clean tree:\n{(done.text + done.err)[-1500:]}",
            where=where, fix=fix, error_key="mutation_sanity:clean_suite_failed",
        )  # fmt: skip


def _insertion(rel: str, source: str, offset: int, text: str, kind: str) -> Mutant:
    language: Language = "shell" if rel.endswith(SHELL_SUFFIXES) else "python"
    starts = line_starts(source, language)
    line, col = position(starts, offset) if source else (1, 1)
    orig, mut = excerpt(source, starts, offset, offset, text, language) if source else ("", text.strip())
    return Mutant(
        id=f"sanity-{kind}", fault=f"sanity_{kind}", language=language,
        target=rel, line=line, col=col, end_line=line, end_col=col, function="<sanity>",
        scope_kind="function", scope_hash="", scope_lines=(line, line), rationale=f"sanity check: {kind}",
        orig=orig, mut=mut, start=offset, end=offset, replaced="", replacement=text,
    )  # fmt: skip


@dataclass
class Probes:
    forced: Mutant
    noop: Mutant
    tests: list[str]  # [] = the whole suite


def covered_probes(cov: CoverageMap, files: Sequence[str]) -> Probes | None:
    """Probes before the first statement of a function body that a test executes."""
    for rel in files:
        if not rel.endswith(PYTHON_SUFFIXES):
            continue
        source = read_source(cov.root / rel)
        try:
            tree = parse_quietly(source)
        except SyntaxError:
            continue
        starts = line_starts(source)
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for fn in sorted(functions, key=lambda n: n.lineno):
            for stmt in fn.body:
                if hasattr(stmt, "body") or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
                    continue  # compound statement or docstring: no `x; y` form
                offset = starts[stmt.lineno - 1] + stmt.col_offset  # (col_offset counts UTF-8 bytes)
                lead = source[starts[stmt.lineno - 1] : offset]
                contexts = cov.contexts(rel, stmt.lineno)
                # Ids every process resolves, in the suite's order (a test may need an earlier one).
                tests = in_suite_order(stable_selection(contexts - {IMPORT_CONTEXT}), cov.run.durations)
                # Not a line that also runs at import: a probe there breaks importing the package,
                # and the selected tests then fail to collect instead of failing.
                # (Nor the second statement of `x = 1; y = 2`.)
                if tests and IMPORT_CONTEXT not in contexts and not lead.strip():
                    return Probes(
                        _insertion(rel, source, offset, FORCED_FAIL + "; ", "forced_fail"),
                        _insertion(rel, source, offset, "pass; ", "noop"), tests,
                    )  # fmt: skip
    return None


def import_probes(root: Path, files: Sequence[str]) -> Probes | None:
    """Probes at the top of a module (or script): for a custom command, whose tests are unknown."""
    for rel in files:
        source = read_source(root / rel)
        if rel.endswith(SHELL_SUFFIXES):
            offset = source.index("\n") + 1 if source.startswith("#!") and "\n" in source else 0
            return Probes(_insertion(rel, source, offset, "exit 97\n", "forced_fail"),
                          _insertion(rel, source, offset, ":\n", "noop"), [])  # fmt: skip
        try:
            tree = parse_quietly(source)
        except SyntaxError:
            continue
        body = [
            s for s in tree.body
            if not (isinstance(s, ast.ImportFrom) and s.module == "__future__")
            and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ]  # fmt: skip
        if body:
            offset = line_starts(source)[body[0].lineno - 1]
            return Probes(_insertion(rel, source, offset, FORCED_FAIL + "\n", "forced_fail"),
                          _insertion(rel, source, offset, "pass\n", "noop"), [])  # fmt: skip
    return None


async def check_probes(executor: Executor, probes: Probes, timeout_s: float, suite_timeout_s: float = 0.0) -> None:
    """The forced failure is killed and the no-op survives, in a real worker. A narrowed probe
    that times out runs again with the whole suite under its limit (`suite_timeout_s`): the
    probe tests' measured time leaves out what earlier tests set up for them (a session fixture)."""
    where = f"{probes.forced.target}:{probes.forced.line}"
    checks: list[tuple[Mutant, MutantStatus, Literal["forced_fail", "noop"]]] = [
        (probes.forced, MutantStatus.KILLED, "forced_fail"), (probes.noop, MutantStatus.SURVIVED, "noop"),
    ]  # fmt: skip
    for mutant, expected, kind in checks:
        tests = probes.tests
        result = await executor.run(MutantJob(mutant, tests, timeout_s))
        if result.status is MutantStatus.TIMEOUT and tests and suite_timeout_s > timeout_s:
            tests = []
            result = await executor.run(MutantJob(mutant, tests, suite_timeout_s, suite_timeout_s=suite_timeout_s))
        if result.status is expected:
            continue
        ran = _names(tests) if tests else "the whole suite"
        if kind == "forced_fail":
            raise SanityFailed(
                f"a forced failure ({mutant.mut!r}) was not detected: {ran} still gave {result.status.value}",
                where=where, error_key="mutation_sanity:forced_fail_survived",
                fix="make the tests import the code from the work tree (an editable install or the repo "
                "root on sys.path, not an installed copy), and --test-cmd run the tests of the mutated code",
            )  # fmt: skip
        raise SanityFailed(
            f"a no-op change ({mutant.mut!r}) made {ran} give {result.status.value}: the suite is flaky "
            f"or depends on the file's exact bytes\n{result.output_tail[-1500:]}",
            where=where, error_key="mutation_sanity:noop_killed",
            fix="make the tests deterministic (seeds, time, order) before mutating",
        )  # fmt: skip
