"""A self-contained HTML page for a Stryker report (DESIGN 9): no network, no external assets.

Everything is rendered here, escaped with `html.escape`, so the page reads fine with scripts off;
the report JSON is embedded too (`<script type="application/json" id="mutation-report">`, with
`<`, `>` and `&` escaped so no string can close the tag) and a few lines of JS filter by status.
A Content-Security-Policy forbids every fetch, so even a URL inside the source never loads.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from launcher.mutation.report_coords import char_index, viewer_lines
from launcher.mutation.report_stryker import STATUSES, THRESHOLDS, score

# Most notable first: a line shows the first of these among the mutants touching it.
ATTENTION = ("Survived", "NoCoverage", "Pending", "RuntimeError", "CompileError", "Timeout", "Killed", "Ignored")
UNDETECTED = ("Survived", "NoCoverage")

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#1b1f24}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;text-align:left;vertical-align:top}
.grid td,.grid th{border-bottom:1px solid #e3e3e3}.num{text-align:right}
code,pre,.src td.code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.src{width:100%;tab-size:4}.src td{padding:0 6px}.src td.ln{color:#888;text-align:right;user-select:none;width:3em}
.src td.code{white-space:pre}.src tr.line-Survived{background:#fde8e8}.src tr.line-NoCoverage{background:#fff1dc}
.src tr.line-Killed{background:#eefaf0}.src tr.line-Timeout{background:#f6f7e3}
mark{background:none;border-bottom:2px solid;color:inherit}
.s-Killed{color:#116329;border-color:#2da44e}.s-Survived{color:#b4171b;border-color:#cf222e}
.s-NoCoverage{color:#9a5b00;border-color:#d4a72c}.s-Timeout{color:#6f6a00;border-color:#9a9a00}
.s-CompileError,.s-RuntimeError,.s-Ignored{color:#57606a;border-color:#8c959f}.s-Pending{color:#0550ae;border-color:#218bff}
.src mark{color:inherit}
details.mutant{display:inline-block;margin:1px 4px 1px 0;vertical-align:top;white-space:normal}
details.mutant summary{cursor:pointer;font-size:12px;border:1px solid;border-radius:3px;padding:0 4px}
details.mutant[open]{display:block;background:#f6f8fa;border:1px solid #d0d7de;padding:4px 8px;margin:2px 0}
.diff .del{color:#b4171b}.diff .add{color:#116329}.score-high{color:#116329}.score-mid{color:#9a5b00}
.score-low{color:#b4171b}.hidden{display:none!important}#filters label{margin-right:1em}.muted{color:#666}
"""

_JS = """
(function(){
  var boxes=document.querySelectorAll('#filters input[data-status]');
  function apply(){
    var off={};boxes.forEach(function(b){if(!b.checked){off[b.dataset.status]=1;}});
    document.querySelectorAll('[data-status]').forEach(function(el){
      if(el.tagName!=='INPUT'){el.classList.toggle('hidden',!!off[el.dataset.status]);}
    });
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  var data=JSON.parse(document.getElementById('mutation-report').textContent);
  window.mutationReport=data;
  if(location.hash){var t=document.getElementById(location.hash.slice(1));
    if(t&&t.tagName==='DETAILS'){t.open=true;}}
  document.querySelectorAll('a[href^="#m-"]').forEach(function(a){a.addEventListener('click',function(){
    var t=document.getElementById(a.getAttribute('href').slice(1));if(t){t.open=true;}});});
})();
"""


def embed_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `</script>`, `<!--` or line separators can appear."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw in ("&", "<", ">", "\u2028", "\u2029"):
        text = text.replace(raw, f"\\u{ord(raw):04x}")
    return text


def anchor(mutant_id: str) -> str:
    return "m-" + re.sub(r"[^A-Za-z0-9_-]", "_", mutant_id)


def _score_cell(value: float | None, thresholds: Mapping[str, int]) -> str:
    if value is None:
        return '<td class="num muted">n/a</td>'
    level = "high" if value >= thresholds["high"] else "mid" if value >= thresholds["low"] else "low"
    return f'<td class="num score-{level}">{value:.1f}%</td>'


