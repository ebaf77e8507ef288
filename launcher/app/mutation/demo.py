"""`launcher demo --mutation`: the mutation loop in a few seconds, without a model.

A sample package whose test misses a boundary; a sweep finds the survivor; `mutation fix` with
the built-in scripted test writer writes a test, the launcher's kill gate accepts it, it lands
and the sweep's score goes up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from launcher.app.context import EventSink
from launcher.app.demo import in_sample, init_sample_repo
from launcher.app.mutation.fix import FixOptions, FixSummary, fix_survivors
from launcher.app.mutation.sweep import SweepOptions, run_sweep

FILES = {
    "calc/__init__.py": "",
    "calc/core.py": '"""The demo\'s sample code."""\n\n\ndef is_adult(age):\n    return age >= 18\n',
    "tests/test_core.py": "from calc.core import is_adult\n\n\ndef test_is_adult():\n"
                          "    assert is_adult(30)\n    assert not is_adult(3)\n",
    ".gitignore": "__pycache__/\n",
}  # fmt: skip


@dataclass
class MutationDemo:
    repo: Path
    survivors: list[str]
    fix: FixSummary
    tests_written: dict[str, str]  # path -> text


def make_repo(root: Path) -> Path:
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    init_sample_repo(root, "calc: is_adult, tested far from its boundary")
    return root


async def run_mutation_demo(emit: EventSink, say: Callable[[str], None], root: Path) -> MutationDemo:
    """The mutation demo in the sample repo made in `root` (app/demo.new_sample_dir); an error
    removes or names the sample (`in_sample`)."""
    return await in_sample(root, lambda: _mutation_demo(emit, say, root))


async def _mutation_demo(emit: EventSink, say: Callable[[str], None], root: Path) -> MutationDemo:
    root = make_repo(root)
    say(f"sample repo: {root}")
    options = SweepOptions(paths=["calc/core.py"], workers=1, python=sys.executable, operators=["comparison"])
    outcome = await run_sweep(root, options, lambda _line: None)
    survivors = [f"{r.mutant.target}:{r.mutant.line} {r.mutant.orig!r} -> {r.mutant.mut!r}"
                 for r in outcome.results if r.status.undetected]  # fmt: skip
    say(f"sweep: score {outcome.score:.1f}%; survivor(s): {'; '.join(survivors) or 'none'}"
        if outcome.score is not None else "sweep: no mutant")  # fmt: skip
    fix = await fix_survivors(root, FixOptions(all_unjudged=True, python=sys.executable), emit)
    written = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
               for p in sorted((root / "tests").glob("test_kill_*.py"))}  # fmt: skip
    return MutationDemo(root, survivors, fix, written)
