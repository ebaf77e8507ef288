"""The judge relay: survivors of a real sweep go to a judge agent, never without confirmation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import git, repo_from

from launcher.app.mutation.judge import JudgeOptions, JudgeSummary, judge_survivors
from launcher.app.mutation.sweep import SweepOptions, run_sweep

WEAKPKG = Path(__file__).parent / "data" / "mutation" / "weakpkg"
SHIPPED_SET = Path(__file__).resolve().parent.parent / "mutation" / "calibration-set.json"
FAKES = Path(__file__).parent / "fakes"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A sweep of the weak package: four survivors in the latest run."""
    base = tmp_path_factory.mktemp("judge")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        root = repo_from(WEAKPKG, base / "pkg", "weak package")
        options = SweepOptions(paths=["calc/core.py"], workers=2, python=sys.executable)
        anyio.run(run_sweep, root, options, lambda _line: None)
        yield root


@pytest.fixture
def pkg(swept: Path, tmp_path: Path) -> Path:
    """A private copy of the swept repository (the judge writes into the run dir)."""
    root = tmp_path / "pkg"
    shutil.copytree(swept, root, symlinks=True)
    return root


def use_judge(root: Path, mode: str = "rule", adapter: str = "scripted-judge", **extra: Any) -> None:
    lines = ["[agents.j]", f'adapter = "{adapter}"', f'set_env = {{ LAUNCHER_JUDGE_MODE = "{mode}" }}']
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    (root / "launcher.toml").write_text("\n".join(lines) + "\n")


def judge(root: Path, ask: Any = None, **options: Any) -> JudgeSummary:
    options.setdefault("agent", "j")
    return anyio.run(judge_survivors, root, JudgeOptions(**options), ask)


def run_dir(root: Path) -> Path:
    return next((root / ".launcher" / "mutation-runs").iterdir())


def survivor_ids(root: Path) -> list[int]:
    return [json.loads(line)["id"] for line in (run_dir(root) / "survivors.jsonl").read_text().splitlines()]


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "launcher", "mutation", "judge", *args]
    return subprocess.run(argv, cwd=root, text=True, capture_output=True, stdin=subprocess.DEVNULL,
                          env=os.environ.copy(), timeout=120)  # fmt: skip


def test_without_confirmation_nothing_is_called(pkg: Path) -> None:
    use_judge(pkg)
    refused = cli(pkg, "--agent", "j")
    assert refused.returncode == 2
    assert "Proceed to judge (1 calls, ~$0.00)?" in refused.stderr and "--confirm-judge" in refused.stderr
    assert not (run_dir(pkg) / "judge-packet.json").exists()
    asked: list[str] = []
    declined = judge(pkg, ask=lambda q: asked.append(q) or False)
    assert declined.exit_code == 1 and "declined" in declined.message
    assert asked == ["Proceed to judge (1 calls, ~$0.00)?"] and not (run_dir(pkg) / "verdict.json").exists()


