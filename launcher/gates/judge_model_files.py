"""Where a judge's CLI takes its model from when the judge agent sets none: its own config files.

A judge agent without `model =` (and without a model flag in `extra_args`) runs on whatever model
its CLI's config files name; switching it there switches the judge, so a calibration records a
digest of every model setting the judge would read (`model_files` of its identity,
gates/judge_identity.py) and the gate refuses the verdict when one changed. Per adapter, as each
CLI documents its files (each a digest of its model key; absent files or keys are not recorded):

- claude: `$CLAUDE_CONFIG_DIR/settings.json` (else `~/.claude/settings.json`), the project's
  `.claude/settings.json` and `.claude/settings.local.json`, a `--settings FILE` of `extra_args`,
  the managed settings `/etc/claude-code/managed-settings.json`; key `model`.
- codex: `$CODEX_HOME/config.toml` (else `~/.codex/config.toml`): `model`, `profile`, and the
  selected profile's (`--profile`/`-p` in `extra_args`, else `profile`) `[profiles.X] model` and
  `$CODEX_HOME/X.config.toml` `model` (the newer one file per profile); the project's
  `.codex/config.toml` `model` and `profile`; the system's `/etc/codex/config.toml` and
  `/etc/codex/managed_config.toml` (`model`, `profile`, the selected profile's model).
- gemini: `$GEMINI_CLI_HOME/.gemini/settings.json` (else `~/.gemini/settings.json`) and the
  project's `.gemini/settings.json`, key `model.name` (or a string `model`, the older format);
  GEMINI_MODEL in the `.gemini/.env` and `.env` of the project and of that home; the system's
  `/etc/gemini-cli/system-defaults.json` and `/etc/gemini-cli/settings.json` (or the files
  GEMINI_CLI_SYSTEM_DEFAULTS_PATH and GEMINI_CLI_SYSTEM_SETTINGS_PATH of the agent's `set_env` name).
- aider: `.aider.conf.yml` of home and of the project (its git root and its working directory
  are the judge's checkout), or only `--config FILE`; AIDER_MODEL in `.env` of both, and in
  `--env-file FILE`.
- opencode: `opencode.json`, `opencode.jsonc` and `config.json` in `$XDG_CONFIG_HOME/opencode`
  (else `~/.config/opencode`), `$OPENCODE_CONFIG`, `$OPENCODE_CONFIG_DIR/opencode.json(c)`,
  `$OPENCODE_CONFIG_CONTENT`, the project's `opencode.json(c)` and `.opencode/opencode.json(c)`;
  key `model`.

Home files are read in the environment the judge runs with (the launcher's, with the agent's
`set_env` over it: a judge given its own HOME reads that one). Project files are read as the
judge's checkout holds them, which is the repository at HEAD (`read_at_head`): a file never
committed, such as a git-ignored `.claude/settings.local.json`, is not in the judge's checkout.
A file that cannot be parsed is recorded whole, so any edit of it counts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from launcher.git.repo import GitRepo
from launcher.models.decoding import toml_loads, yaml_load
from launcher.models.plan import AgentConfig
from launcher.regular_files import read_capped

FILE_LIMIT = 4 * 1024 * 1024  # bytes of a config file read: a CLI's settings are far smaller
WHOLE_FILE = "(the whole file: it cannot be parsed)"
HEAD_PREFIX = "HEAD:"  # how a project file is named in the record: as the judge's checkout holds it
# The variables that move a CLI's own config files (passed to the judge: agents/*.PASSTHROUGH, base.ENV_ALLOWLIST).
LOCATING = ("HOME", "XDG_CONFIG_HOME", "CODEX_HOME", "CLAUDE_CONFIG_DIR", "GEMINI_CLI_HOME",
            "OPENCODE_CONFIG", "OPENCODE_CONFIG_DIR", "OPENCODE_CONFIG_CONTENT")  # fmt: skip
# The flags of `extra_args` that name the model outright (then no config file decides it).
# Where system-wide config files are looked for (Linux paths under it, as each CLI documents
# them); tests point it at a folder of their own.
SYSTEM_ROOT = Path("/")
# Variables that move gemini's system files: not passed from the launcher's environment to an
# agent (agents/gemini.py PASSTHROUGH), so only an agent's `set_env` can set them.
_GEMINI_SYSTEM = {"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": "etc/gemini-cli/system-defaults.json",
                  "GEMINI_CLI_SYSTEM_SETTINGS_PATH": "etc/gemini-cli/settings.json"}  # fmt: skip
_MODEL_FLAGS = {"claude": ("--model",), "codex": ("-m", "--model"), "gemini": ("-m", "--model"),
                "aider": ("--model",), "opencode": ("-m", "--model")}  # fmt: skip


def _digest(key: str, value: object) -> str:
    try:  # YAML and TOML values may be dates, YAML mappings may mix key types
        shown = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        shown = repr(value)
    text = f"{key}={shown}"
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _flag_value(args: Sequence[str], flags: Sequence[str]) -> str | None:
    """The value `extra_args` gives one of `flags` (`--flag V` or `--flag=V`; the last one wins)."""
    found = None
    for index, arg in enumerate(args):
        for flag in flags:
            if arg == flag and index + 1 < len(args):
                found = args[index + 1]
            elif arg.startswith(flag + "=") and flag.startswith("--"):
                found = arg[len(flag) + 1 :]
    return found


def names_model(config: AgentConfig) -> bool:
    """Whether the judge's command line names its model (`model =`, a model flag in `extra_args`,
    codex's `-c model=...`): then no config file of its CLI decides it."""
    if config.model is not None:
        return True
    args = config.extra_args
    if _flag_value(args, _MODEL_FLAGS.get(config.adapter, ())) is not None:
        return True
    if config.adapter == "codex":
        overrides = [value for flag in ("-c", "--config") for value in _values(args, flag)]
        return any(value.split("=", 1)[0].strip() == "model" for value in overrides)
    return False


