"""`mutation-report.html`: the report page mutation-testing users know (DESIGN 9).

Stryker, Stryker.NET and the PIT plugin share one viewer, the `mutation-testing-elements` web
component (npm, Apache-2.0), which reads the Stryker schema JSON a sweep writes. Its standalone
bundle ships in the package (`launcher/data/report/`, with its licence) and is inlined here, with
the report, so the page works offline from one file. The Content-Security-Policy forbids every
fetch. With scripts off the page points to `mutation-report-plain.html` (`report_html`), the
same report rendered without JavaScript.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from launcher.mutation.report_html import embed_json

BUNDLE_NAME = "mutation-test-elements.js"
BUNDLE_VERSION = "3.9.0"
PLAIN_FILE = "mutation-report-plain.html"
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; font-src data:"
_CLOSES_SCRIPT = re.compile(r"</?script", re.IGNORECASE)

_BIND = """
(function(){
  var app=document.querySelector('mutation-test-report-app');
  app.report=JSON.parse(document.getElementById('mutation-report').textContent);
  function background(){document.body.style.backgroundColor=app.themeBackgroundColor;}
  app.addEventListener('theme-changed',background);background();
})();
"""


@cache
def bundle() -> str:
    """The packaged viewer; it must never hold text that would end its inline <script> early."""
    text = resources.files("launcher").joinpath("data", "report", BUNDLE_NAME).read_text(encoding="utf-8")
    if _CLOSES_SCRIPT.search(text):
        raise ValueError(f"{BUNDLE_NAME} contains a <script tag: it cannot be inlined")
    return text


def render_elements_html(report: Mapping[str, Any], *, title: str = "Mutation testing report") -> str:
    """The page for a Stryker report dict: the viewer, the report as JSON, and the binding."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>\n'
        f"<!-- mutation-testing-elements {BUNDLE_VERSION} (Apache-2.0), inlined for offline use -->\n"
        f"<script>{bundle()}</script>\n</head><body>\n"
        f'<mutation-test-report-app title-postfix="{escape(title)}"></mutation-test-report-app>\n'
        f'<noscript>This report needs JavaScript; <a href="{PLAIN_FILE}">{PLAIN_FILE}</a> beside it is '
        "the same report without.</noscript>\n"
        f'<script type="application/json" id="mutation-report">{embed_json(report)}</script>\n'
        f"<script>{_BIND}</script>\n</body></html>\n"
    )