def test_a_confirmed_judge_answers_every_survivor_and_leaves_no_worktree(pkg: Path) -> None:
    use_judge(pkg, "prose")  # the verdict inside prose is still found
    done = cli(pkg, "--agent", "j", "--confirm-judge", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["survivors"] == 4 and summary["calls"] == 1 and summary["counts"] == {"genuine": 4, "equivalent": 0}
    verdict = json.loads((run_dir(pkg) / "verdict.json").read_text())
    assert [v["id"] for v in verdict["verdicts"]] == survivor_ids(pkg) and verdict["contract_version"] == "1"
    packet = json.loads((run_dir(pkg) / "judge-packet.json").read_text())
    assert [s["id"] for s in packet["survivors"]] == survivor_ids(pkg) and packet["contract_version"] == "1"
    assert packet["report"].endswith("report.json")
    assert git(pkg, "worktree", "list").count("\n") == 1  # the judge's read-only checkout is gone


def test_batches_merge_into_one_verdict(pkg: Path) -> None:
    use_judge(pkg)
    summary = judge(pkg, confirm=True, batch_size=3)
    assert summary.exit_code == 0 and summary.calls == 2
    assert sorted(p.name for p in (run_dir(pkg) / "judge").glob("packet-*.json")) == ["packet-1.json", "packet-2.json"]
    assert [v["id"] for v in json.loads((run_dir(pkg) / "verdict.json").read_text())["verdicts"]] == survivor_ids(pkg)


def test_an_incomplete_answer_gets_a_corrective_round(pkg: Path) -> None:
    use_judge(pkg, "missing,rule")
    summary = judge(pkg, confirm=True)
    assert summary.exit_code == 0, summary.message
    assert summary.notes == ["judge batch 1 attempt 1: id_sets_differ"]
    hint = json.loads((run_dir(pkg) / "judge" / "hint-1-1.json").read_text())
    assert hint["error_key"] == "id_sets_differ" and f"[{survivor_ids(pkg)[0]}]" in hint["observations"]


@pytest.mark.parametrize("mode", ["garbage", "crash"])
def test_a_judge_that_never_answers_gives_up_after_three_and_keeps_the_survivors(pkg: Path, mode: str) -> None:
    use_judge(pkg, mode)
    before = (run_dir(pkg) / "survivors.jsonl").read_text()
    summary = judge(pkg, confirm=True)
    assert summary.exit_code == 1 and "3 times in a row" in summary.message and "unjudged" in summary.message
    assert len(summary.notes) == 3 and summary.calls == 3  # every process
    assert not (run_dir(pkg) / "verdict.json").exists()
    assert (run_dir(pkg) / "survivors.jsonl").read_text() == before
    assert git(pkg, "worktree", "list").count("\n") == 1


def test_zero_survivors_make_no_call(pkg: Path) -> None:
    use_judge(pkg, "crash")
    (run_dir(pkg) / "survivors.jsonl").write_text("")
    summary = judge(pkg)  # not even confirmation is needed
    assert summary.exit_code == 0 and summary.message == "0 survivors: no judge call"
    assert not (run_dir(pkg) / "judge").exists()


# The scripted judge's crude rule gets 5 of its 6 genuine calls right on the 8-mutant starter, which
# 6 random picks do 10.7% of the time: not better than chance, a fail.
@pytest.mark.parametrize(("mode", "code", "gate"), [("rule", 1, "fail"), ("all_genuine", 1, "fail"),
                                                    ("all_equivalent", 3, "undefined")])  # fmt: skip
def test_calibrate_judges_the_labelled_set_without_labels_then_gates(pkg: Path, mode: str, code: int,
                                                                     gate: str) -> None:
    use_judge(pkg, mode)
    done = cli(pkg, "--agent", "j", "--confirm-judge", "--calibrate", "--calibration", str(SHIPPED_SET))
    assert done.returncode == code, done.stderr
    assert f"calibration gate: {gate}" in done.stdout
    out = next((pkg / ".launcher" / "calibration").iterdir())
    packet = (out / "judge-packet.json").read_text()
    assert "ground_truth" not in packet and "label_rationale" not in packet
    report = json.loads((out / "calibration-report.json").read_text())
    assert report["gate_verdict"] == gate and report["counts"]["total"] == 8


def test_claude_code_as_the_judge_gets_the_judge_schema(pkg: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("PATH", f"{FAKES}:{os.environ['PATH']}")
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"contract_version": "1", "calibration": {"precision": None, "recall": None},
                                  "verdicts": [{"id": i, "classification": "genuine", "confidence": 0.9,
                                                "justification": "boundary untested"} for i in survivor_ids(pkg)]}))
    monkeypatch.setenv("FAKE_ANSWER", str(answer))
    monkeypatch.setenv("FAKE_ARGV_LOG", str(tmp_path / "argv.jsonl"))
    use_judge(pkg, adapter="claude", env=["FAKE_ANSWER", "FAKE_ARGV_LOG"], budget_usd=0.5)
    asked: list[str] = []
    summary = judge(pkg, ask=lambda q: asked.append(q) or True)
    assert asked == ["Proceed to judge (1 calls, ~$0.50)?"]
    assert summary.exit_code == 0, summary.message
    argv = json.loads((tmp_path / "argv.jsonl").read_text().splitlines()[0])["argv"]
    schema = json.loads(argv[argv.index("--json-schema") + 1])
    assert schema["required"] == ["contract_version", "verdicts", "calibration"]
    assert "--max-budget-usd" in argv and not list(pkg.glob("claude_*.txt"))


@pytest.mark.parametrize(("content", "said"), [
    (b"\xff\n", "survivors.jsonl: cannot read it: not UTF-8 text (byte 0 is 0xff)"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", "survivors.jsonl:1: line 1 is not a survivor: not JSON: nested deeper"),
    (b'{"id": 1, "fault": "f", "target": "t", "line": "7", "rationale": "r", "orig": "a", "mut": "b", '
     b'"status": "SURVIVED"}\n', "survivors.jsonl:1: line 1 is not a survivor: $.line must be a whole number"),
])
def test_a_damaged_survivors_file_is_named_with_line_key_and_fix(pkg: Path, content: bytes, said: str) -> None:
    from launcher.errors import UsageProblem

    use_judge(pkg)
    (run_dir(pkg) / "survivors.jsonl").write_bytes(content)
    with pytest.raises(UsageProblem) as caught:
        judge(pkg, confirm=True)
    assert said in caught.value.message
    assert "Fix: sweep again (`launcher mutation sweep`)" in caught.value.message


def test_a_damaged_sweep_report_is_named(pkg: Path) -> None:
    from launcher.errors import UsageProblem

    use_judge(pkg)
    (run_dir(pkg) / "report.json").write_bytes(b'{"base_sha": ' + b"[" * 100_000)
    with pytest.raises(UsageProblem, match=r"report.json: cannot read the sweep's report: nested deeper"):
        judge(pkg, confirm=True)
