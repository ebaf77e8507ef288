"""The judge's contracts (DESIGN 7.4, the seed's): survivors, the judge verdict, the calibration set.

Loading goes through `load_judge_file`, which turns every way a file can be wrong (unreadable,
not JSON, a missing key, a wrong type, a duplicate id) into one `JudgeInputInvalid` naming the
file, the JSON path and the fix; the calibration gate maps it to exit 2.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from launcher.errors import UsageProblem
from launcher.models.bounds import Index
from launcher.models.decoding import json_loads, read_input_text, size_limit_problem
from launcher.models.problems import describe

CONTRACT_VERSION: Literal["1"] = "1"
Classification = Literal["genuine", "equivalent"]


class JudgeInputInvalid(UsageProblem):
    """A verdict or calibration file that breaks its contract (exit 2 at the gate)."""

    default_key = "judge_input_invalid"


class Survivor(BaseModel):
    """One survivor as `survivors.jsonl` writes it; the judge packet carries these."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    id: Index
    fault: str
    target: str
    line: Index
    rationale: str
    orig: str
    mut: str
    status: Literal["SURVIVED"]


# What `launcher mutation label` records beside a label; never shown to the judge being scored.
LABEL_METADATA = ("labelled_by", "labelled_at", "sweep", "judge")


class LabelledSurvivor(Survivor):
    """A calibration entry: a survivor plus the operator's label (stripped before the judge)."""

    ground_truth: Classification
    label_rationale: str = Field(min_length=1)

    def unlabelled(self) -> dict[str, Any]:
        """What the judge may see: the label and who gave it (`launcher mutation label`) stripped."""
        return self.model_dump(exclude={"ground_truth", "label_rationale", *LABEL_METADATA})


def id_set_problem(expected: set[int], answered: set[int]) -> str | None:
    """What differs between the survivors asked about and the verdicts given (None: nothing)."""
    missing, extra = sorted(expected - answered), sorted(answered - expected)
    parts = [f"no verdict for id(s) {missing}" if missing else "", f"unknown id(s) {extra}" if extra else ""]
    return "; ".join(p for p in parts if p) or None


def _unique_ids(items: list[Any], key: str) -> None:
    seen: set[int] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"id {item.id} appears twice in {key}")
        seen.add(item.id)


def _mutant_key(entry: Mapping[str, Any]) -> str:
    """A mutant's place and change (file, line, code before and after), as the gate compares them."""
    return json.dumps([entry.get(k) for k in ("target", "line", "orig", "mut")], default=str)


class LabelledMutants:
    """Which mutants a calibration set already labels, by the gate's notion of "the same mutant"
    (`CalibrationSet.repeated_mutant`): the same stable `mutant_id`, or the same file, line and
    code change unless both entries carry different `mutant_id`s. An entry in the seed's format
    (no `mutant_id`: written by hand or by another tool) counts too."""

    def __init__(self, entries: Iterable[Any]) -> None:
        self.ids: set[str] = set()
        self.places: dict[str, list[str | None]] = {}
        for entry in entries:
            if isinstance(entry, dict):
                mutant_id = entry.get("mutant_id")
                if mutant_id:
                    self.ids.add(str(mutant_id))
                self.places.setdefault(_mutant_key(entry), []).append(str(mutant_id) if mutant_id else None)

    def __contains__(self, entry: object) -> bool:
        if not isinstance(entry, Mapping):
            return False
        mutant_id = str(entry["mutant_id"]) if entry.get("mutant_id") else None
        if mutant_id is not None and mutant_id in self.ids:
            return True
        others = self.places.get(_mutant_key(entry), [])
        return any(not (mutant_id and other and other != mutant_id) for other in others)


