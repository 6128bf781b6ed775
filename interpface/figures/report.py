"""A self-contained HTML report: sections of text, tables and plotly figures, plotly.js inlined once."""

from __future__ import annotations

import csv
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

__all__ = ["ReportSection", "render_report", "write_table_csv"]


@dataclass
class ReportSection:
    """A heading, a paragraph (plain text), figures (name -> figure) and tables (name -> rows)."""

    title: str
    text: str = ""
    figures: dict[str, go.Figure] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table_html(rows: list[dict]) -> str:
    if not rows:
        return "<p><em>(empty)</em></p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return f'<div class="tbl"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def render_report(title: str, sections: list[ReportSection], *, intro: str = "") -> str:
    """The whole report as one HTML string (no external resources: plotly.js is inlined once)."""
    from plotly.offline import get_plotlyjs

    parts = [f"<h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    toc = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>' for i, s in enumerate(sections))
    parts.append(f"<ul class='toc'>{toc}</ul>")
    for i, s in enumerate(sections):
        parts.append(f'<h2 id="s{i}">{html.escape(s.title)}</h2>')
        if s.text:
            parts.extend(f"<p>{html.escape(p)}</p>" for p in s.text.split("\n\n"))
        for name, rows in s.tables.items():
            parts.append(f"<h3>{html.escape(name)}</h3>{_table_html(rows)}")
        for name, fig in s.figures.items():
            parts.append(
                f'<div class="fig" id="fig-{html.escape(name)}">'
                + fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{name}")
                + "</div>"
            )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "th{background:#f3f3f3}.tbl{overflow-x:auto;margin-bottom:1em}.fig{margin:1em 0}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{style}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>" + "\n".join(parts) + "</body></html>"
    )


def write_table_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """Rows (dicts) -> CSV with the union of their keys as columns (first-seen order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: _fmt(r.get(c)) if isinstance(r.get(c), float) else r.get(c) for c in cols})
    return path
