"""`launcher mutation label`: the operator confirms survivors' labels at the terminal.

Each survivor is shown as `launcher mutation show` shows it (the diff with context, the tests
that cover it) plus the judge's call when there is one; the answer (genuine, equivalent, skip,
quit; then an optional rationale) is appended at once, atomically, to the repository's
calibration set (`mutation/calibration-set.json`, the seed's format), attributed to the
operator's git identity and the sweep, never twice for one mutant (the gate's notion of the
same mutant: its stable id, or its file, line and change, so a seed-format entry counts too).
Concurrent sessions are serialised by an flock on the set's directory; a symlinked set's target
is written and the file's mode kept. Quitting loses nothing already answered. `--from-verdict V`
walks a judge's verdicts instead: accept or flip each call. Nobody at a terminal: exit 2 with the hint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher.app.mutation.calibration_default import is_starter_entry, starter_entries
from launcher.app.mutation.fix_plan import load_verdict
from launcher.app.mutation.reports import render_mutant, resolve_run
from launcher.errors import UsageProblem
from launcher.git.repo import GitRepo
from launcher.models.decoding import json_loads, read_input_text, size_limit_problem
from launcher.models.judge import (
    CONTRACT_VERSION,
    CalibrationSet,
    JudgeCall,
    JudgeInputInvalid,
    JudgeVerdict,
    LabelledMutants,
    judged_of,
    load_judge_file,
    parse_judge_text,
    survivors_digest,
)
from launcher.models.printable import printable
from launcher.mutation.merge import load_run
from launcher.mutation.report_stryker import embedded_sources, entries
from launcher.store.files import atomic_write_text, strict_json

CALIBRATION_FILE = Path("mutation") / "calibration-set.json"
DESCRIPTION = ("Survivors of this repository's sweeps, each label confirmed by an operator with "
               "`launcher mutation label`.")  # fmt: skip
ANSWERS = {"g": "genuine", "genuine": "genuine", "e": "equivalent", "equivalent": "equivalent", "s": "skip",
           "skip": "skip", "": "skip", "q": "quit", "quit": "quit"}  # fmt: skip
FLIP = {"genuine": "equivalent", "equivalent": "genuine"}
Ask = Callable[[str], str]


@dataclass
class LabelSummary:
    calibration: Path
    labelled: dict[str, str] = field(default_factory=dict)  # mutant id -> label
    skipped: int = 0
    already: int = 0
    quit: bool = False

    @property
    def message(self) -> str:
        tail = "; quit early" if self.quit else ""
        return (f"{len(self.labelled)} label(s) written to {self.calibration} ({self.skipped} skipped, "
                f"{self.already} already labelled){tail}")  # fmt: skip


def read_set(path: Path) -> dict[str, Any]:
    """The calibration set as JSON (a new, empty one when the file does not exist yet)."""
    # The strict reader, as the gate's: a key named twice, NaN, 1e999 or a document nested too
    # deep is refused, never read lossily and then rewritten without what it held; a FIFO, a
    # device or a directory is refused too (never opened, so never waited on), not replaced.
    try:
        data = json_loads(read_input_text(path))
    except FileNotFoundError:
        return {"contract_version": CONTRACT_VERSION, "description": DESCRIPTION, "calibration": []}
    except OSError as exc:
        raise UsageProblem(f"cannot read the calibration set: {exc}", where=str(path),
                           fix="repair the file (UTF-8 JSON) or move it aside; nothing was written",
                           error_key="unreadable") from None  # fmt: skip
    except json.JSONDecodeError as exc:
        too_large = size_limit_problem(exc)
        if too_large:
            raise UsageProblem(f"the calibration set is {too_large}", where=str(path), error_key="too_large",
                               fix="move some labels to another file (score it with `launcher mutation judge "
                                   "--calibrate --calibration FILE`), then label again; nothing was written",
                               ) from None  # fmt: skip
        raise UsageProblem(f"the calibration set is not valid JSON: {exc.msg} at line {exc.lineno} column "
                           f"{exc.colno}", where=f"{path}:{exc.lineno}",
                           fix="repair the file (a hand merge: one \"calibration\" list) or move it aside; "
                               "nothing was written", error_key="invalid_json") from None  # fmt: skip
    if not isinstance(data, dict) or not isinstance(data.get("calibration"), list):
        raise UsageProblem('not a calibration set (no "calibration" list)', where=str(path),
                           fix="repair the file or move it aside")  # fmt: skip
    _check_as_the_gate(data, path)
    return data


def _check_as_the_gate(data: dict[str, Any], path: Path) -> None:
    """Refuse a set `launcher mutation gate` would refuse (a contract_version other than "1", an id
    that is not an integer, an id or a mutant given twice, ...), with the gate's own error: labels
    appended to it would be lost on a set no gate reads. An empty list is fine: the label fills it."""
    try:
        parse_judge_text(json.dumps(data), CalibrationSet, where=str(path))
    except JudgeInputInvalid as exc:
        if exc.error_key == "invalid:too_short" and exc.where == f"{path} $.calibration" and not data["calibration"]:
            return
        raise JudgeInputInvalid(exc.what, where=exc.where, error_key=exc.error_key,
                                fix=f"{exc.fix}; repair the set so that `launcher mutation gate` reads it, then "
                                    "label again (nothing was asked nor written)") from None  # fmt: skip


@contextlib.contextmanager
def set_lock(path: Path) -> Iterator[None]:
    """Label writers serialised across processes (two `mutation label` sessions at once): an
    exclusive flock on the set's directory itself, so no lock file is left in the checkout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def append_label(path: Path, entry: dict[str, Any]) -> bool:
    """Append one labelled survivor; False if its mutant is there. The read, the check, the next
    id and the write all happen under the set's lock: another session's label, written since this
    one started, is read and kept, never overwritten."""
    path = Path(os.path.realpath(path))  # a symlinked set: its target is updated, the link kept
    with set_lock(path):
        data = read_set(path)
        starter = starter_entries()
        if any(is_starter_entry(e, starter) for e in data["calibration"]):
            # The starter's examples are fictional mutants nobody here confirmed: the first real label
            # replaces them, so the set holds only the operator's labels.
            data["calibration"] = [e for e in data["calibration"] if not is_starter_entry(e, starter)]
            if not data["calibration"]:
                data["description"] = DESCRIPTION
        if entry in LabelledMutants(data["calibration"]):  # (labelled meanwhile by another session)
            return False
        numbers = [int(e["id"]) for e in data["calibration"] if isinstance(e, dict) and isinstance(e.get("id"), int)]
        data["calibration"].append({**entry, "id": max(numbers, default=0) + 1})
        atomic_write_text(path, strict_json(data), _mode(path))
    return True


