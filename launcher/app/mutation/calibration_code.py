"""What a judge scored on a calibration set may read (DESIGN 7.4: labels are stripped before the
judge sees it).

A labelled set is the answer key. The judge therefore never runs on a checkout of the repository
(its objects hold every committed label: `git show HEAD:mutation/calibration-set.json`) nor is
pointed at the labelled file or its directory (the shipped set's `kills/` prove its genuine
labels). It gets:

- a standalone scratch repository, linked to nothing of the repository's: the files of HEAD
  (the judge's own program may live there) without any labelled set (`LABELLED_SETS` and the
  file judged), plus, for a set that keeps the code its mutants came from beside it (the shipped
  Python set: `cachetools-8.0.1/...`), those projects' directories, so every survivor's `target`
  resolves in the scratch, as the prompt says;
- a label-free copy of the set (`LABEL_FREE_NAME`: only what a survivor record has) as the
  packet's `report`, beside its packets, outside the repository.

Labels of code that scratch lacks (a target HEAD no longer has, a line no longer holding the
mutant's `orig`) are named before the call (`unseen_labels`): the judge would be asked, and
scored, on code it cannot see.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from launcher import process
from launcher.app.mutation.calibration_default import OWN_SET
from launcher.errors import EnvironmentProblem
from launcher.git.environment import git_env
from launcher.git.repo import GitRepo
from launcher.models.judge import Survivor

LABEL_FREE_NAME = "calibration-survivors.json"
# Labelled sets never copied into the judge's scratch, whatever set is judged.
LABELLED_SETS = (OWN_SET.as_posix(),)
_NOT_CODE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache")


def label_free_report(description: str, survivors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The set as the judge may read it: its description and the survivors, labels stripped."""
    return {"contract_version": "1", "description": description, "survivors": list(survivors)}


def code_beside(source: Path, repo_root: Path, targets: Sequence[str]) -> list[str]:
    """The top-level entries beside a set outside the repository that hold its targets (the
    shipped set's project directories); empty when the targets are the repository's files."""
    source = source.resolve()
    if source.is_relative_to(repo_root.resolve()):
        return []
    tops: list[str] = []
    for target in targets:
        parts = PurePosixPath(target).parts
        if not parts or parts[0] in ("..", "/") or not (source.parent / target).is_file():
            continue
        if parts[0] not in tops and (source.parent / parts[0]).resolve() != source:
            tops.append(parts[0])
    return tops


async def _git(cwd: Path, *args: str) -> process.Completed:
    done = await process.run(["git", *args], cwd=cwd, env=git_env(), timeout=600)
    if not done.ok:
        raise EnvironmentProblem(f"cannot make the judge's scratch: git {args[0]} failed: {done.err.strip()}",
                                 where=str(cwd), fix="check the disk space and the git install; no judge call "
                                 "was made")  # fmt: skip
    return done


async def make_code_scratch(repo: GitRepo, scratch: Path, source: Path, targets: Sequence[str]) -> str:
    """Fill `scratch` as the module docstring says and commit it in a repository of its own;
    returns that commit (the judge's LAUNCHER_BASE_SHA)."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="launcher-judge-") as tmp:
        archive = Path(tmp) / "head.tar"
        done = await repo.git("archive", "--format=tar", "-o", str(archive), "HEAD", check=False)
        if not done.ok:
            raise EnvironmentProblem(f"cannot make the judge's scratch: git archive HEAD failed: {done.err.strip()}",
                                     where=str(repo.root), fix="no judge call was made")  # fmt: skip
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4+
                tar.extractall(scratch, filter="data")
            else:  # what git archive writes of HEAD holds no absolute, `..` or under-a-symlink path
                tar.extractall(scratch)
    judged = source.resolve()
    inside = judged.relative_to(repo.root.resolve()).as_posix() if judged.is_relative_to(repo.root.resolve()) else None
    for relative in {*LABELLED_SETS, *([inside] if inside else [])}:
        (scratch / relative).unlink(missing_ok=True)
    for top in code_beside(source, repo.root, targets):
        origin, copy = source.parent / top, scratch / top
        if copy.exists() or copy.is_symlink():
            shutil.rmtree(copy) if copy.is_dir() and not copy.is_symlink() else copy.unlink()
        if origin.is_dir():
            shutil.copytree(origin, copy, ignore=_NOT_CODE)
        else:
            shutil.copy2(origin, copy)
    await _git(scratch, "init", "-q")
    await _git(scratch, "add", "-A", "-f")
    await _git(scratch, "commit", "-q", "--no-verify", "--allow-empty", "-m", "the calibration mutants' code")
    return (await _git(scratch, "rev-parse", "HEAD")).out.strip()


async def _code_of(repo: GitRepo, source: Path, target: str, beside: Sequence[str]) -> str | None:
    """A target's text as the judge's scratch holds it (None: not there)."""
    parts = PurePosixPath(target).parts
    if parts and parts[0] in beside:
        try:
            return (source.parent / target).read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return None
    done = await repo.git("cat-file", "--filters", f"HEAD:{target}", check=False)
    return done.stdout.decode("utf-8", errors="replace") if done.ok else None


async def unseen_labels(repo: GitRepo, source: Path, entries: Sequence[Survivor]) -> list[str]:
    """The labelled mutants whose code the judge's scratch does not hold, one description each
    ("id 3: calc/core.py is not in HEAD", "id 5: calc/core.py line 9 no longer holds `x >= 18`")."""
    beside = code_beside(source, repo.root, [e.target for e in entries])
    texts: dict[str, list[str] | None] = {}
    unseen: list[str] = []
    for entry in entries:
        if entry.target not in texts:
            text = await _code_of(repo, source, entry.target, beside)
            texts[entry.target] = None if text is None else text.splitlines()
        lines = texts[entry.target]
        if lines is None:
            unseen.append(f"id {entry.id}: {entry.target} is not in HEAD")
            continue
        if not 1 <= entry.line <= len(lines):
            unseen.append(f"id {entry.id}: {entry.target} has no line {entry.line} (it has {len(lines)})")
        elif entry.orig not in "\n".join(lines[entry.line - 1 : entry.line + entry.orig.count("\n")]):
            unseen.append(f"id {entry.id}: {entry.target} line {entry.line} no longer holds {entry.orig.strip()!r}")
    return unseen


async def unseen_warning(repo: GitRepo, source: Path, entries: Sequence[Survivor]) -> str | None:
    """The labels whose code the judge is not given, said before the call and kept in the report."""
    unseen = await unseen_labels(repo, source, entries)
    if not unseen:
        return None
    shown = "; ".join(unseen[:5]) + (f"; and {len(unseen) - 5} more" if len(unseen) > 5 else "")
    return (f"{len(unseen)} of {len(entries)} labelled mutant(s) are of code the judge's checkout (HEAD) does not "
            f"hold ({shown}): the judge is asked about code it cannot see, and its calls on them are scored all the "
            "same; relabel them on the current code (`launcher mutation sweep`, then `launcher mutation label`), "
            "drop them from the set, or judge at the commit they were labelled at")
