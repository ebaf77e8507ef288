"""A calibration speaks for the judge it measured, model included, wherever the model is chosen.

A judge agent without `model =` runs on the model its CLI's own config files name (Claude Code's
settings.json files, Codex's config.toml and profiles, Gemini CLI's settings.json, aider's
.aider.conf.yml and .env, opencode's opencode.json): a calibration records a digest of each of
those settings, read in the environment the judge runs with (its HOME) and in its checkout of
HEAD, and `launcher mutation gate` refuses (exit 2) a verdict whose judge's config files now name
another model, naming the file and the key but never the value. The same files unchanged pass.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import git
from test_fix15_calib import labelled_set, launcher, right_on_all
from test_fix17_judge_identity import gate

from launcher.gates.judge_identity import judge_identity
from launcher.gates.judge_model_files import project_paths
from launcher.models.plan import AgentConfig

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The judge's HOME (the launcher's, which its agents inherit), with the fake CLIs on PATH."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    for name in ("CLAUDE_CONFIG_DIR", "ANTHROPIC_MODEL", "CODEX_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    return path


def repo_with_claude_judge(tmp_path: Path, answer: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f(x):\n    return x + 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "launcher.toml").write_text(
        f'[agents.j]\nadapter = "claude"\nset_env = {{ FAKE_ANSWER = {json.dumps(str(answer))} }}\n')
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "code and its judge")
    return root


def calibrated_with_claude(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A real `launcher mutation judge --calibrate` of a Claude Code judge (the faithful fake CLI),
    right on every label: the repository, its verdict and the labelled set."""
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    answer = right_on_all(tmp_path / "answer.json", labels)
    # what the judge answers as its structured output (the verdict schema requires `calibration`)
    verdicts = json.loads(answer.read_text())
    answer.write_text(json.dumps({**verdicts, "calibration": {"precision": None, "recall": None}}))
    root = repo_with_claude_judge(tmp_path, answer)
    done = launcher(root, "mutation", "judge", "--calibrate", "--calibration", str(labels), "--agent", "j",
                    "--confirm-judge", timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return root, next((root / ".launcher" / "calibration").glob("*/verdict.json")), labels


def said(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def test_a_model_switched_in_the_users_claude_settings_refuses_the_calibration(
    tmp_path: Path, home: Path
) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"model": "opus", "verbose": False}))
    root, verdict, labels = calibrated_with_claude(tmp_path)
    recorded = json.loads(verdict.read_text())["judged"]["judge"]
    assert list(recorded["model_files"]) == [f"{settings} model"]
    assert "opus" not in verdict.read_text()  # a digest, never the value
    settings.write_text(json.dumps({"model": "opus", "verbose": True}))  # another setting: the same judge
    same = gate(root, verdict, labels)
    assert same.returncode == 0, said(same)
    assert "calibration gate: pass" in same.stdout
    settings.write_text(json.dumps({"model": "haiku", "verbose": True}))
    changed = gate(root, verdict, labels)
    assert changed.returncode == 2, said(changed)
    assert (f"model from its CLI's config files ({settings} model: another value then, this one now) changed since"
            in said(changed))  # fmt: skip
    assert "haiku" not in said(changed) and "opus" not in said(changed)


def test_a_model_set_in_the_projects_committed_claude_settings_is_the_judges_too(
    tmp_path: Path, home: Path
) -> None:
    root, verdict, labels = calibrated_with_claude(tmp_path)
    assert json.loads(verdict.read_text())["judged"]["judge"]["model_files"] == {}
    # not committed: the judge's checkout of HEAD does not hold it, so it is not the judge's
    (root / ".claude").mkdir()
    (root / ".claude" / "settings.json").write_text('{"model": "haiku"}')
    untracked = gate(root, verdict, labels)
    assert untracked.returncode == 0, said(untracked)
    git(root, "add", ".claude/settings.json")
    git(root, "commit", "-qm", "a cheaper judge")
    committed = gate(root, verdict, labels)
    assert committed.returncode == 2, said(committed)
    assert "HEAD:.claude/settings.json model: unset then, set now" in said(committed)


def test_a_judge_with_model_set_ignores_its_clis_config_files(tmp_path: Path, home: Path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"model": "opus"}')
    pinned = AgentConfig.model_validate({"adapter": "claude", "model": "sonnet"})
    flag = AgentConfig.model_validate({"adapter": "claude", "extra_args": ["--model", "sonnet"]})
    for config in (pinned, flag):
        assert judge_identity("j", config, {"HOME": str(home)})["model_files"] == {}
    assert judge_identity("j", AgentConfig.model_validate({"adapter": "claude"}),
                          {"HOME": str(home)})["model_files"].keys() == {f"{settings} model"}  # fmt: skip


def test_a_judge_given_its_own_home_is_held_to_that_homes_files(tmp_path: Path) -> None:
    theirs, ours = tmp_path / "judge-home", tmp_path / "home"
    for place, model in ((theirs, "opus"), (ours, "haiku")):
        (place / ".claude").mkdir(parents=True)
        (place / ".claude" / "settings.json").write_text(json.dumps({"model": model}))
    config = AgentConfig.model_validate({"adapter": "claude", "set_env": {"HOME": str(theirs)}})
    assert list(judge_identity("j", config, {"HOME": str(ours)})["model_files"]) == [
        f"{theirs / '.claude' / 'settings.json'} model"]


