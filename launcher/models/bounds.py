"""Bounds on the whole numbers the launcher reads from files (a plan, launcher.toml, an export's
manifest, a calibration set, a judge's verdict, a journal row's JSON).

A JSON or TOML integer has no size: `10**30` decodes, validates as an `int`, and fails only
later, where it meets a 64-bit world (SQLite's INTEGER, a pid, a timer) after the command has
already fetched, created or journaled something. Each integer field of a model read from a file
is bounded by one of these, so such a value is refused with the model's other problems, naming
the field, before anything happens. The bounds are far beyond any real value.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ROUNDS = 1_000_000  # grading rounds of one task (`iteration`, `round_base`): a run caps them at 1000
MAX_INDEX = 2**31 - 1  # an id the launcher numbers, a line number, a count of survivors
MAX_PID = 2**31 - 1  # a process id (pid_t)
MAX_STORED = 2**63 - 1  # what SQLite's INTEGER holds (a start time in clock ticks)

Round = Annotated[int, Field(ge=1, le=MAX_ROUNDS)]  # a grading round's number
RoundCount = Annotated[int, Field(ge=0, le=MAX_ROUNDS)]  # rounds counted before this one
Index = Annotated[int, Field(ge=0, le=MAX_INDEX)]
Pid = Annotated[int, Field(ge=1, le=MAX_PID)]
Stored = Annotated[int, Field(ge=0, le=MAX_STORED)]
