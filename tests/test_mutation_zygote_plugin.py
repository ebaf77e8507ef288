"""A project that is also a pytest plugin: pytest imports its code before any test runs.

The generic executor's pytest runs fork a zygote that imported pytest and its `pytest11` plugins.
For a plugin project those plugins are the project's own modules, loaded in the zygote and kept in
every child it forks. The zygote must hold only the unmutated code: it starts on the clean tree,
before any mutant is written, and a run whose tree no longer matches a file it imported at start-up
goes to a fresh process. Otherwise a mutant of the first job stays loaded for every later run: a
mutant no test reads is reported Killed, and the clean order check "fails on the unmutated code".

The plugin is installed the way `pip install -e .` would make pytest see it: a `.dist-info` with a
`pytest11` entry point on the import path (the src root, first on every run's PYTHONPATH).
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from test_mutation_verdicts import make_repo, sweep

from launcher.git.repo import GitRepo
from launcher.mutation.discover import read_source
from launcher.mutation.executor import MutantJob
from launcher.mutation.executor_generic import GenericExecutor, TestCommand
from launcher.mutation.model import Mutant, MutantStatus
from launcher.mutation.python_ops import generate_mutants

PLUGIN_PROJECT = {
    "src/myplug/__init__.py": "",
    "src/myplug/core.py": "LIMIT = 10\n\n\ndef clamp(x):\n    if x > LIMIT:\n        return LIMIT\n    return x\n",
    "src/myplug/plugin.py": (
        "import pytest\n\nfrom myplug import core\n\n\n@pytest.fixture\ndef limit():\n    return core.LIMIT\n"
    ),
    "src/myplug/other.py": 'NAME = "other"\n\n\ndef shout(s):\n    return s.upper() + "!"\n',
    "src/myplug-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n",
    "src/myplug-0.1.dist-info/entry_points.txt": "[pytest11]\nmyplug = myplug.plugin\n",
    "tests/test_all.py": (
        "from myplug import core, other\n\n\n"
        "def test_limit(limit):\n    assert limit == 10\n\n\n"
        "def test_clamp():\n    assert core.clamp(50) == 10\n    assert core.clamp(3) == 3\n\n\n"
        'def test_shout():\n    assert other.shout("a") == "A!"\n'
    ),
    "pyproject.toml": '[tool.setuptools.packages.find]\nwhere = ["src"]\n',
    ".gitignore": "__pycache__/\n.launcher/\n",
}


def test_a_plugin_projects_mutants_get_the_whole_suites_verdicts(tmp_path: Path) -> None:
    """The first job is `LIMIT = 10 -> 11` in core.py, which the plugin imports when pytest starts:
    killed (test_limit and test_clamp read it). `NAME = "other"` is read by no test: with that mutant
    the whole suite passes, so it survives, whatever ran before it in the same worker."""
    root = make_repo(tmp_path / "p", PLUGIN_PROJECT)
    outcome = sweep(root, paths=["src/myplug/core.py", "src/myplug/other.py"], operators=["number", "string"])
    found = {(r.mutant.target, r.mutant.line): r.status for r in outcome.results}
    assert found[("src/myplug/core.py", 1)] is MutantStatus.KILLED
    assert found[("src/myplug/other.py", 1)] is MutantStatus.SURVIVED, outcome.results
    assert found[("src/myplug/other.py", 5)] is MutantStatus.KILLED  # "!" -> "XX!XX": test_shout
    assert not [note for note in outcome.notes if "order turned off" in note], outcome.notes


def _mutant(root: Path, target: str, replacement: str) -> Mutant:
    found = generate_mutants(root / target, read_source(root / target), target, operators=["number", "string"])
    return next(m for m in found if m.line == 1 and m.replacement == replacement)


def test_the_zygote_never_keeps_a_mutant_it_imported_for_a_later_run(tmp_path: Path) -> None:
    """Executor level, the zygote on: the plugin-imported core.py mutant first (a fresh process
    runs it), then the NAME mutant and a clean run, both of which pass on the files on disk."""
    root = make_repo(tmp_path / "p", PLUGIN_PROJECT)
    limit = _mutant(root, "src/myplug/core.py", "11")
    name = _mutant(root, "src/myplug/other.py", '"XXotherXX"')

    async def scenario() -> tuple[list[MutantStatus], bool, int | None]:
        repo = await GitRepo.discover(root)
        executor = GenericExecutor(repo, tmp_path / "tree", await repo.rev_parse("HEAD"), TestCommand(sys.executable),
                                   zygote=True, roots=["src"])  # fmt: skip
        await executor.start()
        try:
            statuses = [(await executor.run(MutantJob(m, [], 60))).status for m in (limit, name)]
            clean = await executor.run_clean([], 60)
            assert executor.zygote is not None
            return statuses, clean.ok, executor.zygote.pid
        finally:
            await executor.stop()

    statuses, clean_ok, zygote_pid = anyio.run(scenario)
    assert zygote_pid is not None  # the zygote was in use, not bypassed
    assert statuses == [MutantStatus.KILLED, MutantStatus.SURVIVED]
    assert clean_ok  # the unmutated tree passes in the zygote after the mutant of a file it imported
