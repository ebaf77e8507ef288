"""The acceptance gate of a test-writing task (`launcher mutation fix`): do its tests kill?

Run as a task check in the task's worktree:
`python -m launcher.gates.mutant_kill CLAIMS_JSON`, where the claims file (written by
`app/mutation_fix_plan`, outside the worktree) names the base commit, the claimed mutants, the
Python that runs pytest and where to write the evidence. The launcher, not the agent, decides:

- the task changed test files only (the code under test must stay the original),
- its new or changed test files pass on the original code, in a scratch copy of the tree,
- and fail with each claimed mutant applied (one at a time, in that scratch copy).

Anything else is refused with one `[launcher] refused: ...` line saying which rule and which test
or mutant broke it (the check summary shows that line). On success the evidence file maps each
mutant's stable id to the tests that killed it; the fix command reads it once the task landed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from launcher import process, tree_paths
from launcher.git.environment import git_env
from launcher.git.git_vars import USER_CONFIG_VARS, without_git_vars
from launcher.git.import_roots import mapped_into
from launcher.models.decoding import json_loads, read_text
from launcher.mutation.model import Mutant, MutantStale
from launcher.mutation.source_text import decode_source, mutated_bytes

TEST_TIMEOUT_S = 300.0
_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+?)(?: - .*)?$", re.MULTILINE)
_IGNORED = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", ".launcher")


@dataclass
class KillClaims:
    base_sha: str
    python: str
    evidence: str  # where the verdict goes (JSON)
    mutants: list[Mutant] = field(default_factory=list)
    task_id: str = ""

    @classmethod
    def load(cls, path: Path) -> KillClaims:
        data = json_loads(read_text(path))
        return cls(base_sha=str(data["base_sha"]), python=str(data["python"]), evidence=str(data["evidence"]),
                   mutants=[Mutant.model_validate(m) for m in data["mutants"]], task_id=str(data.get("task_id", "")))

    def as_dict(self) -> dict[str, Any]:
        return {"base_sha": self.base_sha, "python": self.python, "evidence": self.evidence, "task_id": self.task_id,
                "mutants": [m.model_dump(mode="json") for m in self.mutants]}  # fmt: skip


@dataclass
class KillVerdict:
    accepted: bool
    reason: str
    test_files: list[str] = field(default_factory=list)
    killed_by: dict[str, list[str]] = field(default_factory=dict)  # mutant id -> the tests that fail with it

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "reason": self.reason, "test_files": self.test_files,
                "killed_by": self.killed_by}  # fmt: skip


async def _git_names(tree: Path, *args: str) -> list[str]:
    """The file names a git listing gives with `-z`: exactly as named (quoting, if any, undone)."""
    done = await process.run(["git", *args], cwd=tree, env=git_env(), timeout=60)
    if not done.ok:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.err.strip()}")
    return [name for name in done.out.split("\0") if name]


async def changed_files(tree: Path, base_sha: str) -> list[str]:
    """Files that differ from the base: committed, staged or not, and new untracked ones."""
    tracked = await _git_names(tree, "diff", "--name-only", "-z", "--no-renames", base_sha, "--")
    untracked = await _git_names(tree, "ls-files", "-z", "--others", "--exclude-standard")
    return sorted({*tracked, *untracked})


EnvOf = Callable[[Path], Mapping[str, str]]  # the environment of the tests run in a tree


def copy_env(worktree: Path) -> EnvOf:
    """The environment of the tests when this module runs as a task's check in `worktree`: its
    own, which is already the allowlisted one the launcher gives a task's checks
    (engine/command_env.py), made for the copy the tests run in. That environment puts the
    worktree's import roots (`src/`, ...) first on PYTHONPATH: left as they are, the copy's tests
    would import the worktree's unmutated code and every mutant would seem to survive. So each
    PYTHONPATH entry into the worktree is moved to the same place in the copy."""
    bases = list(dict.fromkeys(p for p in (worktree, Path(os.environ.get("LAUNCHER_WORKTREE") or worktree))))

    def env_of(copy: Path) -> Mapping[str, str]:
        entries = os.environ.get("PYTHONPATH", "")
        for base in bases:
            entries = os.pathsep.join(mapped_into(copy, e, base) for e in entries.split(os.pathsep))
        env = dict(os.environ)
        if entries:
            env["PYTHONPATH"] = entries
        if "LAUNCHER_WORKTREE" in env:
            env["LAUNCHER_WORKTREE"] = str(copy)
        return env

    return env_of


def check_env(tree: Path) -> Mapping[str, str]:
    """The tests' environment in `tree` (a copy of the worktree this check runs in, or itself)."""
    return copy_env(Path.cwd())(tree)


