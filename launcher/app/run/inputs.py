"""What `launcher run` checks before it creates anything (journal, branch, worktree, exclude line).

Everything a plan, `launcher.toml` or a flag names that could only fail mid-run, after agents
have run and been paid for, is checked here: the grader, the target branch name, the base commit,
the worktree root, the flags' numbers. A bad value is a usage error (exit 2) naming the key.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from launcher.agents.cli_common import PROMPT_LIMIT_BYTES
from launcher.agents.registry import prompt_as_argument
from launcher.app.run import root_in_checkout
from launcher.app.run.preflight import agents_used
from launcher.errors import ConfigError, EnvironmentProblem, LauncherError, PlanError, UsageProblem
from launcher.gates.rubric import compose, find_rubric
from launcher.git import history, worktrees
from launcher.git.repo import GitRepo
from launcher.models.config import RepoConfig, config_file, grader_problem, settings_of
from launcher.models.plan import Plan
from launcher.models.problems import Problem, raise_problems
from launcher.models.refname import branch_name_problem
from launcher.models.rubric import RubricError
from launcher.store import ports


def _worktree_root_problem(root: Path) -> str | None:
    """Why worktrees cannot be created under `root` (None when they can), leaving nothing behind."""
    probe = root
    while not probe.exists():
        if probe.parent == probe:
            return "no part of the path exists"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    try:  # access() says yes to root everywhere, /proc and /sys included: try it for real
        os.rmdir(tempfile.mkdtemp(prefix=".launcher-probe-", dir=probe))
    except OSError as exc:
        return f"{probe} does not take new directories ({exc.strerror or exc})"
    return None


def worktree_root_error(repo: GitRepo, configured: str | None) -> LauncherError | None:
    """Why the repository's worktrees cannot be made where they go (None: they can). A
    `worktree_root` set in launcher.toml is the user's setting (exit 2, fix it there); the default
    one lives in the user's cache directory, `$XDG_CACHE_HOME` or `~/.cache`, which is the
    machine's environment (exit 3: a read-only HOME, a file in the way), and the fix names it."""
    root = worktrees.default_worktree_root(repo, configured)
    unusable = _worktree_root_problem(root)
    if unusable is None:
        return None
    what = f"worktrees cannot be created under {root}: {unusable}"
    if configured:
        return ConfigError(what, where="worktree_root", error_key="config_invalid:worktree_root",
                           fix="set worktree_root in launcher.toml to a writable directory (or remove it)")
    cache = os.environ.get("XDG_CACHE_HOME", "")
    named = "XDG_CACHE_HOME" if cache and os.path.isabs(cache) else "HOME"
    return EnvironmentProblem(
        f"{what}; it is the default worktree root, in your cache directory {root.parents[2]} "
        f"({'$XDG_CACHE_HOME' if named == 'XDG_CACHE_HOME' else '~/.cache: XDG_CACHE_HOME is not set'})",
        where=named, error_key="worktree_root_unwritable",
        fix=f"make {root.parents[2]} a directory you can write to, or point XDG_CACHE_HOME at one "
            "(`export XDG_CACHE_HOME=/path/you/can/write`), or set worktree_root in launcher.toml",
    )


async def prepare_worktree_root(repo: GitRepo, configured: str | None) -> None:
    """Before a command makes a tree under the worktree root (a pool's, a sweep's, a judge's):
    refused as a run refuses it (`worktree_root_error`, `root_in_checkout.root_problem`), and a
    root inside the checkout kept out of git, as a run keeps it."""
    if (unusable := worktree_root_error(repo, configured)) is not None:
        raise unusable  # a read-only cache directory: said, with its fix, before a tree is made
    if (inside := await root_in_checkout.root_problem(repo, configured)) is not None:
        raise inside
    await root_in_checkout.keep_out_of_git(repo, configured)


def _ports_error() -> EnvironmentProblem | None:
    """The port registry every task claims its ports in lives in the cache directory too, also
    when worktree_root is set elsewhere: one that cannot be written would stop the run at its
    first task, worktrees and branches made, with a task shown running whose agent never ran."""
    where = ports.registry_path()
    unusable = _worktree_root_problem(where.parent)
    return None if unusable is None else ports.unwritable(where, unusable)


def cache_problem(repo: GitRepo, configured_root: str | None, *, ports_needed: bool = True) -> LauncherError | None:
    """Why a command that may start agents, graders or a task's commands (`run`, `resume`,
    `land`, `choose`, `grade`, `land --from`, a workflow's phase) cannot: the worktree root or
    the port registry (in the cache directory) cannot be written. Checked before anything is
    made or killed. A landing (`ports_needed=False`) needs the registry only if it sends work
    back to an agent: it is not refused for it up front (a round that needs it then stops with
    the same clear error, `launcher resume` goes on once it is fixed)."""
    return worktree_root_error(repo, configured_root) or (_ports_error() if ports_needed else None)


