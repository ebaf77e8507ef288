"""The `scripted-judge` adapter: runs the built-in deterministic judge on a judge packet."""

from __future__ import annotations

from launcher.agents.grader import ScriptedGraderAdapter


class ScriptedJudgeAdapter(ScriptedGraderAdapter):
    name = "scripted-judge"
    module = "launcher.agents.scripted_judge"
    misuse = ("the scripted judge only judges survivors",
              "use it with `launcher mutation judge --agent`, not as a task's agent")  # fmt: skip
