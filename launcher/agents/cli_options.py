"""A CLI that refused an option of its command line: which option, and whose it was.

The adapters pass options of the CLIs' current versions (Claude Code's `--json-schema` and
`--max-budget-usd`, Gemini CLI's `--skip-trust`, Codex's `--output-schema`, ...); an older CLI
refuses them at start, and so does any CLI an unknown option of the agent's `extra_args`. Each
says so in its option parser's words, on stderr, and exits non-zero before any work:
- Claude Code (commander): `error: unknown option '--json-schema'`
- Codex (clap): `error: unexpected argument '--output-schema' found`
- Gemini CLI and opencode (yargs): `Unknown argument: skip-trust` / `Unknown arguments: a, b`
- aider (argparse): `aider: error: unrecognized arguments: --no-gitignore`
The round's "crashed" message then says whose option it is and what to do: fix the agent's
`extra_args`, or upgrade the CLI (`launcher agents` shows how to install it).
"""

from __future__ import annotations

import re

from launcher.agents.base import AgentOutcome, AgentRequest

_REFUSED = re.compile(
    r"^(?:error: unknown option '(?P<commander>-[^'\s]+)'"
    r"|error: unexpected argument '(?P<clap>-[^'\s]+)' found"
    r"|Unknown arguments?: (?P<yargs>[^\s,]+)"
    r"|\S+: error: unrecognized arguments: (?P<argparse>\S+))",
    re.MULTILINE,
)


def refused_option(output: str) -> str | None:
    """The first option an option parser refused in `output`, as given (`--x`), or None."""
    found = _REFUSED.search(output)
    if found is None:
        return None
    option = next(value for value in found.groupdict().values() if value)
    return option if option.startswith("-") else ("-" if len(option) == 1 else "--") + option


def with_option_hint(outcome: AgentOutcome, request: AgentRequest, cli: str, stderr: str, stdout: str) -> AgentOutcome:
    """A crashed round whose CLI refused an option of its command line, said with whose it is."""
    if outcome.ok or outcome.error_kind != "crashed":
        return outcome
    option = refused_option(stderr) or refused_option(stdout)
    if option is None:
        return outcome
    mine = any(arg == option or arg.startswith(option + "=") for arg in request.config.extra_args)
    if mine:
        fix = (f"{cli} does not know the option {option} of extra_args in [agents.{request.agent_name}]: "
               "remove or correct it")
    else:
        fix = (f"{cli} does not know the option {option} the launcher passes: this {cli} is older than "
               f"the launcher's {cli} adapter expects; upgrade it (`launcher agents` shows how)")
    outcome.message = f"{outcome.message}; {fix}"
    return outcome