def _mode(path: Path) -> int:
    """The set's permissions, kept when it is rewritten; a new set gets a new file's (0666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def labelled_mutants(path: Path) -> LabelledMutants:
    return LabelledMutants(read_set(path)["calibration"])


async def operator(repo: GitRepo) -> str:
    name = (await repo.git("config", "user.name", check=False)).out.strip()
    email = (await repo.git("config", "user.email", check=False)).out.strip()
    return f"{name} <{email}>" if email else name or "unknown operator"


def _judge_line(call: JudgeCall | None) -> str:
    if call is None:
        return "judge: not judged"
    # the justification is the judge agent's words: printed escaped (models/printable.py)
    return f"judge: {call.classification} (confidence {call.confidence:.2f}): {printable(call.justification)}"


def _question(call: JudgeCall | None, flip_mode: bool) -> str:
    if flip_mode and call is not None:
        return (f"[a]ccept {call.classification} / [f]lip to {FLIP[call.classification]} / [s]kip / [q]uit? ")
    return "[g]enuine / [e]quivalent / [s]kip / [q]uit? "


def _answer(reply: str, call: JudgeCall | None, flip_mode: bool) -> str | None:
    reply = reply.strip().lower()
    if flip_mode and call is not None:
        if reply in ("a", "accept"):
            return call.classification
        if reply in ("f", "flip"):
            return FLIP[call.classification]
        return {"s": "skip", "skip": "skip", "": "skip", "q": "quit", "quit": "quit"}.get(reply)
    return ANSWERS.get(reply)


def check_subject(verdict: JudgeVerdict, path: Path, data: dict[str, Any], sweep_dir: Path, survivor_ids: list[int],
                  say: Callable[[str], None]) -> None:  # fmt: skip
    """The verdict is about this sweep's survivors, or it is refused (exit 2): its calls are shown
    beside mutants by number alone, and an accepted call is written into the calibration set.
    A verdict the launcher wrote says what it judged (`judged`: the subject and the digest of the
    survivors sent); one without that record (another tool's) must answer exactly the survivors."""
    sweep = str(data.get("sweep_id") or sweep_dir.name)
    ids = sorted(c.id for c in verdict.verdicts)
    judged = judged_of(verdict, str(path))
    if judged is None:
        if ids != sorted(survivor_ids):
            raise UsageProblem(
                f"the verdict {path} does not say what it judged, and its ids {_ids(ids)} are not the survivors "
                f"of sweep {sweep} ({_ids(sorted(survivor_ids))})", where="--from-verdict",
                fix="pass the verdict.json `launcher mutation judge` wrote for this sweep, or one answering "
                    "exactly its survivors", error_key="verdict_subject_differs",
            )  # fmt: skip
        say(f"warning: the verdict {path} does not say what it judged (no \"judged\" record); it is taken to be "
            f"about sweep {sweep} because its ids are exactly the survivors' ids")  # fmt: skip
        return
    by_index = {m.index: m for m, _ in entries(data)}
    sent = [by_index[i].to_survivor("SURVIVED") for i in ids if i in by_index]
    same = judged.subject == "sweep" and len(sent) == len(ids) and survivors_digest(sent) == judged.survivors_sha256
    if not same:
        other = " (other mutants under the same numbers)" if judged.subject == "sweep" and judged.sweep == sweep else ""
        raise UsageProblem(
            f"the verdict {path} judged {judged.describe()}{other}, not the survivors of sweep {sweep} "
            f"({sweep_dir})", where="--from-verdict",
            fix=f"pass the verdict of this sweep ({sweep_dir / 'verdict.json'}), or name the sweep the verdict "
                "is about: `launcher mutation label RUN --from-verdict V`", error_key="verdict_subject_differs",
        )  # fmt: skip


def _ids(ids: list[int]) -> str:
    return str(ids) if len(ids) <= 12 else f"[{', '.join(map(str, ids[:12]))}, ... ({len(ids)} ids)]"


async def label_survivors(cwd: Path, run: str | None, from_verdict: Path | None, ask: Ask | None,
                          say: Callable[[str], None]) -> LabelSummary:  # fmt: skip
    if ask is None:
        raise UsageProblem("labelling asks the operator one question per survivor, and no terminal is attached",
                           fix="run `launcher mutation label` in a terminal (stdin a TTY)",
                           error_key="no_terminal")  # fmt: skip
    repo = await GitRepo.discover(cwd)
    sweep_dir = await resolve_run(cwd, run, latest_for="launcher mutation label")
    data = load_run(sweep_dir)
    survivors = [(m, r) for m, r in entries(data) if r.get("status") == "Survived"]
    if from_verdict is not None:
        path = from_verdict if from_verdict.is_absolute() else cwd / from_verdict
        verdict = load_judge_file(path, JudgeVerdict)
        check_subject(verdict, path, data, sweep_dir, [m.index for m, _ in survivors], say)
        calls = {c.id: c for c in verdict.verdicts}
    else:
        calls = load_verdict(sweep_dir)
    if from_verdict is not None:
        survivors = [(m, r) for m, r in survivors if m.index in calls]
    summary = LabelSummary(repo.root / CALIBRATION_FILE)
    who, sources, done = await operator(repo), embedded_sources(data), labelled_mutants(summary.calibration)
    for number, (mutant, result) in enumerate(survivors, 1):
        if {**mutant.to_survivor(), "mutant_id": mutant.id} in done:
            summary.already += 1
            continue
        call = calls.get(mutant.index)
        say(f"\n[{number}/{len(survivors)}] " + render_mutant(mutant, result, sources.get(mutant.target),
                                                               sweep_dir.name).rstrip())  # fmt: skip
        say(_judge_line(call))
        answer = _answer(ask(_question(call, from_verdict is not None)), call, from_verdict is not None)
        while answer is None:
            answer = _answer(ask("please answer with one of the letters in brackets: "), call,
                             from_verdict is not None)  # fmt: skip
        if answer == "quit":
            summary.quit = True
            break
        if answer == "skip":
            summary.skipped += 1
            continue
        rationale = ask("rationale (optional, Enter for none): ").strip()
        if not rationale:
            rationale = call.justification if call and call.classification == answer else f"labelled {answer} by {who}"
        entry = {**mutant.to_survivor(), "ground_truth": answer, "label_rationale": rationale,
                 "mutant_id": mutant.id, "sweep": str(data.get("sweep_id") or sweep_dir.name), "labelled_by": who,
                 "labelled_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
        if call is not None:
            entry["judge"] = {"classification": call.classification, "confidence": call.confidence}
        if append_label(summary.calibration, entry):
            summary.labelled[mutant.id] = answer
            say(f"labelled {answer}: written to {summary.calibration}")
        else:
            summary.already += 1
    return summary
