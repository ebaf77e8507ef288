"""Every whole number the launcher reads from a file has a bound: a value no real file holds
(`10**30`) is refused with the file's other problems (exit 2, the field named), before anything
is fetched, created or journaled, never an internal error where it meets SQLite's 64-bit INTEGER.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import shutil
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from helpers import git, launcher_cli
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from test_land_from_final_job import _clone, _shard_exports
from test_readers8_bom import plain_repo

import launcher.models

HUGE = 10**30
MANIFEST = "launcher-export.json"
PLAN = {"task": [{"id": "alpha", "script": [{"write": "alpha.txt", "content": "a\n"}]}]}


@pytest.fixture(scope="module")
def one_shard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bare remote and the export of the one shard job of PLAN."""
    remote, exports = _shard_exports(tmp_path_factory.mktemp("huge-numbers"), PLAN, shards=1)
    return remote, exports[0]


def _round(task: dict[str, Any]) -> None:
    task["rounds"] = [{"iteration": HUGE, "verdict": "satisfied", "audit": None, "error_key": None}]


TAMPERED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "iteration": (lambda t: t.update(iteration=HUGE), "tasks[0] (id 'alpha').iteration: must be at most"),
    "round_base": (lambda t: t.update(round_base=HUGE), "tasks[0] (id 'alpha').round_base: must be at most"),
    "a round's iteration": (_round, "tasks[0] (id 'alpha').rounds[0].iteration: must be at most"),
}


@pytest.mark.parametrize("field", list(TAMPERED))
def test_land_from_refuses_a_huge_number_in_a_manifest_before_fetching_or_journaling(
    field: str, one_shard: tuple[Path, Path], tmp_path: Path
) -> None:
    remote, export = one_shard
    edited = tmp_path / "export"
    shutil.copytree(export, edited)
    data = json.loads((edited / MANIFEST).read_text())
    change, named = TAMPERED[field]
    change(data["tasks"][0])
    (edited / MANIFEST).write_text(json.dumps(data))
    final = _clone(remote, tmp_path / "final")
    before = git(final, "rev-parse", "main")

    landed = launcher_cli(final, "land", "--from", str(edited))

    assert landed.returncode == 2, landed.stdout + landed.stderr
    assert "internal error" not in landed.stderr
    assert named in landed.stderr and str(edited) in landed.stderr
    assert git(final, "rev-parse", "main") == before
    assert git(final, "for-each-ref", "refs/heads/launcher", "refs/launcher") == ""  # nothing fetched
    assert not (final / ".launcher" / "launcher.db").exists()  # no run journaled


def test_a_huge_merge_batch_in_launcher_toml_is_refused_naming_it(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path)
    (repo / "launcher.toml").write_text(f"[merge]\nbatch = {HUGE}\n")
    (repo / "plan.toml").write_text(
        '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "p"\nscript = [{ write = "x.txt", content = "x\\n" }]\n'
    )

    ran = launcher_cli(repo, "run", "plan.toml", "--quiet")

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "launcher.toml" in ran.stderr and "merge.batch" in ran.stderr and "at most 10000" in ran.stderr
    assert not (repo / ".launcher").exists()


def test_a_huge_round_in_a_scripted_step_is_refused_naming_it(tmp_path: Path) -> None:
    repo = plain_repo(tmp_path)
    (repo / "plan.toml").write_text(
        '[[task]]\nid = "t1"\nagent = "scripted"\nprompt = "p"\n'
        f'script = [{{ write = "x.txt", content = "x\\n", rounds = [{HUGE}] }}]\n'
    )

    ran = launcher_cli(repo, "run", "plan.toml", "--quiet")

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "plan.toml" in ran.stderr and "rounds" in ran.stderr and "at most" in ran.stderr
    assert not (repo / ".launcher").exists()


def _integers(annotation: Any, metadata: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The metadata of each `int` an annotation holds (in lists, dicts, unions, Annotated)."""
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        yield from _integers(inner, (*metadata, *extra))
    elif annotation is int:
        yield metadata
    else:
        for argument in typing.get_args(annotation):
            yield from _integers(argument)


def _has_upper_bound(metadata: tuple[Any, ...]) -> bool:
    bounds = [m for item in metadata for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
    return any(isinstance(b, (annotated_types.Le, annotated_types.Lt)) for b in bounds)


# Models the launcher builds itself and never reads back from a file.
BUILT_ONLY = {
    "launcher.models.report",
    "launcher.models.rubric.Criterion",
    "launcher.models.verdict.Verdict",
}  # a verdict's iteration is only printed back


def test_every_integer_of_a_model_read_from_a_file_has_an_upper_bound() -> None:
    unbounded = []
    for info in pkgutil.iter_modules(launcher.models.__path__):
        module = importlib.import_module(f"launcher.models.{info.name}")
        for name, model in vars(module).items():
            if not (isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == module.__name__):
                continue
            if module.__name__ in BUILT_ONLY or f"{module.__name__}.{name}" in BUILT_ONLY:
                continue
            for field_name, field in model.model_fields.items():
                if any(not _has_upper_bound(m) for m in _integers(field.annotation, tuple(field.metadata))):
                    unbounded.append(f"{module.__name__}.{name}.{field_name}")
    assert unbounded == []
