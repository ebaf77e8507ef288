"""The two tools of the mutation benchmark, each run once from spawn to exit in its own clone:
`mutmut run` and `launcher mutation sweep`; their statuses, and each mutant applied to the real
source for ground truth."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mutation_common import BenchError, Entry, ToolRun, clean_env, git, log, must, read_text, run
from mutation_projects import MUTMUT_VERSION, Project, Subject, fetch_sdist, unpack

# Run by the venv's Python in mutmut's finished work tree, with mutmut's own API:
#   results OUT         every mutant: its file, exit code and mutmut's status name for it
#   apply NAMES OUT     each named mutant applied to the real source: the mutated function as
#                       mutmut generated it (its `mutants/` copy) replaces the original one.
# Not `mutmut apply`: 3.8.1 looks the function up by its bare name in any class, so a mutant of
# `curry.__init__` is written over the first `__init__` in the file (InstanceProperty's).
MUTMUT_HELPER = """\
import json, sys
from pathlib import Path

mode = sys.argv[1]
if mode == "results":
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    out = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in data.exit_code_by_key.items():
            out[name] = {"path": Path(path).as_posix(), "exit_code": code, "status": status_by_exit_code[code]}
    Path(sys.argv[2]).write_text(json.dumps(out), encoding="utf-8")
else:
    import libcst as cst
    from mutmut.mutation.diff_apply import find_mutant, read_functions_from_index, read_mutant_function
    from mutmut.mutation.diff_apply import read_mutants_module
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    def originals(module, func, cls):
        for node in module.body:
            if cls is None and isinstance(node, cst.FunctionDef) and node.name.value == func:
                yield node
            if cls is not None and isinstance(node, cst.ClassDef) and node.name.value == cls:
                for item in getattr(node.body, "body", ()):
                    if isinstance(item, cst.FunctionDef) and item.name.value == func:
                        yield item

    out = {}
    for name in json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")):
        path = "?"
        try:
            path = find_mutant(name).path
            text = Path(path).read_text(encoding="utf-8")
            module = cst.parse_module(text)
            func, cls = orig_function_and_class_names_from_key(name)
            found = list(originals(module, func, cls))
            if len(found) != 1:
                raise LookupError(f"{len(found)} definitions of {cls or ''}.{func} at the top of {path}")
            pair = read_functions_from_index(name, path)
            mutant = pair[1] if pair else read_mutant_function(read_mutants_module(path), name)
            mutant = mutant.with_changes(name=cst.Name(func), decorators=found[0].decorators,
                                         leading_lines=found[0].leading_lines)
            source = module.deep_replace(found[0], mutant).code
            if source == text:
                raise ValueError("the mutant does not change the source")
            compile(source, str(path), "exec")
            out[name] = {"path": Path(path).as_posix(), "source": source}
        except Exception as exc:
            out[name] = {"path": Path(path).as_posix(), "error": repr(exc)}
    Path(sys.argv[3]).write_text(json.dumps(out), encoding="utf-8")
"""


def make_venv(venvs: Path, project: Project) -> Path:
    """The project's venv under `venvs`: mutmut (pinned), pytest at the launcher venv's version and
    the project's extra packages; made once, reused when it is already there (`--venvs DIR`)."""
    venv = venvs / project.venv_key
    python = venv / "bin" / "python"
    done_marker = venv / ".bench-complete"
    if done_marker.is_file() and python.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venvs.mkdir(parents=True, exist_ok=True)
    log(f"creating a venv with mutmut=={MUTMUT_VERSION} {' '.join(project.extra_packages)} in {venv}")
    base = getattr(sys, "_base_executable", sys.executable)
    must(run([base, "-m", "venv", str(venv)], venvs, 300), "python -m venv")
    pytest_version = run([sys.executable, "-c", "import pytest; print(pytest.__version__)"], venvs, 60).stdout.strip()
    pins = [f"mutmut=={MUTMUT_VERSION}", f"pytest=={pytest_version}" if pytest_version else "pytest",
            *project.extra_packages]  # fmt: skip
    must(run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins], venvs, 900),
         "pip install " + " ".join(pins))  # fmt: skip
    done_marker.write_text(" ".join(pins) + "\n", encoding="utf-8")
    return python


