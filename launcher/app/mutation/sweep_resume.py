"""`mutation sweep --resume ID` continues a sweep with the options it started with: the options
that shape it, given again and different, are refused (they used to be dropped without a word: a
user asking for one mutant of one operator got the whole sweep, exit 0)."""

from __future__ import annotations

from typing import Any

from launcher.errors import UsageProblem

# What --resume keeps from the sweep itself, by the flag that would set it.
KEPT = {"paths": "PATHS", "test_cmd": "--test-cmd", "since": "--since", "shard": "--shard",
        "max_mutants": "--max-mutants", "operators": "--operators", "timeout_factor": "--timeout-factor",
        "pytest_args": "--pytest-args", "use_cache": "--no-cache"}


def refuse_other_options(sweep_id: str, given: dict[str, Any], default: dict[str, Any],
                         stored: dict[str, Any]) -> None:
    """Raise when an option given with --resume differs from the sweep's own (the same command
    line again, plus --resume, is fine)."""
    ignored = [flag for key, flag in KEPT.items()
               if given.get(key) != default.get(key) and given.get(key) != stored.get(key)]
    if ignored:
        raise UsageProblem(
            f"--resume continues sweep {sweep_id} with the options it started with; {', '.join(ignored)} "
            "would be ignored", where="--resume", error_key="usage:resume_options",
            fix=f"drop {', '.join(ignored)} (with --resume only --workers, --python and --fail-under may change), "
                "or run without --resume for a new sweep")
