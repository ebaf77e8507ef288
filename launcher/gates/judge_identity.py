"""Which judge a calibration measured: its agent name, adapter, model, a digest of the rest of its
setup (command, arguments, variables, permission mode, turn limit) and of the judge prompt.

`launcher mutation judge --calibrate` records it in the verdict (`judged.judge`) and in
calibration-report.json; the gate (`launcher mutation gate`) refuses a calibration verdict whose
judge is no longer the one configured: a changed model, command or prompt was never measured.
Verdicts written before the record existed stay readable: the report warns that it cannot tell.

What does not change the judge does not count: the `env` pass-through list is a set of names
(its order and duplicates say nothing); `command` and `extra_args` stay ordered. What decides the
model beyond `model =` is recorded too (`model_env`): the value, in the environment the judge
runs with, of its adapter's model variable when `model` is not set (claude ANTHROPIC_MODEL, gemini
GEMINI_MODEL, aider AIDER_MODEL) and of every `env` variable whose name ends in MODEL, as a
digest (what the launcher takes from its environment is masked wherever it reports). Records written before `model_env`
existed are compared as before (no `model_env`; `setup_sha256` of `env` as it was listed, or as
a set). When the command line names no model, the CLI's own config files decide it: what they
set is recorded too (`model_files`, gates/judge_model_files.py), compared only with records that
have it.

`--model X` in `extra_args` is not the judge `model = "X"` is: the launcher passes the provider
key of `model` (aider, opencode: agents/provider_keys.py) and puts its flag before `extra_args`,
so the two run differently and a calibration of one is refused for the other.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from launcher.gates.judge_model_files import model_files
from launcher.gates.judge_prompt import shipped_prompt
from launcher.models.judge import JudgeInputInvalid, JudgeVerdict, judged_of
from launcher.models.plan import AgentConfig

# What else makes a judge answer differently (adapter and model are recorded as they are);
# timeouts and budgets do not.
_SETUP_KEYS = ("command", "extra_args", "env", "set_env", "permission_mode", "max_turns")

JudgeLookup = Callable[[str], "dict[str, Any] | None"]  # agent name -> its identity now (None: not configured)

NO_RECORD_WARNING = ("the verdict does not record which judge it measured (written before judges were "
                     "recorded): the gate cannot tell whether it still measures the judge configured now")  # fmt: skip


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_digest(prompt: str | None = None) -> str:
    """The digest of the prompt the judge is given (None: the shipped one; gates/judge_prompt.py)."""
    return _sha256(shipped_prompt() if prompt is None else prompt)


# The variable each built-in adapter's CLI takes its model from when the agent sets no `model`
# (in the adapter's PASSTHROUGH: agents/claude.py, gemini.py, aider.py).
ADAPTER_MODEL_VARIABLES = {"claude": "ANTHROPIC_MODEL", "gemini": "GEMINI_MODEL", "aider": "AIDER_MODEL"}
LEGACY_SETUP = "setup_sha256_as_listed"  # the lookup's digest of `env` in its listed order, for old records


def _setup_digest(config: AgentConfig, *, as_listed: bool = False) -> str:
    dump = config.model_dump(mode="json")
    setup = {key: dump.get(key) for key in _SETUP_KEYS}
    if not as_listed:
        setup["env"] = sorted(set(config.env))
    return _sha256(json.dumps(setup, sort_keys=True, separators=(",", ":")))


def model_variables(config: AgentConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """name -> a digest of the value of the set variables that decide the judge's model: its
    adapter's model variable (when `model` is not set) and `env`'s *MODEL names."""
    names = {name for name in config.env if name.upper().endswith("MODEL")}
    if config.model is None and config.adapter in ADAPTER_MODEL_VARIABLES:
        names.add(ADAPTER_MODEL_VARIABLES[config.adapter])
    found: dict[str, str] = {}
    for name in sorted(names):
        value = environ.get(name)
        if value is None:
            continue
        found[name] = "sha256:" + _sha256(f"{name}={value}")[:16]
    return found


def _variables_changed(then: dict[str, Any], now: dict[str, Any]) -> str:
    def state(values: dict[str, Any], name: str) -> str:
        return "set" if name in values else "unset"

    names = sorted(name for name in {*then, *now} if then.get(name) != now.get(name))
    return ", ".join(f"{name}: {'another value' if name in then and name in now else state(then, name)} "
                     f"then, {'this one' if name in then and name in now else state(now, name)} now"
                     for name in names)  # fmt: skip


def judge_identity(name: str, config: AgentConfig, environ: Mapping[str, str] | None = None,
                   *, prompt: str | None = None, project: Mapping[str, str] | None = None,
                   for_old_records: bool = False) -> dict[str, Any]:  # fmt: skip
    """The judge's record; `project`: the files of its checkout its CLI may read a model from
    (judge_model_files.read_at_head); `for_old_records`: with the digest records older than
    `model_env` made."""
    environ = os.environ if environ is None else environ
    identity = {"agent": name, "adapter": config.adapter, "model": config.model,
                "model_env": model_variables(config, environ),
                "model_files": model_files(config, environ, project or {}),
                "setup_sha256": _setup_digest(config), "prompt_sha256": prompt_digest(prompt)}  # fmt: skip
    if for_old_records:
        identity[LEGACY_SETUP] = _setup_digest(config, as_listed=True)
    return identity


def recorded_judge(verdict: JudgeVerdict, where: str) -> dict[str, Any] | None:
    """The judge a calibration verdict records (None: not a calibration verdict, or one without the record)."""
    judged = judged_of(verdict, where)
    if judged is None or judged.subject != "calibration":
        return None
    raw = (judged.model_extra or {}).get("judge")
    return raw if isinstance(raw, dict) else None


def _differences(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    names = {"adapter": "adapter", "model": "model", "model_env": "model from the environment",
             "model_files": "model from its CLI's config files",
             "setup_sha256": "command, arguments or variables", "prompt_sha256": "judge prompt"}  # fmt: skip
    def shown(value: object) -> str:
        return "(none)" if value is None else str(value)[:40]

    def same(key: str) -> bool:
        if key in ("model_env", "model_files") and key not in then:  # recorded before it was: not compared
            return True
        if key == "setup_sha256" and "model_env" not in then and then.get(key) == now.get(LEGACY_SETUP):
            return True  # an old record's digest of `env` as it was listed
        return then.get(key) == now.get(key)

    def said(key: str, label: str) -> str:
        if key in ("model_env", "model_files"):
            return f"{label} ({_variables_changed(then.get(key) or {}, now.get(key) or {})})"
        if key in ("adapter", "model"):
            return f"{label} ({shown(then.get(key))} then, {shown(now.get(key))} now)"
        return label

    return [said(key, label) for key, label in names.items() if not same(key)]


def check_judge(verdict: JudgeVerdict, where: str, lookup: JudgeLookup | None) -> list[str]:
    """Refuse (exit 2) a calibration verdict whose judge differs from the one configured now;
    the warnings to report otherwise (a verdict that records no judge)."""
    judged = judged_of(verdict, where)
    if judged is None or judged.subject != "calibration":
        return []
    then = recorded_judge(verdict, where)
    if then is None:
        return [NO_RECORD_WARNING]
    if lookup is None:  # not run in a repository: no configured judge to compare with
        return []
    name = str(then.get("agent") or "")
    now = lookup(name)
    fix = (f"re-run the calibration with the judge as it is now: `launcher mutation judge --calibrate --agent {name}` "
           "(or restore the judge it measured)")  # fmt: skip
    if now is None:
        raise JudgeInputInvalid(f"the verdict measured judge {name!r}, which is no longer configured",
                                where=f"{where} $.judged.judge", error_key="judge_changed", fix=fix)  # fmt: skip
    changed = _differences(then, now)
    if changed:
        raise JudgeInputInvalid(f"the verdict measured judge {name!r} as it was then; its {', '.join(changed)} "
                                "changed since, so the calibration no longer speaks for it",
                                where=f"{where} $.judged.judge", error_key="judge_changed", fix=fix)  # fmt: skip
    return []
