"""Before a run creates anything (journal row, worktree, branch): can it run at all here?

The repository must have a commit to start from, every agent the plan names (each task's,
each best-of attempt's, the grader) must be runnable, and with `commit.gpgsign` set git must be
able to sign the launcher's commits: a missing CLI or a failing signer found after a worktree
and a branch exist for every task (after each agent ran, for the signer) leaves debris and wastes
the user's time and money. Problems are environment problems (exit 3), each with what to install
or configure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from launcher.app.agents_info import AgentInfo, describe_agents
from launcher.app.run.shared_credentials import check_shared_credentials
from launcher.errors import ConfigError, EnvironmentProblem, PlanError
from launcher.git import filter_drivers, signing
from launcher.git.repo import GitRepo
from launcher.models.config import RepoConfig, settings_of
from launcher.models.plan import BUILTIN_ADAPTERS, AgentConfig, Plan

# How each agent CLI is authenticated: said next to a CLI that does not run, since after
# installing it the next stumble is its login.
AUTH_HINTS: dict[str, str] = {
    "claude": "then log in once with `claude` (or list ANTHROPIC_API_KEY in the agent's env)",
    "codex": "then log in once with `codex login` (or list OPENAI_API_KEY in the agent's env)",
    "gemini": "then log in once with `gemini` (or list GEMINI_API_KEY in the agent's env)",
    "aider": "then list your model provider's key (e.g. OPENAI_API_KEY) in the agent's env",
    "opencode": "then log in once with `opencode auth login`",
}


async def require_first_commit(repo: GitRepo) -> None:
    """A run starts its worktrees from a commit: a repository without one cannot run."""
    head = await repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if head.ok:
        return
    any_ref = await repo.git("rev-list", "-n", "1", "--all", check=False)
    if any_ref.ok and any_ref.out.strip():
        return  # HEAD is unborn but other commits exist: `base`/`into` may name them
    raise EnvironmentProblem(
        "the repository has no commit yet, so there is nothing to start the worktrees from",
        where=str(repo.root),
        fix="make a first commit: git add -A && git commit -m 'first commit'",
    )


async def check_signing(repo: GitRepo) -> None:
    """With `commit.gpgsign` on, git signs every commit the launcher makes of an agent's work
    (`git commit` in the task's worktree, as the user's identity) and every commit it writes
    itself (git/signing.py: the landing's): a signer that cannot sign would fail every task,
    each only after its agent ran. One `git config` read; only when signing is on, one test
    signature (`git commit-tree -S`: an unreferenced commit object, no ref touched). Tags are
    not checked: the launcher makes none."""
    if not await signing.signs_commits(repo):
        return
    tree = await repo.git("rev-parse", "--verify", "-q", "HEAD^{tree}", check=False)
    if not tree.ok:  # an unborn HEAD: the first commit's tree is signed alike
        tree = await repo.git("rev-list", "-n", "1", "--all", "--format=%T", "--no-commit-header",
                              check=False)
    probe = await repo.git("commit-tree", "-S", "-m", "launcher: can git sign a commit here?",
                           tree.out.strip(), check=False, timeout=signing.SIGNING_TIMEOUT, timed_out_ok=True)
    if probe.ok:
        return
    said = (probe.err or probe.out).strip().splitlines()
    why = "; ".join(said[:3]) if said else f"exit {probe.returncode}"
    if probe.timed_out:  # a signer waiting for a passphrase nobody types
        why = f"the signer did not answer within {signing.SIGNING_TIMEOUT:g} s"
    email = repo.env.get("GIT_COMMITTER_EMAIL", "")
    raise EnvironmentProblem(
        f"commit.gpgsign is on, but git cannot sign a commit in this repository ({why}); the "
        "launcher commits each task's work, so every task would fail after its agent ran",
        where=f"{repo.root} (git config commit.gpgsign)",
        fix="make signing work first: `git commit --allow-empty -S -m test` in this repository must "
            f"succeed (set user.signingkey, or a key for {email}, and gpg.program / gpg.format); or "
            "turn signing off for this repository: `git config commit.gpgsign false` (it overrides "
            "your global setting; `git config --unset commit.gpgsign` undoes it); nothing was created",
        error_key="commit_signing_fails",
    )


def agents_used(plan: Plan, config: RepoConfig) -> dict[str, AgentConfig]:
    """Every agent the run may start, by name, with the config it runs with."""
    names: list[str] = []
    for task in plan.tasks:
        if not task.select_from:  # a best-of selecting task runs no agent
            names.append(task.agent)
        names.extend(task.attempt_agents)
    grader = settings_of(plan, config).grader
    if grader:
        names.append(grader)
    used: dict[str, AgentConfig] = {}
    for name in names:
        if name in used:
            continue
        if name in plan.agents:
            used[name] = plan.agents[name]
        elif name in config.agents:
            used[name] = config.agents[name]
        elif name in BUILTIN_ADAPTERS:
            used[name] = AgentConfig(adapter=name)  # type: ignore[arg-type]
    return used


def _problem(row: AgentInfo) -> str:
    what = row.note or (f"{row.binary} cannot be run" if row.binary else "it cannot be run")
    if row.binary and os.sep in row.binary and not row.path:
        what = f"{row.binary} does not exist or is not executable"
    hint = f"; install: {row.install_hint}" if row.install_hint else ""
    auth = AUTH_HINTS.get(row.adapter, "")
    return f"agent {row.name!r} ({row.adapter}): {what}{hint}{'; ' + auth if auth and row.install_hint else ''}"


async def check_agents(plan: Plan, config: RepoConfig) -> None:
    """Every agent the plan uses is on PATH (and answers `--version`, for the known CLIs)."""
    by_path: dict[str | None, dict[str, AgentConfig]] = {}
    for name, agent in agents_used(plan, config).items():
        # An agent whose set_env gives its own PATH finds its CLI there, not on ours.
        by_path.setdefault(agent.set_env.get("PATH"), {})[name] = agent
    problems = []
    for search_path, agents in by_path.items():
        rows = await describe_agents(agents, search_path=search_path)
        configured = rows[-len(agents):]  # describe_agents lists the configured agents last
        problems += [_problem(row) for row in configured if not row.found and row.adapter not in _BUILT_IN]
    if problems:
        raise EnvironmentProblem(
            "cannot start the run: " + "; ".join(problems),
            fix="install the missing agent CLI or correct its [agents.<name>] command "
                "(`launcher agents` lists what is found); nothing was created",
            error_key="agent_missing",
        )


_BUILT_IN = frozenset({"scripted", "scripted-grader", "scripted-judge"})


_INTERPRETERS = re.compile(r"(python[\d.]*|sh|bash|zsh|node|ruby|perl|deno|bun|uv|pypy[\d.]*)")


def _program_files(command: list[str]) -> list[str]:
    """The repository-relative program a command runs: its first word when that is a path
    (`./tools/bot.sh`), or the script an interpreter is given (`python3 tools/bot.py`)."""
    if not command:
        return []
    first = command[0]
    if "/" in first and not Path(first).is_absolute():
        return [first]
    if len(command) > 1 and _INTERPRETERS.fullmatch(os.path.basename(first)):
        script = command[1]
        if not (script.startswith("-") or "{" in script or "\n" in script or Path(script).is_absolute()):
            return [script]
    return []


async def uncommitted_programs(repo: GitRepo, agents: Mapping[str, AgentConfig], base_sha: str,
                               where: str = "the task worktrees start") -> list[str]:  # fmt: skip
    """The repository programs agent commands run (`python3 tools/bot.py`) that commit `base_sha`
    lacks, each said as a sentence: the command runs in a checkout of that commit."""
    problems = []
    root = repo.root.resolve()
    for name, agent in agents.items():
        for arg in _program_files(agent.command or []):
            try:
                path = (root / arg).resolve()
                if not path.is_relative_to(root):
                    continue
            except (OSError, ValueError):  # not a path at all (too long, a NUL byte)
                continue
            rel = path.relative_to(root).as_posix()
            found = await repo.git("cat-file", "-e", f"{base_sha}:{rel}", check=False)
            if found.ok:
                continue
            state = "is not committed" if path.is_file() else "does not exist"
            problems.append(f"agent {name!r} runs {arg}, which {state} ({where} from commit {base_sha[:12]})")
    return problems


async def check_agent_files(repo: GitRepo, plan: Plan, config: RepoConfig, base_sha: str) -> None:
    """An agent command naming a program of this repository (`python3 tools/bot.py`) runs it
    in the task's worktree, which holds the base commit: a file only in the main checkout (or
    nowhere) is not there, and every task would fail the same way after its worktree exists."""
    problems = await uncommitted_programs(repo, agents_used(plan, config), base_sha)
    if problems:
        raise EnvironmentProblem(
            "cannot start the run: " + "; ".join(problems),
            fix="write and commit it first (git add FILE && git commit), or name it by absolute path; "
                "nothing was created",
            error_key="agent_file_uncommitted",
        )


async def preflight(repo: GitRepo, plan: Plan, config: RepoConfig) -> None:
    await require_first_commit(repo)
    await check_agents(plan, config)
    await check_signing(repo)
    await check_shared_credentials(repo)
    await check_filters(repo)


async def check_filters(repo: GitRepo) -> None:
    """A content filter that tracked files use and git cannot run (git-lfs's, its program not
    installed): git would fail each task's checkout, after the run was journaled. `git status`
    in the main checkout does not show it (it runs a filter only for a file whose stat data
    changed), so the drivers are checked themselves (git/filter_drivers.py)."""
    broken = await filter_drivers.broken_filters(repo)
    if not broken:
        return
    raise EnvironmentProblem(
        "; ".join(b.sentence() for b in broken), where=str(repo.root), fix="; ".join(b.fix() for b in broken),
        error_key="filter_missing",
    )


# Shell words that are not a program on PATH: the check's first word is not looked up then.
# (A fast path only: any other word the shell itself knows is asked of it, `_shell_knows`.)
_SHELL_WORDS = frozenset({
    "!", "[", "[[", "(", "{", ".", ":", "alias", "bash", "builtin", "case", "cd", "command",
    "eval", "exec", "exit", "export", "for", "function", "if", "set", "sh", "source", "test",
    "time", "ulimit", "umask", "unset", "until", "while",
})
_OPERATORS = frozenset({"&&", "||", ";", "|", "&", ";;", "(", ")"})
_CHECK_SHELL = "/bin/sh"  # what runs the integration check (git/integration_check.py)


def _check_program(command: str) -> str | None:
    """The program the integration check's shell command starts (its first word after any
    `NAME=value`), when that is a name looked up on PATH or an absolute path; None when it is
    a shell word or a repository path (a task may add that file)."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:  # unbalanced quotes: the shell says so itself
        return None
    for word in words:
        if word in _OPERATORS or word in _SHELL_WORDS or "$" in word or "`" in word:
            return None
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word, re.DOTALL):
            continue
        return word if "/" not in word or Path(word).is_absolute() else None
    return None


