"""The built-in scripted test writer: kills survivors without a model (the demo and the tests).

Run as `python -m launcher.agents.scripted_test_writer PROMPT` in a task's worktree (the
`scripted-test-writer` agent of `launcher mutation fix`). The prompt's last ```json block names
the mutants (as `app/mutation_fix_plan` writes it). For each mutant of a top-level function it
searches for an argument tuple on which the original and the mutated function differ (numbers
and strings from the function's own constants, their neighbours, a few usual values) and writes
a test asserting the original's answer there. It stands in for an agent that reads the code.

LAUNCHER_TEST_WRITER_MODE (for tests): `kill` (default); `weak` writes a test that passes on
the mutant too; `wrong` asserts the mutant's answer, so it fails on the original code.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

_BLOCK = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
_USUAL: tuple[Any, ...] = (0, 1, -1, 2, 10, "", "a", None, True, False)
MAX_TRIES = 4000


def _namespace(source: str, path: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "_scripted_test_writer_probe", "__file__": path}
    exec(compile(source, path, "exec"), namespace)  # the tree's own code, as its tests would run it
    return namespace


def _candidates(source: str, function: str) -> list[Any]:
    values: list[Any] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Constant) and not isinstance(inner.value, bool):
                    value = inner.value
                    if isinstance(value, int | float):
                        values += [value, value - 1, value + 1]
                    elif isinstance(value, str):
                        values.append(value)
    return list(dict.fromkeys([*values, *_USUAL]))


def _outcome(function: Any, args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "value", function(*args)
    except Exception as exc:  # the test then asserts the exception type
        return "raises", type(exc).__name__


def find_difference(source: str, mutated: str, path: str, function: str) -> tuple[tuple[Any, ...], Any, Any] | None:
    """Arguments on which the two versions of `function` differ, with both outcomes."""
    original, mutant = _namespace(source, path).get(function), _namespace(mutated, path).get(function)
    if not callable(original) or not callable(mutant):
        return None
    code = original.__code__
    arity = code.co_argcount - len(original.__defaults__ or ())
    for args in itertools.islice(itertools.product(_candidates(source, function), repeat=arity), MAX_TRIES):
        before, after = _outcome(original, args), _outcome(mutant, args)
        if before != after:
            return args, before, after
    return None


def _module_name(target: str) -> str:
    parts = target.removesuffix(".py").split("/")
    if parts[0] == "src":
        parts = parts[1:]
    return ".".join(p for p in parts if p != "__init__")


def _assertion(call: str, outcome: tuple[str, Any]) -> str:
    kind, value = outcome
    if kind == "raises":
        return f"    with pytest.raises({value}):\n        {call}\n"
    if value is None or isinstance(value, bool):
        return f"    assert {call} is {value!r}\n"
    return f"    assert {call} == {value!r}\n"


class MutantMisfit(ValueError):
    """The mutant's replaced text is not at its offsets in the tree's file: the code changed since
    the sweep, and splicing the replacement there would test some other change."""


def write_test(tree: Path, test_dir: str, mutant: dict[str, Any], mode: str) -> str | None:
    """The test file written for one mutant (relative path), or None when no difference was found.
    Raises MutantMisfit when the mutant does not fit the file."""
    target, function = str(mutant["target"]), str(mutant["function"])
    source = (tree / target).read_text(encoding="utf-8-sig")  # no BOM: the offsets index the text after it
    start, end = int(mutant["start"]), int(mutant["end"])
    replaced = mutant.get("replaced")
    if replaced is not None and source[start:end] != replaced:
        raise MutantMisfit(f"mutant {mutant['id']}: {target} does not hold {replaced!r} at offset {start} "
                           "(the code changed since the sweep: re-run `launcher mutation sweep`)")  # fmt: skip
    mutated = source[:start] + str(mutant["replacement"]) + source[end:]
    found = find_difference(source, mutated, str(tree / target), function)
    if found is None:
        return None
    args, before, after = found
    call = f"{function}({', '.join(repr(a) for a in args)})"
    if mode == "weak":
        body = f"    assert {call} == {call}\n"
    else:
        body = _assertion(call, after if mode == "wrong" else before)
    rel = f"{test_dir.rstrip('/')}/test_kill_{mutant['id']}.py" if test_dir else f"test_kill_{mutant['id']}.py"
    text = (f'"""Kills mutant {mutant["id"]}: {mutant.get("orig", "")} -> {mutant.get("mut", "")}."""\n\n'
            f"import pytest  # noqa: F401\n\nfrom {_module_name(target)} import {function}\n\n\n"
            f"def test_{function}_kills_{mutant['id']}():\n{body}")  # fmt: skip
    (tree / rel).parent.mkdir(parents=True, exist_ok=True)
    (tree / rel).write_text(text, encoding="utf-8")
    return rel


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m launcher.agents.scripted_test_writer PROMPT", file=sys.stderr)
        return 2
    blocks = _BLOCK.findall(argv[1])
    if not blocks:
        print("scripted test writer: the prompt has no ```json block of mutants", file=sys.stderr)
        return 2
    request = json.loads(blocks[-1])
    mode = os.environ.get("LAUNCHER_TEST_WRITER_MODE", "kill")
    tree = Path.cwd()
    written: list[str] = []
    missed: list[str] = []
    misfits: list[str] = []
    for mutant in request.get("mutants", []):
        try:
            rel = write_test(tree, str(request.get("test_dir", "tests")), mutant, mode)
        except MutantMisfit as exc:
            misfits.append(str(exc))
            continue
        (written if rel else missed).append(rel or str(mutant["id"]))
    contract_path = os.environ.get("LAUNCHER_CONTRACT")
    if contract_path:
        contract = {
            "contract_version": "1", "task_id": os.environ.get("LAUNCHER_TASK_ID", ""),
            "status": "done" if written else "blocked",
            "summary": f"Scripted test writer wrote {len(written)} test file(s).",
            "files_changed": written, "tests_added": written,
            "decisions": ["Asserted the original function's answer on an input where the mutant differs."],
            "blockers": [*misfits, *(f"no input found that tells mutant {m} apart" for m in missed)],
            "llm_observations": "Deterministic scripted test writer; no model was called.",
        }  # fmt: skip
        Path(contract_path).write_text(json.dumps(contract, indent=2), encoding="utf-8")
    for why in misfits:
        print(f"scripted test writer: {why}", file=sys.stderr)
    print(f"scripted test writer: {len(written)} test(s) written, {len(missed) + len(misfits)} mutant(s) without one")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