def _values(args: Sequence[str], flag: str) -> list[str]:
    out = []
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            out.append(args[index + 1])
        elif arg.startswith(flag + "=") and flag.startswith("--"):
            out.append(arg[len(flag) + 1 :])
    return out


def _claude_settings_file(config: AgentConfig) -> str | None:
    """The file Claude Code's `--settings` names in `extra_args` (None: none, or inline JSON,
    which the setup digest holds as it is)."""
    given = _flag_value(config.extra_args, ("--settings",))
    return given if given and not given.lstrip().startswith("{") else None


def _aider_paths(config: AgentConfig) -> tuple[str | None, str | None]:
    """aider's `--config FILE` (it then reads no other .aider.conf.yml) and `--env-file FILE`."""
    return _flag_value(config.extra_args, ("--config", "-c")), _flag_value(config.extra_args, ("--env-file",))


def project_paths(config: AgentConfig, environ: Mapping[str, str]) -> list[str]:
    """The files of the judge's checkout its CLI may take a model from (paths inside the repository)."""
    if names_model(config):
        return []
    env = judge_environment(config, environ)
    paths = {
        "claude": [".claude/settings.json", ".claude/settings.local.json"],
        "codex": [".codex/config.toml"],
        "gemini": [".gemini/settings.json", ".gemini/.env", ".env"],
        "aider": [".aider.conf.yml", ".env"],
        "opencode": ["opencode.json", "opencode.jsonc", ".opencode/opencode.json", ".opencode/opencode.jsonc"],
    }.get(config.adapter, [])
    named: list[str | None] = []
    if config.adapter == "claude":
        named = [_claude_settings_file(config)]
    elif config.adapter == "aider":
        named = list(_aider_paths(config))
    elif config.adapter == "opencode":
        named = [env.get("OPENCODE_CONFIG")]
    paths += [path for path in named if path and not Path(path).is_absolute() and not path.startswith("~")]
    return [path for path in dict.fromkeys(paths) if ".." not in Path(path).parts]


