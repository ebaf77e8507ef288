"""The judge prompt: the repository's `mutation/judge-prompt.md` when it has one, else the shipped one.

`launcher init` writes the shipped prompt to `mutation/judge-prompt.md` for the operator to edit
(DESIGN section 7.4: the prompt is part of the judge a calibration measures). That copy is what the
judge is given and what its identity digests, so an edit takes effect and a calibration of the old
prompt is refused by the gate (`judge_changed`). An unedited copy is the shipped text: the same
digest, nothing to re-calibrate.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from launcher.errors import ConfigError

REPO_PROMPT = Path("mutation") / "judge-prompt.md"
MAX_PROMPT_BYTES = 1024 * 1024  # a prompt, not a document: a bigger file is a mistake


def shipped_prompt() -> str:
    return (resources.files("launcher") / "data" / "mutation" / "judge-prompt.md").read_text(encoding="utf-8")


def judge_prompt(repo_root: Path | None) -> str:
    """The prompt the judge is given in the repository at `repo_root` (None: the shipped one).
    ConfigError (exit 2) for a repository prompt that cannot be used, naming the file and the fix."""
    if repo_root is None:
        return shipped_prompt()
    path = repo_root / REPO_PROMPT
    if not path.exists() and not path.is_symlink():
        return shipped_prompt()
    fix = (f"make {REPO_PROMPT} a UTF-8 text file with the judge's instructions, or delete it to use the "
           "shipped prompt")  # fmt: skip
    if not path.is_file():
        raise ConfigError("the judge prompt is not a regular file (a dangling link, a directory or a device)",
                          where=str(path), fix=fix, error_key="judge_prompt_invalid")  # fmt: skip
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_PROMPT_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"the judge prompt cannot be read ({exc.strerror or exc})", where=str(path), fix=fix,
                          error_key="judge_prompt_invalid") from exc  # fmt: skip
    if len(data) > MAX_PROMPT_BYTES:
        raise ConfigError(f"the judge prompt is over {MAX_PROMPT_BYTES // 1024} KiB", where=str(path), fix=fix,
                          error_key="judge_prompt_invalid")  # fmt: skip
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the judge prompt is not UTF-8 (byte {exc.start})", where=str(path), fix=fix,
                          error_key="judge_prompt_invalid") from exc  # fmt: skip
    if not text.strip():
        raise ConfigError("the judge prompt is empty", where=str(path), fix=fix,
                          error_key="judge_prompt_invalid")  # fmt: skip
    return text