def pip_download(python: Path) -> Callable[[Project, Path], None]:
    def download(project: Project, dest: Path) -> None:
        log(f"downloading the {project.name}=={project.version} sdist from PyPI")
        must(run([str(python), "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                  "--no-binary", ":all:", "-d", str(dest), f"{project.name}=={project.version}"], dest, 600),
             "pip download")  # fmt: skip

    return download


def make_subject(project: Project, work: Path, python: Path, sdist_cache: Path | None) -> Subject:
    """The project from its sdist (cached in `work/../sdist`, or taken from `sdist_cache`), mutmut's
    config added, one commit: the base every tool and every ground-truth copy starts from."""
    try:
        sdist = fetch_sdist(project, work.parent / "sdist", pip_download(python), sdist_cache)
    except FileNotFoundError as exc:
        raise BenchError(str(exc)) from None
    base = unpack(project, sdist, work)
    git(base, "init", "--quiet", "--initial-branch=main")
    git(base, "add", "-A")
    git(base, "commit", "--quiet", "-m", f"{project.label} sdist + mutmut config")
    return Subject(project, base, project.mutated_files(base))


def clone(base: Path, dest: Path) -> Path:
    git(base.parent, "clone", "--quiet", "--local", str(base), str(dest))
    return dest


# --- mutmut ---------------------------------------------------------------------------------


def run_mutmut(base: Path, work: Path, venv_python: Path, workers: int, tag: str = "") -> ToolRun:
    """`mutmut run` in a fresh clone (`repo-mutmut<tag>`), timed from spawn to exit."""
    repo = clone(base, work / f"repo-mutmut{tag}")
    tool = ToolRun(f"mutmut {MUTMUT_VERSION}", python=str(venv_python), repo=repo)
    mutmut = venv_python.parent / "mutmut"
    log(f"mutmut run --max-children {workers} (in {repo})")
    started = time.perf_counter()
    done = run([str(mutmut), "run", "--max-children", str(workers)], repo, 3600, out=work / f"mutmut{tag}.log")
    tool.wall_s = time.perf_counter() - started
    if done.returncode != 0:
        tool.error = f"mutmut run exited {done.returncode}:\n{done.stdout[-3000:]}"
        return tool
    own = re.findall(r"([\d.]+) mutations/second", done.stdout)
    if own:
        tool.notes.append(f"mutmut's own rate (mutation phase only): {own[-1]} mutations/second")
    helper = work / "mutmut_helper.py"
    helper.write_text(MUTMUT_HELPER, encoding="utf-8")
    results = work / f"mutmut-results{tag}.json"
    must(run([str(venv_python), str(helper), "results", str(results)], repo, 600), "mutmut results helper")
    for name, r in json.loads(results.read_text(encoding="utf-8")).items():
        tool.entries.append(Entry(name, r["status"], r["path"], note=f"exit code {r['exit_code']}"))
    if not tool.entries:
        tool.error = f"mutmut run reported no mutants (see {work / f'mutmut{tag}.log'}): nothing was measured"
        return tool
    stats = run([str(mutmut), "export-cicd-stats"], repo, 600)
    stats_file = repo / "mutants" / "mutmut-cicd-stats.json"
    if stats.returncode == 0 and stats_file.is_file():
        cicd = json.loads(stats_file.read_text(encoding="utf-8"))
        tool.data["cicd_stats"] = cicd
        if cicd.get("total") != len(tool.entries):
            tool.notes.append(f"export-cicd-stats total {cicd.get('total')} != {len(tool.entries)} in the meta files")
    return tool


def mutmut_sources(tool: ToolRun, work: Path, names: list[str]) -> dict[str, tuple[str, str | None, str]]:
    """name -> (file, mutated source or None, error): the function mutmut generated, in the real file."""
    assert tool.repo is not None
    names_file, out = work / "mutmut-apply-names.json", work / "mutmut-applied.json"
    names_file.write_text(json.dumps(names), encoding="utf-8")
    helper = work / "mutmut_helper.py"
    must(run([tool.python, str(helper), "apply", str(names_file), str(out)], tool.repo, 1800), "mutmut apply helper")
    applied = json.loads(out.read_text(encoding="utf-8"))
    return {n: (a["path"], a.get("source"), a.get("error", "")) for n, a in applied.items()}


# --- the launcher ---------------------------------------------------------------------------


def run_launcher(base: Path, work: Path, label: str, args: list[str], launcher_src: str | None,
                 files: list[str], python: Path, tag: str = "") -> ToolRun:  # fmt: skip
    """The launcher runs from this interpreter; the tests run in the venv's, as mutmut's do (the
    same pytest and plugins for both tools: another interpreter's plugins would cost every run)."""
    repo = clone(base, work / f"repo-{label}{tag}")
    tool = ToolRun(f"launcher ({label})", python=str(python), repo=repo)
    extra = {"XDG_CACHE_HOME": str(work / f"cache-{label}{tag}")}
    if launcher_src:
        extra["PYTHONPATH"] = os.pathsep.join(filter(None, [launcher_src, os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, "-m", "launcher", "mutation", "sweep", *files, "--json", "--no-cache",
            "--python", str(python), *args]  # fmt: skip
    log(f"launcher mutation sweep ({label}): {' '.join(argv[5 + len(files) :])} (in {repo})")
    started = time.perf_counter()
    done = run(argv, repo, 3600, env=clean_env(extra))
    tool.wall_s = time.perf_counter() - started
    (work / f"launcher-{label}{tag}.stderr").write_text(done.stderr)
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        summary = {}
    if done.returncode != 0 or "out_dir" not in summary:
        said = json.dumps(summary) if summary else done.stdout[-2000:]
        tool.error = f"launcher sweep exited {done.returncode}: {said}\n--- stderr (tail) ---\n{done.stderr[-2000:]}"
        return tool
    out_dir = Path(summary["out_dir"])
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    tool.data = json.loads((out_dir / "mutants.json").read_text(encoding="utf-8"))
    tool.data["summary"] = summary
    for m in report["mutants"]:
        status = _LAUNCHER_SEED.get(m["status"], m["status"])
        tool.entries.append(Entry(m["mutant_id"], status, m["target"], m["line"], m["fault"], m["executor"], m["note"]))
    tool.notes += [f"launcher note: {n}" for n in summary.get("notes", [])]
    if not tool.entries:
        tool.error = (f"launcher sweep reported no mutants of {len(files)} file(s) ({' '.join(files[:5])}"
                      f"{' ...' if len(files) > 5 else ''}): nothing was measured; its report is {out_dir}")
        return tool
    seconds: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    for m in tool.data.get("mutants", []):
        kind = time_kind(m["result"])
        seconds[kind] += m["result"]["duration_s"]
        runs[kind] += 1
    tool.data["time_by_kind"] = {k: {"mutants": runs[k], "seconds": round(seconds[k], 1)} for k in runs}
    tool.notes.append(
        "executor time (summed over workers) by kind: "
        + ", ".join(f"{k} {runs[k]} mutants / {seconds[k]:.0f}s" for k in sorted(runs, key=lambda k: -seconds[k]))
    )
    return tool


def time_kind(result: dict[str, Any]) -> str:
    """Where a launcher mutant's time went (from its mutants.json result)."""
    executor, status, note = result["executor"], result["status"], result.get("note", "")
    if executor == "fork":
        return "fork timeout (+ fresh re-check)" if status == "Timeout" else "fork"
    if executor == "generic":
        if "said Survived" in note:
            return "fork survivor re-run on generic"
        if result.get("import_time"):
            return "generic, import-time (whole suite)"
        return "generic, fork refused" if result.get("covered_by") else "generic, whole suite"
    return f"settled without running ({status})"


# report.json uses the seed's spellings (KILLED, NO_COVERAGE): back to the MutantStatus values.
_LAUNCHER_SEED = {
    "KILLED": "Killed", "SURVIVED": "Survived", "NO_COVERAGE": "NoCoverage", "TIMEOUT": "Timeout",
    "COMPILE_ERROR": "CompileError", "RUNTIME_ERROR": "RuntimeError", "IGNORED": "Ignored",
}  # fmt: skip


def launcher_sources(tool: ToolRun, base: Path, ids: list[str]) -> dict[str, tuple[str, str | None, str]]:
    """id -> (file, mutated source or None, error): `source[start:end]` replaced, on the clean file."""
    by_id = {m["mutant"]["id"]: m["mutant"] for m in tool.data.get("mutants", [])}
    found: dict[str, tuple[str, str | None, str]] = {}
    for mid in ids:
        m = by_id[mid]
        source = read_text(base / m["target"])
        if source[m["start"] : m["end"]] != m["replaced"]:
            found[mid] = (m["target"], None, f"expected {m['replaced']!r} at offset {m['start']}")
            continue
        found[mid] = (m["target"], source[: m["start"]] + m["replacement"] + source[m["end"] :], "")
    return found
