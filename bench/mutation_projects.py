"""The projects `bench/mutation.py` measures: one entry per project, with what each tool needs.

Every project comes from its PyPI source distribution (`pip download --no-binary :all:`), is
unpacked, gets mutmut's configuration appended to its `setup.cfg`, and is committed to a new git
repository: the base every tool and every ground-truth copy starts from. The quirks of each are
in its `quirks` (and in bench/README.md).
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mutation_common import extract_tar

MUTMUT_VERSION = "3.8.1"


@dataclass(frozen=True)
class Project:
    name: str  # the PyPI name
    version: str
    source_path: str  # mutmut's `source_paths`: the directory both tools mutate under
    not_mutated: tuple[str, ...]  # globs (relative to the project) neither tool mutates
    also_copy: tuple[str, ...] = ()  # what mutmut must copy into its `mutants/` tree besides the tests
    mutmut_pytest_args: tuple[str, ...] = ()  # mutmut's `pytest_add_cli_args`
    truth_pytest_args: tuple[str, ...] = ()  # added to the ground-truth run of the whole suite
    pythonpath: tuple[str, ...] = ()  # put first on PYTHONPATH by ground truth (a src layout)
    extra_packages: tuple[str, ...] = ()  # installed in the project's venv besides mutmut and pytest
    quirks: str = ""
    # Why the launcher makes fewer than `mutation_report.MUTANT_SHARE_FLOOR` of mutmut's mutants on
    # this project, when it does: a cause checked on the two tools' mutant lists, never a guess.
    # Empty: such a run misses the mutant-count target.
    fewer_mutants: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def sdist_name(self) -> str:
        return f"{self.name}-{self.version}.tar.gz"

    @property
    def venv_key(self) -> str:
        """Projects that need the same packages share one venv."""
        return "venv-" + "-".join(["base", *sorted(p.split("=")[0] for p in self.extra_packages)])

    def mutmut_config(self) -> str:
        """The `[mutmut]` section appended to the project's setup.cfg."""
        lines = ["", "[mutmut]", f"source_paths={self.source_path}", "do_not_mutate="]
        lines += [f"    {p}" for p in self.not_mutated]
        if self.also_copy:
            lines += ["also_copy=", *(f"    {p}" for p in self.also_copy)]
        if self.mutmut_pytest_args:
            lines.append("pytest_add_cli_args=" + " ".join(self.mutmut_pytest_args))
        return "\n".join(lines) + "\n"

    def mutated_files(self, base: Path) -> list[str]:
        """The files mutmut mutates (its source_paths minus do_not_mutate): the launcher gets the same."""
        return [
            rel
            for path in sorted((base / self.source_path).rglob("*.py"))
            if not self.excluded(rel := path.relative_to(base).as_posix())
        ]

    def excluded(self, rel: str) -> bool:
        return any(Path(rel).match(p) or rel.startswith(p.rstrip("*")) for p in self.not_mutated)


PROJECTS: dict[str, Project] = {
    p.name: p
    for p in (
        Project(
            "toolz",
            "1.2.0",
            source_path="toolz",
            not_mutated=("toolz/tests/*", "toolz/sandbox/tests/*", "toolz/curried/*", "toolz/__init__.py"),
            also_copy=("toolz.egg-info", "tlz"),
            quirks=(
                "mutmut appends a trampoline import (`_mutmut_mutated`, `MutantDict`) to every module it "
                "mutates; toolz's tests compare the namespaces of `toolz`, `toolz.curried` and "
                "`toolz.curried.operator`, so those modules are left unmutated (for both tools). mutmut "
                "copies the egg-info (`toolz.__version__`) and `tlz` into its `mutants/` tree."
            ),
        ),
        Project(
            "cachetools",
            "8.0.1",
            source_path="src",
            not_mutated=("tests/*",),
            pythonpath=("src",),
            quirks=(
                "src layout, not installed: mutmut puts `mutants/src` first on sys.path itself, the "
                "launcher finds `src` as an import root of its targets, ground truth sets PYTHONPATH=src. "
                "Caching decorators and `functools`-style wrappers built at import."
            ),
        ),
        Project(
            "parse",
            "1.22.4",
            source_path="parse",
            not_mutated=("tests/*",),
            mutmut_pytest_args=("--no-cov",),
            truth_pytest_args=("--no-cov",),
            extra_packages=("pytest-cov",),
            quirks=(
                "pyproject's addopts hold `--cov=parse ... --doctest-modules --doctest-glob=README.rst`: "
                "pytest-cov must be installed for the suite to start at all; mutmut gets "
                "`pytest_add_cli_args=--no-cov`, the launcher turns it off itself (`plugin_overrides`), "
                "ground truth runs with `--no-cov` (coverage never changes a verdict here: no fail-under). "
                "One module, `parse/__init__.py`, most of it regex building at call time."
            ),
        ),
    )
}


def select(names: str) -> list[Project]:
    """`toolz,parse` -> those projects, in that order; an unknown name is an error naming the known ones."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in PROJECTS]
    if unknown or not wanted:
        raise ValueError(f"unknown project(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(PROJECTS)}")
    return [PROJECTS[n] for n in dict.fromkeys(wanted)]


@dataclass
class Subject:
    project: Project
    base: Path  # the git repository every tool clones
    files: list[str] = field(default_factory=list)  # what both tools mutate


def fetch_sdist(project: Project, dest: Path, download: Callable[[Project, Path], None],
                cache: Path | None) -> Path:  # fmt: skip
    """The sdist in `dest`: copied from `cache` if it holds it, else `download(project, dest)`."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / project.sdist_name
    if not target.is_file() and cache is not None and (cache / project.sdist_name).is_file():
        shutil.copy2(cache / project.sdist_name, target)
    if not target.is_file():
        download(project, dest)
    if not target.is_file():
        raise FileNotFoundError(f"no {project.sdist_name} in {dest}: {sorted(p.name for p in dest.iterdir())}")
    return target


def unpack(project: Project, sdist: Path, work: Path) -> Path:
    """The sdist unpacked into `work/base` (owned by us: `filter="data"` drops the archive's owners,
    which git would call dubious), mutmut's configuration appended to its setup.cfg."""
    unpacked = work / "unpacked"
    with tarfile.open(sdist) as tar:
        extract_tar(tar, unpacked)
    base = work / "base"
    shutil.move(unpacked / f"{project.name}-{project.version}", base)
    with (base / "setup.cfg").open("a", encoding="utf-8") as fh:
        fh.write(project.mutmut_config())
    return base
