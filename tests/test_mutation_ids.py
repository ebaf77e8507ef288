"""Stable mutant ids (DESIGN 11): unchanged by edits elsewhere, changed by edits to the function."""

from __future__ import annotations

from pathlib import Path

from launcher.mutation.python_ops import generate_mutants

BASE = '''\
LIMIT = 3


def add(a, b):
    return a + b


def scale(a, factor=2):
    """Multiply."""
    if a > LIMIT:
        return a * factor
    return a - 1
'''


def ids(source: str, function: str, rel: str = "pkg/calc.py") -> dict[tuple[str, str, str], str]:
    """(fault, original line, mutated line) -> id, for one function's mutants."""
    found = generate_mutants(Path("calc.py"), source, rel)
    return {(m.fault, m.orig, m.mut): m.id for m in found if m.function == function}


def test_ids_are_unique_and_deterministic() -> None:
    first = generate_mutants(Path("calc.py"), BASE, "pkg/calc.py")
    again = generate_mutants(Path("calc.py"), BASE, "pkg/calc.py")
    assert [m.id for m in first] == [m.id for m in again]
    assert len({m.id for m in first}) == len(first)


def test_unrelated_edits_keep_ids() -> None:
    before = ids(BASE, "scale")
    assert len(before) == 6
    edited_other = BASE.replace("return a + b", "total = a + b + 1\n    return total")
    lines_above = "import os\n\n# a comment\n\n\n" + BASE
    moved = BASE.replace("LIMIT = 3\n", "") + "\n\nLIMIT = 3\n"
    reformatted = BASE.replace("return a * factor", "return (a *   factor)  # why\n\n")
    docless = BASE.replace('    """Multiply."""\n', '    """Multiply."""\n    # note\n')
    for variant in (edited_other, lines_above, moved, reformatted, docless):
        assert sorted(ids(variant, "scale").values()) == sorted(before.values())


def test_editing_the_function_changes_its_ids_only() -> None:
    before_scale, before_add = ids(BASE, "scale"), ids(BASE, "add")
    edited = BASE.replace("return a - 1", "return a - 2")
    after_scale = ids(edited, "scale")
    assert set(after_scale.values()).isdisjoint(before_scale.values())
    assert ids(edited, "add") == before_add


def test_module_level_ids_ignore_function_bodies() -> None:
    before = ids(BASE, "<module>")
    assert {key[2] for key in before} == {"LIMIT = 4", "def scale(a, factor=3):"}
    assert ids(BASE.replace("return a + b", "return b + a"), "<module>") == before
    assert ids(BASE.replace("LIMIT = 3", "LIMIT = 5"), "<module>") != before


def test_pragma_and_operator_choice_do_not_shift_other_ids() -> None:
    before = ids(BASE, "scale")
    pragma = BASE.replace("if a > LIMIT:", "if a > LIMIT:  # pragma: no mutate")
    after = ids(pragma, "scale")
    assert after and set(after.items()) < set(before.items())
    numbers = {m.mut: m.id for m in generate_mutants(Path("c.py"), BASE, "pkg/calc.py", ["number"])}
    assert numbers["return a - 2"] == before[("number", "return a - 1", "return a - 2")]


def test_the_file_path_is_part_of_the_id() -> None:
    assert set(ids(BASE, "add").values()).isdisjoint(ids(BASE, "add", rel="other/calc.py").values())


def test_identical_redefinitions_get_distinct_ids() -> None:
    twice = "    def f(a):\n        return a + 1\n"
    source = f"import sys\nif sys.platform:\n{twice}else:\n{twice}"
    found = [m for m in generate_mutants(Path("c.py"), source, "c.py") if m.function.startswith("f")]
    assert {m.function for m in found} == {"f", "f#2"}
    assert len({m.id for m in found}) == len(found) == 6
