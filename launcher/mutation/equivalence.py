"""The trivial-compiler-equivalence pre-filter (DESIGN 15): proven equivalents at no cost.

The original module and each mutant are compiled by the interpreter that runs the tests, in
the tests' environment (so with their optimisation level: `-O` drops `if __debug__:` bodies and
asserts), and their code objects are compared recursively (`equivalence_probe.py` says what is
compared; line tables, positions and file names are not). CPython's optimiser folds constants
(`2 * 2` and `2 + 2` are both `4`) and drops unreachable code (after a `return`, under
`if False:`), so mutants there compile to the very same code as the original: `equivalent`,
proven, and neither run nor sent to the judge. Two mutants compiling to the same code are one
program: the first (by index) is tested, the others are `duplicate`s of it.

A mutant that changes only a docstring or only annotations is not equivalent (a test can read
`__doc__` or `__annotations__`); it is tested as usual and reported as its own class. A mutant
that adds or removes a line is never claimed equivalent: the lines after it move, and
tracebacks and warnings print line numbers. Whatever cannot be proven (the probe fails, a file
does not compile) is simply not filtered, so the filter's precision stays 1.0.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher import process
from launcher.mutation.discover import read_source
from launcher.mutation.model import LINE_END, Mutant

PROBE = Path(__file__).with_name("equivalence_probe.py")
EQUIVALENT = "equivalent"  # compiles to the original's code: proven equivalent
DUPLICATE = "duplicate"  # compiles to the same code as an earlier mutant
DOCSTRING_ONLY = "docstring-only"  # differs from the original only in a docstring
ANNOTATION_ONLY = "annotation-only"  # differs only in annotations
FILTERED = frozenset({EQUIVALENT, DUPLICATE})  # settled without a test run


@dataclass(frozen=True)
class Finding:
    kind: str  # one of the four above
    reason: str  # said in the reports (the Stryker statusReason)


def _eligible(m: Mutant) -> bool:
    """A valid Python mutant that moves no later line (line tables are not compared; a test may
    read them): as many line ends, by Python's count (a lone CR is one), before and after."""
    ends = LINE_END["python"]
    return m.language == "python" and m.valid and len(ends.findall(m.replaced)) == len(ends.findall(m.replacement))


def _request(root: Path, mutants: Sequence[Mutant], levels: Sequence[int]) -> dict[str, Any]:
    by_file: dict[str, list[Mutant]] = {}
    for m in mutants:
        if _eligible(m):
            by_file.setdefault(m.target, []).append(m)
    files = []
    for target, group in sorted(by_file.items()):
        path = root / target
        source = read_source(path) if path.is_file() else ""
        fresh = [m for m in group if source[m.start : m.end] == m.replaced]  # a stale mutant is not judged
        if fresh:
            spans = [{"id": m.id, "start": m.start, "end": m.end, "replacement": m.replacement} for m in fresh]
            files.append({"path": target, "source": source, "mutants": spans})
    return {"levels": list(levels), "files": files}


def classify(mutants: Sequence[Mutant], answer: Mapping[str, Any]) -> dict[str, Finding]:
    """The findings (by mutant id) from the probe's answer; mutants without one are not listed."""
    files, found = answer.get("files") or {}, {}
    levels = answer.get("levels") or [answer.get("optimize", 0)]
    compiler = f"CPython {answer.get('python', '?')}, optimize level {'/'.join(map(str, levels))}"
    first_of: dict[str, Mutant] = {}  # full fingerprint -> the first mutant compiling to it
    for m in sorted(mutants, key=lambda m: m.index):
        entry = files.get(m.target) or {}
        original, mine = entry.get("original"), (entry.get("mutants") or {}).get(m.id)
        if not original or not mine:
            continue
        if mine[0] == original[0]:
            found[m.id] = Finding(EQUIVALENT, f"equivalent: compiles to the original's code ({compiler})")
        elif mine[0] in first_of:
            twin = first_of[mine[0]]
            found[m.id] = Finding(DUPLICATE, f"duplicate of mutant #{twin.index} {twin.id}: the same compiled "
                                             f"code ({compiler})")  # fmt: skip
        else:
            first_of[mine[0]] = m
            if mine[1] == original[1]:
                found[m.id] = Finding(DOCSTRING_ONLY, "changes only a docstring: not equivalent (a test can read "
                                                      "__doc__), tested as usual")  # fmt: skip
            elif mine[2] == original[2]:
                found[m.id] = Finding(ANNOTATION_ONLY, "changes only annotations: not equivalent (a test can "
                                                       "read __annotations__), tested as usual")  # fmt: skip
    return found


async def prefilter(root: Path, mutants: Sequence[Mutant], python: str, env: Mapping[str, str],
                    levels: Sequence[int] = (-1,)) -> tuple[dict[str, Finding], str]:  # fmt: skip
    """Compile every eligible mutant with `python` in `env` (the tests' interpreter and
    environment) at each optimisation level of `levels` (-1: the one `env` gives, as the tests
    run; a custom test command, which may run `python -O`, asks for 0, 1 and 2). Returns the
    findings and a one-line summary; on any failure of the probe, no finding and a summary
    saying why (nothing is claimed that was not proven)."""
    request = _request(root, mutants, levels)
    if not request["files"]:
        return {}, ""
    with tempfile.TemporaryDirectory(prefix="launcher-equivalence-") as scratch:
        request_path = Path(scratch) / "request.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        try:
            done = await process.run([python, str(PROBE), str(request_path)], cwd=root, env=env, timeout=600)
        except OSError as exc:
            return {}, f"equivalence pre-filter skipped: cannot run {python} ({exc})"
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode("utf-8", "replace")
        tail = said.strip().splitlines()[-1:] or ["no output"]
        return {}, f"equivalence pre-filter skipped: the probe failed under {python} ({tail[0]})"
    try:
        answer = json.loads((done.text.strip().splitlines() or [""])[-1])  # the last line: a sitecustomize may talk
    except json.JSONDecodeError:
        return {}, "equivalence pre-filter skipped: the probe's answer is not JSON"
    found = classify(mutants, answer)
    kinds = [f.kind for f in found.values()]
    summary = (f"equivalence pre-filter: {kinds.count(EQUIVALENT)} equivalent, {kinds.count(DUPLICATE)} duplicate "
               f"(not run, not judged); {kinds.count(DOCSTRING_ONLY)} docstring-only, "
               f"{kinds.count(ANNOTATION_ONLY)} annotation-only (tested)")  # fmt: skip
    return found, summary