def orig_and_mut(lines: list[str], mutant: Mapping[str, Any]) -> tuple[str, str]:
    """The whole lines a mutant touches, before and after it (report positions: `report_coords`)."""
    start, end = mutant["location"]["start"], mutant["location"]["end"]
    if not lines or end["line"] > len(lines):
        return "", str(mutant.get("replacement", ""))
    first, last = lines[start["line"] - 1], lines[end["line"] - 1]
    orig = "\n".join(lines[start["line"] - 1 : end["line"]])
    replacement = str(mutant.get("replacement", ""))
    mut = first[: char_index(first, start["column"])] + replacement + last[char_index(last, end["column"]) :]
    return orig, mut


def _worst(statuses: Iterable[str]) -> str | None:
    present = set(statuses)
    return next((s for s in ATTENTION if s in present), None)


def _marked_line(text: str, number: int, mutants: list[Mapping[str, Any]]) -> str:
    """One source line, each mutated span wrapped in <mark> coloured by its most notable status."""
    spans: list[tuple[int, int, str]] = []
    for m in mutants:
        start, end = m["location"]["start"], m["location"]["end"]
        lo = char_index(text, start["column"]) if start["line"] == number else 0
        hi = char_index(text, end["column"]) if end["line"] == number else len(text)
        lo, hi = max(0, min(lo, len(text))), max(0, min(hi, len(text)))
        if hi > lo:
            spans.append((lo, hi, m["status"]))
    cuts = sorted({0, len(text), *(p for lo, hi, _ in spans for p in (lo, hi))})
    out = []
    for a, b in itertools.pairwise(cuts):
        piece = escape(text[a:b])
        status = _worst(s for lo, hi, s in spans if lo <= a and b <= hi)
        out.append(f'<mark class="s-{status}">{piece}</mark>' if status else piece)
    return "".join(out)


def _mutant_details(m: Mapping[str, Any], lines: list[str]) -> str:
    orig, mut = orig_and_mut(lines, m)
    status = escape(m["status"])
    diff = "".join(f'<span class="del">- {escape(x)}</span>\n' for x in orig.split("\n") if orig) + "".join(
        f'<span class="add">+ {escape(x)}</span>\n' for x in mut.split("\n")
    )
    facts = [f"<b>{status}</b> · {escape(str(m['mutatorName']))} · id <code>{escape(str(m['id']))}</code>"]
    for key, label in (("description", "why"), ("statusReason", "result")):
        if m.get(key):
            facts.append(f"{label}: {escape(str(m[key]))}")
    for key, label in (("killedBy", "killed by"), ("coveredBy", "covered by")):
        if m.get(key):
            facts.append(f"{label}: " + ", ".join(f"<code>{escape(str(t))}</code>" for t in m[key]))
    return (
        f'<details class="mutant" id="{anchor(str(m["id"]))}" data-status="{status}">'
        f'<summary class="s-{status}">{status} {escape(str(m["mutatorName"]))}</summary>'
        f'<pre class="diff">{diff}</pre>' + "<br>".join(facts) + "</details>"
    )


def _file_section(number: int, path: str, file: Mapping[str, Any]) -> str:
    lines = viewer_lines(str(file.get("source", "")))
    mutants = list(file.get("mutants", []))
    parts = [f'<section id="f{number}"><h2>{escape(path)}</h2>']
    if not lines:
        parts.append('<p class="muted">source not available</p><p>')
        parts += [_mutant_details(m, lines) for m in mutants]
        return "".join(parts) + "</p></section>"
    by_start: dict[int, list[Mapping[str, Any]]] = {}
    touching: dict[int, list[Mapping[str, Any]]] = {}
    for m in mutants:
        start, end = m["location"]["start"]["line"], m["location"]["end"]["line"]
        by_start.setdefault(min(start, len(lines)), []).append(m)
        for n in range(start, min(end, len(lines)) + 1):
            touching.setdefault(n, []).append(m)
    parts.append('<table class="src">')
    for n, text in enumerate(lines, 1):
        here = touching.get(n, [])
        worst = _worst(m["status"] for m in here)
        cls = f' class="line-{worst}"' if worst else ""
        parts.append(f'<tr{cls}><td class="ln">{n}</td><td class="code">{_marked_line(text, n, here)}</td></tr>')
        if n in by_start:
            badges = "".join(_mutant_details(m, lines) for m in by_start[n])
            parts.append(f'<tr><td class="ln"></td><td>{badges}</td></tr>')
    return "".join(parts) + "</table></section>"


