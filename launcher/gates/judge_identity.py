"""Which judge a calibration measured: its agent name, adapter, model, a digest of the rest of its
setup (command, arguments, variables, permission mode, turn limit) and of the judge prompt.

`launcher mutation judge --calibrate` records it in the verdict (`judged.judge`) and in
calibration-report.json; the gate (`launcher mutation gate`) refuses a calibration verdict whose
judge is no longer the one configured: a changed model, command or prompt was never measured.
Verdicts written before the record existed stay readable: the report warns that it cannot tell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

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


def prompt_digest() -> str:
    return _sha256((resources.files("launcher") / "data" / "mutation" / "judge-prompt.md").read_text(encoding="utf-8"))


def judge_identity(name: str, config: AgentConfig) -> dict[str, Any]:
    dump = config.model_dump(mode="json")
    setup = json.dumps({key: dump.get(key) for key in _SETUP_KEYS}, sort_keys=True, separators=(",", ":"))
    return {"agent": name, "adapter": config.adapter, "model": config.model,
            "setup_sha256": _sha256(setup), "prompt_sha256": prompt_digest()}  # fmt: skip


def recorded_judge(verdict: JudgeVerdict, where: str) -> dict[str, Any] | None:
    """The judge a calibration verdict records (None: not a calibration verdict, or one without the record)."""
    judged = judged_of(verdict, where)
    if judged is None or judged.subject != "calibration":
        return None
    raw = (judged.model_extra or {}).get("judge")
    return raw if isinstance(raw, dict) else None


def _differences(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    names = {"adapter": "adapter", "model": "model", "setup_sha256": "command, arguments or variables",
             "prompt_sha256": "judge prompt"}  # fmt: skip
    def shown(value: object) -> str:
        return "(none)" if value is None else str(value)[:40]

    return [f"{label} ({shown(then.get(key))} then, {shown(now.get(key))} now)" if key in ("adapter", "model")
            else label for key, label in names.items() if then.get(key) != now.get(key)]  # fmt: skip


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
