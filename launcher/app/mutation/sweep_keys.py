"""What a sweep keys its verdicts on and which tests each mutant's job runs: the mixin of the
sweep's state (app/mutation/sweep.py) that reads the coverage map, the worker tree's files and the
test command into a mutant's selection and its result keys (mutation/result_key.py), one per run
that can decide its verdict (`SelectionCheck.deciders`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from launcher import __version__
from launcher.app.mutation.key_basis import KeyBasis
from launcher.app.mutation.phases import Scope
from launcher.app.mutation.snapshot import Snapshot
from launcher.app.mutation.sweep_options import SweepOptions
from launcher.mutation.cache_readers import CacheReaders
from launcher.mutation.coverage_map import CoverageMap
from launcher.mutation.discover import is_test_file
from launcher.mutation.executor_generic import PYTEST_FLAGS, GenericExecutor, TestCommand
from launcher.mutation.model import Mutant
from launcher.mutation.result_key import SCHEMA, TestDigest, TreeFiles, cache_key, project_digest, state_digest
from launcher.mutation.run_identity import env_digest
from launcher.mutation.selection_check import SelectionCheck
from launcher.mutation.sweep import ForkSupport, executor_route, fork_support
from launcher.mutation.test_ids import in_suite_order


class SweepKeys:
    """The keying half of a sweep's state (`_Sweep` sets these attributes)."""

    options: SweepOptions
    command: TestCommand
    snapshot: Snapshot | None
    scope: Scope | None
    durations: dict[str, float]
    first: GenericExecutor | None
    tracked: list[str]
    ignored_key: str
    identity: str
    env: Mapping[str, str]
    began: float
    _tree_files: TreeFiles | None
    _digests: dict[int, TestDigest]
    _fork: tuple[ForkSupport | None] | None

    def _check(self) -> SelectionCheck | None:
        """The check of narrowed verdicts against the suite (`selection_check`), one per coverage map."""
        if self.scope is None or not self.durations:
            return None
        return SelectionCheck(self.durations, self.options.timeout_factor, self.options.timeout_min_s)

    @property
    def source_root(self) -> Path:
        assert self.snapshot is not None, "open_trees first"
        return self.snapshot.root

    def _digest(self, cov: CoverageMap | None) -> TestDigest:
        """What the verdicts planned with `cov` depend on besides the mutant (`result_key`)."""
        if id(cov) not in self._digests:
            project, skeletal = project_digest(self._tree(), cov.test_ids if cov is not None else [])
            test_files = [f for f in self.tracked if is_test_file(f)]
            self._digests[id(cov)] = TestDigest(self._tree(), test_files, project, skeletal)
        return self._digests[id(cov)]

    def _tree(self) -> TreeFiles:
        assert self.first is not None, "open_trees first"
        if self._tree_files is None:  # read while worker 1's tree is clean (no mutant written)
            self._tree_files = TreeFiles(self.first.root, self.tracked)
        return self._tree_files

    def basis(self) -> KeyBasis:
        """What this attempt keys its verdicts on (recorded, so a later resume can say why one is stale)."""
        cov = self.scope.cov if self.scope is not None else None
        return KeyBasis(self.began, SCHEMA, __version__, state_digest(self._tree(), self._command_key(cov)))

    def _fork_support(self) -> ForkSupport | None:
        """The fork executor the workers get (None: generic only), looked up once."""
        if self._fork is None:
            wanted = self.options.use_fork and self.command.is_pytest
            self._fork = (fork_support(self.source_root) if wanted else None,)
        return self._fork[0]

    def _key(self, m: Mutant, tests: list[str], cov: CoverageMap | None, in_child: bool,
             decided: list[str] | None = None) -> str:  # fmt: skip
        """The mutant's result key: with the executor its job goes to (`executor_route`) and the
        tests whose run decided its verdict (`decided`, None: its selection)."""
        route = executor_route(self._fork_support(), m, tests, in_child)
        return cache_key(m, tests, self._command_key(cov), self._digest(cov), route, decided)

    def _keys(self, m: Mutant, tests: list[str], cov: CoverageMap | None, in_child: bool) -> list[str]:
        """Every key a verdict of this job may be stored under: one per run that can decide it
        (`SelectionCheck.deciders`), the job's own selection first."""
        check = self._check()
        deciders = check.deciders(tests) if check is not None else [tests, []]
        return list(dict.fromkeys(self._key(m, tests, cov, in_child, each) for each in deciders))

    def timeout_key(self, key: str) -> str:
        """The key a Timeout is stored and found under: its limits too. A Timeout under a shorter
        limit says nothing of a longer one (`--timeout-factor 10` after a loaded machine's
        Timeouts ran none of them again, each still counted as detected)."""
        return f"{key}\0timeout:{self.options.timeout_factor!r}:{self.options.timeout_min_s!r}"

    def stored_under(self, keys: list[str]) -> set[str]:
        """The keys a verdict of `keys` may be stored under (a Timeout's with its limits)."""
        return {*keys, *map(self.timeout_key, keys)}

    def _command_key(self, cov: CoverageMap | None) -> str:
        """What the tests do for a mutant besides the files: the command (a custom one, or pytest
        with its flags: `--pytest-args`, `[mutation] pytest_args`, the plugin overrides), the
        interpreter by what it is (`run_identity`), the environment the tests read (the fixed
        list, and the variables `cov`'s clean run read), the ignored files copied."""
        command = self.command.custom or f"pytest:{self.command.python}"
        flags = json.dumps([] if self.command.custom else [*PYTEST_FLAGS, *self.command.extra])
        read = cov.run.env_read if cov is not None else []
        key = f"{command}\0flags:{flags}\0python:{self.identity}\0env:{env_digest(self.env, read)}"
        return key + (f"\0ignored:{self.ignored_key}" if self.ignored_key else "")

    def _selection(self, m: Mutant, cov: CoverageMap | None,
                   readers: CacheReaders | None) -> tuple[list[str], list[str], bool] | None:  # fmt: skip
        """(the tests to run, the tests that execute the line, import time); None: no test
        executes the line (NoCoverage)."""
        tests: list[str] = []  # [] = the whole suite: no coverage data, or import-time code
        covering: list[str] = []  # the tests that execute the line (the report's coveredBy)
        import_time = m.import_time
        if cov is not None and m.language == "python":
            selection = cov.select(m)
            if not selection.covered and m.valid:
                return None
            import_time = import_time or selection.import_time
            covering = list(selection.tests)
            tests = [] if import_time else covering
            if readers is not None and tests:  # code filling a module-level cache: its readers' tests too
                tests = readers.observers(cov, m, tests)
            tests = in_suite_order(tests, cov.run.durations)  # order-dependent tests pass as in the suite
        return tests, covering, import_time

    @staticmethod
    def _in_child(m: Mutant, cov: CoverageMap | None) -> bool:
        """A test runs the line in a child process that imports the file from disk."""
        return cov is not None and m.language == "python" and cov.select(m).in_child
