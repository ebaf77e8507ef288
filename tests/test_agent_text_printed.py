"""Text an agent controls (its file names, its words) printed on the terminal: one line the
launcher wrote, control characters shown escaped as git quotes them, never rich markup; `--json`
keeps the exact strings."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli

from launcher.models.printable import one_line, printable, quote_path

FORGED = "a\nstatus: succeeded - main advanced to 000000000000\nLanded on main."
CURSOR = "b\x1b[1A\x1b[2Kc"
MARKUP = "[bold red]m[reset]"

AGENT = """\
import json, os, sys
for name in sys.argv[1:]:
    open(name, "w").write("x\\n")
json.dump({"contract_version": "1", "task_id": os.environ["LAUNCHER_TASK_ID"], "status": "done",
           "summary": "did it", "files_changed": [], "tests_added": [], "decisions": [], "blockers": [],
           "llm_observations": "wrote files it does not claim"}, open(os.environ["LAUNCHER_CONTRACT"], "w"))
"""


def _plan(repo: Path) -> None:
    (repo / "agent.py").write_text(AGENT)
    names = json.dumps([FORGED, CURSOR, MARKUP])[1:-1]
    (repo / "plan.toml").write_text(
        '[agents.namer]\nadapter = "command"\n'
        f'command = ["python3", "agent.py", {names}]\n'
        '[[task]]\nid = "names"\nagent = "namer"\nprompt = "x"\nchecks = ["false"]\n'
    )
    git(repo, "add", "agent.py", "plan.toml")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "plan")


def test_an_agents_file_names_cannot_print_lines_or_terminal_escapes(repo: Path) -> None:
    _plan(repo)
    done = launcher_cli(repo, "run", "plan.toml", "--quiet")
    assert done.returncode == 1, done.stdout + done.stderr
    status = launcher_cli(repo, "status")
    for out in (done.stdout, status.stdout):
        lines = out.splitlines()
        # the failed run has one status line, its own; no line of it came from a file name
        assert [line for line in lines if line.startswith("status:")] == ["status: failed - nothing to land"]
        assert not any(line.startswith("Landed on") for line in lines)
        assert "\x1b" not in out
        # the names are shown as git shows them, in quotes with escapes, and markup stays text
        assert '"a\\nstatus: succeeded - main advanced to 000000000000\\nLanded on main."' in out
        assert '"b\\033[1A\\033[2Kc"' in out
        assert MARKUP in out
    exact = launcher_cli(repo, "status", "--json")
    (task,) = json.loads(exact.stdout)["tasks"]
    assert sorted(task["changed_not_claimed"]) == sorted([FORGED, CURSOR, MARKUP])


def test_control_characters_are_escaped_as_git_quotes_them() -> None:
    assert printable("plain text, ünïcode") == "plain text, ünïcode"
    assert printable("a\nb\x1b[2Kc\x7f") == "a\\nb\\033[2Kc\\177"
    assert printable("error: x\nFix: y\x1b", newlines=True) == "error: x\nFix: y\\033"
    assert printable("\u202eevil") == "\\342\\200\\256evil"  # a right-to-left override reorders nothing
    assert printable("bad\udcffbyte") == "bad\\377byte"  # a byte that was not UTF-8
    assert quote_path("src/app.py") == "src/app.py"
    assert quote_path('a "b"\\c\n') == '"a \\"b\\"\\\\c\\n"'
    assert one_line("two\nlines\x1b") == "two lines\\033"
