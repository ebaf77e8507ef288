"""What to mutate: source files (git-aware), lines changed since a ref, and shards (DESIGN 11).

git runs through `launcher.process.run`, like every other child process of the launcher.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import anyio

from launcher import process
from launcher.errors import EnvironmentProblem, LauncherError, UsageProblem
from launcher.git.environment import git_env
from launcher.models.printable import quote_path_bytes
from launcher.mutation import diff_lines, python_ops, shell_ops
from launcher.mutation.missing_path import missing_path
from launcher.mutation.model import Mutant, check_operators, number_mutants
from launcher.mutation.source_text import PYTHON_SUFFIXES, decode_source

SHELL_SUFFIXES = (".sh",)
_NOT_PACKAGES = {"tests", "test", "testing", "docs", "doc", "examples", "build", "dist"}
_NOT_SOURCES = {"conftest.py", "setup.py", "noxfile.py", "fabfile.py"}


async def _git(root: Path, *args: str) -> process.Completed:
    return await process.run(["git", "-c", "core.quotePath=false", *args], cwd=root, env=git_env(), timeout=120)


async def repo_root(path: Path) -> Path:
    done = await _git(path, "rev-parse", "--show-toplevel")
    if not done.ok:
        raise EnvironmentProblem(
            "not inside a git repository", where=str(path), fix="run the sweep from a git work tree"
        )
    return Path(done.out.strip())


def is_test_file(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    name = parts[-1]
    return (
        any(part in ("tests", "test", "testing") for part in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name in _NOT_SOURCES
    )


def default_paths(root: Path) -> list[str]:
    """The project's packages: top-level dirs (or dirs under src/) holding an __init__.py; failing
    that, the top-level modules that are not tests or build scripts."""
    found: list[str] = []
    for base in (root, root / "src"):
        if not base.is_dir():
            continue
        for child in sorted(base.iterdir()):
            name = child.name
            if name.startswith((".", "_")) or name in _NOT_PACKAGES or not (child / "__init__.py").is_file():
                continue
            found.append(child.relative_to(root).as_posix())
    if not found:
        found = [p.name for p in sorted(root.glob("*.py")) if not is_test_file(p.name)]
    if not found:
        raise UsageProblem(
            "found no Python package to mutate", where=str(root),
            fix="pass the paths to mutate: launcher mutation sweep PATH...",
        )  # fmt: skip
    return found


async def source_files(root: Path, paths: Sequence[str] | None = None) -> list[str]:
    """Repo-relative `.py` and `.sh` files under `paths` (default: the packages), tracked or
    untracked but never ignored. Test files are left out unless named directly."""
    wanted = list(paths) if paths else default_paths(root)
    explicit: set[str] = set()
    specs: list[str] = []
    for raw in wanted:
        if paths and not _utf8(raw):  # (a default path: its files are skipped with a note)
            raise UsageProblem(
                f"the path {quote_path_bytes(raw)} is not UTF-8: the sweep's journal and reports hold UTF-8 "
                "names only", where="PATHS",
                fix="rename it to a UTF-8 name (git mv) to mutate it, or pass the folder around it (the file is "
                    "then skipped with a note)",
            )  # fmt: skip
        full = (root / raw).resolve()
        if not full.exists():
            raise await missing_path(root, raw, full)  # not on disk: outside a sparse-checkout?
        if not full.is_relative_to(root.resolve()):
            raise UsageProblem(f"{raw} is outside the repository {root}", where="PATHS")
        rel = full.relative_to(root.resolve()).as_posix()
        if full.is_file():
            explicit.add(rel)
        specs.append(rel or ".")
    done = await _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *specs)
    if not done.ok:
        raise EnvironmentProblem(f"git ls-files failed: {done.err.strip()}", where=str(root))
    files = []
    for rel in dict.fromkeys(done.out.split("\0")):
        if not rel.endswith(PYTHON_SUFFIXES + SHELL_SUFFIXES) or not (root / rel).is_file():
            continue  # (a tracked file deleted from the work tree)
        if rel in explicit or not is_test_file(rel):
            files.append(rel)
    if paths:  # a mistyped PATH must not make an empty sweep that passes the gate
        empty = [raw for raw, spec in zip(wanted, specs, strict=True) if not any(_under(f, spec) for f in files)]
        if empty:
            raise UsageProblem(
                f"nothing to mutate in {', '.join(empty)}: no Python (.py) or shell (.sh) file that git tracks "
                f"(or that is untracked but not ignored) and that is not a test file",
                where="PATHS", fix="pass the source files or directories to mutate (a test file only by name)",
            )  # fmt: skip
    return sorted(files)


def _under(rel: str, spec: str) -> bool:
    return spec == "." or rel == spec or rel.startswith(spec.rstrip("/") + "/")


async def changed_lines(root: Path, ref: str) -> dict[str, set[int]]:
    """Lines of the work tree added or changed since `ref` (committed or not), per repo-relative
    source file, numbered as its mutants number them (`diff_lines`); untracked files count as
    wholly changed. Pure deletions mark no line."""
    suffixes = [f"*{suffix}" for suffix in PYTHON_SUFFIXES + SHELL_SUFFIXES]
    # --text and --no-textconv: a `-diff` or `diff=<driver>` attribute must not hide a file's lines.
    done = await _git(root, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "--text",
                      "--no-prefix", ref, "--", *suffixes)  # fmt: skip
    if not done.ok:
        raise UsageProblem(
            f"git cannot diff against {ref!r}: {done.err.strip()}",
            where="--since",
            fix="pass a branch, tag or commit this clone has (in CI, fetch it: actions/checkout fetch-depth: 0)",
        )
    changed = diff_lines.added_lines(done.out)
    others = await _git(root, "ls-files", "-z", "--others", "--exclude-standard", "--", *suffixes)
    untracked = set(filter(None, others.out.split("\0")))
    for rel in sorted(untracked | set(changed)):
        try:
            data = (root / rel).read_bytes()
        except OSError:
            continue  # (gone meanwhile, or not a file: it gives no mutant either)
        lines = diff_lines.whole_file(data) if rel in untracked else changed[rel]
        changed[rel] = diff_lines.renumber(data, lines, "python" if rel.endswith(PYTHON_SUFFIXES) else "shell")
    return changed


def filter_since(mutants: Iterable[Mutant], changed: dict[str, set[int]]) -> list[Mutant]:
    """Keep the mutants touching a changed line."""
    kept = []
    for m in mutants:
        lines = changed.get(m.target)
        if lines and any(n in lines for n in range(m.line, m.end_line + 1)):
            kept.append(m)
    return kept


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` with 1 <= I <= N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageProblem(f"bad shard {text!r}", where="--shard", fix="write I/N with 1 <= I <= N, e.g. 2/4")
    return int(m.group(1)), int(m.group(2))


def shard_of(mutant_id: str, n: int) -> int:
    """The 1-based shard of a mutant: a hash of its stable id, so every machine agrees without
    talking to the others, and a mutant stays in its shard while its id holds."""
    return int(hashlib.sha256(mutant_id.encode()).hexdigest(), 16) % n + 1


def filter_shard(mutants: Iterable[Mutant], index: int, count: int) -> list[Mutant]:
    return [m for m in mutants if shard_of(m.id, count) == index]


def read_source(path: Path) -> str:
    """The file's text with its line endings untouched (mutant offsets index this string).
    Python files honour their PEP 263 coding cookie."""
    return decode_source(path.read_bytes(), path.name)


def mutants_for_file(
    root: Path, rel: str, operators: Collection[str] | None = None, *, include_invalid: bool = False
) -> list[Mutant]:
    path = root / rel
    try:
        source = read_source(path)
    except (UnicodeDecodeError, SyntaxError) as exc:
        raise UsageProblem(f"cannot decode: {exc}", where=rel, fix="save it as UTF-8") from exc
    if rel.endswith(SHELL_SUFFIXES):
        return shell_ops.generate_mutants(path, source, rel, operators)
    return python_ops.generate_mutants(path, source, rel, operators, include_invalid=include_invalid)


@dataclass
class Collected:
    mutants: list[Mutant]
    files: list[str]
    skipped: dict[str, str] = field(default_factory=dict)  # file -> why it gave no mutants


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unnamed_files(files: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """`files` split into those whose names are UTF-8 and the others (file -> why skipped, the
    name written as git writes its bytes). A name that is not UTF-8 (os.fsdecode's surrogates)
    cannot be stored in the journal, the coverage data or the JSON reports, which all hold UTF-8
    text: such a file is skipped with a note naming it, never a crash or a silent gap."""
    kept: list[str] = []
    skipped: dict[str, str] = {}
    for rel in files:
        if not _utf8(rel):
            skipped[quote_path_bytes(rel)] = (
                "its name is not UTF-8, and the sweep's journal and reports hold UTF-8 names only: "
                "not mutated (rename it to a UTF-8 name, e.g. git mv, to mutate it)"
            )
            continue
        kept.append(rel)
    return kept, skipped


async def discover_files(
    root: Path, paths: Sequence[str] | None = None, *, since: str | None = None
) -> tuple[list[str], dict[str, set[int]] | None, dict[str, str]]:
    """The files to mutate, with `since` the lines changed since that ref (fast: git only), and
    the files left out (file -> why: `unnamed_files`)."""
    files = await source_files(root, paths)
    changed = await changed_lines(root, since) if since else None
    if changed is not None:
        files = [f for f in files if changed.get(f)]
    files, skipped = unnamed_files(files)
    return files, changed, skipped


async def generate_mutants(
    root: Path,
    files: Sequence[str],
    changed: dict[str, set[int]] | None = None,
    *,
    shard: tuple[int, int] | None = None,
    operators: Collection[str] | None = None,
    include_invalid: bool = False,
) -> Collected:
    """The mutants of `files` (--since's `changed` lines, --shard), numbered. The parsing runs in a
    worker thread, so the caller's other tasks (the coverage run) go on meanwhile."""
    known = python_ops.OPERATORS + shell_ops.OPERATORS
    chosen = check_operators(operators, tuple(dict.fromkeys(known)))
    result = Collected([], list(files))
    for rel in files:
        lang_ops = python_ops.OPERATORS if rel.endswith(PYTHON_SUFFIXES) else shell_ops.OPERATORS
        ops = [op for op in lang_ops if op in chosen]
        if not ops:
            continue
        try:
            found = await anyio.to_thread.run_sync(
                functools.partial(mutants_for_file, root, rel, ops, include_invalid=include_invalid)
            )
            if rel.endswith(SHELL_SUFFIXES) and found and shutil.which("bash"):
                found = await shell_ops.check_syntax(found, read_source(root / rel))
                found = [m for m in found if m.valid or include_invalid]
        except LauncherError as exc:
            result.skipped[rel] = exc.message
            continue
        result.mutants += found
    if changed is not None:
        result.mutants = filter_since(result.mutants, changed)
    if shard is not None:
        result.mutants = filter_shard(result.mutants, *shard)
    result.mutants = number_mutants(result.mutants)
    return result


async def collect_mutants(
    root: Path,
    paths: Sequence[str] | None = None,
    *,
    since: str | None = None,
    shard: tuple[int, int] | None = None,
    operators: Collection[str] | None = None,
    include_invalid: bool = False,
) -> Collected:
    """Discover files, generate their mutants, apply --since and --shard, number them (the seed
    survivor `id`). A file that cannot be parsed is reported in `skipped`, not fatal."""
    check_operators(operators, tuple(dict.fromkeys(python_ops.OPERATORS + shell_ops.OPERATORS)))
    files, changed, skipped = await discover_files(root, paths, since=since)
    collected = await generate_mutants(root, files, changed, shard=shard, operators=operators,
                                       include_invalid=include_invalid)  # fmt: skip
    collected.skipped = {**skipped, **collected.skipped}
    return collected
