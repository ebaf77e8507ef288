"""Mutation reports: Stryker JSON (validated against the official schema), HTML, shard merge, show."""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import anyio
import jsonschema
import pytest
from conftest import git

from launcher.app.mutation import reports as mutation_reports
from launcher.errors import RunNotFound, UsageProblem
from launcher.mutation.discover import collect_mutants, filter_shard
from launcher.mutation.merge import load_run, merge_runs
from launcher.mutation.model import SURVIVOR_KEYS, Mutant, MutantStatus, number_mutants
from launcher.mutation.report_html import embed_json, render_html
from launcher.mutation.report_stryker import load_sources, sources_from_worktree, to_stryker
from launcher.mutation.results import MutantRecord, SweepMeta, write_outputs

DATA = Path(__file__).parent / "data"
SCHEMA_FILE = DATA / "mutation-testing-report-schema.json"
SCHEMA_VERSION = "3.8.4"  # of the npm package mutation-testing-report-schema (see the .md beside it)
STATUSES = ("Killed", "Survived", "NoCoverage", "Timeout")
CALC = '''"""Tiny calculator."""

BANNER = "<b>calc</b> & co"


def add(a, b):
    return a + b


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
'''
TESTS = [
    {"id": "tests/test_calc.py::test_add", "file": "tests/test_calc.py", "name": "test_add"},
    {"id": "tests/test_calc.py::test_clamp", "file": "tests/test_calc.py", "name": "test_clamp"},
    {"id": "tests/test_deploy.py::test_deploy[fast]", "file": "tests/test_deploy.py", "name": "test_deploy[fast]"},
]
T = TypeVar("T")


def arun(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kw: Any) -> T:
    return anyio.run(functools.partial(fn, *args, **kw))


def status_of(mutant: Mutant) -> str:
    """A status fixed by the stable id, so every shard of a sweep agrees with the full sweep."""
    return STATUSES[int(mutant.id, 16) % len(STATUSES)]


def result_for(mutant: Mutant) -> dict[str, Any]:
    status = status_of(mutant)
    covering = [t["id"] for t in TESTS if (t["file"] == "tests/test_deploy.py") == (mutant.language == "shell")]
    return {
        "status": status,
        "executor": "fork" if mutant.language == "python" else "generic",
        "duration_s": 0.0 if status == "NoCoverage" else 0.125,
        "killed_by": covering[:1] if status == "Killed" else [],
        "covered_by": [] if status == "NoCoverage" else covering,
    }


def records(mutants: list[Mutant]) -> list[MutantRecord]:
    out = []
    for m in mutants:
        r = result_for(m)
        out.append(
            MutantRecord(
                m,
                MutantStatus(r["status"]),
                r["executor"],
                r["duration_s"],
                r["killed_by"],
                r["covered_by"],
                import_time=m.import_time,
                note="re-checked in a fresh process" if r["status"] == "Timeout" else "",
            )
        )
    return out


def write_run(
    root: Path, name: str, mutants: list[Mutant], sweep_id: str = "", *, base: Path | None = None, **extra: Any
) -> Path:
    """A run dir as the sweep writes it (`results.write_outputs`), plus `extra` top-level keys."""
    run_dir = (base or root / ".launcher" / "mutation-runs") / name
    meta = SweepMeta(sweep_id or name, git(root, "rev-parse", "HEAD").strip(), root, "python -m pytest -q")
    write_outputs(run_dir, meta, records(mutants), {t["id"]: 0.01 for t in TESTS})
    if extra:
        patch(run_dir, **extra)
    return run_dir


def patch(run_dir: Path, **changes: Any) -> dict[str, Any]:
    data = json.loads((run_dir / "mutants.json").read_text())
    data.update(changes)
    (run_dir / "mutants.json").write_text(json.dumps(data))
    return data


def sweep_data(root: Path, mutants: list[Mutant], sweep_id: str, **extra: Any) -> dict[str, Any]:
    """The `mutants.json` of a sweep (in the sweep's own shape)."""
    return patch(write_run(root, sweep_id, mutants, base=root.parent / "scratch"), **extra)


