"""Content filters (`.gitattributes` `filter=<name>`, such as git-lfs's) that git needs and
cannot run here: a run is refused before anything is created.

git fails a checkout of a file with that attribute (and each task's worktree is such a
checkout) when the driver's `process` program is not installed (required or not: git dies on
the broken pipe, or not, by timing), or when `filter.<name>.required` is set and its `smudge`
program is not installed, or it sets a `clean` command and no `smudge`. `git status` in the main
checkout does not show it: it runs a filter only for a file whose stat data changed. So the
drivers are read from git config, and a broken one is looked up in the attributes of the tracked
files (`git ls-files ':(attr:filter=<name>)'`): one git command per broken driver, none when
there is none (the usual case, at the cost of one `git config`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from launcher.git.repo import GitRepo

_NAME = re.compile(r"[A-Za-z0-9._-]+")  # what a pathspec's attr magic can name as it is
_SHELL_WORDS = {"if", "for", "while", "case", "{", "(", "!", "exec", "env", "command", "eval", "."}
_SHOWN = 3  # paths named in the message


@dataclass
class Driver:
    """One `[filter "<name>"]` section of git config."""

    name: str
    commands: dict[str, str] = field(default_factory=dict)  # "process" / "smudge" / "clean" -> command
    required: bool = False
    origins: list[str] = field(default_factory=list)  # the config files defining it


@dataclass(frozen=True)
class BrokenFilter:
    """A required filter git cannot run, and tracked files that use it."""

    name: str
    why: str  # "its program `git-lfs` is not installed (not found on PATH)"
    paths: list[str]
    origins: list[str]

    def sentence(self) -> str:
        shown = ", ".join(self.paths[:_SHOWN]) + (f" and {len(self.paths) - _SHOWN} more"
                                                   if len(self.paths) > _SHOWN else "")
        return (f"tracked files ({shown}) use the content filter `{self.name}` (.gitattributes) that your "
                f"git config defines (filter.{self.name}.*), but {self.why}: git cannot check them out in "
                "a task's worktree")

    def fix(self) -> str:
        files = [origin for origin in self.origins if origin.startswith("/")]
        removal = " and ".join(f"`git config --file {shlex.quote(f)} --remove-section filter.{self.name}`"
                               for f in files) or f"remove the [filter \"{self.name}\"] section from your git config"
        return (f"install the filter's program so that the PATH the launcher runs with finds it (for "
                f"git-lfs: the git-lfs package); or, to work with those files as stored in git (LFS "
                f"pointer files), without the filter: {removal}")


def _truthy(value: str) -> bool:
    value = value.strip().lower()
    return value in ("", "true", "yes", "on") or (value.isdigit() and int(value) != 0)


async def drivers(repo: GitRepo) -> dict[str, Driver]:
    """The filter drivers git config defines, as the launcher's git reads it (system, global,
    the repository's)."""
    listed = await repo.git("config", "-z", "--show-origin", "--get-regexp",
                            r"^filter\..*\.(process|smudge|clean|required)$", check=False)
    found: dict[str, Driver] = {}
    fields = listed.out.split("\0")
    for origin, entry in zip(fields[::2], fields[1::2], strict=False):
        key, _, value = entry.partition("\n")
        name, _, variable = key[len("filter."):].rpartition(".")
        if not key.startswith("filter.") or not name:
            continue
        driver = found.setdefault(name, Driver(name))
        where = origin.removeprefix("file:")
        if origin.startswith("file:") and not os.path.isabs(where):
            where = str(repo.root / where)  # the repository's own config, named relative to it
        if where not in driver.origins:
            driver.origins.append(where)
        if variable == "required":
            driver.required = _truthy(value)
        else:
            driver.commands[variable] = value
    return found


def _program_missing(command: str, root: Path, path_var: str | None) -> str | None:
    """The program `command` starts, when it is certainly not there; None when it is there or
    the command is shell code this cannot judge (a variable, a builtin, a subshell)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words or "=" in words[0] or words[0] in _SHELL_WORDS or words[0][0] in "$~`":
        return None
    program = words[0]
    if "/" in program:
        where = Path(program) if os.path.isabs(program) else root / program
        return None if where.is_file() and os.access(where, os.X_OK) else program
    return None if shutil.which(program, path=path_var) else program


def _why_broken(driver: Driver, root: Path, path_var: str | None) -> str | None:
    """Why git cannot check out a file with this driver's filter (None: it can, as far as one
    can tell; rules of git 2.38-2.4x, tried by hand)."""
    missing = {kind: program for kind, command in driver.commands.items()
               if command and (program := _program_missing(command, root, path_var))}
    if driver.commands.get("process"):
        return _missing_program(missing["process"]) if "process" in missing else None
    if not driver.required:
        return None  # git says so and checks the file out as stored
    if driver.commands.get("smudge"):
        return _missing_program(missing["smudge"]) if "smudge" in missing else None
    if driver.commands.get("clean"):
        return f"filter.{driver.name}.required is set and it has a clean command but no smudge command"
    return None


def _missing_program(program: str) -> str:
    return f"its program `{program}` is not installed (not found on PATH)"


async def broken_filters(repo: GitRepo) -> list[BrokenFilter]:
    """Required filters git cannot run that tracked files use; empty in the usual case at the
    cost of one `git config`."""
    found = []
    for driver in (await drivers(repo)).values():
        why = _why_broken(driver, repo.root, repo.env.get("PATH"))
        if why is None or not _NAME.fullmatch(driver.name):
            continue
        used = await repo.git("ls-files", "-z", "--", f":(attr:filter={driver.name})", check=False, cut_ok=True)
        paths = [path for path in used.out.split("\0") if path]
        if paths:
            found.append(BrokenFilter(driver.name, why, paths, driver.origins))
    return found
