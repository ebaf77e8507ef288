"""A failed task's message is its check's first error line (README "Using it"), for the test
runners and compilers of any language, not the runner's closing tally; and a line is an error
line by its shape, never because a path in it (a task id such as `fix-error-page`) holds the word
"error". The outputs below are real (jest 29, cargo 1.95, Node 20's `node --test` on a pipe, gcc
and make), stdout then stderr as a check's `output_tail` holds them; the worktree path is the
launcher's, for a task `fix-error-page`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from helpers import task

from launcher.app.run.runner import RunOptions, start_run
from launcher.gates.check_summary import failure_line
from launcher.models.plan import validate_plan
from launcher.models.states import TaskState

JEST = (
    '\n'
    '> semver@7.8.6 test\n'
    '> jest\n'
    '\n'
    'PASS test/is-major-zero.test.js\n'
    'PASS test/semver.test.js\n'
    'FAIL test/broken.test.js\n'
    '  ● broken\n'
    '\n'
    '    expect(received).toBe(expected) // Object.is equality\n'
    '\n'
    '    Expected: 3\n'
    '    Received: 2\n'
    '\n'
    "    > 1 | test('broken', () => { expect(1 + 1).toBe(3) })\n"
    '        |                                      ^\n'
    '      2 |\n'
    '\n'
    '      at Object.toBe (test/broken.test.js:1:38)\n'
    '\n'
    'Test Suites: 1 failed, 2 passed, 3 total\n'
    'Tests:       1 failed, 3 passed, 4 total\n'
    'Snapshots:   0 total\n'
    'Time:        3.947 s\n'
    'Ran all test suites.\n'
)

CARGO_TEST = (
    '\n'
    'running 1 test\n'
    'test t::sums ... FAILED\n'
    '\n'
    'failures:\n'
    '\n'
    '---- t::sums stdout ----\n'
    '\n'
    "thread 't::sums' (32070) panicked at src/lib.rs:5:17:\n"
    'assertion `left == right` failed: one plus one\n'
    '  left: 2\n'
    ' right: 3\n'
    'stack backtrace:\n'
    '   0: __rustc::rust_begin_unwind\n'
    '             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5\n'
    '   1: core::panicking::panic_fmt\n'
    '             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14\n'
    '   2: core::panicking::assert_failed_inner\n'
    '             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:434:23\n'
    '   3: core::panicking::assert_failed::<u64, u64>\n'
    '             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:394:5\n'
    '   4: crate1::t::sums\n'
    '             at ./src/lib.rs:5:17\n'
    '   5: crate1::t::sums::{{closure}}\n'
    '             at ./src/lib.rs:5:14\n'
    '   6: core::ops::function::FnOnce::call_once\n'
    '             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\n'
    '   7: <fn() -> core::result::Result<(), alloc::string::String> as core::ops::function::FnOnce<()>>::'
    'call_once\n'
    '             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\n'
    'note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n'
    '\n'
    '\n'
    'failures:\n'
    '    t::sums\n'
    '\n'
    'test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.31s\n'
    '\n'
    '   Compiling crate1 v0.1.0 (/home/u/.cache/launcher/worktrees/r-86d89e27/r-20261206-164115-4500/fix-'
    'error-page)\n'
    '    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.26s\n'
    '     Running unittests src/lib.rs (target/debug/deps/crate1-fdbe6d07402c36e8)\n'
    'error: test failed, to rerun pass `--lib`\n'
)

CARGO_BUILD = (
    '   Compiling crate1 v0.1.0 (/home/u/.cache/launcher/worktrees/r-86d89e27/r-20261206-164115-4500/fix-'
    'error-page)\n'
    'error[E0425]: cannot find value `undefined_thing` in this scope\n'
    ' --> src/lib.rs:2:24\n'
    '  |\n'
    '2 | pub fn oops() -> u64 { undefined_thing }\n'
    '  |                        ^^^^^^^^^^^^^^^ not found in this scope\n'
    '\n'
    'For more information about this error, try `rustc --explain E0425`.\n'
    'error: could not compile `crate1` (lib) due to 1 previous error\n'
)

NODE_TEST = (
    'TAP version 13\n'
    '# Subtest: sum\n'
    'not ok 1 - sum\n'
    '  ---\n'
    '  duration_ms: 10.374698\n'
    "  location: '/home/u/.cache/launcher/worktrees/r-86d89e27/r-20261206-164115-4500/nt/sum.test.js:2:1'\n"
    "  failureType: 'testCodeFailure'\n"
    '  error: |-\n'
    '    Expected values to be strictly equal:\n'
    '    \n'
    '    2 !== 3\n'
    '    \n'
    "  code: 'ERR_ASSERTION'\n"
    "  name: 'AssertionError'\n"
    '  expected: 3\n'
    '  actual: 2\n'
    "  operator: 'strictEqual'\n"
    '  stack: |-\n'
    '    TestContext.<anonymous> (/home/u/.cache/launcher/worktrees/r-86d89e27/r-20261206-164115-4500/nt/'
    'sum.test.js:2:28)\n'
    '    Test.runInAsyncScope (node:async_hooks:206:9)\n'
    '    Test.run (node:internal/test_runner/test:796:25)\n'
    '    Test.processPendingSubtests (node:internal/test_runner/test:526:18)\n'
    '    node:internal/test_runner/harness:255:12\n'
    '    node:internal/process/task_queues:140:7\n'
    '    AsyncResource.runInAsyncScope (node:async_hooks:206:9)\n'
    '    AsyncResource.runMicrotask (node:internal/process/task_queues:137:8)\n'
    '  ...\n'
    '1..1\n'
    '# tests 1\n'
    '# suites 0\n'
    '# pass 0\n'
    '# fail 1\n'
    '# cancelled 0\n'
    '# skipped 0\n'
    '# todo 0\n'
    '# duration_ms 512.041722\n'
)

MAKE_TEST = (
    'cc -o t test.c\n'
    './t\n'
    "t: test.c:3: main: Assertion `add(1, 1) == 3' failed.\n"
    'make: *** [Makefile:2: test] Aborted\n'
)

MAKE_T = (
    "make: 't' is up to date.\n"
    "t: test.c:3: main: Assertion `add(1, 1) == 3' failed.\n"
    'Aborted\n'
)


def test_jest_gives_the_failing_test_and_what_it_expected() -> None:
    assert failure_line(JEST) == ("● broken: expect(received).toBe(expected) // Object.is equality; "
                                  "Expected: 3; Received: 2")


def test_jest_gives_the_error_a_test_threw() -> None:
    output = ("FAIL test/a.test.js\n  ● math › adds\n\n    TypeError: add is not a function\n\n"
              "      1 | test('adds', () => add(1, 2))\n\n      at Object.<anonymous> (test/a.test.js:1:24)\n\n"
              "Tests:       1 failed, 1 total\nRan all test suites.\n")
    assert failure_line(output) == "● math › adds: TypeError: add is not a function"


def test_cargo_test_gives_the_panic_message_not_cargo_s_closing_error() -> None:
    assert failure_line(CARGO_TEST) == "assertion `left == right` failed: one plus one (at src/lib.rs:5:17)"


def test_an_older_rust_panic_on_one_line() -> None:
    output = ("thread 'main' panicked at 'index out of bounds', src/main.rs:2:5\n"
              "error: test failed, to rerun pass `--lib`\n")
    assert failure_line(output) == "thread 'main' panicked at 'index out of bounds', src/main.rs:2:5"


def test_a_compile_error_is_not_a_path_that_holds_the_word_error() -> None:
    assert "fix-error-page" in CARGO_BUILD.splitlines()[0]
    assert failure_line(CARGO_BUILD) == "error[E0425]: cannot find value `undefined_thing` in this scope"


def test_node_test_gives_the_tap_error_not_its_yaml_key() -> None:
    assert failure_line(NODE_TEST) == "not ok 1 - sum: Expected values to be strictly equal: 2 !== 3"


def test_a_c_assert_under_make_gives_the_assertion_not_make_s_summary() -> None:
    assert failure_line(MAKE_TEST) == "t: test.c:3: main: Assertion `add(1, 1) == 3' failed."
    assert failure_line(MAKE_T) == "t: test.c:3: main: Assertion `add(1, 1) == 3' failed."


def test_compilers_and_linters_error_lines() -> None:
    assert failure_line("cc -c a.c\na.c:3:5: error: 'x' undeclared\nmake: *** [Makefile:2: a.o] Error 1\n") \
        == "a.c:3:5: error: 'x' undeclared"
    assert failure_line("src/a.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'.\n") \
        == "src/a.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'."
    assert failure_line("/w/error-handling/src/a.js\n  3:5  error  'x' is not defined  no-undef\n\n1 problem\n") \
        == "3:5  error  'x' is not defined  no-undef"
    assert failure_line("node:internal/modules/cjs/loader:1228\nError: Cannot find module 'leftpad'\n") \
        == "Error: Cannot find module 'leftpad'"


def test_a_path_holding_error_is_never_the_error_line() -> None:
    output = ("make: Entering directory '/w/error-handling'\n./run-tests\n2 of 3 passed\n"
              "make: Leaving directory '/w/error-handling'\nmake: *** [test] Error 1\n")
    assert failure_line(output) == "make: *** [test] Error 1"  # nothing better: the last line, as before


def test_pytest_keeps_its_first_error_line() -> None:
    pytest_output = ("ImportError while loading conftest '/w/fix-error-page/conftest.py'.\n"
                     "conftest.py:7: in <module>\n    from app import x\n"
                     "E   ImportError: cannot import name 'x' from 'app'\n=========== 1 error in 0.11s ===========\n")
    assert failure_line(pytest_output) == "ImportError: cannot import name 'x' from 'app'"
    assert failure_line("..F\nFAILED t.py::test_a - assert 1 == 2\n1 failed, 2 passed in 0.1s\n") \
        == "FAILED t.py::test_a - assert 1 == 2"


def run_check(repo: Path, task_id: str, check: str) -> Any:
    plan = validate_plan({"task": [{"id": task_id, "agent": "scripted", "prompt": "x", "checks": [check],
                                    "script": [{"write": "a.txt", "content": "a\n"}]}]}, "test plan")
    return task(anyio.run(start_run, repo, plan, RunOptions(), lambda _e: None), task_id)


def test_a_task_named_fix_error_page_fails_with_the_compiler_s_line(repo: Path) -> None:
    check = ("echo \"   Compiling crate1 v0.1.0 ($PWD)\" >&2; "
             "echo 'error[E0425]: cannot find value `undefined_thing` in this scope' >&2; exit 101")
    t = run_check(repo, "fix-error-page", check)
    assert t.state == TaskState.FAILED
    assert t.message.startswith("check failed: error[E0425]: cannot find value `undefined_thing` in this scope ("), \
        t.message
    assert t.message.endswith(", exit 101)"), t.message
