"""Rubric files (DESIGN 7.2): the seed's Markdown format plus our `check:` lines.

```
---
version: 1
name: backend
extends: default          # or `applies_to: bug` for a conditional overlay
---
# Backend rubric (prose, ignored by the grader contract)
## Criteria
### B1. Inputs are validated at the trust boundary.
Prose body...
check: python -m pytest -q tests/api      # optional: makes B1 deterministic
Evidence that satisfies it: ...
```
Every problem is a RubricError naming the file, the line, what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from launcher.errors import UsageProblem
from launcher.models.decoding import read_document, yaml_load

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CRITERION_RE = re.compile(r"^###\s+(?P<id>[A-Za-z][A-Za-z0-9_-]{0,31})\.\s+(?P<title>\S.*?)\s*$")
_HEADING_RE = re.compile(r"^(#{1,3})(\s|$)")  # a heading that ends a criterion (####+ stays inside)
_CHECK_RE = re.compile(r"^check:\s*(?P<cmd>.*?)\s*$")
_EVIDENCE_RE = re.compile(r"^\W*evidence that satisfies it\W*:", re.IGNORECASE)
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
HEADING_USAGE = "write one criterion per heading: `### <ID>. <Title>` (for example `### C1. Does what the prompt asks`)"
FRONT_MATTER_USAGE = (
    "start the file with a YAML front matter block: a `---` line, `version: 1`, `name: <file name>`, "
    "optionally `extends: default` or `applies_to: bug`, then a closing `---` line"
)


class RubricError(UsageProblem):
    """A malformed or missing rubric file."""

    default_key = "rubric_invalid"

    def __init__(self, what: str, *, file: str, line: int | None, fix: str, error_key: str) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line else file
        super().__init__(what, where=where, fix=fix, error_key=error_key)


class Criterion(BaseModel):
    id: str
    title: str
    body: str = ""
    evidence: str | None = None
    check: str | None = None  # a shell command run in the worktree; exit 0 is a pass
    rubric: str = ""  # name of the rubric it comes from
    line: int = 0

    @property
    def deterministic(self) -> bool:
        return self.check is not None

    def to_markdown(self) -> str:
        parts = [f"### {self.id}. {self.title}"]
        if self.body:
            parts.append(self.body)
        if self.check:
            parts.append(
                f"Deterministic: decided by the launcher's check `{self.check}` (exit 0 is a pass); "
                "its result is in the launcher's facts and overrides any grader answer."
            )
        if self.evidence:
            parts.append(self.evidence)
        return "\n\n".join(parts)


class Rubric(BaseModel):
    name: str
    version: str
    extends: str | None = None
    applies_to: list[str] = Field(default_factory=list)
    criteria: list[Criterion] = Field(default_factory=list)
    preamble: str = ""  # the prose before the first criterion (context for a human reader)
    source: str = ""

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.criteria]

    @property
    def is_overlay(self) -> bool:
        return self.extends is not None

    def to_markdown(self) -> str:
        head = f"## Rubric `{self.name}` (version {self.version})"
        return "\n\n".join([head, *(c.to_markdown() for c in self.criteria)])


def _front_matter(lines: list[str], source: str) -> tuple[dict[str, object], int]:
    """The YAML mapping and the index of the first body line."""
    if not lines or lines[0].strip() != "---":
        raise RubricError(
            "the rubric has no front matter (its first line is not `---`)",
            file=source, line=1, fix=FRONT_MATTER_USAGE, error_key="rubric_front_matter_missing",
        )
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise RubricError(
            "the front matter is never closed (no second `---` line)",
            file=source, line=1, fix=FRONT_MATTER_USAGE, error_key="rubric_front_matter_unclosed",
        )
    try:
        data = yaml_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2  # +1 for the `---`, +1 for 1-based
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RubricError(
            f"the front matter is not valid YAML: {problem}",
            file=source, line=line, fix=FRONT_MATTER_USAGE, error_key="rubric_front_matter_invalid",
        ) from None
    if not isinstance(data, dict):
        raise RubricError(
            f"the front matter is a {type(data).__name__}, not a mapping of keys",
            file=source, line=2, fix=FRONT_MATTER_USAGE, error_key="rubric_front_matter_invalid",
        )
    return data, end + 1


def _key_line(lines: list[str], key: str, end: int) -> int:
    for i in range(1, end):
        if lines[i].lstrip().startswith(f"{key}:"):
            return i + 1
    return 1


def _scalar(value: object) -> str | None:
    # YAML reads `version: 2` as an int and `version: 1.0` as a float: both are fine versions.
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        return str(value).strip() or None
    return None


def _meta(data: dict[str, object], lines: list[str], body_start: int, source: str) -> Rubric:
    """The front matter's fields, checked, as a Rubric without criteria yet."""
    def fail(key: str, what: str, fix: str) -> RubricError:
        return RubricError(
            what, file=source, line=_key_line(lines, key, body_start), fix=fix,
            error_key=f"rubric_front_matter_invalid:{key}",
        )

    version = _scalar(data.get("version"))
    if version is None:
        raise fail("version", "the front matter has no usable `version`", "add `version: 1` (a number or text)")
    name = _scalar(data.get("name"))
    if name is None or not NAME_RE.match(name):
        raise fail("name", f"`name` is {data.get('name')!r}; expected a lower-case name like `backend`",
                   "set `name:` to the file name without `.md`")
    stem = Path(source).stem
    if source.endswith(".md") and stem != name:
        raise fail("name", f"`name: {name}` does not match the file name {stem!r}",
                   f"rename the file to {name}.md or set `name: {stem}`")
    extends = data.get("extends")
    if extends is not None and (_scalar(extends) is None or not NAME_RE.match(str(extends))):
        raise fail("extends", f"`extends` is {extends!r}; expected the name of a rubric", "write `extends: default`")
    applies = data.get("applies_to")
    if applies is None:
        applies_list: list[str] = []
    elif isinstance(applies, list) and all(_scalar(a) for a in applies):
        applies_list = [str(a).strip() for a in applies]
    elif _scalar(applies):
        applies_list = [str(applies).strip()]
    else:
        raise fail("applies_to", f"`applies_to` is {applies!r}; expected a task kind or a list of them",
                   "write `applies_to: bug`")
    return Rubric(
        name=name, version=version, applies_to=applies_list, source=source,
        extends=str(extends).strip() if extends is not None else None,
    )


