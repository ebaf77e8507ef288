"""A review of the judge loop (judge, gate, label, fix): each test reproduces one defect found
by a reviewer, on real git repositories and through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import launcher_cli, swept_project
from test_mutation_judge import use_judge
from test_mutation_label import Terminal

from launcher.app.mutation.judge import JudgeOptions, JudgeSummary, judge_survivors

DATA = Path(__file__).resolve().parent.parent / "launcher" / "data" / "mutation"
STARTER = DATA / "calibration-set.json"  # ids 1-8
PYTHON_SET = DATA / "python-set" / "calibration-set.json"  # 157 mutants, ids 1-157
PROJECT = {
    "calc/__init__.py": "",
    "calc/core.py": "def is_adult(age):\n    return age >= 18\n\n\ndef fee(n):\n    return n * 2 + 1\n",
    "tests/test_core.py": "from calc.core import fee, is_adult\n\n\ndef test_is_adult():\n"
                          "    assert is_adult(30)\n    assert not is_adult(3)\n\n\ndef test_fee():\n"
                          "    assert fee(10) > 0\n",
}  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real sweep with a few survivors, numbered within the starter set's ids (1-8)."""
    base = tmp_path_factory.mktemp("review")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        yield swept_project(base / "proj", PROJECT, ["calc/core.py"], identity=("Ada Operator", "ada@example.com"))


