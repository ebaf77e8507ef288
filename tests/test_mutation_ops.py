"""Python mutation operators: each class mutates as expected, skips what it must, and compiles."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from launcher.errors import UsageProblem
from launcher.mutation.model import SURVIVOR_KEYS, Mutant, MutantStale, MutantStatus, mutation_score, number_mutants
from launcher.mutation.python_ops import OPERATORS, generate_mutants

DATA = Path(__file__).parent / "data" / "mutation"


def mutate(body: str, fault: str | None = None, **kw: Any) -> list[Mutant]:
    source = textwrap.dedent(body)
    found = generate_mutants(Path("m.py"), source, "pkg/m.py", **kw)
    return [m for m in found if fault is None or m.fault == fault]


def muts(body: str, fault: str) -> list[str]:
    return [m.mut for m in mutate(body, fault)]


@pytest.mark.parametrize(
    ("line", "fault", "expected"),
    [
        ("x = a + b", "arithmetic", "x = a - b"),
        ("x = a - b", "arithmetic", "x = a + b"),
        ("x = a * b", "arithmetic", "x = a / b"),
        ("x = a / b", "arithmetic", "x = a * b"),
        ("x = a // b", "arithmetic", "x = a / b"),
        ("x = a % b", "arithmetic", "x = a / b"),
        ("x = a ** b", "arithmetic", "x = a * b"),
        ("x = a << b", "arithmetic", "x = a >> b"),
        ("x = a & b", "arithmetic", "x = a | b"),
        ("x += a", "arithmetic", "x -= a"),
        ("x = a < b", "comparison", "x = a <= b"),
        ("x = a <= b", "comparison", "x = a < b"),
        ("x = a > b", "comparison", "x = a >= b"),
        ("x = a >= b", "comparison", "x = a > b"),
        ("x = a == b", "comparison", "x = a != b"),
        ("x = a != b", "comparison", "x = a == b"),
        ("x = a is b", "comparison", "x = a is not b"),
        ("x = a is not b", "comparison", "x = a is b"),
        ("x = a in b", "comparison", "x = a not in b"),
        ("x = a not in b", "comparison", "x = a in b"),
        ("x = True", "boolean", "x = False"),
        ("x = False", "boolean", "x = True"),
        ("x = not a", "boolean", "x = a"),
        ("x = not (a or b)", "boolean", "x = (a or b)"),
        ("x = a and b", "logical", "x = a or b"),
        ("x = a or b", "logical", "x = a and b"),
        ("x = 0", "number", "x = 1"),
        ("x = 41", "number", "x = 42"),
        ("x = 1.5", "number", "x = 2.5"),
        ("x = 0x10", "number", "x = 17"),
        ('x = "abc"', "string", 'x = "XXabcXX"'),
        ("x = b'ab'", "string", "x = b'XXabXX'"),
        ('x = ""', "string", 'x = "XX"'),
        ("return a", "return_value", "return None"),
        ("print(a)", "call_removal", "None"),
        ("await a.b(c)", "call_removal", "None"),
    ],
)
def test_operator_mutates_line(line: str, fault: str, expected: str) -> None:
    body = f"async def f(a, b, c):\n    for _ in a:\n        {line}\n"
    assert muts(body, fault) == [expected]


def test_break_and_continue_swap() -> None:
    body = "def f(xs):\n    for x in xs:\n        if x:\n            break\n        continue\n"
    assert muts(body, "loop_control") == ["continue", "break"]


def test_no_return_mutant_for_none_or_bare_return() -> None:
    assert muts("def f():\n    if f:\n        return\n    return None\n", "return_value") == []


def test_assigned_call_is_not_removed() -> None:
    assert muts("def f():\n    x = g()\n    return x\n", "call_removal") == []


def test_docstrings_produce_no_mutants() -> None:
    body = '''\
        """Module doc with 1 + 2."""


        class C:
            """Class doc."""

            def m(self):
                """Method doc."""
                return 1


        def f(): "one-line suite doc"
    '''
    assert [(m.fault, m.line) for m in mutate(body)] == [("return_value", 9), ("number", 9)]


def test_annotations_produce_no_mutants() -> None:
    body = """\
        def f(a: "str" = "x", b: Literal[1, True] = None) -> Literal["y", 2]:
            c: Literal["z", 3]
            d: Literal[4] = 5
            return c
    """
    found = {(m.fault, m.mut) for m in mutate(body)}
    assert found == {
        ("string", 'def f(a: "str" = "XXxXX", b: Literal[1, True] = None) -> Literal["y", 2]:'),
        ("number", "d: Literal[4] = 6"),
        ("return_value", "return None"),
    }


def test_pragma_lines_produce_no_mutants() -> None:
    body = "def f(a):\n    x = a + 1  # pragma: no mutate\n    return (\n        a - 1  # pragma: no mutate\n    )\n"
    assert mutate(body) == []


def test_operator_subset_and_unknown_operator() -> None:
    body = "def f(a):\n    return a + 1\n"
    everything = {m.fault: m.id for m in mutate(body)}
    only = mutate(body, operators=["number"])
    assert [m.fault for m in only] == ["number"] and only[0].id == everything["number"]
    with pytest.raises(UsageProblem, match="unknown mutation operator"):
        mutate(body, operators=["nope"])


def test_uncompilable_mutants_are_dropped_or_flagged() -> None:
    body = "def f():\n    return 0x10.real\n"  # 17.real is a syntax error
    assert [m.fault for m in mutate(body)] == ["return_value"]
    flagged = [m for m in mutate(body, include_invalid=True) if not m.valid]
    assert [(m.fault, m.mut) for m in flagged] == [("number", "return 17.real")]


def test_unparsable_file_is_a_usage_problem() -> None:
    with pytest.raises(UsageProblem, match="does not compile"):
        mutate("def f(:\n    pass\n")


@pytest.mark.parametrize("path", [DATA / "sample.py", Path(textwrap.__file__)], ids=["sample", "stdlib"])
def test_every_mutant_compiles_and_applies(path: Path) -> None:
    source = path.read_text()
    found = generate_mutants(path, source, path.name)
    assert len(found) > 50
    assert {m.fault for m in found} == set(OPERATORS)
    assert len({m.id for m in found}) == len(found)
    for m in found:
        assert source[m.start : m.end] == m.replaced
        mutated = m.apply(source)
        assert mutated != source
        compile(mutated, str(path), "exec", dont_inherit=True)
        lines = mutated.split("\n")
        assert m.mut == lines[m.line - 1].strip() or "\n" in m.orig


def test_crlf_and_tabs_keep_offsets_exact() -> None:
    source = "def g(x):\r\n\tif x:\r\n\t\treturn 'é' + x\r\n\treturn not x\r\n"
    found = generate_mutants(Path("g.py"), source, "g.py")
    assert {m.mut for m in found} >= {"return 'é' - x", "return x", "return 'XXéXX' + x"}
    for m in found:
        compile(m.apply(source), "g.py", "exec")


def test_scopes_and_import_time() -> None:
    found = generate_mutants(DATA / "sample.py", (DATA / "sample.py").read_text(), "sample.py")
    by_function = {m.function for m in found}
    assert {"<module>", "clamp", "stats", "Greeter", "Greeter.greet", "Greeter.nested.<locals>.inner"} <= by_function
    default = next(m for m in found if m.line == 12 and m.fault == "number")
    assert default.function == "<module>" and default.import_time  # defaults run at def time
    body = next(m for m in found if m.function == "clamp")
    assert body.scope_kind == "function" and not body.import_time
    assert body.scope_lines == (12, 18)


def test_apply_refuses_a_changed_file() -> None:
    m = mutate("def f(a):\n    return a + 1\n", "arithmetic")[0]
    with pytest.raises(MutantStale):
        m.apply("def f(a):\n    return a * 1\n")


def test_survivor_has_exactly_the_seed_keys() -> None:
    found = number_mutants(mutate("def f(a):\n    return a + 1\n"))
    survivor = found[0].to_survivor()
    assert tuple(survivor) == SURVIVOR_KEYS
    assert survivor == {
        "id": 1,
        "fault": "return_value",
        "target": "pkg/m.py",
        "line": 2,
        "rationale": found[0].rationale,
        "orig": "return a + 1",
        "mut": "return None",
        "status": "SURVIVED",
    }
    assert [m.index for m in found] == [1, 2, 3]


def test_statuses_and_score() -> None:
    assert [s.value for s in MutantStatus] == [
        "Killed", "Survived", "NoCoverage", "Timeout", "CompileError", "RuntimeError", "Ignored",
    ]  # fmt: skip
    assert MutantStatus.SURVIVED.seed == "SURVIVED"
    statuses = [MutantStatus.KILLED, MutantStatus.TIMEOUT, MutantStatus.SURVIVED, MutantStatus.NO_COVERAGE]
    assert mutation_score([*statuses, MutantStatus.COMPILE_ERROR, MutantStatus.IGNORED]) == 50.0
    assert mutation_score([MutantStatus.IGNORED]) is None
