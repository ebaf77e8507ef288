"""Defects the lead fixed in the fourteenth session (fix19), each a specification of what a user sees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.agents.codex import CodexAdapter
from tests.test_adapters_cli import FAKES, fake_env, make_request, supervise

THREAD = "0199a213-81c0-7800-8aa1-bbab2a035a53"


@pytest.fixture(autouse=True)
def _fakes_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.parametrize("mode", ["workspace-write", "danger-full-access"])
def test_a_resumed_codex_round_runs_in_the_sandbox_the_agent_config_names(tmp_path: Path, mode: str) -> None:
    # `codex exec --sandbox X resume ID` parses, but the resumed turn runs in the default read-only
    # sandbox (openai/codex#40149): a revision round could not write its fixes.
    request = make_request(tmp_path, "codex", iteration=2, session_id=THREAD, feedback='{"fix": "x"}',
                           permission_mode=mode, set_env=fake_env(tmp_path, "success"))
    supervised, outcome = supervise(CodexAdapter(), request)
    assert supervised.returncode == 0, supervised.stderr
    assert outcome.ok, outcome.message
    answer = json.loads(outcome.final_text)
    assert answer["status"] == "done", answer["blockers"]
    assert "edited by the fake codex" in (request.worktree / "codex_t1.txt").read_text()
    argv = CodexAdapter().invocation(request).argv
    assert argv[argv.index("resume") + 1] == THREAD
    assert f'sandbox_mode="{mode}"' in argv[argv.index("resume"):]



def test_the_command_list_in_help_wraps_each_summary_to_the_terminal_not_to_the_source(tmp_path: Path) -> None:
    # A docstring's first paragraph was shown with the line breaks of its source: ragged rows.
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "400", "TERM": "dumb"}
    shown = subprocess.run([sys.executable, "-m", "launcher", "--help"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, check=True).stdout
    rows = {line.split()[1]: line for line in shown.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    assert "kept unless --force" in rows["clean"]
    assert "where both do)" in rows["init"]
    assert "claims and scope hold" in rows["grade"]


def test_a_shard_export_bundles_only_the_commits_after_its_base_and_still_lands(tmp_path: Path) -> None:
    # Every shard's bundle is a CI artifact: it held the repository's whole history, N times over
    # (a large old file included). It holds the commits after the base; the land has the base.
    from helpers import git, launcher_cli
    from test_fix19_shard19 import MANIFEST, PLAN, _remote
    from test_land_from_final_job import _clone

    remote = _remote(tmp_path)
    seed = _clone(remote, tmp_path / "seed")
    (seed / "old.bin").write_bytes(os.urandom(1 << 20))  # history the tasks never touch
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "an old large file")
    git(seed, "rm", "-q", "old.bin")
    git(seed, "commit", "-q", "-m", "gone again")
    git(seed, "push", "-q", "origin", "main")
    base = git(seed, "rev-parse", "HEAD").strip()
    exports = []
    for shard in ("1/2", "2/2"):
        job = _clone(remote, tmp_path / f"job{shard[0]}")
        (job / "plan.json").write_text(json.dumps(PLAN))
        export = tmp_path / f"export{shard[0]}"
        done = launcher_cli(job, "run", "plan.json", "--shard", shard, "--no-merge", "--export", str(export),
                            "--quiet", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert (export / MANIFEST).exists(), done.stdout + done.stderr
        exports.append(export)
    bundles = [b for e in exports for b in e.glob("*.bundle")]
    assert bundles
    for bundle in bundles:
        assert bundle.stat().st_size < 100_000  # not the 1 MiB blob of the history before the base
        said = git(seed, "bundle", "verify", str(bundle))
        assert base in said  # its one prerequisite: the base
    final = _clone(remote, tmp_path / "final")
    done = launcher_cli(final, "land", *[a for e in exports for a in ("--from", str(e))], "--quiet",
                        env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (final / "alpha.txt").read_text() == "a\n" and (final / "delta.txt").read_text() == "d\n"