class CalibrationSet(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    contract_version: Literal["1"]
    description: str
    calibration: list[LabelledSurvivor] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> CalibrationSet:
        _unique_ids(self.calibration, "calibration")
        return self

    def repeated_mutant(self) -> tuple[str, str] | None:
        """(error key, what) for the first mutant listed twice under different ids, the same file,
        line and code change (and not two different stable `mutant_id`s): a copy would weigh one
        mutant many times in precision, a copy labelled the other way contradicts it."""
        seen: dict[tuple[str, int, str, str], LabelledSurvivor] = {}
        for entry in self.calibration:
            key = (entry.target, entry.line, entry.orig, entry.mut)
            first = seen.get(key)
            if first is None:
                seen[key] = entry
                continue
            ids = [(first.model_extra or {}).get("mutant_id"), (entry.model_extra or {}).get("mutant_id")]
            if ids[0] and ids[1] and ids[0] != ids[1]:
                continue  # two sweeps' mutants of changed code around the same line
            where = f"{entry.target}:{entry.line} `{entry.orig.strip()}` -> `{entry.mut.strip()}`"
            if first.ground_truth != entry.ground_truth:
                return "contradictory_labels", (f"ids {first.id} and {entry.id} are the same mutant ({where}) labelled "
                                                f"{first.ground_truth} and {entry.ground_truth}")  # fmt: skip
            return "duplicate_mutant", (f"ids {first.id} and {entry.id} are the same mutant ({where}); a copy counts "
                                        "it twice in precision and recall")  # fmt: skip
        return None

    def judge_packet(self, report: str) -> dict[str, Any]:
        """What the judge sees: the survivors without their labels."""
        return {"survivors": [s.unlabelled() for s in self.calibration], "report": report,
                "contract_version": CONTRACT_VERSION}  # fmt: skip


class JudgeCall(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    id: Index
    classification: Classification
    confidence: float = Field(ge=0.0, le=1.0)
    justification: str

    @field_validator("confidence", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):  # JSON true is not a confidence
            raise ValueError("confidence must be a number from 0 to 1")
        return value


class CalibrationStats(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False)

    precision: float | None = None
    recall: float | None = None


class JudgeVerdict(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    contract_version: Literal["1"]
    verdicts: list[JudgeCall]
    calibration: CalibrationStats = Field(default_factory=CalibrationStats)

    @model_validator(mode="after")
    def _ids(self) -> JudgeVerdict:
        _unique_ids(self.verdicts, "verdicts")
        return self


def survivors_digest(survivors: Iterable[Mapping[str, Any]]) -> str:
    """The sha256 of survivors exactly as a judge is sent them (labels stripped): canonical JSON
    (sorted keys, ordered by id), so a verdict says which mutants it is about."""
    ordered = sorted((dict(s) for s in survivors), key=lambda s: int(s["id"]))
    text = json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def labels_digest(labelled: Iterable[LabelledSurvivor]) -> str:
    """The sha256 of a calibration set's labels (each id with its ground truth): what the gate
    scores a verdict against, recorded with it so that labels changed afterwards are seen."""
    pairs = sorted((s.id, s.ground_truth) for s in labelled)
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode("utf-8")).hexdigest()


class Judged(BaseModel):
    """What a verdict the launcher wrote judged (its `judged` field; absent in other tools' verdicts):
    a sweep's survivors or a calibration set, and the digest of the survivors as sent."""

    model_config = ConfigDict(extra="allow")

    subject: Literal["sweep", "calibration"]
    survivors_sha256: str = Field(min_length=64, max_length=64)
    survivors: Index | None = None
    sweep: str | None = None
    run_dir: str | None = None
    calibration_file: str | None = None
    # with a calibration subject: the labels the verdict is scored against (absent before it was recorded)
    labels_sha256: str | None = Field(default=None, min_length=64, max_length=64)

    def describe(self) -> str:
        if self.subject == "calibration":
            return f"the calibration set {self.calibration_file or '(file not recorded)'}"
        return f"the survivors of sweep {self.sweep or self.run_dir or '(not recorded)'}"


def judged_of(verdict: JudgeVerdict, where: str) -> Judged | None:
    """The verdict's record of what it judged (None: a verdict without one, an external tool's)."""
    raw = (verdict.model_extra or {}).get("judged")
    if raw is None:
        return None
    try:
        return Judged.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise JudgeInputInvalid(f"its \"judged\" record is malformed: {_json_path(tuple(first['loc']))}: "
                                f"{first['msg']}",
                                where=f"{where} $.judged", error_key="judged_invalid",
                                fix="use the verdict as `launcher mutation judge` wrote it, or remove "
                                    "\"judged\"") from None  # fmt: skip


M = TypeVar("M", bound=BaseModel)

_FIXES = {
    JudgeVerdict: 'a judge verdict is {"contract_version": "1", "verdicts": [{"id": 7, "classification": '
    '"genuine" | "equivalent", "confidence": 0.9, "justification": "..."}], "calibration": '
    '{"precision": null, "recall": null}}',
    CalibrationSet: 'a calibration set is {"contract_version": "1", "description": "...", "calibration": '
    '[<a survivors.jsonl line> + "ground_truth": "genuine" | "equivalent", "label_rationale": "..."]}',
}


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def load_judge_file(path: Path, model: type[M]) -> M:
    """Read and validate one judge file; every failure is a `JudgeInputInvalid` saying where."""
    try:
        text = read_input_text(path)  # never blocks on a FIFO; a size cap
    except OSError as exc:
        raise JudgeInputInvalid(f"cannot read it ({exc})", where=str(path),
                                fix="pass an existing regular UTF-8 JSON file",
                                error_key="unreadable") from None  # fmt: skip
    return parse_judge_text(text, model, where=str(path))


def parse_judge_text(text: str, model: type[M], *, where: str) -> M:
    """Validate JSON text against a judge contract; `where` names its origin in errors."""
    fix = _FIXES.get(model, "see DESIGN.md section 7.4")
    if not text.strip():
        raise JudgeInputInvalid("empty input", where=where, fix=fix, error_key="empty_input")
    try:
        data = json_loads(text)
    except json.JSONDecodeError as exc:
        too_large = size_limit_problem(exc)
        if too_large:
            raise JudgeInputInvalid(too_large, where=where, error_key="too_large",
                                    fix="split it: a calibration set of fewer labels (about 75,000 at most; "
                                        "keep the rest in another file and score it with --calibration FILE)",
                                    ) from None  # fmt: skip
        raise JudgeInputInvalid(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", where=where,
                                fix=fix, error_key="invalid_json") from None  # fmt: skip
    if not isinstance(data, dict):
        raise JudgeInputInvalid("expected a JSON object", where=where, fix=fix, error_key="not_an_object")
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        first = describe(dict(exc.errors()[0]), model, _json_path, "invalid")
        what = first.what.replace("a table (key = value pairs)", "a JSON object")  # (TOML's words otherwise)
        raise JudgeInputInvalid(what, where=f"{where} {first.where}", fix=fix,
                                error_key=first.error_key) from None  # fmt: skip
    repeated = validated.repeated_mutant() if isinstance(validated, CalibrationSet) else None
    if repeated is not None:
        raise JudgeInputInvalid(repeated[1], where=f"{where} $.calibration", error_key=repeated[0],
                                fix="keep each mutant once, with the one label it has (delete the other entry)")
    return validated