async def _pytest(python: str, tree: Path, files: list[str], env_of: EnvOf,
                  timeout_s: float = TEST_TIMEOUT_S) -> tuple[int, list[str], str]:  # fmt: skip
    """Exit code, the failing (or erroring) test ids, and the output's tail. The tests are the
    agent's: they run with `env_of(tree)`, never the launcher's whole environment."""
    # The sweep's test environment (git/git_vars.py): never the GIT_DIR of another repository.
    env = {**without_git_vars(env_of(tree), keep=USER_CONFIG_VARS), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "--no-header", *files]
    done = await process.run(argv, cwd=tree, env=env, timeout=timeout_s)
    output = done.text + done.err
    return done.returncode, sorted(set(_FAILED.findall(output))), output[-2000:]


def _where(mutant: Mutant) -> str:
    return f"mutant {mutant.id} ({mutant.target}:{mutant.line} {mutant.orig!r} -> {mutant.mut!r})"


def _stale(tree: Path, mutants: list[Mutant]) -> str:
    """Why a claimed mutant cannot be applied to this tree's code (the code changed since the
    sweep), or "": checked before any test runs, so the refusal names the cause, not a traceback."""
    for mutant in mutants:
        path = tree / mutant.target
        try:
            mutant.apply(decode_source(path.read_bytes(), path.name))
        except (MutantStale, OSError, UnicodeDecodeError, SyntaxError, LookupError) as exc:
            why = str(exc) if isinstance(exc, MutantStale) else f"cannot read {mutant.target}: {exc}"
            return (f"{_where(mutant)} does not fit the task's code ({why}): the sweep is older than this "
                    "code; re-run `launcher mutation sweep` and `launcher mutation fix` on the new sweep")  # fmt: skip
    return ""


async def kills(tree: Path, python: str, tests: list[str], mutants: list[Mutant], *, env_of: EnvOf,
                timeout_s: float = TEST_TIMEOUT_S,
                copies: Path | None = None) -> dict[str, list[str]] | None:  # fmt: skip
    """Which of `mutants` these `tests` kill, each applied alone to a scratch copy of `tree` (the
    tree itself is never modified): mutant id -> the tests that fail with it. None: the tests do
    not pass on the tree's own code, so nothing can be said. A mutant that does not fit the
    tree's code is left out. `env_of(copy)`: the tests' environment in the copy they run in
    (from the launcher's process: the allowlisted one its task checks get). `copies`: the folder
    the scratch copy is made in (a temporary directory's by default)."""
    with tempfile.TemporaryDirectory(prefix="launcher-kill-", dir=copies) as tmp:
        scratch = Path(tmp) / "tree"
        shutil.copytree(tree, scratch, symlinks=True, ignore=_IGNORED)
        code, _failing, _tail = await _pytest(python, scratch, tests, env_of, timeout_s)
        if code != 0:
            return None
        found: dict[str, list[str]] = {}
        for mutant in mutants:
            if _stale(scratch, [mutant]):
                continue
            path = scratch / mutant.target
            original = path.read_bytes()
            try:
                path.write_bytes(mutated_bytes(path, original, mutant.apply(decode_source(original, path.name))))
                code, failing, _tail = await _pytest(python, scratch, tests, env_of, timeout_s)
            finally:
                path.write_bytes(original)
            if code != 0 and failing:
                found[mutant.id] = failing
        return found


COPY_PREFIX = "_launcher-kill-"  # `_`: the launcher's own scratch beside a run's worktrees, never a task's


