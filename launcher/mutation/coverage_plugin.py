"""The code a sweep's coverage run loads into the project's own interpreter (DESIGN 11).

- `PLUGIN_SOURCE`, a pytest plugin (loaded with `-p`): switches coverage.py's context to the
  node id of each test (setup and teardown included), so a line's contexts are the tests that
  execute it. Two kinds of code do not belong to the test that happens to run them:
  - the setup of a fixture wider than a function (session, package, module, class scope) runs
    in the first test that needs it, while every later test using it reads the cached value. It
    gets the context `FIXTURE_PREFIX + name`, and the report lists, per such fixture, every test
    that used it (statically or by `request.getfixturevalue`): its lines select all of them.
  - a child process of a test (a CLI test running `python -m pkg`) is measured by coverage.py
    in that process (`SITECUSTOMIZE_SOURCE`), under the context of the test (or fixture) that
    started it, passed down in `CONTEXT_ENV`. A child that cannot be measured (started with an
    environment without our variables, or `python -I`/`-E`/`-S`, or a fork) is reported: such
    tests are selected for every mutant, since any line may run in that child. Those whose child
    imports the project from disk (any but a fork of the test process, a forkserver's workers
    included) are reported apart: the fork executor's in-memory mutant would not reach it.
- `SITECUSTOMIZE_SOURCE`: imported by every Python child of the coverage run (its directory is
  first on PYTHONPATH): starts coverage.py with `SUBPROCESS_RC_ENV`'s configuration
  (`coverage.process_startup`, any coverage.py version), then the `sitecustomize` it shadows.
- The plugin also records the names of the environment variables the pytest process reads
  through `os.environ`/`os.getenv` (`env_read`; `NAME?` when only tested for presence, `NAME*`
  when only read as one of the whole environment's, a copy for a child process), which
  the coverage map and the result keys are keyed on (`run_identity`).
"""

from __future__ import annotations

PLUGIN = "_launcher_mutation_plugin"
REPORT_ENV = "LAUNCHER_MUTATION_TESTS"
ONLY_ENV = "LAUNCHER_MUTATION_ONLY"  # a JSON list of test files: run only their tests (`--since`)
SKIP_ENV = "LAUNCHER_MUTATION_SKIP"  # a JSON list of test files not to collect at all
CONTEXT_ENV = "LAUNCHER_MUTATION_CONTEXT"  # the running test's context, for its child processes
SUBPROCESS_RC_ENV = "LAUNCHER_MUTATION_SUBPROCESS_RC"  # the children's coverage configuration
FIXTURE_PREFIX = "launcher-fixture:"  # the context of a wider-than-function fixture's setup
IMPORT_CONTEXT = ""