async def read_at_head(repo: GitRepo, paths: Sequence[str]) -> dict[str, str]:
    """path -> its text at HEAD (as the judge's checkout of HEAD holds it); absent paths are left out."""
    texts: dict[str, str] = {}
    for path in paths:
        done = await repo.git("cat-file", "--filters", f"HEAD:{Path(path).as_posix()}", check=False)
        if done.ok:
            texts[path] = done.stdout.decode("utf-8", errors="replace")
    return texts


def judge_environment(config: AgentConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that locate the CLI's config files, as the judge gets them."""
    env = {name: environ[name] for name in LOCATING if name in environ}
    env.update({name: value for name, value in config.set_env.items() if name in LOCATING})
    return env


# -- reading one file's model settings --------------------------------------------------------------

_JSONC_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass  # JSONC (opencode.jsonc; settings files written with comments): comments and trailing commas
    bare = _JSONC_TOKENS.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", bare))


def _dotenv(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.removeprefix("export ").split("=", 1)
        found[name.strip()] = value.strip().strip("'\"")
    return found


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _settings(kind: str, text: str, profile: str | None = None) -> dict[str, Any]:
    """key -> value of the model settings `text` holds (a file of `kind`)."""
    if kind == "dotenv":
        return dict(_dotenv(text).items())
    if kind == "yaml":
        data = yaml_load(text)
        return {"model": _dig(data, "model")}
    if kind == "toml":
        data = toml_loads(text)
        found = {"model": data.get("model"), "profile": data.get("profile")}
        if profile:
            found[f"profiles.{profile}.model"] = _dig(data, "profiles", profile, "model")
        return found
    data = _json(text)
    if kind == "gemini":
        model = _dig(data, "model")
        return {"model.name": _dig(model, "name")} if isinstance(model, dict) else {"model": model}
    return {"model": _dig(data, "model")}


def _record(found: dict[str, str], where: str, kind: str, text: str | None, keys: Sequence[str] | None = None,
            profile: str | None = None) -> None:  # fmt: skip
    if text is None:
        return
    try:
        settings = _settings(kind, text, profile)
    except (ValueError, yaml.YAMLError, RecursionError):  # JSON, TOML (both ValueError) or YAML
        found[f"{where} {WHOLE_FILE}"] = _digest(WHOLE_FILE, text)
        return
    for key, value in settings.items():
        if value is not None and (keys is None or key in keys):
            found[f"{where} {key}"] = _digest(key, value)


def _read(path: Path) -> str | None:
    """A config file's text; None when it is absent or no regular file (followed if a symbolic
    link, as dotfile managers make them: the CLI follows it too; a FIFO is never opened)."""
    try:
        return read_capped(path.resolve(), FILE_LIMIT).decode("utf-8", errors="replace")
    except OSError:  # absent or unreadable: the CLI reads nothing from it either
        return None


def model_files(config: AgentConfig, environ: Mapping[str, str], project: Mapping[str, str]) -> dict[str, str]:
    """'<file> <key>' -> a digest of the model setting, for every config file of the judge's CLI
    that sets one (empty when the command line names the model). `project`: the checkout's files
    (`read_at_head` of `project_paths`)."""
    if names_model(config):
        return {}
    env = judge_environment(config, environ)
    home = Path(env["HOME"]) if env.get("HOME") else None
    found: dict[str, str] = {}

    def user(path: Path | None, kind: str, keys: Sequence[str] | None = None, profile: str | None = None) -> None:
        if path is not None:
            _record(found, str(path), kind, _read(path), keys, profile)

    def repo(path: str, kind: str, keys: Sequence[str] | None = None, profile: str | None = None) -> None:
        _record(found, HEAD_PREFIX + path, kind, project.get(path), keys, profile)

    def under(variable: str, default: str) -> Path | None:
        """The directory `variable` names, else `default` in the judge's home."""
        if env.get(variable):
            return Path(env[variable])
        return home / default if home is not None else None

    adapter = config.adapter
    if adapter == "claude":
        claude_dir = under("CLAUDE_CONFIG_DIR", ".claude")
        user(claude_dir / "settings.json" if claude_dir else None, "json")
        user(SYSTEM_ROOT / "etc/claude-code/managed-settings.json", "json")
        repo(".claude/settings.json", "json")
        repo(".claude/settings.local.json", "json")
        if named_settings := _claude_settings_file(config):
            _named(found, named_settings, "json", ("model",), home, project)
    elif adapter == "codex":
        codex_home = under("CODEX_HOME", ".codex")
        base = _read(codex_home / "config.toml") if codex_home else None
        flagged = chosen = _flag_value(config.extra_args, ("--profile", "-p"))
        if chosen is None and base is not None:
            try:
                chosen = toml_loads(base).get("profile")
            except ValueError:
                chosen = None
        chosen = chosen if isinstance(chosen, str) and chosen else None
        if codex_home is not None:
            # a profile `extra_args` selects makes the file's own `profile` line moot
            keys = ("model", f"profiles.{chosen}.model") if flagged else None
            _record(found, str(codex_home / "config.toml"), "toml", base, keys, profile=chosen)
            if chosen:
                user(codex_home / f"{chosen}.config.toml", "toml", ("model",))
        repo(".codex/config.toml", "toml", ("model", "profile"))
        for name in ("config.toml", "managed_config.toml"):
            system = SYSTEM_ROOT / "etc/codex" / name
            _record(found, str(system), "toml", _read(system), ("model", "profile", f"profiles.{chosen}.model"),
                    profile=chosen)
    elif adapter == "gemini":
        gemini_home = Path(env["GEMINI_CLI_HOME"]) if env.get("GEMINI_CLI_HOME") else home
        user(gemini_home / ".gemini" / "settings.json" if gemini_home else None, "gemini")
        repo(".gemini/settings.json", "gemini")
        for name in (".gemini/.env", ".env"):
            repo(name, "dotenv", ("GEMINI_MODEL",))
        if home is not None:
            user(home / ".env", "dotenv", ("GEMINI_MODEL",))
        if gemini_home is not None:
            user(gemini_home / ".gemini" / ".env", "dotenv", ("GEMINI_MODEL",))
        for variable, default in _GEMINI_SYSTEM.items():
            user(Path(config.set_env[variable]) if config.set_env.get(variable) else SYSTEM_ROOT / default, "gemini")
    elif adapter == "aider":
        named_config, env_file = _aider_paths(config)
        if named_config:
            _named(found, named_config, "yaml", ("model",), home, project)
        else:
            user(home / ".aider.conf.yml" if home else None, "yaml")
            repo(".aider.conf.yml", "yaml")
        user(home / ".env" if home else None, "dotenv", ("AIDER_MODEL",))
        repo(".env", "dotenv", ("AIDER_MODEL",))
        if env_file:
            _named(found, env_file, "dotenv", ("AIDER_MODEL",), home, project)
    elif adapter == "opencode":
        xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home and home / ".config"
        for name in ("opencode.json", "opencode.jsonc", "config.json"):
            user(xdg / "opencode" / name if xdg else None, "json")
        if env.get("OPENCODE_CONFIG"):
            _named(found, env["OPENCODE_CONFIG"], "json", ("model",), home, project)
        if env.get("OPENCODE_CONFIG_DIR"):
            for name in ("opencode.json", "opencode.jsonc"):
                user(Path(env["OPENCODE_CONFIG_DIR"]) / name, "json")
        if env.get("OPENCODE_CONFIG_CONTENT"):
            _record(found, "$OPENCODE_CONFIG_CONTENT", "json", env["OPENCODE_CONFIG_CONTENT"])
        for name in ("opencode.json", "opencode.jsonc", ".opencode/opencode.json", ".opencode/opencode.jsonc"):
            repo(name, "json")
    return found


def _named(found: dict[str, str], named: str, kind: str, keys: Sequence[str], home: Path | None,
           project: Mapping[str, str]) -> None:  # fmt: skip
    """A file `extra_args` or a variable names: absolute (or ~), else relative to the judge's checkout."""
    if named.startswith("~") and home is not None:
        named = str(home / named[1:].lstrip("/"))
    if Path(named).is_absolute():
        path = Path(named)
        _record(found, str(path), kind, _read(path), keys)
    else:
        _record(found, HEAD_PREFIX + named, kind, project.get(named), keys)