@pytest.fixture
def proj(swept: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(swept, root, symlinks=True)
    use_judge(root)
    return root


def judge(root: Path, ask: Any = None, **options: Any) -> JudgeSummary:
    options.setdefault("agent", "j")
    options.setdefault("confirm", True)
    return anyio.run(judge_survivors, root, JudgeOptions(**options), ask)


def sweep_dir(root: Path) -> Path:
    return next((root / ".launcher" / "mutation-runs").iterdir())


def survivor_ids(root: Path) -> list[int]:
    return [json.loads(line)["id"] for line in (sweep_dir(root) / "survivors.jsonl").read_text().splitlines()]


def calibration_set(root: Path) -> Path:
    return root / "mutation" / "calibration-set.json"


def label_refused(root: Path, *args: str) -> tuple[int, str]:
    """`launcher mutation label ARGS` at a terminal that is expected to refuse before any question."""
    term = Terminal(root, *args)
    code = term.proc.wait(timeout=60)
    try:
        while chunk := os.read(term.master, 4096):
            term.seen += chunk.decode(errors="replace")
    except OSError:
        pass
    os.close(term.master)
    return code, term.seen


# 1. label --from-verdict must not show (and write) another subject's judgement


def test_label_refuses_a_calibration_verdict_for_a_sweep(proj: Path) -> None:
    assert set(survivor_ids(proj)) <= set(range(1, 9))  # the numbers collide with the starter set's ids
    calibrated = judge(proj, calibrate=True, calibration=STARTER)
    verdict = calibrated.verdict_path
    assert verdict is not None
    judged = json.loads(verdict.read_text())["judged"]
    assert judged["subject"] == "calibration" and judged["calibration_file"] == str(STARTER)
    assert len(judged["survivors_sha256"]) == 64 and judged["survivors"] == 8
    (proj / "mutation").mkdir()
    shutil.copy(STARTER, calibration_set(proj))
    before = calibration_set(proj).read_text()
    code, shown = label_refused(proj, "--from-verdict", str(verdict))
    assert code == 2, shown
    assert "calibration set" in shown and str(STARTER) in shown and sweep_dir(proj).name in shown
    assert "[a]ccept" not in shown and calibration_set(proj).read_text() == before


def test_label_takes_the_sweeps_own_verdict_and_an_external_one_only_with_the_same_ids(proj: Path) -> None:
    own = judge(proj)
    assert own.exit_code == 0 and own.verdict_path is not None
    judged = json.loads(own.verdict_path.read_text())["judged"]
    assert judged["subject"] == "sweep" and judged["sweep"] == sweep_dir(proj).name
    term = Terminal(proj, "--from-verdict", str(own.verdict_path))
    shown = term.answer("[q]uit? ", "q")
    assert term.finish() == 0 and "warning" not in shown

    external = json.loads(own.verdict_path.read_text())
    del external["judged"]
    path = proj / "external.json"
    path.write_text(json.dumps(external))
    term = Terminal(proj, "--from-verdict", str(path))
    shown = term.answer("[q]uit? ", "q")
    assert term.finish() == 0 and "warning: the verdict" in shown and "does not say what it judged" in shown

    external["verdicts"] = external["verdicts"][1:]  # not every survivor: not accepted as about this sweep
    path.write_text(json.dumps(external))
    code, shown = label_refused(proj, "--from-verdict", str(path))
    assert code == 2 and "are not the survivors of sweep" in shown, shown


def test_label_refuses_a_verdict_of_another_sweep_with_the_same_numbers(proj: Path) -> None:
    own = judge(proj)
    assert own.verdict_path is not None
    forged = json.loads(own.verdict_path.read_text())
    forged["judged"]["survivors_sha256"] = "0" * 64  # same sweep name, other mutants under these numbers
    path = proj / "other.json"
    path.write_text(json.dumps(forged))
    code, shown = label_refused(proj, "--from-verdict", str(path))
    assert code == 2 and "other mutants under the same numbers" in shown, shown


# 2. the gate must not score a verdict against a set about other mutants


def test_the_gate_refuses_a_verdict_judged_on_another_set_even_with_the_same_ids(proj: Path, tmp_path: Path) -> None:
    calibrated = judge(proj, calibrate=True, calibration=STARTER)
    assert calibrated.verdict_path is not None
    first8 = json.loads(PYTHON_SET.read_text())
    first8["calibration"] = first8["calibration"][:8]
    other = tmp_path / "first8.json"
    other.write_text(json.dumps(first8))
    refused = launcher_cli(proj, "mutation", "gate", "--verdict", str(calibrated.verdict_path),
                           "--calibration", str(other))  # fmt: skip
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "not the mutants of this calibration set" in refused.stderr and str(STARTER) in refused.stderr
    as_json = launcher_cli(proj, "mutation", "gate", "--json", "--verdict", str(calibrated.verdict_path),
                           "--calibration", str(other))  # fmt: skip
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["error_key"] == "id_sets_differ"
    same = launcher_cli(proj, "mutation", "gate", "--verdict", str(calibrated.verdict_path),
                        "--calibration", str(STARTER), "--report", str(tmp_path / "r.json"))  # fmt: skip
    assert same.returncode in (0, 1) and "calibration gate:" in same.stdout, same.stdout + same.stderr
    seed = json.loads(calibrated.verdict_path.read_text())
    del seed["judged"]  # another orchestrator's verdict: scored by ids, as the seed does
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(seed))
    scored = launcher_cli(proj, "mutation", "gate", "--verdict", str(plain), "--calibration", str(other))
    assert scored.returncode in (0, 1), scored.stdout + scored.stderr


