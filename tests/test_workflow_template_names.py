"""A workflow template's name says which file `workflow start NAME` runs: two files of the
repository's `workflows/` claiming one name are refused (a config error naming both), while a
repository file may still override a shipped template of the same name. The real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_files
from tests.helpers import launcher_cli


def _template(name: str, said: str) -> str:
    return (f'name = "{name}"\ndescription = "{said}"\n[[phase]]\nid = "p"\n[[phase.primary]]\n'
            'role = "x"\nprompt = "p"\n')


def test_two_repository_templates_with_one_name_are_refused_naming_both_files(repo: Path) -> None:
    write_files(repo, {"workflows/a.toml": _template("dup", "from a"),
                       "workflows/pack/b.toml": _template("dup", "from b")})
    for args in (("workflows",), ("workflow", "dup"), ("start", "dup", "--no-run"), ("plan", "x")):
        done = launcher_cli(repo, "workflow", *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr)
        assert "two templates are named 'dup': workflows/a.toml and workflows/pack/b.toml" in done.stderr, done.stderr
        assert "rename one of them" in done.stderr
    assert launcher_cli(repo, "workflow", "list", "--all", "--json").stdout.strip() == "[]"


def test_a_repository_template_still_overrides_a_shipped_one_of_the_same_name(repo: Path) -> None:
    write_files(repo, {"workflows/mine.toml": _template("security-audit", "the repository's own audit")})
    done = launcher_cli(repo, "workflow", "workflows", "--json")
    assert done.returncode == 0, done.stderr
    audit = [t for t in json.loads(done.stdout) if t["name"] == "security-audit"]
    assert [(t["description"], t["source"]) for t in audit] == [("the repository's own audit", "workflows/mine.toml")]
