"""Ctrl-C at a question the launcher asks at the terminal (`mutation label`, `mutation judge`'s
cost question) stops the command at once: exit 130, what was answered before kept, the pending
answer never written (DESIGN 10). The questions are asked from inside the event loop, where a
blocking read used to hold Ctrl-C until every question had been answered."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import ADULT_PROJECT, swept_in
from pty_terminal import LauncherTerminal

from launcher.models.judge import CalibrationSet, load_judge_file

LABEL_QUESTION = "[g]enuine / [e]quivalent / [s]kip / [q]uit? "
RATIONALE_QUESTION = "rationale (optional, Enter for none): "


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real sweep with two survivors (`>= 18` to `> 18`, and to `>= 19`)."""
    yield from swept_in(tmp_path_factory, "label-interrupt", ADULT_PROJECT)


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(swept, root, symlinks=True)
    return root


Terminal = LauncherTerminal


def labels(root: Path) -> list[dict[str, Any]]:
    path = root / "mutation" / "calibration-set.json"
    if not path.exists():
        return []
    load_judge_file(path, CalibrationSet)  # whole, and still a set the gate reads
    return list(json.loads(path.read_text())["calibration"])


def test_ctrl_c_at_a_label_question_stops_at_once_keeping_the_labels_answered_before(proj: Path) -> None:
    term = Terminal(proj, "mutation", "label")
    term.answer(LABEL_QUESTION, "g")
    term.answer(RATIONALE_QUESTION, "no test at the boundary")
    term.wait_for("labelled genuine")
    assert term.ctrl_c_at(LABEL_QUESTION) == 130
    assert "interrupted" in term.all and "label(s) written" not in term.all
    assert "run `launcher mutation label` again" in term.all
    assert [e["ground_truth"] for e in labels(proj)] == ["genuine"]
    assert not [p for p in (proj / "mutation").iterdir() if p.name != "calibration-set.json"]  # no temp file left

    again = Terminal(proj, "mutation", "label")  # the label kept is not asked again; the other one is
    again.answer(LABEL_QUESTION, "q")
    assert again.proc.wait(timeout=30) == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_at_the_rationale_question_writes_nothing_for_the_pending_label(proj: Path, signum: int) -> None:
    term = Terminal(proj, "mutation", "label")
    term.answer(LABEL_QUESTION, "e")
    assert term.ctrl_c_at(RATIONALE_QUESTION, signum) == 130
    assert "interrupted" in term.all
    assert labels(proj) == []


def test_ctrl_c_at_the_judges_cost_question_stops_at_once_without_calling_it(proj: Path) -> None:
    term = Terminal(proj, "mutation", "judge", "--agent", "scripted-judge")
    assert term.ctrl_c_at("Proceed to judge") == 130
    assert "interrupted" in term.all and "Aborted" not in term.all
    assert not list((proj / ".launcher" / "mutation-runs").glob("*/verdict.json"))
