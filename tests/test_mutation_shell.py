"""Shell mutation operators: the seed's eight classes on a sample script."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from launcher.mutation.model import Mutant
from launcher.mutation.shell_ops import OPERATORS, check_syntax, generate_mutants

SAMPLE = Path(__file__).parent / "data" / "mutation" / "sample.sh"


def mutants(source: str | None = None) -> list[Mutant]:
    text = SAMPLE.read_text() if source is None else source
    return generate_mutants(SAMPLE, text, "scripts/sample.sh")


def pairs(found: list[Mutant]) -> set[tuple[str, str, str]]:
    return {(m.fault, m.orig, m.mut) for m in found}


def test_each_operator_class_on_the_sample() -> None:
    found = pairs(mutants())
    expected = {
        ("condition_negation", 'if [ "$count" -eq 0 ]; then', 'if ! [ "$count" -eq 0 ]; then'),
        ("condition_negation", 'if [ "$count" -eq 0 ]; then', 'if [ "$count" -ne 0 ]; then'),
        ("condition_negation", 'if [[ -z "${NAME:-}" ]]; then', 'if [[ -n "${NAME:-}" ]]; then'),
        ("condition_negation", 'if [ "$status" = "done" ]; then', 'if [ "$status" != "done" ]; then'),
        ("guard_deletion", "set -euo pipefail", "set -uo pipefail"),
        ("guard_deletion", "cd /tmp || exit 1", "cd /tmp"),
        ("guard_deletion", 'grep -q "READY" log.txt || exit 3', 'grep -q "READY" log.txt'),
        ("exit_code_swallow", "return 1", "return 0"),
        ("exit_code_swallow", "cd /tmp || exit 1", "cd /tmp || exit 0"),
        ("default_removal", 'LIMIT="${LIMIT:-3}"', 'LIMIT="${LIMIT}"'),
        ("default_removal", 'if [[ -z "${NAME:-}" ]]; then', 'if [[ -z "${NAME}" ]]; then'),
        ("pipeline_drop", "status=$(cat status.txt | tr -d ' ')", "status=$(cat status.txt)"),
        ("pipeline_drop", "ls -l | sort 2>&1 | head -n 5 2>&1", "ls -l | sort 2>&1"),
        ("off_by_one", '[ "$count" -gt 5 ] && echo "big"', '[ "$count" -ge 5 ] && echo "big"'),
        ("off_by_one", '[ "$count" -gt 5 ] && echo "big"', '[ "$count" -gt 6 ] && echo "big"'),
        ("off_by_one", "total=$(( count + 1 ))", "total=$(( count + 2 ))"),
        ("sentinel_typo", 'if [ "$status" = "done" ]; then', 'if [ "$status" = "dXone" ]; then'),
        ("sentinel_typo", 'grep -q "READY" log.txt || exit 3', 'grep -q "RXEADY" log.txt || exit 3'),
        ("arithmetic", "total=$(( count + 1 ))", "total=$(( count - 1 ))"),
    }
    assert expected <= found
    assert {fault for fault, _, _ in found} == set(OPERATORS)


def test_comments_heredocs_quotes_and_pragmas_are_left_alone() -> None:
    found = mutants()
    lines = SAMPLE.read_text().split("\n")
    touched = {lines[m.line - 1] for m in found}
    assert not any(line.lstrip().startswith("#") for line in touched)
    assert not any("pragma: no mutate" in line for line in touched)
    assert "if [ x -eq 1 ]; then exit 1; fi" not in touched  # heredoc body
    assert not any("finished" in m.mut and m.mut != m.orig for m in found)  # '... | ok' is quoted
    assert all("a comment" not in m.replaced for m in found)


def test_functions_scope_the_mutants() -> None:
    found = mutants()
    assert {m.function for m in found} == {"check", "<script>"}
    in_check = [m for m in found if m.function == "check"]
    assert {m.line for m in in_check} <= set(range(7, 20)) and all(m.scope_kind == "function" for m in in_check)


def test_ids_are_stable_across_unrelated_edits() -> None:
    source = SAMPLE.read_text()
    before = {m.id for m in mutants(source) if m.function == "check"}
    moved = source.replace("LIMIT=", "# moved\n\nLIMIT=").replace("ls -l | sort", "ls -la | sort")
    assert {m.id for m in mutants(moved) if m.function == "check"} == before
    edited = source.replace("return 2", "return 4")
    assert {m.id for m in mutants(edited) if m.function == "check"}.isdisjoint(before)
    assert len({m.id for m in mutants(source)}) == len(mutants(source))


def test_case_patterns_and_redirections() -> None:
    script = 'case "$1" in\n  start|stop) run "$1" 2>&1 | tee log ;;\nesac\nx=$(( a | b ))\n'
    found = pairs(mutants(script))
    drops = {(orig, mut) for fault, orig, mut in found if fault == "pipeline_drop"}
    assert drops == {('start|stop) run "$1" 2>&1 | tee log ;;', 'start|stop) run "$1" 2>&1 ;;')}


def test_set_e_alone_becomes_plus_e() -> None:
    found = pairs(mutants("set -e\nset -o errexit\n"))
    assert ("guard_deletion", "set -e", "set +e") in found
    assert ("guard_deletion", "set -o errexit", "set +o errexit") in found


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_every_mutant_passes_bash_n() -> None:
    source = SAMPLE.read_text()
    found = mutants(source)
    checked = anyio.run(check_syntax, found, source)
    assert [m.mut for m in checked if not m.valid] == []
    broken = found[0].model_copy(update={"replacement": "if [ ; then", "id": "broken"})
    assert not anyio.run(check_syntax, [broken], source)[0].valid


def test_pipeline_drop_respects_shell_structure() -> None:
    script = (
        'ref="$(echo "$f" | sed "s|a|b|")"\n'
        "id=`readelf -n x | grep 'Build ID' | awk '{print $3}'`\n"
        "ls | while read f; do echo \"$f\"; done\n"
        "cat x \\\n  | sort \\\n  | uniq\n"
        "awk '{ print }' x | grep '\n  multi-line'\n"
    )
    drops = {(m.orig, m.mut) for m in mutants(script) if m.fault == "pipeline_drop"}
    assert drops == {
        ('ref="$(echo "$f" | sed "s|a|b|")"', 'ref="$(echo "$f")"'),
        ("id=`readelf -n x | grep 'Build ID' | awk '{print $3}'`", "id=`readelf -n x | grep 'Build ID'`"),
        ("| uniq", ""),
    }
    if shutil.which("bash"):
        checked = anyio.run(check_syntax, mutants(script), script)
        assert [m.mut for m in checked if not m.valid] == []


def test_exit_status_variables_are_swallowed_whole() -> None:
    found = pairs(mutants('exit "${PIPESTATUS[0]}"\nreturn $rc\nexit 0\n'))
    assert found == {
        ("exit_code_swallow", 'exit "${PIPESTATUS[0]}"', "exit 0"),
        ("exit_code_swallow", "return $rc", "return 0"),
    }
