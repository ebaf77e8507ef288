"""What each adapter does with the `[agents.*]` keys that restrict an agent. A permission_mode an
adapter does not know is refused when the plan or launcher.toml is read, never replaced (gemini
turned any unknown value into `yolo`, its widest mode; codex into `workspace-write`), and an agent
limit an adapter cannot enforce (`max_turns`, `budget_usd`) is said at the run's start."""

from __future__ import annotations

# None: passed to the CLI as given, which checks it itself (Claude Code's --permission-mode).
# An adapter not listed takes no permission_mode at all.
PERMISSION_MODES: dict[str, tuple[str, ...] | None] = {
    "claude": None,
    "codex": ("read-only", "workspace-write", "danger-full-access", "bypassPermissions"),
    "gemini": ("default", "auto_edit", "yolo"),
    # "default": opencode's own configuration applies / ACP permission requests are rejected
    "opencode": ("default", "allow", "acceptEdits", "bypassPermissions"),
    "acp": ("default", "allow", "acceptEdits", "bypassPermissions"),
}
# The adapters that enforce an agent's max_turns and budget_usd (and a task's budget_usd).
ENFORCES_LIMITS = ("claude",)


def permission_mode_problem(adapter: str, mode: str) -> str | None:
    """Why `mode` is not a permission_mode of `adapter` (None: it is)."""
    if adapter not in PERMISSION_MODES:
        return (f"the {adapter} adapter has no permission modes, so permission_mode = {mode!r} would do "
                "nothing: remove it (its program runs with what its own configuration allows)")
    modes = PERMISSION_MODES[adapter]
    if modes is None or mode in modes:
        return None
    listed = ", ".join(repr(m) for m in modes)
    return f"{mode!r} is not a permission_mode of the {adapter} adapter: use one of {listed}"
