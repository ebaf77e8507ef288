"""Which provider's API key a multi-provider CLI (aider, opencode) gets without being told.

The parent environment reaches an agent through an allowlist plus what its config names in
`env` (README, "What an agent gets"). A CLI built for one vendor (Claude Code, Codex, Gemini)
also gets that vendor's own login variables. aider and opencode talk to any provider, so they
get the API key of ONE provider only: the provider of the agent's `model` (`anthropic/...`,
`openai/...`, or an alias such as `sonnet` or `gpt-4o`). Without a model, or for a provider not
listed here, they get no key: the user names it in `env`. A token that is not a model
provider's key (GITHUB_TOKEN, cloud secrets, anything else) is never passed unless named.
"""

from __future__ import annotations

# The variables each provider's key (and, for the clouds, its account settings) is read from.
PROVIDER_VARIABLES: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY",),
    "google": ("GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "azure": ("AZURE_API_KEY",),
    "bedrock": ("AWS_REGION", "AWS_PROFILE"),
    "amazon-bedrock": ("AWS_REGION", "AWS_PROFILE"),
    "vertex_ai": ("GOOGLE_APPLICATION_CREDENTIALS", "VERTEXAI_PROJECT", "VERTEXAI_LOCATION"),
    "google-vertex": ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"),
}

# aider's own model aliases (aider/models.py MODEL_ALIASES) -> the model each stands for, whose
# provider is then read as for any name: `4-turbo` is OpenAI's, `quasar` OpenRouter's.
_AIDER_ALIASES = {
    "sonnet": "anthropic/claude-sonnet-4-20250514",
    "haiku": "claude-3-5-haiku-20241022",
    "opus": "claude-opus-4-20250514",
    "4": "gpt-4-0613",
    "4o": "gpt-4o",
    "4-turbo": "gpt-4-1106-preview",
    "35turbo": "gpt-3.5-turbo",
    "35-turbo": "gpt-3.5-turbo",
    "3": "gpt-3.5-turbo",
    "deepseek": "deepseek/deepseek-chat",
    "flash": "gemini/gemini-2.5-flash",
    "flash-lite": "gemini/gemini-2.5-flash-lite",
    "quasar": "openrouter/openrouter/quasar-alpha",
    "r1": "deepseek/deepseek-reasoner",
    "gemini-2.5-pro": "gemini/gemini-2.5-pro",
    "gemini-3-pro-preview": "gemini/gemini-3-pro-preview",
    "gemini": "gemini/gemini-3-pro-preview",
    "gemini-exp": "gemini/gemini-2.5-pro-exp-03-25",
    "grok3": "xai/grok-3-beta",
    "optimus": "openrouter/openrouter/optimus-alpha",
}

# Model names given without a provider (bare names), by their first word.
_BARE_PREFIXES = (
    (("claude", "sonnet", "haiku", "opus"), "anthropic"),
    (("gpt", "o1", "o3", "o4", "chatgpt", "4o"), "openai"),
    (("gemini", "flash"), "gemini"),
    (("deepseek", "r1"), "deepseek"),
    (("grok",), "xai"),
    (("mistral", "codestral"), "mistral"),
)


def provider_of(model: str | None) -> str | None:
    """The provider a model name designates (`anthropic/claude-sonnet-4` -> anthropic,
    `sonnet` -> anthropic, `4-turbo` -> openai, `quasar` -> openrouter); None when it cannot be
    told."""
    if not model or not model.strip():
        return None
    name = model.strip().lower()
    name = _AIDER_ALIASES.get(name, name)
    if "/" in name:
        provider = name.split("/", 1)[0]
        return provider if provider in PROVIDER_VARIABLES else None
    for prefixes, provider in _BARE_PREFIXES:
        if name.startswith(prefixes):
            return provider
    return None


def model_provider_keys(model: str | None) -> tuple[str, ...]:
    """The parent variables holding the key of `model`'s provider (none when it is unknown)."""
    provider = provider_of(model)
    return PROVIDER_VARIABLES.get(provider, ()) if provider else ()
