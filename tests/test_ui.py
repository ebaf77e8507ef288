"""The ui layer: plain lines, live table, JSON silence, end-of-run summaries."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from rich.console import Console

from launcher.models.events import Event
from launcher.models.report import RoundReport, RunReport, TaskReport
from launcher.models.states import TaskState
from launcher.ui.live import LiveView
from launcher.ui.plain import PlainView
from launcher.ui.summary import append_github_summary, markdown_summary, render_summary, report_json
from launcher.ui.view import SilentView, make_view

RUN = "r-20250101-120000-abcd"
T0 = 1_700_000_000.0


def hms(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def events() -> list[Event]:
    return [
        Event(RUN, None, "run", None, f"{RUN} on main", at=T0),
        Event(RUN, "api", "state", TaskState.PROVISIONING, "creating worktree", at=T0 + 1),
        Event(RUN, "api", "output", None, "agent says hello", at=T0 + 2),
        Event(RUN, "api", "state", TaskState.RUNNING, "agent bot started", {"iteration": 1}, at=T0 + 3),
        Event(RUN, "ui", "state", TaskState.RUNNING, "", {"iteration": 1}, at=T0 + 4),
        Event(RUN, None, "note", None, "grader slow", at=T0 + 5),
        Event(RUN, "api", "note", None, "retrying\nonce", at=T0 + 6),
        Event(
            RUN, "api", "state", TaskState.COLLECTED, "added login",
            {"iteration": 1, "cost_usd": 0.25, "files": ["a.py", "b.py"]}, at=T0 + 7,
        ),
        Event(RUN, "ui", "state", TaskState.FAILED, "agent exited 1", at=T0 + 8),
        Event(RUN, "api", "state", TaskState.NEEDS_REVISION, "tests missing", at=T0 + 9),
        Event(RUN, "api", "state", TaskState.RUNNING, "agent bot started", {"iteration": 2}, at=T0 + 10),
        Event(RUN, "api", "state", TaskState.APPROVED, "", {"verdict": "approve", "files": 3}, at=T0 + 11),
        Event(RUN, "api", "state", TaskState.MERGED, "landed on main", at=T0 + 12),
    ]


def report() -> RunReport:
    return RunReport(
        run_id=RUN, status="failed", repo="/tmp/repo", base_sha="0123456789abcdef0123", target="main",
        integration_branch=f"launcher/{RUN}/integration", landed_on=f"launcher/{RUN}/integration",
        artifacts=f"/tmp/repo/.launcher/runs/{RUN}",
        tasks=[
            TaskReport(
                id="api", role="backend", agent="bot", state="merged", branch=f"launcher/{RUN}/api",
                head_sha="abc", merged=True, cost_usd=0.5, files=["a.py", "b.py"], message="landed | ok",
                rounds=[RoundReport(iteration=1, verdict="revise"), RoundReport(iteration=2, verdict="approve")],
            ),
            TaskReport(id="ui", role="frontend", agent="bot", state="failed", message="agent exited 1",
                       branch=f"launcher/{RUN}/ui", worktree="/tmp/wt/ui"),
        ],
    )


def test_plain_view_prints_exactly_the_transition_lines() -> None:
    out = io.StringIO()
    view = PlainView(out)
    view.start(RUN, [("api", "backend", "bot"), ("ui", "frontend", "bot")])
    for event in events():
        view.handle(event)
    view.stop()
    assert out.getvalue().splitlines() == [
        f"{hms(T0)} run {RUN} on main",
        f"{hms(T0 + 1)} api provisioning creating worktree",
        f"{hms(T0 + 3)} api running agent bot started",
        f"{hms(T0 + 4)} ui running",
        f"{hms(T0 + 5)} - note grader slow",
        f"{hms(T0 + 6)} api note retrying once",
        f"{hms(T0 + 7)} api collected added login",
        f"{hms(T0 + 8)} ui failed agent exited 1",
        f"{hms(T0 + 9)} api needs_revision tests missing",
        f"{hms(T0 + 10)} api running agent bot started",
        f"{hms(T0 + 11)} api approved",
        f"{hms(T0 + 12)} api merged landed on main",
    ]


def test_plain_view_flushes_each_line() -> None:
    class Recorder(io.StringIO):
        flushed: list[str]

        def flush(self) -> None:
            self.flushed.append(self.getvalue())

    out = Recorder()
    out.flushed = []
    view = PlainView(out)
    view.handle(Event(RUN, "a", "state", TaskState.RUNNING, "go", at=T0))
    view.handle(Event(RUN, "a", "state", TaskState.FAILED, "boom", at=T0 + 1))
    assert out.flushed == [f"{hms(T0)} a running go\n", f"{hms(T0)} a running go\n{hms(T0 + 1)} a failed boom\n"]


def test_json_mode_prints_nothing_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    view = make_view(json_mode=True, quiet=False, stream=stdout, err_stream=stderr)
    view.start(RUN, [("api", "backend", "bot")])
    for event in events():
        view.handle(event)
    view.stop()
    assert stdout.getvalue() == ""
    assert f"{hms(T0 + 12)} api merged landed on main" in stderr.getvalue().splitlines()

    quiet = make_view(json_mode=True, quiet=True)
    assert isinstance(quiet, SilentView)
    quiet.start(RUN, [("api", "backend", "bot")])
    for event in events():
        quiet.handle(event)
    quiet.stop()
    default = make_view(json_mode=True, quiet=False)
    default.handle(events()[1])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"{hms(T0 + 1)} api provisioning creating worktree\n"


def test_make_view_picks_live_only_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(make_view(json_mode=False, quiet=False, stream=Tty()), LiveView)
    assert isinstance(make_view(json_mode=False, quiet=True, stream=Tty()), PlainView)
    assert isinstance(make_view(json_mode=False, quiet=False, stream=io.StringIO()), PlainView)
    assert isinstance(make_view(json_mode=True, quiet=False, stream=Tty()), PlainView)


def test_live_view_renders_task_ids_and_latest_states() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    view = LiveView(console=console, clock=lambda: T0 + 20)
    view.start(RUN, [("api", "backend", "bot"), ("ui", "frontend", "bot"), ("docs", "writer", "bot")])
    for event in events():
        view.handle(event)
    view.handle(Event(RUN, "stranger", "state", TaskState.RUNNING, "not in the plan", at=T0 + 13))
    view.handle(Event(RUN, "ghost", "output", None, "stray output"))
    view.handle(Event(RUN, None, "state", None, "no task"))
    view.stop()

    assert view.rows["api"].state is TaskState.MERGED
    assert (view.rows["api"].iteration, view.rows["api"].files, view.rows["api"].verdict) == (2, 3, "approve")
    assert view.rows["api"].cost_usd == 0.25
    assert view.rows["ui"].state is TaskState.FAILED
    assert view.rows["stranger"].state is TaskState.RUNNING
    assert "ghost" not in view.rows

    render = Console(file=io.StringIO(), force_terminal=True, width=120)
    render.print(view.render())
    text = render.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" in text  # state colours reach a terminal
    plain = Console(file=io.StringIO(), width=120, color_system=None)
    plain.print(view.render())
    lines = plain.file.getvalue().splitlines()  # type: ignore[attr-defined]
    header = next(line for line in lines if "task" in line and "verdict" in line)
    for column in ("role", "agent", "state", "round", "elapsed", "cost", "files"):
        assert column in header
    rows = {line.split()[0]: line.split() for line in lines if line.strip()}
    assert rows["api"][3:] == ["merged", "2", "0:11", "$0.25", "3", "approve"]
    assert rows["api"][1:3] == ["backend", "bot"]
    assert rows["ui"][3] == "failed"
    assert rows["docs"][1:] == ["writer", "bot", "pending"]
    assert rows["stranger"][1:] == ["running", "0:07"]
    assert "2 of 4 done · 1 active · 1 failed" in plain.file.getvalue()  # type: ignore[attr-defined]
    # The live display itself wrote the table to its console.
    assert "api" in buffer.getvalue() and "merged" in buffer.getvalue()


def test_render_summary_includes_every_task() -> None:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(render_summary(report()))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    api = next(line for line in text.splitlines() if " api " in line)
    assert "merged" in api and "yes" in api and " 2 " in api
    ui = next(line for line in text.splitlines() if " ui " in line)
    assert "failed" in ui and "agent exited 1" in ui and "no" in ui
    assert f"/tmp/repo/.launcher/runs/{RUN}" in text
    assert f"launcher/{RUN}/integration" in text
    assert "status: failed" in text
    assert f"ui: launcher/{RUN}/ui  /tmp/wt/ui" in text  # the kept branch and where to look


def test_markdown_summary_has_header_and_a_row_per_task() -> None:
    md = markdown_summary(report())
    lines = md.splitlines()
    assert "| task | state | branch | merged | files | cost | message |" in lines
    rows = [line for line in lines if line.startswith("| `")]
    assert len(rows) == 2
    assert rows[0].startswith("| `api` | merged | ") and "| yes | 2 | $0.50 |" in rows[0]
    assert "landed \\| ok" in rows[0]  # pipes in messages do not break the table
    assert rows[1].startswith("| `ui` | failed | ") and "agent exited 1" in rows[1]
    assert md.startswith(f"### launcher run `{RUN}`: failed")


def test_append_github_summary_only_when_env_is_set(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert append_github_summary(report(), {}) is False
    assert append_github_summary(report(), {"GITHUB_STEP_SUMMARY": ""}) is False
    assert target.read_text() == "earlier step\n"
    assert append_github_summary(report(), {"GITHUB_STEP_SUMMARY": str(target)}) is True
    text = target.read_text()
    assert text.startswith("earlier step\n### launcher run")
    assert "| `api` | merged |" in text and "| `ui` | failed |" in text
    missing_dir = tmp_path / "nope" / "summary.md"
    assert append_github_summary(report(), {"GITHUB_STEP_SUMMARY": str(missing_dir)}) is False


def test_report_json_is_stable_and_complete() -> None:
    first = report_json(report())
    assert first == report_json(report())
    data = json.loads(first)
    assert list(data)[:5] == ["run_id", "status", "repo", "base_sha", "target"]
    assert first.startswith('{\n  "run_id": ')
    api = data["tasks"][0]
    for key in ("id", "state", "branch", "head_sha", "merged", "cost_usd", "contract", "rounds"):
        assert key in api
    assert api["rounds"][1] == {"iteration": 2, "verdict": "approve", "audit": None, "error_key": None}
    assert RunReport.model_validate_json(first) == report()


def test_an_interrupted_runs_tasks_that_were_at_work_show_they_stopped() -> None:
    stopped = report().model_copy(update={"status": "interrupted", "tasks": [
        TaskReport(id="api", role="backend", agent="bot", state="running"),
        TaskReport(id="ui", role="frontend", agent="bot", state="failed", message="agent exited 1")]})
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(render_summary(stopped))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "running (stopped)" in next(line for line in text.splitlines() if " api " in line)
    assert "(stopped)" not in next(line for line in text.splitlines() if " ui " in line)


def test_a_disagreement_over_thousands_of_files_is_shown_in_one_short_line() -> None:
    from launcher.models.report import RunReport, TaskReport
    from launcher.ui.summary import _claim_lines

    many = [f"gen/f{i:05}.txt" for i in range(10_000)]
    report = RunReport(run_id="r-1", status="succeeded", repo="/r", base_sha="0" * 40, target="main",
                       tasks=[TaskReport(id="t", state="merged", changed_not_claimed=many)])
    (line,) = _claim_lines(report)
    assert "gen/f00009.txt" in line and "gen/f00010.txt" not in line
    assert "and 9990 more (`--json` lists them)" in line and len(line) < 400


LONG_ID = "implement-the-user-authentication-flow-with-oauth2-and-refresh"  # 62: README allows 64


def shown(report: RunReport, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(render_summary(report))
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("ids", "width"), [([LONG_ID], 80), (["api", "ui"], 40), (["a" * 29], 40)])
def test_a_long_task_id_or_a_narrow_terminal_never_hides_the_state_or_the_failure(ids: list[str],
                                                                                   width: int) -> None:
    failing = report().model_copy(update={"tasks": [
        TaskReport(id=task_id, state="failed", message="check failed: pytest -q (exit 1) E   distinctive-reason")
        for task_id in ids]})
    text = shown(failing, width)
    words = " ".join(text.split())
    for task_id in ids:
        # one entry per task, the id and state whole, the reason readable (not folded 2 wide)
        assert any(line.startswith(f"{task_id}: failed") for line in text.splitlines())
        assert f"{task_id}: failed (not merged, 0 files) - check failed: pytest -q (exit 1) E distinctive-reason" \
            in words
    assert all(len(line) <= width for line in text.splitlines())


def test_the_table_stays_when_ids_states_and_a_readable_message_fit() -> None:
    text = shown(report(), 80)
    ui = next(line for line in text.splitlines() if " ui " in line)
    assert ui.startswith("│ ui ") and "failed" in ui and "agent exited 1" in ui
    header = next(line for line in text.splitlines() if "message" in line)
    assert len(header.split("┃")[-2]) >= 24  # the message column keeps its minimum width


def test_status_on_an_80_column_terminal_shows_why_a_long_named_task_failed(repo: Path) -> None:
    from helpers import launcher_cli

    (repo / "plan.toml").write_text(
        f'[[task]]\nid = "{LONG_ID}"\nagent = "scripted"\nprompt = "x"\n'
        'script = [{ write = "x.txt", content = "x" }]\n'
        'checks = ["sh -c \'echo E   distinctive-failure-reason; exit 1\'"]\n')
    ran = launcher_cli(repo, "run", "plan.toml", "-q", env={"COLUMNS": "80"})
    assert ran.returncode == 1, ran.stderr
    for out in (ran.stdout[ran.stdout.index("run r-"):], launcher_cli(repo, "status", env={"COLUMNS": "80"}).stdout):
        assert f"{LONG_ID}: failed (not merged" in out
        assert "distinctive-failure-reason" in out
