"""Prove every "genuine" label of the Python calibration set: its killing test passes on the
original code and fails with the mutant applied.

Run: `python check_kills.py [SET_DIR]` (standard library + pytest, which the killing tests use).
It prints one JSON object: {"checked": N, "problems": [...], "results": [{"id", "original",
"mutant"}]} and exits 0 when every genuine entry is proven, 1 otherwise.

Layout of SET_DIR (this directory): `calibration-set.json` (the seed's format; `target` is
`<project>-<version>/<path in the sdist>`), the sdists' files under `<project>-<version>/` with
their licence, and `kills/test_<project>.py` whose `test_kill_<id>` kills survivor `<id>`.
Each test runs in a forked child that imports the project afresh from a scratch copy (the
original, or the original with one mutant applied), so no state leaks between mutants.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Where each project's packages are imported from, inside its sdist directory.
IMPORT_ROOTS = {"cachetools-8.0.1": "src", "toolz-1.2.0": ".", "parse-1.22.4": "."}
KILL_TIMEOUT_S = 20  # a mutant that hangs the killing test is killed by timeout


def _tidy(text: str) -> str:
    """As the sweep's excerpt does: the lines dedented and stripped."""
    return textwrap.dedent(text.rstrip("\r\n")).strip()


def apply_mutant(source: str, line: int, orig: str, mut: str) -> str:
    """The source with the survivor's `orig` lines (from `line`) replaced by `mut`."""
    lines = source.splitlines(keepends=True)
    count = orig.count("\n") + 1
    block = "".join(lines[line - 1 : line - 1 + count])
    if _tidy(block) != orig:
        raise ValueError(f"line {line} does not hold {orig!r} (it holds {block!r})")
    first = lines[line - 1]
    indent = first[: len(first) - len(first.lstrip())]
    ending = "\n" if block.endswith("\n") else ""
    new_block = textwrap.indent(mut, indent, lambda _: True) + ending
    if count > 1:  # keep the block's own relative indentation: orig's later lines are dedented alike
        new_block = indent + mut.replace("\n", "\n" + _common_indent(block)) + ending
    mutated = "".join(lines[: line - 1]) + new_block + "".join(lines[line - 1 + count :])
    if _tidy(new_block) != mut or mutated == source:
        raise ValueError(f"line {line}: cannot apply {mut!r}")
    return mutated


def _common_indent(block: str) -> str:
    dedented = textwrap.dedent(block)
    first = block.splitlines()[0]
    return first[: len(first) - len(dedented.splitlines()[0])]


def span_of(source: str, line: int, orig: str) -> tuple[int, int]:
    """Character offsets of the survivor's lines (indentation excluded), for the pre-filter."""
    lines = source.splitlines(keepends=True)
    start = sum(len(text) for text in lines[: line - 1])
    first = lines[line - 1]
    start += len(first) - len(first.lstrip())
    last = line - 1 + orig.count("\n")
    end = sum(len(text) for text in lines[: last + 1]) - (len(lines[last]) - len(lines[last].rstrip("\r\n")))
    return start, end


def _run_in_child(root: Path, kill_file: Path, name: str) -> str:
    """'pass', or why the test failed: run in a fork that imports the project from `root`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: fresh imports from root, one test, its outcome down the pipe
        os.close(read_end)
        outcome = "pass"
        try:
            signal.alarm(KILL_TIMEOUT_S)
            sys.path.insert(0, str(root))
            spec = importlib.util.spec_from_file_location(f"kills_{kill_file.stem}", kill_file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # pickle finds the test's classes by module name
            spec.loader.exec_module(module)
            getattr(module, name)()
            signal.alarm(0)
        except BaseException as exc:  # noqa: BLE001 - any failure is the mutant's death
            outcome = "fail: " + (traceback.format_exception_only(type(exc), exc)[-1].strip() or type(exc).__name__)
        os.write(write_end, outcome[:500].encode("utf-8", "replace"))
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 4096):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    said = b"".join(chunks).decode("utf-8", "replace")
    if not said:
        return f"fail: the child died (wait status {status}; timeout after {KILL_TIMEOUT_S}s is SIGALRM)"
    return said


def check(set_dir: Path) -> dict[str, Any]:
    try:  # imported once here, not in every child: the killing tests use it
        import pytest  # noqa: F401
    except ImportError:
        pass
    entries = json.loads((set_dir / "calibration-set.json").read_text(encoding="utf-8"))["calibration"]
    problems: list[str] = []
    results = []
    with tempfile.TemporaryDirectory(prefix="python-set-") as scratch:
        for entry in entries:
            project, _, path = entry["target"].partition("/")
            kill_file = set_dir / "kills" / f"test_{project.rsplit('-', 1)[0]}.py"
            name = f"test_kill_{entry['id']}"
            has_test = kill_file.is_file() and f"def {name}(" in kill_file.read_text(encoding="utf-8")
            if entry["ground_truth"] == "equivalent":
                if has_test:
                    problems.append(f"#{entry['id']}: labelled equivalent but {kill_file.name} has {name}")
                continue
            if not has_test:
                problems.append(f"#{entry['id']}: labelled genuine but no {name} in {kill_file.name}")
                continue
            import_root = IMPORT_ROOTS[project]
            original_root = Path(scratch) / f"{entry['id']}-original"
            mutant_root = Path(scratch) / f"{entry['id']}-mutant"
            shutil.copytree(set_dir / project / import_root, original_root)
            shutil.copytree(set_dir / project / import_root, mutant_root)
            relative = Path(path).relative_to(import_root) if import_root != "." else Path(path)
            target = mutant_root / relative
            try:
                target.write_text(apply_mutant(target.read_text(encoding="utf-8"), entry["line"], entry["orig"],
                                               entry["mut"]), encoding="utf-8")  # fmt: skip
            except ValueError as exc:
                problems.append(f"#{entry['id']}: {exc}")
                continue
            on_original = _run_in_child(original_root, kill_file, name)
            on_mutant = _run_in_child(mutant_root, kill_file, name)
            results.append({"id": entry["id"], "original": on_original, "mutant": on_mutant})
            if on_original != "pass":
                problems.append(f"#{entry['id']}: {name} does not pass on the original ({on_original})")
            if on_mutant == "pass":
                problems.append(f"#{entry['id']}: {name} passes with the mutant applied: it does not kill it")
    return {"checked": len(results), "problems": problems, "results": results}


def main() -> int:
    set_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    outcome = check(set_dir)
    print(json.dumps(outcome, indent=1))
    return 1 if outcome["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