def brief_shape(root: Path, mutants: list[Mutant], sweep_id: str) -> dict[str, Any]:
    """The minimal shape: `repo`, tests as a list, no recorded sources."""
    return {
        "sweep_id": sweep_id,
        "base_sha": git(root, "rev-parse", "HEAD").strip(),
        "repo": str(root),
        "test_cmd": "python -m pytest -q",
        "mutants": [{"mutant": m.model_dump(mode="json"), "result": result_for(m)} for m in mutants],
        "tests": TESTS,
    }


@pytest.fixture
def swept(tmp_path: Path) -> tuple[Path, list[Mutant]]:
    """A real repo with a Python package and a shell script, committed, and all their mutants."""
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "calc.py").write_text(CALC)
    shutil.copy(DATA / "mutation" / "sample.sh", root / "scripts" / "deploy.sh")
    (root / ".gitignore").write_text(".launcher/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    mutants = arun(collect_mutants, root, ["pkg", "scripts"]).mutants
    assert {m.target for m in mutants} == {"pkg/calc.py", "scripts/deploy.sh"}
    assert {status_of(m) for m in mutants} == set(STATUSES)
    return root, mutants


def validate(report: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(report)


def text_at(source: str, loc: dict[str, Any]) -> str:
    lines = source.split("\n")
    start, end = loc["start"], loc["end"]
    offset = [0]
    for line in lines:
        offset.append(offset[-1] + len(line) + 1)
    return source[offset[start["line"] - 1] + start["column"] - 1 : offset[end["line"] - 1] + end["column"] - 1]


# --- Stryker JSON ---------------------------------------------------------------------------------


def check_report(report: dict[str, Any], mutants: list[Mutant]) -> None:
    validate(report)
    assert report["schemaVersion"] == "2" and report["thresholds"] == {"high": 80, "low": 60}
    assert report["framework"]["name"] == "launcher"
    assert report["files"]["pkg/calc.py"]["language"] == "python"
    assert report["files"]["scripts/deploy.sh"]["language"] == "shell"
    assert report["files"]["pkg/calc.py"]["source"] == CALC
    by_id = {m.id: m for m in mutants}
    seen = set()
    for path, file in report["files"].items():
        for sm in file["mutants"]:
            m = by_id[sm["id"]]
            seen.add(m.id)
            result = result_for(m)
            assert (m.target, sm["mutatorName"], sm["replacement"]) == (path, m.fault, m.replacement)
            assert sm["status"] == result["status"] and sm["coveredBy"] == result["covered_by"]
            assert text_at(file["source"], sm["location"]) == m.replaced  # 1-based, end exclusive
            if sm["status"] == "Killed":
                assert sm["killedBy"] == result["covered_by"][:1] and "failed:" in sm["statusReason"]
            if sm["status"] == "NoCoverage":
                assert sm["testsCompleted"] == 0 and "killedBy" not in sm
            if sm["status"] == "Survived":
                assert sm["testsCompleted"] == (len(TESTS) if m.import_time else len(result["covered_by"]))
            assert sm["duration"] == result["duration_s"] * 1000
            assert sm["static"] is (m.scope_kind != "function")  # runs at import: Stryker's static
    assert seen == set(by_id)
    test_ids = {t["id"] for f in report["testFiles"].values() for t in f["tests"]}
    assert test_ids == {t["id"] for t in TESTS}
    assert report["testFiles"]["tests/test_deploy.py"]["tests"] == [
        {"id": "tests/test_deploy.py::test_deploy[fast]", "name": "test_deploy[fast]"}
    ]


def test_stryker_report_validates_against_the_official_schema(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    perf = {"setup_s": 1, "initial_run_s": 2.5, "mutation_s": 9}
    data = sweep_data(root, mutants, "m-20250101-000000-ab12", performance=perf)
    report = to_stryker(data)  # the sources the sweep recorded
    check_report(report, mutants)
    assert "3.8.4" in (DATA / "mutation-testing-report-schema.md").read_text() and SCHEMA_VERSION == "3.8.4"
    assert report["projectRoot"] == str(root) and report["config"]["sweep_id"] == "m-20250101-000000-ab12"
    assert report["performance"] == {"setup": 1000.0, "initialRun": 2500.0, "mutation": 9000.0}
    timeout = next(m for f in report["files"].values() for m in f["mutants"] if m["status"] == "Timeout")
    assert timeout["statusReason"].endswith("; re-checked in a fresh process")


def test_stryker_report_of_the_minimal_shape_with_sources_from_git(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    data = brief_shape(root, mutants, "r")  # `repo`, tests as a list, no recorded sources
    assert to_stryker(data)["files"]["pkg/calc.py"]["source"] == ""
    report = to_stryker(data, arun(load_sources, root, data["base_sha"], mutants))
    check_report(report, mutants)
    assert report["projectRoot"] == str(root)


def test_stryker_report_stays_valid_for_pending_mutants_unknown_tests_and_missing_sources(
    swept: tuple[Path, list[Mutant]],
) -> None:
    root, mutants = swept
    data = brief_shape(root, mutants[:3], "r")
    data["tests"] = []
    data["mutants"][0]["result"] = None  # a sweep interrupted before this mutant ran
    data["mutants"][1]["result"]["killed_by"] = ["tests/other.py::test_x"]
    report = to_stryker(data)  # no sources at all
    validate(report)
    statuses = [m["status"] for f in report["files"].values() for m in f["mutants"]]
    assert "Pending" in statuses
    assert {t["id"] for f in report["testFiles"].values() for t in f["tests"]} >= {"tests/other.py::test_x"}
    assert "source not available" in render_html(report)


def test_a_test_files_own_id_is_listed_under_that_file_not_an_unnamed_one(swept: tuple[Path, list[Mutant]]) -> None:
    """A mutant that breaks a test module's import is killed by the module itself (`tests/test_x.py`,
    no `::`): the report lists that id under its file; a pseudo-id stays under no file."""
    root, mutants = swept
    data = brief_shape(root, mutants[:2], "r")
    data["mutants"][0]["result"]["killed_by"] = ["tests/test_format.py"]
    data["mutants"][1]["result"]["killed_by"] = ["<collection>"]
    report = to_stryker(data)
    validate(report)
    assert report["testFiles"]["tests/test_format.py"]["tests"] == [
        {"id": "tests/test_format.py", "name": "tests/test_format.py"}]
    assert [t["id"] for t in report["testFiles"][""]["tests"]] == ["<collection>"]


def test_recorded_sources_that_do_not_fit_the_mutants_are_not_used(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    data = sweep_data(root, mutants, "s")
    data["files"]["pkg/calc.py"]["source"] = "# shifted\n" + CALC  # e.g. newlines translated on write
    assert to_stryker(data)["files"]["pkg/calc.py"]["source"] == ""
    assert to_stryker(data)["files"]["scripts/deploy.sh"]["source"] == (root / "scripts/deploy.sh").read_text()


def test_sources_come_from_the_base_commit_else_from_a_matching_work_tree(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    base = git(root, "rev-parse", "HEAD").strip()
    calc = root / "pkg" / "calc.py"
    calc.write_text("# edited after the sweep\n" + CALC)  # offsets no longer fit the work tree
    sources = arun(load_sources, root, base, mutants)
    assert sources["pkg/calc.py"] == CALC
    assert "pkg/calc.py" not in sources_from_worktree(root, mutants)
    # A sweep of uncommitted changes: the base commit does not fit, the work tree does.
    edited = arun(collect_mutants, root, ["pkg"]).mutants
    assert arun(load_sources, root, base, edited)["pkg/calc.py"].startswith("# edited after the sweep\n")


# --- HTML -------------------------------------------------------------------------------------------


def test_html_is_self_contained_and_shows_every_file_and_survivor(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    run_dir = write_run(root, "m-20250101-000000-ab12", mutants)
    data = load_run(run_dir)
    evil = "</script><script>alert(1)</script> & <!-- \u2028"
    data["mutants"][0]["mutant"]["rationale"] = evil
    report = to_stryker(data)
    page = render_html(report, title="Report <of> sweep")

    assert not re.search(r"https?://|(?:src|href)\s*=\s*(?![\"']?#)|<link|@import|url\(", page, re.I)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data and the renderer only
    assert evil not in page and html.escape(evil) in page
    assert "&lt;b&gt;calc&lt;/b&gt; &amp; co" in page  # the source is escaped, never markup
    for path in report["files"]:
        assert f">{html.escape(path)}</a>" in page
    rows = page[page.index('id="survivors"') : page.index("<section")]
    ids = {m.index: m.id for m in mutants}
    survivors = [json.loads(x) for x in (run_dir / "survivors.jsonl").read_text().splitlines()]
    assert survivors
    for s in survivors:
        assert f"<code>{ids[s['id']]}</code>" in rows and html.escape(s["mut"]) in rows
    uncovered = [m for m in mutants if status_of(m) == "NoCoverage"]
    killed = [m for m in mutants if status_of(m) == "Killed"]
    assert uncovered and all(f"<code>{m.id}</code>" in rows for m in uncovered)  # undetected too
    assert killed and all(f"<code>{m.id}</code>" not in rows for m in killed)
    for m in mutants:
        assert f'id="m-{m.id}"' in page  # each mutant has its details, linked from the tables
    embedded = re.search(r'<script type="application/json" id="mutation-report">(.*?)</script>', page, re.S)
    assert embedded and json.loads(embedded.group(1)) == report


def test_embedded_json_cannot_close_its_script_tag() -> None:
    text = embed_json({"x": "</script><!--\u2028&"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"x": "</script><!--\u2028&"}


# --- merge ----------------------------------------------------------------------------------------


def shard_dirs(root: Path, mutants: list[Mutant], n: int = 3, **extra: Any) -> list[Path]:
    dirs = []
    for i in range(1, n + 1):
        part = number_mutants(filter_shard(mutants, i, n))  # what `sweep --shard i/n` records
        assert part, "every shard needs mutants for this test to mean something"
        dirs.append(write_run(root, f"m-2025010{i}-000000-000{i}", part, f"s{i}", **extra))
    return dirs


def test_merged_shards_equal_the_unsharded_sweep(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    full_dir = write_run(root, "full", mutants, base=root.parent / "scratch")
    full = load_run(full_dir)
    out = merge_runs(shard_dirs(root, mutants), root.parent / "merged")

    merged = load_run(out)

    def key(d: dict[str, Any]) -> list[tuple[str, int, str]]:
        return [(e["mutant"]["id"], e["mutant"]["index"], e["result"]["status"]) for e in d["mutants"]]

    assert key(merged) == key(full)
    assert merged["mutants"] == full["mutants"]
    assert merged["base_sha"] == full["base_sha"] and merged["merged_from"] == ["s1", "s2", "s3"]
    assert merged["tests"] == full["tests"] and merged["files"] == full["files"]
    assert (merged["counts"], merged["score"]) == (full["counts"], full["score"])

    survivors = (out / "survivors.jsonl").read_text()
    assert survivors and survivors == (full_dir / "survivors.jsonl").read_text()
    assert all(tuple(json.loads(x)) == SURVIVOR_KEYS for x in survivors.splitlines())
    summary = (out / "summary.txt").read_text()
    assert summary.startswith("Mutation sweep merged")
    assert summary.split("\n", 1)[1] == (full_dir / "summary.txt").read_text().split("\n", 1)[1]
    report, full_report = (json.loads((d / "report.json").read_text()) for d in (out, full_dir))
    assert report["mutants"] == full_report["mutants"] and report["summary"] == full_report["summary"]
    stryker = json.loads((out / "mutation-report.json").read_text())
    check_report(stryker, mutants)
    assert "scripts/deploy.sh" in (out / "mutation-report.html").read_text()


def test_merge_reads_sources_from_the_work_tree_when_the_shards_recorded_none(
    swept: tuple[Path, list[Mutant]],
) -> None:
    root, mutants = swept
    dirs = []
    for i in (1, 2):
        part = number_mutants(filter_shard(mutants, i, 2))
        dirs.append(root.parent / f"brief{i}")
        dirs[-1].mkdir()
        (dirs[-1] / "mutants.json").write_text(json.dumps(brief_shape(root, part, f"b{i}")))
    out = merge_runs(dirs, root.parent / "merged")
    merged = load_run(out)
    assert [t["id"] for t in merged["tests"]] == [t["id"] for t in TESTS]  # a list stays a list
    assert merged["files"]["pkg/calc.py"]["source"] == CALC
    check_report(json.loads((out / "mutation-report.json").read_text()), mutants)


def test_merge_rejects_runs_of_different_sweeps(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    dirs = shard_dirs(root, mutants)
    base = patch(dirs[1], base_sha="0" * 40)["base_sha"]
    with pytest.raises(UsageProblem, match="base_sha differs") as err:
        merge_runs(dirs, root / "merged")
    assert err.value.where == "base_sha" and not (root / "merged").exists()
    assert base == "0" * 40

    patch(dirs[1], base_sha=load_run(dirs[0])["base_sha"], test_cmd="pytest -x")
    with pytest.raises(UsageProblem, match="test_cmd differs"):
        merge_runs(dirs, root / "merged")
    patch(dirs[1], test_cmd=load_run(dirs[0])["test_cmd"], options={"operators": ["arithmetic"]})
    with pytest.raises(UsageProblem, match=r"sweep options differ \(operators\)"):
        merge_runs(dirs, root / "merged")
    patch(dirs[1], options={})
    assert merge_runs(dirs, root / "merged").is_dir()


def test_merge_rejects_conflicting_statuses_and_missing_shards(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    a = write_run(root, "a", mutants[:4])
    b = write_run(root, "b", mutants[2:6])
    assert merge_runs([a, b], root / "ok").exists()  # an overlap with the same statuses: fine
    data = load_run(b)
    data["mutants"][0]["result"]["status"] = "Killed" if status_of(mutants[2]) != "Killed" else "Survived"
    patch(b, mutants=data["mutants"])
    with pytest.raises(UsageProblem, match=f"mutant {mutants[2].id} .* in .* but"):
        merge_runs([a, b], root / "bad")
    data["mutants"][0]["result"]["status"] = "Sort of dead"
    patch(b, mutants=data["mutants"])
    with pytest.raises(UsageProblem, match="unknown mutant status"):
        merge_runs([a, b], root / "bad")

    dirs = shard_dirs(root, mutants)
    for i, d in enumerate(dirs, 1):  # runs that record their shard: a missing one is an error
        patch(d, shard=[i, 3])
    with pytest.raises(UsageProblem, match="missing shard"):
        merge_runs([dirs[0], dirs[2]], root / "partial")
    with pytest.raises(UsageProblem, match="one of the inputs"):
        merge_runs(dirs, dirs[0])
    with pytest.raises(UsageProblem, match=r"no mutants\.json"):
        merge_runs([root / "nowhere"], root / "x")
    (root / "broken").mkdir()
    (root / "broken" / "mutants.json").write_text("{not json")
    with pytest.raises(UsageProblem, match="not valid JSON"):
        merge_runs([root / "broken"], root / "x")


# --- the app: report, show, merge ---------------------------------------------------------------------


def test_report_formats_write_into_the_latest_run(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    write_run(root, "m-20250101-000000-ab12", mutants[:2], "old")
    latest = write_run(root, "20250102-000000", mutants, "new")
    write_run(root, "m-20241231-235959-ffff", mutants[:1], "older")

    path = arun(mutation_reports.report, root / "pkg", None, "stryker", None)
    assert Path(path) == latest / "mutation-report.json"
    check_report(json.loads(Path(path).read_text()), mutants)
    page = Path(arun(mutation_reports.report, root, None, "html", None))
    assert page == latest / "mutation-report.html" and "pkg/calc.py" in page.read_text()
    text = arun(mutation_reports.report, root, "m-20250101-000000-ab12", "text", None)
    assert text.startswith("Mutation sweep old") and "(2 mutants)" in text
    seed = json.loads(arun(mutation_reports.report, root, str(latest), "json", None))
    assert seed["summary"]["total"] == len(mutants)
    (latest / "report.json").unlink()  # regenerated from mutants.json when missing
    assert json.loads(arun(mutation_reports.report, root, None, "json", None))["mutants"] == seed["mutants"]
    out = root / "elsewhere.html"
    assert arun(mutation_reports.report, root, None, "html", out) == str(out) and out.read_text() == page.read_text()
    with pytest.raises(RunNotFound, match="no mutation run 'nope'"):
        arun(mutation_reports.report, root, "nope", "text", None)
    with pytest.raises(UsageProblem, match="unknown report format"):
        arun(mutation_reports.report, root, None, "xml", None)


def test_report_without_runs_says_how_to_make_one(swept: tuple[Path, list[Mutant]]) -> None:
    root, _ = swept
    with pytest.raises(RunNotFound, match="no mutation sweeps yet"):
        arun(mutation_reports.report, root, None, "text", None)
    with pytest.raises(RunNotFound, match="no mutation sweeps yet"):
        arun(mutation_reports.show, root, "abcdef")


def test_show_renders_the_mutant_as_a_diff_of_its_file(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    write_run(root, "m-20250101-000000-ab12", mutants)
    mutant = next(m for m in mutants if m.fault == "arithmetic" and m.target == "pkg/calc.py")
    diff = arun(mutation_reports.show, root, mutant.id)
    assert diff.startswith(
        f"mutant {mutant.id} #{mutant.index} in m-20250101-000000-ab12: arithmetic at pkg/calc.py:7:14 in add\n"
    )
    assert "--- a/pkg/calc.py\n+++ b/pkg/calc.py\n" in diff
    assert "\n-    return a + b\n+    return a - b\n" in diff
    assert f"status: {status_of(mutant)}" in diff
    assert arun(mutation_reports.show, root, f"#{mutant.index}") == diff
    assert arun(mutation_reports.show, root, mutant.id[:6]) == diff

    shell = next(m for m in mutants if m.target == "scripts/deploy.sh" and m.replaced == "-eq")
    shell_diff = arun(mutation_reports.show, root, shell.id)
    assert '\n-    if [ "$count" -eq 0 ]; then\n+    if [ "$count" -ne 0 ]; then\n' in shell_diff

    run_dir = root / ".launcher" / "mutation-runs" / "m-20250101-000000-ab12"
    patch(run_dir, files={})  # no recorded source, and none in the tree: from git at base
    (root / "pkg" / "calc.py").unlink()
    assert "\n-    return a + b\n+    return a - b\n" in arun(mutation_reports.show, root, mutant.id)
    with pytest.raises(UsageProblem, match="no mutant 'ffffffffffff'"):
        arun(mutation_reports.show, root, "ffffffffffff")


def test_app_merge_takes_run_names_and_writes_a_new_run(swept: tuple[Path, list[Mutant]]) -> None:
    root, mutants = swept
    names = [d.name for d in shard_dirs(root, mutants)]
    out = arun(mutation_reports.merge, root, [Path(n) for n in names], None)
    assert out.parent == root / ".launcher" / "mutation-runs" and out.name.endswith("-merged")
    assert len(load_run(out)["mutants"]) == len(mutants)
    assert arun(mutation_reports.report, root, out.name, "text", None).startswith(f"Mutation sweep {out.name}")
    latest = arun(mutation_reports.report, root, None, "text", None)
    assert latest.startswith(f"Mutation sweep {out.name}")