def identity_files(adapter: str, home: Path, project: dict[str, str] | None = None,
                   **more: object) -> dict[str, str]:  # fmt: skip
    config = AgentConfig.model_validate({"adapter": adapter, **more})
    files: dict[str, str] = judge_identity("j", config, {"HOME": str(home)}, project=project)["model_files"]
    return files


def test_codex_config_its_profile_and_the_profiles_model_are_the_judges(tmp_path: Path) -> None:
    codex = tmp_path / ".codex"
    codex.mkdir()
    config = codex / "config.toml"
    config.write_text('model = "gpt-5"\nprofile = "deep"\n[profiles.deep]\nmodel = "gpt-5-pro"\n')
    (codex / "deep.config.toml").write_text('model = "gpt-5.5"\n')
    then = identity_files("codex", tmp_path)
    assert set(then) == {f"{config} model", f"{config} profile", f"{config} profiles.deep.model",
                         f"{codex / 'deep.config.toml'} model"}  # fmt: skip
    config.write_text('model = "gpt-5"\nprofile = "deep"\n[profiles.deep]\nmodel = "gpt-5-mini"\n')
    assert identity_files("codex", tmp_path)[f"{config} profiles.deep.model"] != then[f"{config} profiles.deep.model"]
    # --profile in extra_args selects the profile (and is itself in the setup digest)
    (codex / "fast.config.toml").write_text('model = "gpt-5-mini"\n')
    chosen = identity_files("codex", tmp_path, extra_args=["--profile", "fast"])
    assert f"{codex / 'fast.config.toml'} model" in chosen
    assert f"{config} profile" not in chosen  # moot: the command line chooses the profile
    assert identity_files("codex", tmp_path, extra_args=["-c", "model=gpt-5"]) == {}


def test_gemini_aider_and_opencode_config_files_are_the_judges(tmp_path: Path) -> None:
    (tmp_path / ".gemini").mkdir()
    (tmp_path / ".gemini" / "settings.json").write_text('{"model": {"name": "gemini-2.5-pro"}}')
    assert list(identity_files("gemini", tmp_path, {".gemini/settings.json": '{"model": "gemini-2.5-flash"}'})) == [
        f"{tmp_path / '.gemini' / 'settings.json'} model.name", "HEAD:.gemini/settings.json model"]
    (tmp_path / ".aider.conf.yml").write_text("dark-mode: true\nmodel: sonnet\n")
    aider = identity_files("aider", tmp_path, {".env": "AIDER_MODEL=gpt-4o\nOPENAI_API_KEY=sk-x\n"})
    assert list(aider) == [f"{tmp_path / '.aider.conf.yml'} model", "HEAD:.env AIDER_MODEL"]
    (tmp_path / ".config" / "opencode").mkdir(parents=True)
    (tmp_path / ".config" / "opencode" / "opencode.jsonc").write_text(
        '{\n  // the default\n  "model": "anthropic/claude-sonnet-4-5",\n}\n')
    assert list(identity_files("opencode", tmp_path)) == [
        f"{tmp_path / '.config' / 'opencode' / 'opencode.jsonc'} model"]


def test_a_verdict_recorded_before_config_files_were_is_judged_as_before(tmp_path: Path, home: Path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"model": "opus"}')
    root, verdict, labels = calibrated_with_claude(tmp_path)
    old = json.loads(verdict.read_text())
    del old["judged"]["judge"]["model_files"]  # as the previous launcher wrote it
    verdict.write_text(json.dumps(old))
    settings.write_text('{"model": "haiku"}')  # not recorded then: not compared
    done = gate(root, verdict, labels)
    assert done.returncode == 0, said(done)


def test_model_in_extra_args_is_not_the_judge_model_names_and_a_profile_flag_is_part_of_the_setup() -> None:
    # `--model X` in extra_args runs differently from `model = "X"`: the launcher passes the
    # provider key of `model` only (aider, opencode) and puts its flag before extra_args
    for adapter in ("claude", "aider"):
        named = judge_identity("j", AgentConfig.model_validate({"adapter": adapter, "model": "x"}), {})
        flagged = judge_identity("j", AgentConfig.model_validate({"adapter": adapter, "extra_args": ["--model", "x"]}),
                                 {})  # fmt: skip
        assert (named["model"], flagged["model"]) == ("x", None)
        assert named["setup_sha256"] != flagged["setup_sha256"]
    plain = judge_identity("j", AgentConfig.model_validate({"adapter": "codex"}), {})
    for args in (["--profile", "fast"], ["-c", "model=gpt-5"]):
        given = judge_identity("j", AgentConfig.model_validate({"adapter": "codex", "extra_args": args}), {})
        assert given["setup_sha256"] != plain["setup_sha256"]