def _survivor_row(path: str, m: Mapping[str, Any], lines: list[str]) -> str:
    orig, mut = orig_and_mut(lines, m)
    status = escape(str(m["status"]))
    return (
        f'<tr data-status="{status}"><td class="s-{status}">{status}</td>'
        f'<td><a href="#{anchor(str(m["id"]))}">{escape(path)}:{m["location"]["start"]["line"]}</a></td>'
        f"<td>{escape(str(m['mutatorName']))}</td><td><code>{escape(orig)}</code></td>"
        f"<td><code>{escape(mut)}</code></td><td>{escape(str(m.get('description', '')))}</td>"
        f"<td><code>{escape(str(m['id']))}</code></td></tr>"
    )


def _header(title: str, config: Mapping[str, Any], everything: Counter[str], thresholds: Mapping[str, int]) -> str:
    head = [f"<h1>{escape(title)}</h1><table>"]
    head.append(f"<tr><th>score</th>{_score_cell(score(everything.elements()), thresholds)}</tr>")
    for key in ("sweep_id", "base_sha", "test_cmd"):
        if config.get(key):
            head.append(f"<tr><th>{escape(key)}</th><td><code>{escape(str(config[key]))}</code></td></tr>")
    head.append(f"<tr><th>mutants</th><td>{sum(everything.values())}</td></tr></table>")
    return "".join(head)


def render_html(report: Mapping[str, Any], *, title: str = "Mutation testing report") -> str:
    """The page for a Stryker report dict (as `report_stryker.to_stryker` makes it)."""
    thresholds = {**THRESHOLDS, **report.get("thresholds", {})}
    files: Mapping[str, Any] = report.get("files", {})
    everything = Counter(str(m["status"]) for f in files.values() for m in f.get("mutants", []))
    shown = [s for s in STATUSES if everything[s]]
    filters = "".join(
        f'<label class="s-{s}"><input type="checkbox" checked data-status="{s}"> {s} ({everything[s]})</label>'
        for s in shown
    )
    table = ['<h2>Files</h2><table class="grid"><tr><th>file</th><th class="num">score</th>']
    table += [f'<th class="num s-{s}">{s}</th>' for s in shown] + ['<th class="num">total</th></tr>']
    sections, survivors = [], []
    for number, (path, file) in enumerate(files.items(), 1):
        counts = Counter(str(m["status"]) for m in file.get("mutants", []))
        cell = _score_cell(score(counts.elements()), thresholds)
        table.append(f'<tr><td><a href="#f{number}">{escape(path)}</a></td>{cell}')
        table += [f'<td class="num">{counts[s] or ""}</td>' for s in shown]
        table.append(f'<td class="num">{sum(counts.values())}</td></tr>')
        sections.append(_file_section(number, path, file))
        lines = viewer_lines(str(file.get("source", "")))
        survivors += [_survivor_row(path, m, lines) for m in file.get("mutants", []) if m["status"] in UNDETECTED]
    table.append("</table>")
    surv = ['<h2 id="survivors">Survivors</h2>']
    if survivors:
        surv.append(
            '<table class="grid"><tr><th>status</th><th>where</th><th>mutator</th><th>original</th>'
            "<th>mutated</th><th>why</th><th>id</th></tr>" + "".join(survivors) + "</table>"
        )
    else:
        surv.append('<p class="muted">none: every tested mutant was detected</p>')
    csp = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n"
        + _header(title, report.get("config", {}), everything, thresholds)
        + f'<p id="filters">{filters}</p>\n'
        + "".join(table)
        + "\n"
        + "".join(surv)
        + "\n"
        + "\n".join(sections)
        + f'\n<script type="application/json" id="mutation-report">{embed_json(report)}</script>\n'
        + f"<script>{_JS}</script>\n</body></html>\n"
    )