def _defines_function(command: str, name: str) -> bool:
    """Whether the command defines a shell function `name` (`name() {...}`, `function name`):
    then it runs that function, not a program."""
    word = re.escape(name)
    return re.search(rf"(?:^|[\s;&|(){{}}]){word}\s*\(\s*\)|(?:^|[\s;&|(){{}}])function\s+{word}(?:[\s(]|$)",
                     command) is not None


def _shell_knows(name: str) -> bool:
    """Whether the shell that runs the check finds `name` itself (a builtin such as `trap` or
    `readonly`, a keyword, or a program on PATH): it is asked (`command -v`). True when it
    cannot be asked: a valid check refused is worse than a failure the check's output explains.
    (A short synchronous call: the callers are synchronous, and it runs only for a first word
    that is not on PATH.)"""
    try:
        done = subprocess.run([_CHECK_SHELL, "-c", 'command -v -- "$1" >/dev/null 2>&1', "sh", name],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False)
    except (OSError, ValueError, subprocess.SubprocessError):  # ValueError: a NUL in the name
        return True
    return done.returncode not in (1, 127)  # 0: found; 1 or 127: not found; else: in doubt


def check_integration_program(plan: Plan, config: RepoConfig) -> None:
    """The integration check runs after every agent did its work: a program it names that does
    not exist (a typo, a venv path that moved) would make the check fail on the target itself,
    so that the run ended telling the user to fix a target that is fine. Refused up front."""
    command = settings_of(plan, config).integration_check
    key = ("[run] integration_check of the plan" if plan.run.integration_check is not None
           else "[merge] integration_check of launcher.toml")
    if command is not None and "\0" in command:  # no command line (nor `sh -c`) can carry it
        shown = command.replace("\0", "\\u0000")
        error = PlanError if plan.run.integration_check is not None else ConfigError
        raise error(f"the integration check `{shown}` holds a NUL character (\\u0000), which no command "
                        "can carry", where=key, error_key="plan_invalid:check_nul",
                        fix=f"remove it from {key}; nothing was created")
    program = _check_program(command) if command else None
    if program is None or command is None:
        return
    # Not on PATH: a function the command defines, or a word of the shell's own (`trap`,
    # `readonly`, `wait`...) is no missing program; when in doubt, the check runs.
    found = (os.access(program, os.X_OK) and Path(program).is_file()) if os.sep in program \
        else shutil.which(program) is not None or _defines_function(command, program) or _shell_knows(program)
    if found:
        return
    what = "does not exist or is not executable" if os.sep in program else "is not on PATH"
    raise EnvironmentProblem(
        f"cannot start the run: the integration check `{command}` runs {program}, which {what}",
        where=key,
        fix=f"correct the command in {key} (or install {program}); nothing was created",
        error_key="integration_check_missing",
    )
