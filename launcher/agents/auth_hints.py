"""How to fix a CLI's refused login: appended to the API error a CLI reports when its credentials are
missing, expired or refused, so the user reads what to do rather than a bare "401".

What the real CLIs print (their own wording, checked against their issue trackers):
- Claude Code, in `result` of an `is_error` result: "Not logged in · Please run /login", "Invalid
  API key · Please run /login", "OAuth token has expired. Please obtain a new token or refresh your
  existing token.", "OAuth token revoked · Please run /login", `API Error: 401 {"type":"error",
  "error":{"type":"authentication_error",...}}`.
- Codex, in `turn.failed`: "unexpected status 401 Unauthorized: Missing bearer or basic
  authentication in header" (no login), "...: Incorrect API key provided" (a bad key), "Your
  access token could not be refreshed ... Please log out and sign in again" (an expired login).
- opencode, in an `error` event: `ProviderAuthError` (its provider has no key), or an `APIError`
  whose message says 401 / unauthorized / invalid api key.
- aider, on stdout (exit 0): `litellm.AuthenticationError: ...` and "The API provider is not able
  to authenticate you. Check your API key."
A rate limit (429) or an exhausted quota is no login problem: those get no hint.
"""

from __future__ import annotations

import re

_REFUSED = re.compile(
    r"(not logged in|please run /login|\blog ?(?:out|in) and sign in again|sign in again|invalid api key|"
    r"incorrect api key|invalid[ _-]x-api-key|invalid_api_key|authentication_error|oauth token (?:has expired|"
    r"revoked|expired)|access token could not be refreshed|refresh token|missing bearer|\b401\b|unauthori[sz]ed|"
    r"ProviderAuthError|AuthenticationError|not able to authenticate you)",
    re.IGNORECASE,
)


def login_refused(message: str) -> bool:
    """Whether a CLI's error says its login or API key is missing or was refused."""
    return bool(_REFUSED.search(message))


def with_login_hint(message: str, fix: str) -> str:
    """`message`, with `fix` (how to log this CLI in for the launcher) when it is a refused login."""
    return f"{message}; {fix}" if login_refused(message) and fix not in message else message


def claude_fix(agent: str) -> str:
    return (f"run `claude` once on this machine to log in, or name ANTHROPIC_API_KEY in env = [...] of "
            f"[agents.{agent}]")


def codex_fix(agent: str) -> str:
    return (f"run `codex login` on this machine, or name CODEX_API_KEY (an OpenAI API key) in env = [...] "
            f"of [agents.{agent}]")


def provider_key_fix(agent: str, model: str | None, also: str = "") -> str:
    """aider and opencode get the API key of their model's provider only (provider_keys)."""
    return (f"set the API key of the provider of model = {model or '(none)'!r} (e.g. ANTHROPIC_API_KEY) "
            f"in the launcher's environment, or name it in env = [...] of [agents.{agent}]{also}")


def opencode_fix(agent: str, model: str | None) -> str:
    return provider_key_fix(agent, model, ", or run `opencode auth login`")