def rubric_problems(repo_root: Path, plan: Plan, *, graded: bool) -> list[Problem]:
    """Every rubric a task names must exist (a name, never a path); with a grader, each task's
    rubrics are composed as grading will (files parsed, one role overlay, no duplicate criterion).
    Found at grading, the task would fail after its agent ran and was paid for."""
    problems: list[Problem] = []
    found: dict[tuple[tuple[str, ...], str, str], RubricError | None] = {}
    for task in plan.tasks:
        key = (tuple(task.rubrics), task.role, task.kind)
        if key not in found:
            try:
                for name in task.rubrics:
                    find_rubric(name, repo_root)
                if graded:
                    compose(task.rubrics, role=task.role, task_kind=task.kind, repo_root=repo_root)
                found[key] = None
            except RubricError as exc:
                found[key] = exc
        error = found[key]
        if error is not None:
            named = (error.where or "").startswith("rubric ")  # else the file (and line) it is about
            what = error.what if named else f"{error.where}: {error.what}"
            problems.append(Problem(f"task {task.id!r}.rubrics", what, error.error_key, error.fix))
    return problems


def prompt_problems(plan: Plan, config: RepoConfig) -> list[Problem]:
    """A prompt its agent gets as one command-line argument must fit in one (with what a round
    adds) and hold no NUL character; else exec refuses the agent after its worktree exists."""
    agents = agents_used(plan, config)
    problems: list[Problem] = []
    for task in plan.tasks:
        agent = agents.get(task.agent)
        if task.select_from or agent is None or not prompt_as_argument(agent):
            continue
        size = len(task.prompt.encode("utf-8", "surrogatepass"))
        where = f"task {task.id!r}.prompt"
        if size > PROMPT_LIMIT_BYTES:
            problems.append(Problem(
                where, f"the prompt is {size:,} bytes; agent {task.agent!r} ({agent.adapter}) gets it as one "
                f"command-line argument, where it may take at most {PROMPT_LIMIT_BYTES:,} bytes (Linux takes "
                "128 KiB in one argument; the rest is kept for what a round adds: revision feedback, the "
                "contract instructions)",
                "plan_invalid:prompt_too_long",
                "put the long text in a file committed to the repository and have the prompt name it (the "
                "agent reads it in its worktree), or use an acp agent, which gets the prompt over stdin",
            ))  # fmt: skip
        elif "\0" in task.prompt:
            problems.append(Problem(where, "the prompt holds a NUL character (\\u0000), which no command line "
                                    "can carry", "plan_invalid:prompt_nul", "remove it from the prompt"))  # fmt: skip
    return problems


async def _has_commits(repo: GitRepo) -> bool:
    """Whether any ref holds a commit (HEAD may be unborn while other branches have commits)."""
    found = await repo.git("rev-list", "-n", "1", "--all", check=False)
    return found.ok and bool(found.out.strip())


async def _a_branch_with_commits(repo: GitRepo) -> str:
    """A branch to name in an example: main or master when they exist, else the first one."""
    listed = await repo.git("for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads/", check=False)
    names = [name for name in listed.out.split() if not name.startswith("launcher/")]
    return next((n for n in ("main", "master") if n in names), names[0] if names else "main")


async def _base_commit(repo: GitRepo, base: str, key: str) -> str:
    found = None if base.startswith("-") else await repo.commit_of(base)  # a branch first (GitRepo.commit_of)
    if found is not None:
        return found
    head = await repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if not head.ok:
        branch = await repo.current_branch()
        if branch and await _has_commits(repo):  # an orphan branch (`git checkout --orphan`)
            other = await _a_branch_with_commits(repo)
            raise EnvironmentProblem(
                f"the current branch {branch!r} has no commit yet, so there is nothing to start the "
                "worktrees from", where=str(repo.root), error_key="unborn_branch",
                fix=f"pass --base BRANCH and --into BRANCH naming a branch with commits (e.g. "
                    f"--base {other} --into {other}), or make a first commit on {branch}")
        raise EnvironmentProblem("the repository has no commit yet", where=str(repo.root),
                                 fix="make a first commit (git add -A && git commit -m 'initial')")
    raise UsageProblem(f"{base!r} is not a commit", where=key, error_key="usage:bad_base",
                       fix="name an existing commit or branch, e.g. HEAD or main")


async def _missing_target_fix(repo: GitRepo, target: str) -> str:
    """What to do about a target branch that does not exist. A remote-tracking name
    (`origin/main`) gets its own answer: a local branch of that name would shadow it."""
    remote = await repo.git("rev-parse", "--verify", "--quiet", f"refs/remotes/{target}^{{commit}}", check=False)
    if remote.ok and remote.out.strip():
        local = target.split("/", 1)[1]
        return (f"{target!r} is a remote-tracking branch, which the launcher does not land on: land on a local "
                f"branch (`--into {local}`; `git branch {local} {target}` creates it) and push that")
    return f"create it first (git branch {target} <commit>) or name an existing branch"