# (adapter, its config file: inside HOME, or "HEAD:" and a file committed in the repository, the
# text naming model A, the text naming model B): each CLI's fake answers every survivor genuine,
# a judge the gate fails (exit 1) on this set; a switched model is refused (exit 2) instead.
SWITCHES = [
    ("codex", ".codex/config.toml", 'profile = "deep"\n[profiles.deep]\nmodel = "gpt-5-pro"\n',
     'profile = "deep"\n[profiles.deep]\nmodel = "gpt-5-mini"\n', "profiles.deep.model"),
    ("gemini", ".gemini/settings.json", '{"model": {"name": "gemini-2.5-pro"}}',
     '{"model": {"name": "gemini-2.5-flash"}}', "model.name"),
    ("opencode", ".config/opencode/opencode.json", '{"model": "anthropic/claude-opus-4"}',
     '{"model": "anthropic/claude-haiku-4"}', "model"),
    ("aider", "HEAD:.aider.conf.yml", "model: sonnet\n", "model: haiku\n", "model"),
]  # fmt: skip


@pytest.mark.parametrize(("adapter", "where", "first", "second", "key"), SWITCHES)
def test_a_model_switched_in_each_clis_config_file_refuses_the_calibration(
    tmp_path: Path, home: Path, adapter: str, where: str, first: str, second: str, key: str
) -> None:
    labels = labelled_set(tmp_path / "set.json", 15, 8)
    root = repo_with_claude_judge(tmp_path, tmp_path / "unused.json")
    (root / "launcher.toml").write_text(f'[agents.j]\nadapter = "{adapter}"\nset_env = {{ FAKE_MODE = "review" }}\n')
    in_repo = where.startswith("HEAD:")
    path = root / where.removeprefix("HEAD:") if in_repo else home / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(first)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the judge")
    done = launcher(root, "mutation", "judge", "--calibrate", "--calibration", str(labels), "--agent", "j",
                    "--confirm-judge", timeout=300)  # fmt: skip
    assert "calibration gate: fail" in done.stdout, said(done)
    verdict = next((root / ".launcher" / "calibration").glob("*/verdict.json"))
    name = where if in_repo else str(path)
    assert f"{name} {key}" in json.loads(verdict.read_text())["judged"]["judge"]["model_files"]
    same = gate(root, verdict, labels)
    assert same.returncode == 1 and "calibration gate: fail" in same.stdout, said(same)
    path.write_text(second)
    if in_repo:
        git(root, "commit", "-qam", "another model")
    changed = gate(root, verdict, labels)
    assert changed.returncode == 2, said(changed)
    assert f"model from its CLI's config files ({name} {key}: another value then, this one now)" in said(changed)


def test_a_settings_file_linked_from_dotfiles_is_read_and_a_fifo_never_blocks(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "claude-settings.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text('{"model": "opus"}')
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").symlink_to(dotfiles)
    assert list(identity_files("claude", tmp_path)) == [f"{tmp_path / '.claude' / 'settings.json'} model"]
    (tmp_path / ".claude" / "settings.json").unlink()
    os.mkfifo(tmp_path / ".claude" / "settings.json")  # opened, it would wait for a writer for ever
    assert identity_files("claude", tmp_path) == {}


def test_a_config_file_that_cannot_be_parsed_counts_whole(tmp_path: Path) -> None:
    (tmp_path / ".aider.conf.yml").write_text("model: [sonnet\n")
    then = identity_files("aider", tmp_path)
    assert list(then) == [f"{tmp_path / '.aider.conf.yml'} (the whole file: it cannot be parsed)"]
    (tmp_path / ".aider.conf.yml").write_text("model: [haiku\n")
    assert identity_files("aider", tmp_path) != then


def test_a_settings_file_named_in_claudes_extra_args_is_the_judges(tmp_path: Path) -> None:
    named = tmp_path / "judge-settings.json"
    named.write_text('{"model": "opus"}')
    given = identity_files("claude", tmp_path, {"ci/settings.json": '{"model": "haiku"}'},
                           extra_args=["--settings", str(named)])  # fmt: skip
    assert list(given) == [f"{named} model"]
    relative = identity_files("claude", tmp_path, {"ci/settings.json": '{"model": "haiku"}'},
                              extra_args=["--settings", "ci/settings.json"])  # fmt: skip
    assert list(relative) == ["HEAD:ci/settings.json model"]
    inline = AgentConfig.model_validate({"adapter": "claude", "extra_args": ["--settings", '{"model": "opus"}']})
    assert project_paths(inline, {}) == [".claude/settings.json", ".claude/settings.local.json"]


def test_a_model_of_another_type_than_text_is_recorded_without_a_crash(tmp_path: Path) -> None:
    (tmp_path / ".aider.conf.yml").write_text("model: 2024-01-01\n")
    assert list(identity_files("aider", tmp_path)) == [f"{tmp_path / '.aider.conf.yml'} model"]
    (tmp_path / ".aider.conf.yml").write_text("model: {1: a, b: c}\n")
    assert list(identity_files("aider", tmp_path)) == [f"{tmp_path / '.aider.conf.yml'} model"]
