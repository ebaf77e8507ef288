"""Keyword analysis of a task description: the domains it touches, the specialist roles they
route to, its complexity, and the templates it fits (ranked, with the words that matched)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from launcher.models.workflow import WorkflowTemplate

# domain -> (keywords, roles it routes to); a keyword may be a phrase
DOMAINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "security": (("security", "secure", "vulnerability", "vulnerabilities", "cve", "xss", "csrf", "injection",
                  "auth", "authentication", "authorization", "secret", "secrets", "encryption", "owasp", "audit",
                  "permission", "permissions", "token"), ("security-expert",)),
    "database": (("database", "db", "schema", "migration", "migrate", "sql", "table", "column", "index",
                  "postgres", "mysql", "sqlite", "query", "queries"), ("database-expert",)),
    "api": (("api", "endpoint", "endpoints", "rest", "graphql", "route", "routes", "webhook", "http"), ("api-expert",)),
    "frontend": (("ui", "frontend", "page", "component", "css", "react", "vue", "button", "form", "screen",
                  "layout", "ux", "design system"), ("frontend-expert", "ui-ux-expert")),
    "backend": (("backend", "server", "service", "handler", "worker", "queue", "cache", "caching", "logic"),
                ("backend-expert",)),
    "testing": (("test", "tests", "testing", "coverage", "qa", "regression", "flaky"), ("testing-expert",)),
    "performance": (("performance", "slow", "latency", "optimize", "optimise", "profile", "profiling", "speed",
                     "faster", "memory", "throughput", "bottleneck", "benchmark"), ("performance-expert",)),
    "devops": (("deploy", "deployment", "ci", "docker", "kubernetes", "k8s", "pipeline", "infrastructure",
                "terraform", "helm", "monitoring", "logging"), ("devops-expert",)),
    "docs": (("docs", "documentation", "readme", "guide", "tutorial", "changelog"), ("docs-expert",)),
    "architecture": (("architecture", "refactor", "refactoring", "modular", "design", "structure", "scalability"),
                     ("architecture-expert",)),
    "business": (("launch", "fundraising", "investor", "investors", "growth", "retention", "enterprise", "sales",
                  "marketing", "pricing", "customers"), ("product-expert",)),
}
SUGGEST_THRESHOLD = 2.0  # a template needs this score for `plan` to pick it without --workflow


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9][a-z0-9+-]*", text.lower())) + " "


def _hits(normalized: str, keywords: tuple[str, ...] | list[str]) -> list[str]:
    return [k for k in keywords if f" {' '.join(re.findall(r'[a-z0-9][a-z0-9+-]*', k.lower()))} " in normalized]


@dataclass
class Analysis:
    domains: dict[str, list[str]]  # domain -> keywords found
    roles: list[str]
    complexity: str
    words: int

    def as_dict(self) -> dict[str, Any]:
        return {"domains": [{"domain": d, "keywords": k} for d, k in self.domains.items()],
                "roles": self.roles, "complexity": self.complexity, "words": self.words}


def analyze(context: str) -> Analysis:
    normalized = _words(context)
    domains = {d: hits for d, (keys, _) in DOMAINS.items() if (hits := _hits(normalized, keys))}
    roles: list[str] = []
    for domain in domains:
        roles.extend(r for r in DOMAINS[domain][1] if r not in roles)
    words = len(normalized.split())
    score = len(domains) + words / 40
    complexity = "high" if score >= 4 else "medium" if score >= 2 else "low"
    return Analysis(domains, roles, complexity, words)


def suggest(context: str, templates: dict[str, WorkflowTemplate]) -> list[dict[str, Any]]:
    """Templates ranked by score: one point per keyword found, one more when the template's
    own name (or its category) is said; only templates that matched something."""
    normalized = _words(context)
    ranked: list[dict[str, Any]] = []
    for template in templates.values():
        matched = _hits(normalized, template.keywords)
        named = _hits(normalized, [template.name.replace("-", " "), template.category])
        score = float(len(matched) + len(named))
        if score <= 0:
            continue
        why = []
        if matched:
            why.append(f"keywords: {', '.join(matched)}")
        if named:
            why.append(f"names: {', '.join(named)}")
        ranked.append({"workflow": template.name, "score": score, "category": template.category,
                       "why": "; ".join(why), "description": template.description})
    ranked.sort(key=lambda r: (-r["score"], r["workflow"]))
    return ranked