def test_the_gate_refuses_a_verdict_against_the_same_set_relabelled_after_the_judge_answered(
    proj: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.json"
    shutil.copy(STARTER, labels)
    calibrated = judge(proj, calibrate=True, calibration=labels)
    assert calibrated.verdict_path is not None and calibrated.exit_code in (0, 1)
    calls = {c["id"]: c["classification"] for c in json.loads(calibrated.verdict_path.read_text())["verdicts"]}
    relabelled = json.loads(labels.read_text())
    for entry in relabelled["calibration"]:  # labels changed afterwards, to agree with the judge
        entry["ground_truth"] = calls[entry["id"]]
    for target in (tmp_path / "copy.json", labels):  # a relabelled copy, or the judged file edited in place
        target.write_text(json.dumps(relabelled))
        refused = launcher_cli(proj, "mutation", "gate", "--verdict", str(calibrated.verdict_path),
                               "--calibration", str(target), "--report", str(tmp_path / "r.json"))  # fmt: skip
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "with other labels" in refused.stderr and "calibration gate: pass" not in refused.stdout
        assert not (tmp_path / "r.json").exists()
    labels.write_text(STARTER.read_text())  # the labels as judged: scored again
    same = launcher_cli(proj, "mutation", "gate", "--verdict", str(calibrated.verdict_path),
                        "--calibration", str(labels), "--report", str(tmp_path / "r.json"))  # fmt: skip
    assert same.returncode == calibrated.exit_code and "calibration gate:" in same.stdout, same.stderr


# 3. a judge that cannot tell the classes apart fails (no better than chance); a tiny set warns


def verdict_file(path: Path, calls: dict[int, str]) -> Path:
    path.write_text(json.dumps({"contract_version": "1", "calibration": {"precision": None, "recall": None},
                                "verdicts": [{"id": i, "classification": c, "confidence": 0.8, "justification": "x"}
                                             for i, c in calls.items()]}))  # fmt: skip
    return path


def test_a_judge_calling_nearly_everything_genuine_fails_as_no_better_than_chance(proj: Path) -> None:
    done = launcher_cli(proj, "mutation", "judge", "--agent", "j", "--confirm-judge", "--calibrate", "--calibration",
                        str(PYTHON_SET), "--batch-size", "200", "--min-lower-bound", "0.7")  # fmt: skip
    # 84.6% precision, over the threshold and the lower bound, is what 156 random picks of the 157 give
    assert done.returncode == 1, done.stdout + done.stderr
    assert "calibration gate: fail - precision 84.6%" in done.stdout and "lower bound >= 70%" in done.stdout
    assert "chance p < 0.05: p=0.159 with 84.1% of the set genuine" in done.stdout
    assert "warning: the judge called 156 of 157 labelled mutants genuine: precision equals the share of genuine " \
           "labels; the judge does not tell equivalent mutants apart" in done.stdout
    report = json.loads((next((proj / ".launcher" / "calibration").iterdir()) / "calibration-report.json").read_text())
    assert len(report["warnings"]) == 2 and "does no better than chance" in report["warnings"][0]


def test_a_one_item_set_cannot_show_a_judge_beats_chance_so_it_fails(tmp_path: Path) -> None:
    # One genuine mutant called genuine: 100% precision, but a random pick does as well.
    one = json.loads(STARTER.read_text())
    one["calibration"] = one["calibration"][:1]
    (tmp_path / "one.json").write_text(json.dumps(one))
    verdict = verdict_file(tmp_path / "v.json", {1: "genuine"})
    done = launcher_cli(tmp_path, "mutation", "gate", "--verdict", str(verdict), "--calibration",
                        str(tmp_path / "one.json"))  # fmt: skip
    assert done.returncode == 1 and "calibration gate: fail - precision 100.0%" in done.stdout
    # the set is to blame, not the judge: no judge can beat chance on one genuine label
    assert "this calibration set cannot show any judge better than chance" in done.stdout
    assert "the set needs 20 more equivalent label(s)" in done.stdout
    assert "the judge does no better than chance" not in done.stdout
    assert "too few labelled mutants to trust a precision; see the lower bound" in done.stdout
    warnings = json.loads((tmp_path / "calibration-report.json").read_text())["warnings"]
    assert len(warnings) == 2 and not any("does not tell equivalent mutants apart" in w for w in warnings)


def test_the_summary_never_rounds_into_a_contradiction(tmp_path: Path) -> None:
    calls = {1: "genuine", 2: "genuine", 3: "genuine", 4: "genuine", 5: "equivalent", 6: "equivalent",
             7: "genuine", 8: "genuine"}  # 5 of 6 genuine calls right: 83.3%
    verdict = verdict_file(tmp_path / "v.json", calls)
    done = launcher_cli(tmp_path, "mutation", "gate", "--verdict", str(verdict), "--calibration", str(STARTER),
                        "--threshold", "0.834")  # fmt: skip
    assert done.returncode == 1
    assert "calibration gate: fail - precision 83.3%" in done.stdout and "(threshold 83.4%, " in done.stdout
    close = launcher_cli(tmp_path, "mutation", "gate", "--verdict", str(verdict), "--calibration", str(STARTER),
                         "--threshold", "0.8333")  # fmt: skip
    # over the threshold, but 6 random picks of these 8 do as well 10.7% of the time: a fail
    assert close.returncode == 1 and "fail - precision 83.33%" in close.stdout
    assert "(threshold 83.33%, chance p < 0.05: p=0.107 with 62.5% of the set genuine)" in close.stdout


# 4. judge --calibrate names the set it judged, and why when it is not the repository's file


def test_calibrate_names_the_set_it_judges_and_why_the_shipped_one(proj: Path) -> None:
    (proj / "mutation").mkdir()
    shutil.copy(STARTER, calibration_set(proj))  # the unchanged starter of `launcher init`
    done = launcher_cli(proj, "mutation", "judge", "--agent", "j", "--confirm-judge", "--calibrate",
                        "--batch-size", "200")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the scripted judge's crude rule is no better than chance
    assert done.stdout.startswith(f"judging the shipped python set (157 mutants, {PYTHON_SET}) because "
                                  "mutation/calibration-set.json is still the unchanged starter")  # fmt: skip
    assert f"on 157 labelled survivors of {PYTHON_SET}" in done.stdout
    out = next((proj / ".launcher" / "calibration").iterdir())
    report = json.loads((out / "calibration-report.json").read_text())
    assert report["calibration_file"] == str(PYTHON_SET) and report["verdict_file"] == str(out / "verdict.json")

    named = launcher_cli(proj, "mutation", "judge", "--agent", "j", "--confirm-judge", "--calibrate",
                         "--calibration", str(STARTER), "--json")  # fmt: skip
    assert named.returncode == 1, named.stderr
    assert f"judging the calibration set {STARTER} (8 mutants)" in named.stderr
    assert json.loads(named.stdout)["calibration_file"] == str(STARTER)


# 5. a failed re-judge leaves no verdict that looks current


def test_a_failed_rejudge_moves_the_old_verdict_aside(proj: Path) -> None:
    assert judge(proj).exit_code == 0
    first = (sweep_dir(proj) / "verdict.json").read_text()
    use_judge(proj, "crash")
    failed = judge(proj)
    assert failed.exit_code == 1 and "the survivors stand unjudged" in failed.message
    assert "the earlier verdict was moved to verdict.prev.json" in failed.message
    assert not (sweep_dir(proj) / "verdict.json").exists()
    assert (sweep_dir(proj) / "verdict.prev.json").read_text() == first
    fix = launcher_cli(proj, "mutation", "fix")
    assert fix.returncode == 2 and "not judged yet" in fix.stderr, fix.stdout + fix.stderr


# 6. after `mutation fix`, the list shows the current score and the summary keeps the duration


def run_line(root: Path) -> str:
    return next(line for line in (sweep_dir(root) / "summary.txt").read_text().splitlines() if line.startswith("Run "))


def test_list_shows_the_score_after_fix_and_the_rewrite_keeps_the_duration(proj: Path) -> None:
    before = run_line(proj)
    assert not before.endswith("; 0.0s")
    fixed = launcher_cli(proj, "mutation", "fix", "--all", "--python", sys.executable, timeout=600)
    assert "survivor(s) killed by new tests" in fixed.stdout, fixed.stdout + fixed.stderr
    report = json.loads((sweep_dir(proj) / "report.json").read_text())
    assert report["fix"] and report["fix"][-1]["score_after"] > report["fix"][-1]["score_before"]
    listed = json.loads(launcher_cli(proj, "mutation", "list", "--json").stdout)
    assert listed[0]["score"] == report["score"] == report["fix"][-1]["score_after"]
    assert listed[0]["counts"]["Killed"] == report["summary"]["killed"]
    assert f"{report['score']:.1f}%" in launcher_cli(proj, "mutation", "list").stdout
    assert run_line(proj) == before  # the sweep's duration, not 0.0s
    assert "Mutation fix (run " in (sweep_dir(proj) / "summary.txt").read_text()


# 7. --ids takes several ids, as the README shows


def test_fix_ids_takes_several_values(proj: Path) -> None:
    first, *_ = survivor_ids(proj)
    wrong = launcher_cli(proj, "mutation", "fix", "--ids", str(first), "999")
    assert wrong.returncode == 2 and "not a survivor of this sweep: 999" in wrong.stderr, wrong.stderr
    named = launcher_cli(proj, "mutation", "fix", sweep_dir(proj).name, "--ids", str(first), "998", "--max", "1")
    assert named.returncode == 2 and "not a survivor of this sweep: 998" in named.stderr, named.stderr
    assert "ID..." in launcher_cli(proj, "mutation", "fix", "--help").stdout


# 8. the help shows "[mutation] judge"; a command judge's uncommitted script is refused up front


def test_judge_help_shows_the_config_table() -> None:
    shown = launcher_cli(Path.cwd(), "mutation", "judge", "--help", env={"COLUMNS": "200"}).stdout
    assert "Judge agent (default: [mutation] judge)." in shown


def test_a_command_judge_whose_script_is_not_committed_is_refused_before_any_call(proj: Path) -> None:
    (proj / "tools").mkdir()
    (proj / "tools" / "judge.py").write_text("import sys\nsys.exit(0)\n")
    command = json.dumps([sys.executable, "tools/judge.py", "{packet}"])
    (proj / "launcher.toml").write_text(f'[agents.cj]\nadapter = "command"\ncommand = {command}\n')
    done = launcher_cli(proj, "mutation", "judge", "--agent", "cj", "--confirm-judge")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot start the judge: agent 'cj' runs tools/judge.py, which is not committed" in done.stderr
    assert "sweep's base commit" in done.stderr
    assert not (sweep_dir(proj) / "judge-packet.json").exists() and not (sweep_dir(proj) / "judge").exists()


# 9. what is said: a built-in judge costs nothing, no survivors is not "not judged", the agents known


def test_a_built_in_judge_is_said_to_cost_nothing(proj: Path) -> None:
    refused = launcher_cli(proj, "mutation", "judge", "--agent", "j")
    assert refused.returncode == 2 and "paid call" not in refused.stderr
    assert "the built-in scripted-judge has no cost" in refused.stderr
    done = launcher_cli(proj, "mutation", "judge", "--agent", "j", "--confirm-judge")
    assert done.returncode == 0, done.stderr
    assert "judge cost: no cost, the built-in scripted-judge runs no model (1 call(s))" in done.stdout


def test_fix_on_a_sweep_without_survivors_says_so(proj: Path) -> None:
    mutants = sweep_dir(proj) / "mutants.json"
    data = json.loads(mutants.read_text())
    for entry in data["mutants"]:
        if entry["result"]["status"] == "Survived":
            entry["result"]["status"] = "Killed"
    mutants.write_text(json.dumps(data))
    done = launcher_cli(proj, "mutation", "fix")
    assert done.returncode == 0, done.stderr
    assert "has no survivors" in done.stdout and "not judged" not in done.stdout + done.stderr


def test_an_unknown_judge_agent_hint_lists_the_configured_ones(proj: Path) -> None:
    done = launcher_cli(proj, "mutation", "judge", "--agent", "nope", "--confirm-judge")
    assert done.returncode == 2 and "unknown judge agent 'nope'" in done.stderr
    assert "a configured agent (j)" in done.stderr and "scripted-judge" in done.stderr
