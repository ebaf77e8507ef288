"""Workflow templates: TOML files shipped in `launcher/data/workflows/` (packs in sub-folders),
added to or overridden by the repository's own `workflows/` folder (same name wins). A TOML file
there is a template when it has `[[phase]]`s; any other (an application's own settings in a
folder that happens to be called `workflows/`) is not one and is left alone."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from launcher.errors import ConfigError, UsageProblem
from launcher.models.decoding import read_document, toml_loads
from launcher.models.workflow import WorkflowTemplate

REPO_FOLDER = "workflows"
RESERVED_NAMES = frozenset({"custom"})  # the keyword-routed plan (`planner.custom_template`)


def _toml_files(root: Traversable, pack: str | None = None) -> list[tuple[Traversable, str | None, str]]:
    """(file, its pack, its shown path); a pack is a sub-folder."""
    found: list[tuple[Traversable, str | None, str]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith(("_", ".")):
            found.extend((f, entry.name, f"{entry.name}/{shown}") for f, _, shown in _toml_files(entry, entry.name))
        elif entry.name.endswith(".toml"):
            found.append((entry, pack, entry.name))
    return found


def _parse(text: str, where: str, pack: str | None, *, only_templates: bool = False) -> WorkflowTemplate | None:
    """The template in `text`; `only_templates`: None for a TOML file without `[[phase]]`."""
    try:
        data = toml_loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", where=where,
                          fix="fix the syntax" + (f" (a TOML file in {REPO_FOLDER}/ with [[phase]] is a workflow "
                                                  "template)" if only_templates else "")) from None
    if only_templates and not is_template(data):
        return None  # not a workflow template (no [[phase]] tables): someone else's TOML
    if pack and "category" not in data:
        data["category"] = pack
    try:
        template = WorkflowTemplate.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for our own checks
        raise ConfigError(message, where=f"{where}: {key}" if key else where,
                          fix="see README, 'Workflows' (template format)") from None
    template.source = where
    return template


def is_template(data: dict[str, object]) -> bool:
    """A repository TOML file is a workflow template when it has `[[phase]]` tables (README):
    a `phase` that is a non-empty list of tables. An application's `phase = "beta"`, or a
    `[phase]` table of its own, is not one."""
    phases = data.get("phase")
    return isinstance(phases, list) and bool(phases) and all(isinstance(item, dict) for item in phases)


def _template_text(path: Path, shown: str) -> str:
    """A repository template's text; a file that is not one (a FIFO would block the read) or
    that cannot be read as UTF-8 is an error naming it: every workflow command reads them all."""
    if not path.is_file():
        raise ConfigError("not a regular file", where=shown, error_key="config_invalid:workflow_template",
                          fix=f"remove it or rename it so it does not end in .toml ({REPO_FOLDER}/ holds templates)")
    try:
        return read_document(path)
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", where=shown,
                          error_key="config_invalid:workflow_template",
                          fix="save it as UTF-8 and make it readable, or move it out of "
                              f"{REPO_FOLDER}/") from None  # fmt: skip


def shipped_root() -> Traversable:
    return resources.files("launcher") / "data" / "workflows"


def load_templates(repo_root: Path | None) -> dict[str, WorkflowTemplate]:
    """Every template by name: the shipped ones, then the repository's (which override a
    shipped one of the same name; two repository files with one name are refused, naming both)."""
    templates: dict[str, WorkflowTemplate] = {}
    root = shipped_root()
    for entry, pack, shown in _toml_files(root):
        template = _parse(entry.read_text(encoding="utf-8"), f"launcher/data/workflows/{shown}", pack)
        assert template is not None and template.name not in templates, shown  # shipped names are unique
        templates[template.name] = template
    own: dict[str, str] = {}  # the repository's templates by name -> the file that holds it
    if repo_root is not None and (repo_root / REPO_FOLDER).is_dir():
        folder = repo_root / REPO_FOLDER
        for path in sorted(folder.rglob("*.toml")):
            if path.is_dir():
                continue  # a folder, even one named `x.toml`, is a pack: rglob reads what it holds
            pack = path.parent.name if path.parent != folder else None
            shown = str(path.relative_to(repo_root))
            found = _parse(_template_text(path, shown), shown, pack, only_templates=True)
            if found is not None and found.name in RESERVED_NAMES:
                raise ConfigError(f"the template name {found.name!r} is reserved: `workflow start {found.name}` "
                                  "runs the plan routed from the task's keywords (`workflow plan`)",
                                  where=f"{shown}: name", error_key="config_invalid:workflow_template",
                                  fix="give the template another name")
            if found is None:
                continue
            if found.name in own:
                raise ConfigError(f"two templates are named {found.name!r}: {own[found.name]} and {shown}; "
                                  "only one of them could ever run", where=f"{shown}: name",
                                  error_key="config_invalid:workflow_template",
                                  fix="rename one of them (its `name = ...`), or remove the one you no longer use")
            own[found.name] = shown
            templates[found.name] = found
    return templates


def get_template(repo_root: Path | None, name: str) -> WorkflowTemplate:
    templates = load_templates(repo_root)
    return templates.get(name) or unknown_template(templates, name)


def unknown_template(templates: Mapping[str, WorkflowTemplate], name: str) -> NoReturn:
    """`name` is none of `templates`: refused, naming them."""
    raise UsageProblem(f"no workflow template {name!r}",
                       fix=f"one of: {', '.join(sorted(templates))} (`launcher workflow workflows`)",
                       error_key="workflow_unknown")
