"""bench/mutation.py's project table and arithmetic (no network: sdists come from a local cache or
are never needed)."""

from __future__ import annotations

import configparser
import io
import sys
import tarfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from conftest import git  # noqa: E402
from mutation_common import Check, Entry, ToolRun  # noqa: E402
from mutation_projects import PROJECTS, Project, fetch_sdist, select, unpack  # noqa: E402
from mutation_report import ProjectResult, changed_between_rounds, disagreements_markdown, unclassified  # noqa: E402
from mutation_truth import GroundTruth, verify, weighted_agreement  # noqa: E402

import mutation  # noqa: E402


@pytest.mark.parametrize("project", list(PROJECTS.values()), ids=list(PROJECTS))
def test_every_project_entry_gives_mutmut_a_valid_config(project: Project) -> None:
    parser = configparser.ConfigParser()
    parser.read_string("[egg_info]\ntag_build =\n" + project.mutmut_config())
    section = parser["mutmut"]
    assert section["source_paths"] == project.source_path
    patterns = section["do_not_mutate"].split()
    assert patterns == list(project.not_mutated)
    # mutmut 3.8.1 rejects globs that end in neither `*` nor `.py`
    assert all(p.endswith(("*", ".py")) for p in patterns)
    assert section.get("also_copy", "").split() == list(project.also_copy)
    assert project.sdist_name == f"{project.name}-{project.version}.tar.gz"
    if any(p.startswith("pytest-cov") for p in project.extra_packages):
        # a `--cov` in the project's addopts: mutmut and ground truth turn it off (the launcher does itself)
        assert "--no-cov" in project.mutmut_pytest_args and "--no-cov" in project.truth_pytest_args


def test_the_named_projects_and_their_layouts() -> None:
    assert {"toolz": "1.2.0", "cachetools": "8.0.1", "parse": "1.22.4"}.items() <= {
        n: p.version for n, p in PROJECTS.items()
    }.items()
    assert PROJECTS["cachetools"].pythonpath == ("src",)  # src layout, not installed
    assert PROJECTS["parse"].venv_key != PROJECTS["toolz"].venv_key == PROJECTS["cachetools"].venv_key


def test_select_keeps_the_order_given_and_names_the_known_projects_on_a_typo() -> None:
    assert [p.name for p in select("parse, toolz,parse")] == ["parse", "toolz"]
    with pytest.raises(ValueError, match=r"unknown project.*nope.*known: toolz, cachetools, parse"):
        select("toolz,nope")


def test_an_unknown_project_is_a_failed_run_not_a_missed_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert mutation.main(["--projects", "nope"]) == 1
    assert "known: toolz" in capsys.readouterr().err