def copies_dir(tree: Path) -> Path | None:
    """Where a check run by the launcher in a run's worktree copies it: beside it, in the run's
    worktree folder, which the run's SiteGuard covers (engine/site_installs.py), so a test that
    `pip install -e .`s from the copy is put back like one run in the worktree itself (from a copy
    in the system's temp directory it would be left pointing into a deleted tree). Elsewhere (run
    by hand): the system's temp directory (None)."""
    worktree = Path(os.environ.get("LAUNCHER_WORKTREE") or tree)
    if not os.environ.get("LAUNCHER_RUN_ID") or not os.access(worktree.parent, os.W_OK):
        return None
    return worktree.parent


def _present(tree: Path, rel: str) -> bool:
    """Whether the tree still has `rel` (reached as git reaches it: any path git can list)."""
    try:
        return tree_paths.lstat(tree, rel) is not None
    except OSError:
        return True  # there, but not readable: a change all the same


async def judge_tree(tree: Path, claims: KillClaims) -> KillVerdict:
    """Check one worktree against its claims; the tree itself is never modified."""
    if not claims.mutants:
        return KillVerdict(False, "the task claims no mutant")
    changed = [f for f in await changed_files(tree, claims.base_sha) if _present(tree, f)]
    targets = {m.target for m in claims.mutants}
    touched = sorted(set(changed) & targets)
    if touched:
        return KillVerdict(False, f"it changed the code under test ({', '.join(touched)}): write tests, "
                                  "leave the original code as it is")  # fmt: skip
    tests = [f for f in changed if f.endswith(".py")]
    if not tests:
        return KillVerdict(False, "no test file was added or changed")
    stale = _stale(tree, claims.mutants)
    if stale:
        return KillVerdict(False, stale, tests)
    env_of = copy_env(tree)
    with tempfile.TemporaryDirectory(prefix=COPY_PREFIX, dir=copies_dir(tree)) as tmp:
        scratch = Path(tmp) / "tree"
        shutil.copytree(tree, scratch, symlinks=True, ignore=_IGNORED)
        code, failing, tail = await _pytest(claims.python, scratch, tests, env_of)
        if code == 5:
            return KillVerdict(False, f"the changed test files collect no test ({', '.join(tests)})", tests)
        if code != 0:
            last = tail.strip().splitlines()[-1] if tail.strip() else f"pytest exit {code}"
            names = ", ".join(failing) or last
            return KillVerdict(False, f"the new tests fail on the original code: {names}", tests)
        verdict = KillVerdict(True, "", tests)
        for mutant in claims.mutants:
            path = scratch / mutant.target
            original = path.read_bytes()
            try:
                path.write_bytes(mutated_bytes(path, original, mutant.apply(decode_source(original, path.name))))
                code, failing, _tail = await _pytest(claims.python, scratch, tests, env_of)
            finally:
                path.write_bytes(original)
            if code == 0 or not failing:
                return KillVerdict(False, f"the new tests pass with {_where(mutant)} applied too: they do not "
                                          "detect it", tests)  # fmt: skip
            verdict.killed_by[mutant.id] = failing
    verdict.reason = f"{len(verdict.killed_by)} mutant(s) killed by the new tests, which pass on the original code"
    return verdict


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m launcher.gates.mutant_kill CLAIMS_JSON", file=sys.stderr)
        return 2
    try:
        claims = KillClaims.load(Path(argv[1]))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # ValidationError and JSON errors are ValueErrors
        print(f"[launcher] refused: the claims file {argv[1]} cannot be read ({type(exc).__name__}: {exc}); "
              "re-run `launcher mutation fix` to write it again")  # fmt: skip
        return 2
    verdict = anyio.run(judge_tree, Path.cwd(), claims)
    evidence = Path(claims.evidence)
    evidence.parent.mkdir(parents=True, exist_ok=True)
    evidence.write_text(json.dumps(verdict.as_dict(), indent=2), encoding="utf-8")
    if not verdict.accepted:
        print(f"[launcher] refused: {verdict.reason}")
        return 1
    for mutant_id, tests in verdict.killed_by.items():
        print(f"mutant {mutant_id} killed by {', '.join(tests)}")
    print(f"[launcher] accepted: {verdict.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
