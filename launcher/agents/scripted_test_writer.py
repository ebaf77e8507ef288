"""The built-in scripted test writer: kills survivors without a model (the demo and the tests).

Run as `python -m launcher.agents.scripted_test_writer PROMPT` in a task's worktree (the
`scripted-test-writer` agent of `launcher mutation fix`). The prompt's last ```json block names
the mutants (as `app/mutation_fix_plan` writes it). For each mutant of a top-level function it
searches for an argument tuple on which the original and the mutated function differ (numbers
and strings from the function's own constants, their neighbours, a few usual values) and writes
a test asserting the original's answer there: a literal value, a builtin exception, or for an
iterator (a generator) the list of its first PREFIX items; in a class, it asks its public methods
without arguments on instances built from those values. A mutant it finds no such input for
(answers that are objects, say) is reported missed. It stands in for an agent that reads the code.

LAUNCHER_TEST_WRITER_MODE (for tests): `kill` (default); `weak` writes a test that passes on
the mutant too; `wrong` asserts the mutant's answer, so it fails on the original code.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import itertools
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

_BLOCK = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
_USUAL: tuple[Any, ...] = (0, 1, -1, 2, 10, "", "a", None, True, False)
MAX_TRIES = 4000
PREFIX = 50  # the items of an iterator result compared, and asserted: `list(islice(f(...), 50))`


class Difference(NamedTuple):
    args: tuple[Any, ...]
    before: tuple[str, Any]  # ("value", v) or ("raises", exception type): the original's
    after: tuple[str, Any]  # the mutant's
    lazy: bool  # the original returns an iterator: the outcomes are its first PREFIX items
    suffix: str = ""  # after the call: `.method()` for a method of a class asked on an instance


def _namespace(source: str, path: str, package: str = "") -> dict[str, Any]:
    """`package`: the package the module is part of, so its relative imports (`from ._compat
    import X`, as most packages write them) resolve as they do when its tests import it."""
    namespace: dict[str, Any] = {"__name__": "_scripted_test_writer_probe", "__file__": path,
                                 "__package__": package or None}
    exec(compile(source, path, "exec"), namespace)  # the tree's own code, as its tests would run it
    return namespace


def _candidates(source: str, function: str) -> list[Any]:
    values: list[Any] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == function:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Constant) and not isinstance(inner.value, bool):
                    value = inner.value
                    if isinstance(value, int | float):
                        values += [value, value - 1, value + 1]
                    elif isinstance(value, str):
                        values.append(value)
    return list(dict.fromkeys([*values, *_USUAL]))


def _assertable(value: Any) -> bool:
    """A value the test can write as a literal that reads back equal (the assertion's right side):
    not an object's `<... at 0x...>` repr, a nan, or a class whose repr is not its value."""
    try:
        back = ast.literal_eval(repr(value))
        return type(back) is type(value) and bool(back == value)
    except Exception:  # a repr that is no literal, or an `==` that does not answer
        return False


def _builtin_exception(kind: type[BaseException]) -> bool:
    """An exception type the test can name without importing it (`pytest.raises(ValueError)`)."""
    return getattr(builtins, kind.__name__, None) is kind


def _arity(function: Any) -> int | None:
    """How many positional arguments a call must pass, None when the writer cannot call it
    (no signature, or a keyword-only parameter without a default). A wrapper made with
    functools.wraps (`@lru_cache`, most decorators) is read through its `__wrapped__`."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    required = [p for p in parameters if p.default is inspect.Parameter.empty]
    if any(p.kind is inspect.Parameter.KEYWORD_ONLY for p in required):
        return None
    return sum(1 for p in required if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD))


def _outcome(function: Any, args: tuple[Any, ...], lazy: bool | None) -> tuple[tuple[str, Any], bool]:
    """What the test's expression gives, and whether it is `lazy`: `function(*args)`, or for an
    iterator result (a generator; `lazy` None: whatever this call returns) the list of its first
    PREFIX items, so two generators compare by what they yield."""
    try:
        result = function(*args)
        lazy = isinstance(result, Iterator) if lazy is None else lazy
        return ("value", list(itertools.islice(result, PREFIX)) if lazy else result), lazy
    except Exception as exc:  # the test then asserts the exception type
        return ("raises", type(exc)), bool(lazy)


def _holds(outcome: tuple[str, Any], expected: tuple[str, Any]) -> bool:
    """Whether the assertion written for `expected` passes on `outcome` (as pytest would judge it)."""
    kind, value = outcome
    if expected[0] == "raises":
        return kind == "raises" and issubclass(value, expected[1])
    if kind != "value":
        return False
    want = ast.literal_eval(repr(expected[1]))
    if want is None or isinstance(want, bool):
        return value is want
    try:
        return bool(value == want)
    except Exception:  # the test's `==` would raise, failing the test
        return False


def _assertable_outcome(outcome: tuple[str, Any]) -> bool:
    kind, value = outcome
    return _builtin_exception(value) if kind == "raises" else _assertable(value)


def _method_call(cls: type, name: str) -> Any:
    return lambda *args: getattr(cls(*args), name)()


def _probes(original: Any, mutant: Any) -> list[tuple[str, Any, Any]]:
    """What to call: the callable itself (suffix ""), or for a class each public method that takes
    no argument, on an instance built from the probed arguments (suffix `.name()`)."""
    if not inspect.isclass(original):
        return [("", original, mutant)]
    probes: list[tuple[str, Any, Any]] = []
    for name, member in vars(original).items():
        if name.startswith("_") or not inspect.isfunction(member) or not inspect.isfunction(vars(mutant).get(name)):
            continue
        if _arity(member) != 1:  # `self` only
            continue
        before, after = (_method_call(cls, name) for cls in (original, mutant))
        probes.append((f".{name}()", before, after))
    return probes


def find_difference(source: str, mutated: str, path: str, function: str, package: str = "") -> Difference | None:
    """Arguments on which the two versions of `function` differ, with both outcomes: only where
    the test written from the original's outcome passes on the original (asked twice, so an answer
    that changes between calls is not taken) and fails on the mutant. For a class, its public
    methods without arguments are asked on instances. A callable whose answer is no literal (an
    object, a nan) gives no difference: the writer reports the mutant missed."""
    original = _namespace(source, path, package).get(function)
    mutant = _namespace(mutated, path, package).get(function)
    if not callable(original) or not callable(mutant):
        return None
    arity = _arity(original)
    if arity is None:
        return None
    for suffix, before_f, after_f in _probes(original, mutant):
        for args in itertools.islice(itertools.product(_candidates(source, function), repeat=arity), MAX_TRIES):
            before, lazy = _outcome(before_f, args, None)
            if not _assertable_outcome(before):
                continue
            after, _ = _outcome(after_f, args, lazy)
            if not _holds(after, before) and _holds(_outcome(before_f, args, lazy)[0], before):
                return Difference(args, before, after, lazy, suffix)
    return None


def _module_name(target: str) -> str:
    parts = target.removesuffix(".py").split("/")
    if parts[0] == "src":
        parts = parts[1:]
    return ".".join(p for p in parts if p != "__init__")


def _package_of(tree: Path, target: str) -> str:
    """The package `target` belongs to (its own name for an `__init__.py`), with the tree's import
    root put first on sys.path, so a relative import in it loads the tree's sibling modules (not
    an installed copy of the project)."""
    root = tree / "src" if target.startswith("src/") else tree
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = _module_name(target)
    return module if target.endswith("__init__.py") else module.rpartition(".")[0]


def _assertion(call: str, outcome: tuple[str, Any]) -> str:
    kind, value = outcome
    if kind == "raises":
        return f"    with pytest.raises({value.__name__}):\n        {call}\n"
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
    found = find_difference(source, mutated, str(tree / target), function, _package_of(tree, target))
    if found is None:
        return None
    args, before, after, lazy, suffix = found
    call = f"{function}({', '.join(repr(a) for a in args)}){suffix}"
    if lazy:
        call = f"list(itertools.islice({call}, {PREFIX}))"
    if mode == "weak":
        body = f"    assert {call} == {call}\n"
    else:
        body = _assertion(call, after if mode == "wrong" else before)
    rel = f"{test_dir.rstrip('/')}/test_kill_{mutant['id']}.py" if test_dir else f"test_kill_{mutant['id']}.py"
    text = (f'"""Kills mutant {mutant["id"]}: {mutant.get("orig", "")} -> {mutant.get("mut", "")}."""\n\n'
            "import itertools  # noqa: F401\n\nimport pytest  # noqa: F401\n\n"
            f"from {_module_name(target)} import {function}\n\n\n"
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
    # probing imports the tree's package: its bytecode would be new files in the task's tree
    # (`__pycache__/` where no .gitignore hides it), refused as changes outside the test scope
    sys.dont_write_bytecode = True
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
        except Exception as exc:  # the tree's module, run to probe it, failed: that mutant is missed
            misfits.append(f"mutant {mutant.get('id')}: probing {mutant.get('function')} in {mutant.get('target')} "
                           f"failed ({type(exc).__name__}: {exc}); a test for it needs an agent that reads "
                           "the code (`--agent NAME`)")
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