def test_both_tools_mutate_the_same_files_and_never_the_excluded_ones(tmp_path: Path) -> None:
    for rel in ("toolz/__init__.py", "toolz/itertoolz.py", "toolz/curried/operator.py", "toolz/tests/test_x.py",
                "toolz/sandbox/core.py", "toolz/sandbox/tests/test_y.py", "setup.py"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    assert PROJECTS["toolz"].mutated_files(tmp_path) == ["toolz/itertoolz.py", "toolz/sandbox/core.py"]


def _sdist(path: Path, top: str, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size, info.uid, info.uname = len(data), 4242, "someone-else"
            tar.addfile(info, io.BytesIO(data))


def test_a_cached_sdist_is_used_without_downloading_and_gets_mutmut_config(tmp_path: Path) -> None:
    project = PROJECTS["parse"]
    cache = tmp_path / "cache"
    cache.mkdir()
    _sdist(
        cache / project.sdist_name, "parse-1.22.4", {"setup.cfg": "[egg_info]\ntag_date = 0\n", "parse/__init__.py": ""}
    )

    def no_network(_p: Project, _d: Path) -> None:
        raise AssertionError("downloaded although the cache holds the sdist")

    sdist = fetch_sdist(project, tmp_path / "sdist", no_network, cache)
    base = unpack(project, sdist, tmp_path / "work")
    config = (base / "setup.cfg").read_text()
    assert config.startswith("[egg_info]") and "pytest_add_cli_args=--no-cov" in config
    assert (base / "parse" / "__init__.py").is_file()


def test_a_missing_sdist_is_downloaded_and_a_failed_download_says_what_is_there(tmp_path: Path) -> None:
    project = PROJECTS["toolz"]
    calls: list[str] = []

    def download(p: Project, dest: Path) -> None:
        calls.append(p.name)
        (dest / "unrelated.whl").write_text("")

    with pytest.raises(FileNotFoundError, match=r"no toolz-1.2.0.tar.gz in .*unrelated.whl"):
        fetch_sdist(project, tmp_path / "sdist", download, None)
    assert calls == ["toolz"]


def test_weighted_agreement_counts_every_undetected_and_scales_the_killed_sample() -> None:
    # 10 undetected checked, 9 agree; 100 detected, 20 sampled, 19 agree -> (9 + 0.95 * 100) / 110
    assert weighted_agreement(9, 10, 19, 20, 100) == pytest.approx(100 * (9 + 95) / 110)
    assert weighted_agreement(3, 3, 0, 0, 0) == 100.0
    assert weighted_agreement(0, 0, 0, 0, 5) is None  # detected ones, none sampled: no estimate


def test_apply_errors_are_left_out_of_the_agreement_and_rounds_keep_their_minimum() -> None:
    assert Check(checked=10, agree=8, apply_errors=["x: no"]).pct == pytest.approx(100 * 8 / 9)
    result = ProjectResult(PROJECTS["toolz"])
    mutants = [Entry(f"m{i}", "Killed", "m.py") for i in range(10)]
    mutmut_run, launcher_run = ToolRun("mutmut 3.8.1", list(mutants)), ToolRun("launcher (fast)", list(mutants))
    result.tools = [(mutmut_run, None), (launcher_run, Check(checked=200, agree=199))]
    result.walls = {"mutmut 3.8.1": [100.0, 90.0], "launcher (fast)": [50.0, 60.0]}
    assert result.wall_ratio() == pytest.approx(50.0 / 90.0)
    targets = result.targets()
    assert targets["agreement"]["pass"] and targets["agreement"]["value"] == pytest.approx(99.5)
    assert targets["wall_ratio"]["pass"]
    result.walls["launcher (fast)"] = [95.0, 91.0]
    assert not result.targets()["wall_ratio"]["pass"]
    launcher_run.error = "exited 1"
    assert result.wall_ratio() is None  # a failed run has no ratio


def test_unclassified_and_unstable_statuses_are_counted() -> None:
    first = ToolRun("launcher (fast)", [Entry("a", "Killed", "m.py"), Entry("b", "RuntimeError", "m.py")])
    second = ToolRun("launcher (fast)", [Entry("a", "Survived", "m.py"), Entry("b", "RuntimeError", "m.py")])
    assert unclassified(first) == 1
    assert changed_between_rounds([first, second]) == ["a"]


def _tiny_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "core.py").write_text("def add(a, b):\n    return a + b\n\n\nLIMIT = 3\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_core.py").write_text(
        "from pkg.core import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "tiny")
    return root


def test_ground_truth_judges_each_tools_claim_and_the_disagreement_shows_the_diff(tmp_path: Path) -> None:
    base = _tiny_project(tmp_path / "base")
    text = (base / "pkg" / "core.py").read_text()
    mutants = {
        "kill-claimed-right": text.replace("a + b", "a - b"),  # the test fails
        "survive-claimed-wrong": text.replace("a + b", "a * b"),  # 2*2 == 2+2: survives, tool says killed
        "survive-claimed-right": text.replace("LIMIT = 3", "LIMIT = 4"),  # nothing reads it
        "no-claim": text.replace("a + b", "b + a"),  # RuntimeError: never agrees
    }
    tool = ToolRun("launcher (fast)", python=sys.executable, entries=[
        Entry("kill-claimed-right", "Killed", "pkg/core.py", 2),
        Entry("survive-claimed-wrong", "Killed", "pkg/core.py", 2),
        Entry("survive-claimed-right", "Survived", "pkg/core.py", 5),
        Entry("no-claim", "RuntimeError", "pkg/core.py", 2),
    ])  # fmt: skip
    truth = GroundTruth(base, tmp_path, 2)

    def sources(ids: list[str]) -> dict[str, tuple[str, str | None, str]]:
        return {i: ("pkg/core.py", mutants[i], "") for i in ids}

    check = verify(tool, truth, base, sources, sample=10, seed=1, workers=2)
    assert (check.checked, check.agree) == (4, 2)
    assert [r["key"] for r in check.wrong_kills] == ["survive-claimed-wrong"]
    assert [r["key"] for r in check.no_claim] == ["no-claim"] and not check.wrong_survivors
    result = ProjectResult(PROJECTS["toolz"], tools=[(tool, check)])
    text_md = disagreements_markdown(result)
    assert "2 of 4 checked launcher mutants disagree" in text_md
    assert "-    return a + b\n+    return a * b" in text_md
    # the copies ground truth ran in are back to the clean source
    assert [(tmp_path / f"truth-{k}" / "pkg" / "core.py").read_text() for k in (0, 1)] == [text, text]