async def _check_namespace_free(repo: GitRepo) -> None:
    """The launcher's branches are `launcher/<run>/<task>`: a branch named `launcher` itself
    (git keeps refs as paths, so it blocks the whole namespace) would fail every task."""
    for ref, kind in ((f"refs/heads/{worktrees.BRANCH_PREFIX}", "branch"), (f"refs/{worktrees.BRANCH_PREFIX}", "ref")):
        found = await repo.git("rev-parse", "--verify", "--quiet", ref, check=False)
        if found.ok and found.out.strip():
            name = ref.removeprefix("refs/heads/")
            fix = (f"rename it: `git branch -m {name} <new-name>`" if kind == "branch"
                   else f"delete or move it: `git update-ref -d {ref}`")
            raise UsageProblem(
                f"your {kind} {name!r} blocks the launcher's own {kind}es under {ref}/ (git cannot have "
                f"both), so every task would fail", where=str(repo.root), error_key="usage:namespace_taken",
                fix=f"{fix}; nothing was created")


def grading_problems(repo_root: Path, plan: Plan, config: RepoConfig) -> list[Problem]:
    """The plan's grader and rubrics, checked against the repository: listed with the plan's
    other problems when it is loaded from a file (app/run/plans.py), all at once."""
    problem = grader_problem(plan, config)
    if problem and plan.run.grader is None:  # launcher.toml's [grading] grader: say so
        problem = replace(problem, file=config_file(repo_root))
    return ([problem] if problem else []) + rubric_problems(
        repo_root, plan, graded=bool(settings_of(plan, config).grader))


async def check_run_inputs(
    repo: GitRepo, plan: Plan, config: RepoConfig, *, into: str | None, base: str | None,
    budget_usd: float | None, source: str = "the plan",
) -> str:
    """Check what would fail only mid-run; return the base commit's sha. `source`: where the
    plan came from, named in its problems (a plan file's were said when it was loaded)."""
    problems = prompt_problems(plan, config) + grading_problems(repo.root, plan, config)
    grader = grader_problem(plan, config)
    if grader and plan.run.grader is None and len(problems) == 1:  # launcher.toml's alone: named as such
        raise_problems([grader], config_file(repo.root), ConfigError, "nothing was created and no agent ran")
    if problems:
        raise_problems(problems, source, PlanError, "nothing was created and no agent ran")
    if into is not None:
        bad = branch_name_problem(into)
        if bad:
            raise UsageProblem(f"{into!r}: {bad}", where="--into", error_key="usage:bad_into",
                               fix="pass a valid branch name (git check-ref-format --branch)")
    target, key = (into, "--into") if into is not None else (plan.run.into, "run.into")
    if target and not await repo.branch_exists(target):
        # Found only at landing, after every agent ran, it would park the run with "moved".
        raise UsageProblem(f"branch {target!r} does not exist", where=key, error_key="usage:bad_into",
                           fix=await _missing_target_fix(repo, target))
    await _check_namespace_free(repo)
    current = None if target else await repo.current_branch()
    if current and not await repo.branch_exists(current) and await _has_commits(repo):
        # An orphan branch: the run would land on a branch that does not exist yet (and park).
        await _base_commit(repo, base or plan.run.base, "--base" if base else "run.base")
        raise UsageProblem(
            f"the current branch {current!r} has no commit yet, so there is no branch to land on",
            where=str(repo.root), error_key="usage:bad_into",
            fix=f"pass --into BRANCH naming a branch with commits (e.g. --into "
                f"{await _a_branch_with_commits(repo)}), or make a first commit on {current} and run again")
    if budget_usd is not None and not (math.isfinite(budget_usd) and budget_usd >= 0):
        raise UsageProblem(f"{budget_usd} is not a budget", where="--budget-usd",
                           fix="pass a finite amount of USD, 0 or more", error_key="usage:bad_budget")
    if (unusable := cache_problem(repo, config.worktree_root)) is not None:
        raise unusable
    if (inside := await root_in_checkout.root_problem(repo, config.worktree_root)) is not None:
        raise inside
    base_key = "--base" if base else "run.base"
    base_sha = await _base_commit(repo, base or plan.run.base, base_key)
    if target or (current and await repo.branch_exists(current)):
        await _check_shares_history(repo, base_sha, target or str(current), key if target else base_key)
    return base_sha


async def _check_shares_history(repo: GitRepo, base_sha: str, target: str, key: str) -> None:
    """Work built on the base can only land on a target that shares history with it: an orphan
    branch (gh-pages), or any other branch in a shallow clone that fetched only each branch's
    tip, would fail every landing after every agent ran."""
    if await history.share_history(repo, base_sha, target):
        return
    if await history.is_shallow(repo):
        raise UsageProblem(
            f"branch {target!r} shares no history with the base {base_sha[:12]} here: "
            f"{history.shallow_said(repo)} and does not reach their common commit, so no task could land there",
            where=key, error_key="usage:bad_into",
            fix=f"{history.DEEPEN}, then run again; nothing was created and no agent ran")
    raise UsageProblem(
        f"branch {target!r} shares no history with the base {base_sha[:12]} (an orphan branch, such as "
        "gh-pages?): no task built on the base could land there", where=key, error_key="usage:bad_into",
        fix=f"pass --into a branch that grew from the base, or --base a commit of {target}; nothing was "
            "created and no agent ran")
