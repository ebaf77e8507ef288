"""What each adapter does with the `[agents.*]` keys that restrict an agent. A permission_mode an
adapter does not know is refused when the plan or launcher.toml is read, never replaced (gemini
turned any unknown value into `yolo`, its widest mode; codex into `workspace-write`), and an agent
limit an adapter cannot enforce (`max_turns`, `budget_usd`) is said at the run's start.

How each adapter's modes reach its program (checked against each CLI's documentation):
- claude: `--permission-mode MODE`, the value as given (Claude Code validates it itself and lists
  its own: default (alias manual), acceptEdits (the launcher's default), plan, auto, dontAsk,
  bypassPermissions; newer versions may add more). bypassPermissions as root also sets IS_SANDBOX=1.
- codex: `codex exec` never stops to ask for approval (its approval policy is `never`), so the
  mode is the sandbox: `--sandbox read-only|workspace-write|danger-full-access` (default
  workspace-write); `bypassPermissions` is `--dangerously-bypass-approvals-and-sandbox`. Its
  approval policies (untrusted, on-failure, on-request, never) are not modes here: refused.
- gemini: `--approval-mode default|auto_edit|yolo|plan` (default yolo: a headless run has no one
  to approve a tool; plan is Gemini CLI's read-only Plan Mode).
- opencode: `opencode run` has no such option; OPENCODE_PERMISSION (unless the agent's env sets
  it) allows edit, bash and webfetch for allow/bypassPermissions, edit for acceptEdits; default
  leaves opencode's own configuration (what would ask is rejected in `run` mode).
- acp: the launcher answers the agent's permission requests: allowed for allow, acceptEdits and
  bypassPermissions, rejected for default.
- aider (`--yes-always`, its shell commands never run), command and the scripted agents: none.
"""

from __future__ import annotations

# None: passed to the CLI as given, which checks it itself (Claude Code's --permission-mode).
# An adapter not listed takes no permission_mode at all.
PERMISSION_MODES: dict[str, tuple[str, ...] | None] = {
    "claude": None,
    "codex": ("read-only", "workspace-write", "danger-full-access", "bypassPermissions"),
    "gemini": ("default", "auto_edit", "yolo", "plan"),
    # "default": opencode's own configuration applies / ACP permission requests are rejected
    "opencode": ("default", "allow", "acceptEdits", "bypassPermissions"),
    "acp": ("default", "allow", "acceptEdits", "bypassPermissions"),
}
# The adapters that enforce an agent's max_turns and budget_usd (and a task's budget_usd).
ENFORCES_LIMITS = ("claude",)

# A value another CLI (or this CLI elsewhere) spells differently: what the adapter calls it.
_SPELT_OTHERWISE: dict[str, dict[str, str]] = {
    "gemini": {"auto-edit": "auto_edit", "autoEdit": "auto_edit", "acceptEdits": "auto_edit",
               "bypassPermissions": "yolo", "read-only": "plan"},
    "codex": {"acceptEdits": "workspace-write", "auto": "workspace-write", "full-auto": "workspace-write",
              "plan": "read-only", "yolo": "bypassPermissions", "auto_edit": "workspace-write"},
    "opencode": {"yolo": "bypassPermissions", "auto_edit": "acceptEdits"},
    "acp": {"yolo": "bypassPermissions", "auto_edit": "acceptEdits"},
}
_CODEX_APPROVALS = ("untrusted", "on-failure", "on-request", "never")
_TAKE_MODES = ", ".join(a for a in PERMISSION_MODES)


def permission_mode_problem(adapter: str, mode: str) -> str | None:
    """Why `mode` is not a permission_mode of `adapter` (None: it is)."""
    if adapter not in PERMISSION_MODES:
        problem = (f"the {adapter} adapter has no permission modes, so permission_mode = {mode!r} would do "
                   "nothing: remove it (its program runs with what its own configuration allows)")
        if adapter == "command":
            problem += f", or set `adapter` to the agent CLI it is for ({_TAKE_MODES} take one)"
        return problem
    modes = PERMISSION_MODES[adapter]
    if modes is None or mode in modes:
        return None
    listed = ", ".join(repr(m) for m in modes)
    problem = f"{mode!r} is not a permission_mode of the {adapter} adapter: use one of {listed}"
    if adapter == "codex" and mode in _CODEX_APPROVALS:
        problem += (" (that is an approval policy: `codex exec` never stops to ask for approval, so the "
                    "permission_mode is its sandbox)")
    elif spelt := _SPELT_OTHERWISE.get(adapter, {}).get(mode):
        problem += f" ({adapter} calls it {spelt!r})"
    return problem