PLUGIN_SOURCE = f'''
import json, os, re, shutil, sys
import pytest
try:
    import coverage
except ImportError:
    coverage = None

_tests = {{}}
_current = [""]
_scoped = set()  # the wider-than-function fixtures that were set up
_uses = {{}}  # node id -> the fixtures its request used
_unmeasured = set()  # contexts that started a child process coverage cannot measure
_fresh = set()  # those of them whose child imports the project from disk (not a fork of the test)
_SUB_RC = os.environ.get("{SUBPROCESS_RC_ENV}")
_HERE = os.path.dirname(os.path.abspath(__file__))
if _SUB_RC:
    os.environ["COVERAGE_PROCESS_START"] = _SUB_RC  # only now: the run itself must not start it
_ISOLATING = re.compile(r"-[bBdiOqsuvx]*[IES][bBdEiIOqsSuvx]*")
# The environment variables the code and tests read: name -> 2 its value, 1 its value as one of
# the whole environment's (a copy, `{{**os.environ}}`, `.items()`), 0 its presence only
_env_read = {{}}
_Environ = type(os.environ)
_environ_getitem = _Environ.__getitem__
_environ_iter = _Environ.__iter__
_listed = {{}}  # names an iteration of os.environ yielded and not yet read: a copy reads each next


def _note_env(key, how):
    try:
        name = os.fsdecode(key)
    except TypeError:
        return
    _env_read[name] = max(_env_read.get(name, 0), how)


def _env_iter(self):
    for key in _environ_iter(self):
        _listed[key] = _listed.get(key, 0) + 1
        yield key


def _env_getitem(self, key):
    if _listed.get(key):
        _listed[key] -= 1
        _note_env(key, 1)
    else:
        _note_env(key, 2)
    return _environ_getitem(self, key)


def _env_contains(self, key):
    _note_env(key, 0)
    try:
        _environ_getitem(self, key)
    except KeyError:
        return False
    return True


_Environ.__getitem__ = _env_getitem  # os.getenv, os.environ.get/[]/in/setdefault all come here
_Environ.__contains__ = _env_contains
_Environ.__iter__ = _env_iter  # (keys(), items(), a copy: all iterate)


def _switch(context):
    _current[0] = context
    os.environ["{CONTEXT_ENV}"] = context
    cov = coverage.Coverage.current() if coverage is not None else None
    if cov is not None:
        cov.switch_context(context)


def _text(value):
    return os.fsdecode(value) if isinstance(value, (str, bytes, os.PathLike)) else ""


def _pythonish(program, env):
    """Whether a program is a Python interpreter or a script run by one (a console script)."""
    program = _text(program)
    if os.path.basename(program).startswith(("python", "pypy")) or program == sys.executable:
        return True
    found = program if os.sep in program else shutil.which(program, path=(env or os.environ).get("PATH"))
    try:
        with open(found, "rb") as fh:
            first = fh.readline(200)
    except (OSError, TypeError):
        return False
    return first.startswith(b"#!") and b"python" in first


def _measurable(executable, argv, env):
    argv = [_text(a) for a in ([argv] if isinstance(argv, (str, bytes)) else list(argv or []))]
    if len(argv) >= 3 and argv[1] == "-c" and os.path.basename(argv[0]) in ("sh", "bash", "dash", "zsh"):
        argv = argv[2].split()  # a shell command: judge its first program
        program = argv[0] if argv else ""
    else:
        program = _text(executable) or (argv[0] if argv else "")
    if env is not None:
        env = {{_text(k): _text(v) for k, v in dict(env).items()}}
    if not program or not _pythonish(program, env):
        return True  # not Python: nothing of the project can run there
    if env is not None and (env.get("COVERAGE_PROCESS_START") != _SUB_RC or _HERE not in env.get("PYTHONPATH", "")):
        return False
    for arg in argv[1:]:
        if not arg.startswith("-") or arg in ("-c", "-m"):
            break
        if _ISOLATING.fullmatch(arg):
            return False
    return True


def _audit(event, args):
    try:
        if event == "subprocess.Popen":
            ok = _measurable(args[0], args[1], args[3])
        elif event in ("os.posix_spawn", "os.exec"):
            ok = _measurable(args[0], args[1], args[2])
        elif event == "os.spawn":
            ok = _measurable(args[1], args[2], args[3])
        elif event == "os.fork":
            _unmeasured.add(_current[0])  # (a fork shares the test's memory: not fresh)
            return
        else:
            return
        if not ok:
            _unmeasured.add(_current[0])
            _fresh.add(_current[0])
    except Exception:
        _unmeasured.add(_current[0])
        _fresh.add(_current[0])


def _watch_forkserver():
    # A multiprocessing "forkserver" (the default start method from Python 3.14) starts its server
    # without an audit event, and the workers it forks are not measured: any line may run there,
    # imported from disk by the server.
    try:
        from multiprocessing import forkserver
    except ImportError:
        return
    connect = getattr(forkserver, "connect_to_new_process", None)  # (the server's bound method)
    if connect is None:
        return

    def connect_to_new_process(*args, **kwargs):
        _unmeasured.add(_current[0])
        _fresh.add(_current[0])
        return connect(*args, **kwargs)

    forkserver.connect_to_new_process = connect_to_new_process


if _SUB_RC:
    sys.addaudithook(_audit)
    _watch_forkserver()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _switch(item.nodeid)
    try:
        yield
    finally:
        _switch("")


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    scope = getattr(fixturedef, "scope", "function")
    scope = getattr(scope, "value", scope)
    if scope == "function":
        yield
        return
    outer = _current[0]
    _scoped.add(fixturedef.argname)
    _switch("{FIXTURE_PREFIX}" + fixturedef.argname)
    try:
        yield
    finally:
        _switch(outer)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    names = set(getattr(item, "fixturenames", None) or ())
    request = getattr(item, "_request", None)
    if request:
        try:
            names.update(request.fixturenames)  # with those asked for by getfixturevalue
        except Exception:
            pass
    _uses[item.nodeid] = names
    yield


if int(pytest.__version__.split(".")[0]) >= 7:
    _skip = set(json.loads(os.environ.get("{SKIP_ENV}") or "[]"))

    def pytest_ignore_collect(collection_path):
        # The suite's other test files are not even imported (collection is most of a small run).
        if os.path.realpath(str(collection_path)) in _skip:
            return True
        return None


def pytest_collection_modifyitems(session, config, items):
    # The whole collection still runs (the project's own configuration decides what a test is);
    # only the tests of the chosen files run.
    only = os.environ.get("{ONLY_ENV}")
    if not only:
        return
    wanted = set(json.loads(only))
    kept, dropped = [], []
    for item in items:
        path = str(getattr(item, "path", None) or item.fspath)
        (kept if os.path.realpath(path) in wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_runtest_logreport(report):
    entry = _tests.setdefault(report.nodeid, {{"duration": 0.0, "failed": False}})
    entry["duration"] += report.duration
    entry["failed"] = entry["failed"] or bool(report.failed)


def pytest_collectreport(report):
    if report.failed:
        _tests[report.nodeid or "<collection>"] = {{"duration": 0.0, "failed": True}}


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("{REPORT_ENV}")
    if path:
        users = {{name: sorted(t for t, used in _uses.items() if name in used) for name in _scoped}}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({{"tests": _tests, "exitstatus": int(exitstatus), "fixture_users": users,
                       "unmeasured_children": sorted(_unmeasured), "fresh_children": sorted(_fresh),
                       "env_read": sorted(n + ("?", "*", "")[v] for n, v in _env_read.items())}}, fh)
'''

SITECUSTOMIZE_SOURCE = f'''
# Written by launcher's mutation sweep for its coverage run: measure this child process of a test.
import os
import sys

if os.environ.get("COVERAGE_PROCESS_START") and os.environ.get("COVERAGE_PROCESS_START") == os.environ.get(
        "{SUBPROCESS_RC_ENV}"):
    try:
        import coverage
        coverage.process_startup()
    except Exception:
        pass


def _chain():
    import importlib.machinery
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_chain()
'''
