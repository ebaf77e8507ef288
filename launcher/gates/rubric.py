"""Finding and composing rubrics (DESIGN 7.2).

Lookup order for a name: the repository's own `rubrics/<name>.md`, then the shipped defaults
(`launcher/data/rubrics/`, packaged with the wheel). Composition: `default` + at most one role
overlay (a rubric with `extends`, e.g. backend / frontend / devops) + `bugfix` for bug tasks
(any rubric whose `applies_to` names the task's kind is added the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from launcher.models.rubric import NAME_RE, Rubric, RubricError, load_rubric, parse_rubric

DEFAULT_RUBRIC = "default"
ROLE_OVERLAYS = ("backend", "frontend", "devops")
BUG_KINDS = ("bug", "bugfix")
SHIPPED = ("default", "backend", "frontend", "devops", "bugfix")
REPO_DIR = "rubrics"


def shipped_rubrics_dir() -> Path:
    """The packaged copy (what `launcher init` copies into a repository)."""
    return Path(str(resources.files("launcher") / "data" / "rubrics"))


def available(repo_root: Path | None) -> list[str]:
    names = {p.stem for p in shipped_rubrics_dir().glob("*.md")}
    if repo_root is not None and (repo_root / REPO_DIR).is_dir():
        names |= {p.stem for p in (repo_root / REPO_DIR).glob("*.md") if p.is_file()}
    return sorted(names)


def find_rubric(name: str, repo_root: Path | None = None) -> Path:
    if not NAME_RE.match(name):
        raise RubricError(
            f"{name!r} is not a rubric name", file=f"rubric {name!r}", line=None,
            fix=f"use a rubric's name, one of: {', '.join(available(repo_root))}",
            error_key="rubric_name_invalid",
        )
    candidates = [shipped_rubrics_dir() / f"{name}.md"]
    if repo_root is not None:
        candidates.insert(0, repo_root / REPO_DIR / f"{name}.md")
    for path in candidates:
        if path.is_file():
            return path
    raise RubricError(
        f"no rubric named {name!r} (looked in {', '.join(str(c.parent) for c in candidates)})",
        file=f"rubric {name!r}", line=None,
        fix=f"use one of: {', '.join(available(repo_root))}, or add {REPO_DIR}/{name}.md",
        error_key=f"rubric_not_found:{name}",
    )


def load_named(name: str, repo_root: Path | None = None) -> Rubric:
    return load_rubric(find_rubric(name, repo_root))


def _exists(name: str, repo_root: Path | None) -> bool:
    try:
        find_rubric(name, repo_root)
    except RubricError:
        return False
    return True


def compose(
    names: Sequence[str] = (),
    *,
    role: str | None = None,
    task_kind: str | None = None,
    repo_root: Path | None = None,
) -> list[Rubric]:
    """The rubrics applied to a task, in order: default, its overlay, then conditional ones.

    `names` are the task's own `rubrics` list; when empty, the overlay comes from `role` (if a
    rubric of that name exists and is an overlay). `task_kind` "bug" adds `bugfix`.
    """
    wanted = [DEFAULT_RUBRIC]
    for name in names:
        if name not in wanted:
            wanted.append(name)
    if not names and role and role != DEFAULT_RUBRIC and (role in ROLE_OVERLAYS or _exists(role, repo_root)):
        wanted.append(role)
    loaded = [load_named(name, repo_root) for name in wanted]
    if task_kind:
        kind = "bug" if task_kind in BUG_KINDS else task_kind
        for name in available(repo_root):
            if name in wanted:
                continue
            rubric = load_named(name, repo_root)
            if kind in rubric.applies_to or (kind == "bug" and name == "bugfix"):
                loaded.append(rubric)
                wanted.append(name)
    _check_composition(loaded)
    # Order: default, then the overlay, then the conditional rubrics (stable within each group).
    return sorted(loaded, key=lambda r: (r.name != DEFAULT_RUBRIC, not r.is_overlay))


def _check_composition(rubrics: list[Rubric]) -> None:
    overlays = [r for r in rubrics if r.is_overlay]
    if len(overlays) > 1:
        names = ", ".join(r.name for r in overlays)
        raise RubricError(
            f"a task may have at most one role overlay, got {names}", file=overlays[1].source, line=None,
            fix="keep one of them in the task's `rubrics` (default is always applied)",
            error_key="rubric_too_many_overlays",
        )
    included = {r.name for r in rubrics}
    for rubric in overlays:
        if rubric.extends not in included:
            raise RubricError(
                f"rubric {rubric.name!r} extends {rubric.extends!r}, which is not applied",
                file=rubric.source, line=None, fix=f"write `extends: {DEFAULT_RUBRIC}`",
                error_key="rubric_extends_unknown",
            )
    owner: dict[str, Rubric] = {}
    for rubric in rubrics:
        for criterion in rubric.criteria:
            first = owner.get(criterion.id)
            if first is not None:
                raise RubricError(
                    f"criterion {criterion.id} is defined by both {first.name!r} and {rubric.name!r}",
                    file=rubric.source, line=criterion.line,
                    fix="give each rubric its own id prefix (C for default, B, F, D, G ...)",
                    error_key=f"rubric_duplicate_criterion:{criterion.id}",
                )
            owner[criterion.id] = rubric


def parse_inline(text: str, name: str) -> Rubric:
    """Parse rubric text that is not a file (tests, tools)."""
    return parse_rubric(text, f"<{name}>")