def _split_criterion(chunk: list[str], start_line: int, source: str) -> tuple[str, str | None, str | None]:
    """(body, evidence, check) of one criterion's lines; `check:` lines in code fences are prose."""
    prose: list[str] = []
    evidence: list[str] | None = None
    check: str | None = None
    in_fence = False
    for offset, line in enumerate(chunk):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        found = None if in_fence else _CHECK_RE.match(line)
        if found:
            where = start_line + offset
            if not found["cmd"]:
                raise RubricError("`check:` has no command", file=source, line=where,
                                  fix="write `check: <command>` (exit 0 is a pass) or remove the line",
                                  error_key="rubric_check_empty")
            if check is not None:
                raise RubricError("a criterion has two `check:` lines", file=source, line=where,
                                  fix="join the commands with `&&` on one `check:` line",
                                  error_key="rubric_check_duplicate")
            check = found["cmd"]
            continue
        if evidence is None and not in_fence and _EVIDENCE_RE.match(line):
            evidence = []
        (prose if evidence is None else evidence).append(line)
    body = "\n".join(prose).strip()
    return body, ("\n".join(evidence).strip() or None) if evidence is not None else None, check


def parse_rubric(text: str, source: str) -> Rubric:
    """Parse one rubric file's text; `source` names it in errors (a path, or `<name>` for text)."""
    lines = text.replace("\r\n", "\n").split("\n")
    data, body_start = _front_matter(lines, source)
    meta = _meta(data, lines, body_start, source)
    criteria: list[Criterion] = []
    seen: dict[str, int] = {}
    starts: list[tuple[int, str, str]] = []  # (index, id, title)
    breaks: list[int] = []  # headings of level 1-3 outside code fences: each ends a criterion
    in_fence = False
    for index in range(body_start, len(lines)):
        line = lines[index]
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        if in_fence or not _HEADING_RE.match(line):
            continue
        breaks.append(index)
        if not line.startswith("###"):
            continue
        found = CRITERION_RE.match(line)
        if not found:
            raise RubricError(
                f"heading {line.strip()!r} is not a criterion heading",
                file=source, line=index + 1, fix=HEADING_USAGE, error_key="rubric_heading_invalid",
            )
        cid = found["id"]
        if cid in seen:
            raise RubricError(
                f"criterion {cid} is defined twice (first at line {seen[cid]})",
                file=source, line=index + 1, fix="give every criterion its own id",
                error_key=f"rubric_duplicate_criterion:{cid}",
            )
        seen[cid] = index + 1
        starts.append((index, cid, found["title"]))
    if not starts:
        raise RubricError(
            "the rubric has no criteria (no `### <ID>. <Title>` heading)",
            file=source, line=body_start + 1, fix=HEADING_USAGE, error_key="rubric_no_criteria",
        )
    for index, cid, title in starts:
        end = next((b for b in breaks if b > index), len(lines))
        body, evidence, check = _split_criterion(lines[index + 1 : end], index + 2, source)
        criteria.append(Criterion(
            id=cid, title=title, body=body, evidence=evidence, check=check,
            rubric=meta.name, line=index + 1,
        ))
    preamble = "\n".join(lines[body_start : starts[0][0]]).strip()
    return meta.model_copy(update={"criteria": criteria, "preamble": preamble})


def load_rubric(path: Path) -> Rubric:
    try:
        text = read_document(path)
    except OSError as exc:
        raise RubricError(f"cannot read the rubric: {exc}", file=str(path), line=None,
                          fix="check the file exists and is UTF-8 text", error_key="rubric_unreadable") from None
    return parse_rubric(text, str(path))


def composed_version(rubrics: list[Rubric]) -> str:
    """The `rubric_version` a grader must answer with: e.g. `default@1+backend@1`."""
    return "+".join(f"{r.name}@{r.version}" for r in rubrics)


def all_criteria(rubrics: list[Rubric]) -> list[Criterion]:
    return [c for r in rubrics for c in r.criteria]
