"""Rubric files: the shipped set, the seed format, composition, and malformed-file errors."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import anyio
import pytest

from launcher.gates.rubric import compose, find_rubric, load_named, parse_inline, shipped_rubrics_dir
from launcher.gates.verdict import run_rubric_checks
from launcher.models.rubric import RubricError, composed_version, load_rubric, parse_rubric

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"

SHIPPED_IDS = {
    "default": ["C1", "C2", "C3", "C4", "C5", "C6", "C7"],
    "backend": ["B1", "B2", "B3", "B4"],
    "frontend": ["F1", "F2", "F3", "F4"],
    "devops": ["D1", "D2", "D3", "D4"],
    "bugfix": ["G1", "G2", "G3", "G4"],
}


@pytest.mark.parametrize("name", sorted(SHIPPED_IDS))
def test_shipped_rubrics_parse_with_their_ids_titles_and_evidence(name: str) -> None:
    rubric = load_named(name)
    assert rubric.name == name
    assert rubric.version == "1"
    assert rubric.ids == SHIPPED_IDS[name]
    for criterion in rubric.criteria:
        assert criterion.title.endswith(".") and len(criterion.title) > 10
        assert len(criterion.body) > 150, f"{criterion.id} needs a real body"
        assert criterion.evidence and criterion.evidence.startswith("Evidence that satisfies it:")
        assert "Evidence that satisfies it" not in criterion.body
        assert criterion.rubric == name
    assert rubric.extends == (None if name in ("default", "bugfix") else "default")
    assert rubric.applies_to == (["bug"] if name == "bugfix" else [])


def test_shipped_default_titles_follow_the_completion_contract() -> None:
    titles = {c.id: c.title for c in load_named("default").criteria}
    assert titles["C1"] == "The change does what the prompt asks."
    assert "files_changed" in titles["C3"]
    assert "decisions" in titles["C6"] and "llm_observations" in titles["C6"]
    assert titles["C7"] == "No unrelated changes."


def test_top_level_rubrics_are_identical_to_the_packaged_copy() -> None:
    top = ROOT / "rubrics"
    packaged = ROOT / "launcher" / "data" / "rubrics"
    names = sorted(p.name for p in top.glob("*.md"))
    assert names == sorted(p.name for p in packaged.glob("*.md")) == sorted(f"{n}.md" for n in SHIPPED_IDS)
    assert sorted(p.name for p in shipped_rubrics_dir().glob("*.md")) == names  # what the loader uses
    match, mismatch, errors = filecmp.cmpfiles(top, packaged, names, shallow=False)
    assert (mismatch, errors) == ([], [])
    assert match == names


def test_seed_format_file_loads_unchanged() -> None:
    rubric = load_rubric(DATA / "seed_rubric.md")
    assert rubric.name == "seed_rubric" and rubric.version == "2"  # `version: 2` is a YAML int
    assert rubric.ids == ["C1", "C2", "C3"]
    first = rubric.criteria[0]
    assert first.title == "Behavior matches the task description and SPEC."
    assert first.body.startswith("The shipped diff implements")
    assert first.evidence is not None and "walk-through" in first.evidence
    assert first.check is None
    assert "**Automatic needs_revision:**" in rubric.criteria[2].body  # prose kept, bold and all
    assert rubric.criteria[2].evidence is not None and rubric.criteria[2].evidence.endswith("own input.")
    assert "Default rubric" in rubric.preamble


def test_check_line_makes_a_criterion_deterministic_and_leaves_the_prose() -> None:
    rubric = parse_inline(
        "---\nversion: 3\nname: mine\n---\n### K1. Lints clean.\nRuff must pass.\n"
        "check: ruff check .\n\nEvidence that satisfies it: the check passes.\n\n"
        "### K2. Judgement call.\nAn example in a fence is prose:\n```\ncheck: not-a-check\n```\n",
        "mine",
    )
    k1, k2 = rubric.criteria
    assert (k1.check, k1.body) == ("ruff check .", "Ruff must pass.")
    assert k1.evidence == "Evidence that satisfies it: the check passes."
    assert k1.deterministic and not k2.deterministic
    assert "check: not-a-check" in k2.body
    assert "Deterministic: decided by the launcher's check `ruff check .`" in k1.to_markdown()


def _error(text: str, name: str = "bad.md") -> RubricError:
    with pytest.raises(RubricError) as info:
        parse_rubric(text, name)
    return info.value


def test_missing_front_matter_names_file_line_and_fix() -> None:
    err = _error("# Rubric\n### C1. X\nbody\n")
    assert err.error_key == "rubric_front_matter_missing"
    assert (err.file, err.line) == ("bad.md", 1)
    envelope = err.envelope()
    assert envelope["ok"] is False and envelope["observations"].startswith("bad.md:1: ")
    assert "`---`" in envelope["usage"]


def test_unclosed_and_invalid_yaml_front_matter() -> None:
    assert _error("---\nversion: 1\nname: bad\n### C1. X\n").error_key == "rubric_front_matter_unclosed"
    err = _error("---\nversion: 1\nname: [bad\n---\n### C1. X\n")
    assert err.error_key == "rubric_front_matter_invalid"
    assert err.line is not None and err.line >= 3
    assert _error("---\n- a list\n---\n### C1. X\n").error_key == "rubric_front_matter_invalid"


def test_front_matter_keys_are_checked_with_their_line() -> None:
    err = _error("---\nname: bad\n---\n### C1. X\n")
    assert err.error_key == "rubric_front_matter_invalid:version"
    err = _error("---\nversion: 1\nname: other\n---\n### C1. X\n")
    assert err.error_key == "rubric_front_matter_invalid:name" and err.line == 3
    assert "does not match the file name 'bad'" in err.what
    err = _error("---\nversion: 1\nname: bad\napplies_to: {a: 1}\n---\n### C1. X\n")
    assert err.error_key == "rubric_front_matter_invalid:applies_to" and err.line == 4


def test_duplicate_criterion_ids_are_refused_with_both_lines() -> None:
    err = _error("---\nversion: 1\nname: bad\n---\n### C1. One\nx\n### C2. Two\ny\n### C1. Again\nz\n")
    assert err.error_key == "rubric_duplicate_criterion:C1"
    assert err.line == 9 and "first at line 5" in err.what


def test_missing_and_malformed_headings() -> None:
    err = _error("---\nversion: 1\nname: bad\n---\n# Title\n\nOnly prose.\n")
    assert err.error_key == "rubric_no_criteria" and err.line == 5
    assert "### <ID>. <Title>" in (err.fix or "")
    err = _error("---\nversion: 1\nname: bad\n---\n### C1 Missing the dot\n")
    assert err.error_key == "rubric_heading_invalid" and err.line == 5


def test_two_check_lines_are_refused() -> None:
    err = _error("---\nversion: 1\nname: bad\n---\n### C1. X\ncheck: a\ncheck: b\n")
    assert err.error_key == "rubric_check_duplicate" and err.line == 7


def test_compose_default_role_overlay_and_bugfix_in_order() -> None:
    assert [r.name for r in compose()] == ["default"]
    assert [r.name for r in compose(role="backend")] == ["default", "backend"]
    assert [r.name for r in compose(role="qa")] == ["default"]
    assert [r.name for r in compose(["frontend"], role="backend")] == ["default", "frontend"]
    composed = compose(role="devops", task_kind="bug")
    assert [r.name for r in composed] == ["default", "devops", "bugfix"]
    assert composed_version(composed) == "default@1+devops@1+bugfix@1"
    assert [r.name for r in compose(["bugfix", "backend"])] == ["default", "backend", "bugfix"]


def test_compose_refuses_two_role_overlays() -> None:
    with pytest.raises(RubricError) as info:
        compose(["backend", "frontend"])
    assert info.value.error_key == "rubric_too_many_overlays"
    assert "backend, frontend" in info.value.what


def test_repo_rubrics_take_precedence_and_unknown_names_are_explained(tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "default.md").write_text(
        "---\nversion: 7\nname: default\n---\n### C1. Only this.\nLocal default.\n"
    )
    (tmp_path / "rubrics" / "security.md").write_text(
        "---\nversion: 1\nname: security\nextends: default\n---\n### S1. Threat model.\nBody.\n"
    )
    assert find_rubric("default", tmp_path) == tmp_path / "rubrics" / "default.md"
    assert find_rubric("backend", tmp_path) == shipped_rubrics_dir() / "backend.md"
    composed = compose(role="security", repo_root=tmp_path)
    assert [(r.name, r.version, r.ids) for r in composed] == [("default", "7", ["C1"]), ("security", "1", ["S1"])]
    with pytest.raises(RubricError) as info:
        compose(["nosuch"], repo_root=tmp_path)
    assert info.value.error_key == "rubric_not_found:nosuch"
    assert "security" in (info.value.fix or "") and "backend" in (info.value.fix or "")


def test_compose_refuses_criterion_ids_shared_by_two_rubrics(tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "clash.md").write_text(
        "---\nversion: 1\nname: clash\nextends: default\n---\n### C3. Reused id.\nBody.\n"
    )
    with pytest.raises(RubricError) as info:
        compose(["clash"], repo_root=tmp_path)
    assert info.value.error_key == "rubric_duplicate_criterion:C3"
    assert "'default' and 'clash'" in info.value.what


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_shipped_c4_check_rejects_committed_secret_files(repo: Path) -> None:
    """The deterministic C4 runs for real: a committed `.env` fails it, `.env.example` does not."""
    c4 = next(c for c in load_named("default").criteria if c.id == "C4")
    base = _git(repo, "rev-parse", "HEAD")
    env = {"PATH": "/usr/bin:/bin", "LAUNCHER_BASE_SHA": base}
    (repo / ".env.example").write_text("TOKEN=changeme\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "example")
    clean = anyio.run(run_rubric_checks, [c4], repo, env, 30.0)
    assert clean["C4"].ok, clean["C4"].output_tail
    (repo / "config").mkdir()
    (repo / "config" / ".env").write_text("TOKEN=real\n")
    _git(repo, "add", "-f", "config/.env")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "oops")
    dirty = anyio.run(run_rubric_checks, [c4], repo, env, 30.0)
    assert not dirty["C4"].ok and dirty["C4"].exit_code == 1
    unset = anyio.run(run_rubric_checks, [c4], repo, {"PATH": "/usr/bin:/bin"}, 30.0)
    assert not unset["C4"].ok and "LAUNCHER_BASE_SHA" in unset["C4"].output_tail
