"""Which labelled set `launcher mutation judge --calibrate` scores the judge on, when none is named.

An operator's own set wins: `mutation/calibration-set.json` once it holds labels other than the
starter's examples that `launcher init` copies (labels added by hand or by `launcher mutation
label`, whose first label replaces the starter's examples). The starter's 8 mutants are fictional
(their files exist nowhere) and nobody here confirmed them: they never count as the repository's
own labels. Otherwise the set
matches the language swept: Python sweeps get the shipped set of real survivors
(`launcher/data/mutation/python-set/`, 157 mutants of cachetools, toolz and parse, every genuine
label proven by a killing test), shell sweeps keep the starter set.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from launcher.app.context import STATE_DIR
from launcher.app.mutation.reports import RUNS_DIR
from launcher.models.decoding import json_loads, read_input_text, read_text

OWN_SET = Path("mutation") / "calibration-set.json"
PYTHON_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def shipped_mutation_dir() -> Path:
    return Path(str(resources.files("launcher") / "data" / "mutation"))


def python_set_file() -> Path:
    return shipped_mutation_dir() / "python-set" / "calibration-set.json"


def starter_file() -> Path:
    return shipped_mutation_dir() / "calibration-set.json"


def starter_entries() -> list[dict[str, Any]]:
    """The starter set's examples, as `launcher init` copies them."""
    try:
        entries = json_loads(read_text(starter_file()))["calibration"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [e for e in entries if isinstance(e, dict)]


def is_starter_entry(entry: object, starter: list[dict[str, Any]] | None = None) -> bool:
    """An entry exactly as the starter ships it (an example, never an operator's label)."""
    return isinstance(entry, dict) and entry in (starter_entries() if starter is None else starter)


def own_label_counts(text: str) -> tuple[int, int] | None:
    """(own labels, starter examples) in a calibration set's text; None: not a readable set."""
    try:
        entries = json_loads(text)["calibration"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(entries, list):
        return None
    starter = starter_entries()
    examples = sum(1 for e in entries if is_starter_entry(e, starter))
    return len(entries) - examples, examples


def _read(path: Path) -> str | None:
    """The file's text; None when nothing is there; "" when something is there that cannot be read
    (a FIFO, a directory, not UTF-8): it is then judged as it is, and its error names it."""
    try:
        return read_input_text(path)  # never blocks on a FIFO
    except FileNotFoundError:
        return None
    except OSError:
        return ""


def _latest_sweep_languages(root: Path) -> set[str] | None:
    """The languages of the newest sweep's files (None: no readable sweep)."""
    runs = root / STATE_DIR / RUNS_DIR
    sweeps = sorted(runs.glob("*/mutants.json")) if runs.is_dir() else []
    for path in reversed(sweeps):
        try:
            files = json_loads(read_text(path)).get("files") or {}
        except (OSError, ValueError, AttributeError):
            continue
        return {str(entry.get("language", "python")) for entry in files.values() if isinstance(entry, dict)}
    return None


def sweeps_python(root: Path) -> bool:
    """The repository's sweeps are Python: the newest sweep mutated Python files, or, with no sweep
    yet, the repository is a Python project."""
    languages = _latest_sweep_languages(root)
    if languages is not None:
        return "python" in languages
    return any((root / name).is_file() for name in PYTHON_PROJECT_FILES)


def default_calibration_set(root: Path) -> Path | None:
    """The set to score the judge on when --calibration is not given (None: there is none)."""
    return choose_calibration_set(root)[0]


def choose_calibration_set(root: Path) -> tuple[Path | None, str]:
    """The set to score the judge on when --calibration is not given, and why it is that one
    (said in `judge --calibrate`'s output: the shipped set is not the repository's file)."""
    own = root / OWN_SET
    own_text = _read(own)
    counts = own_label_counts(own_text) if own_text is not None else None
    if own_text is not None and (counts is None or counts[0] > 0):
        # (an unreadable file is judged as it is: its error names it)
        mixed = (f"; it still holds {counts[1]} of the starter's fictional examples, scored too: delete them "
                 "from the file to be scored on your own labels only") if counts and counts[1] else ""  # fmt: skip
        said = f"{counts[0]} labelled here, " if counts else ""
        return own, f"the repository's own labels ({said}{OWN_SET}){mixed}"
    if sweeps_python(root):
        had = (f"there is no {OWN_SET}" if own_text is None else
               f"{OWN_SET} is still the unchanged starter `launcher init` copies" if own_text == _read(starter_file())
               else f"{OWN_SET} holds only the starter's examples")  # fmt: skip
        return python_set_file(), (f"{had} and this repository's sweeps are Python: the 8-mutant starter is "
                                   "too small to score a judge (label your own survivors with `launcher mutation "
                                   "label`, or pass --calibration FILE)")  # fmt: skip
    if own_text is not None:
        return own, f"the starter set ({OWN_SET}; label your own survivors with `launcher mutation label`)"
    return None, ""
