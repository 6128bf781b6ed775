"""Figures of a failure analysis (interpface.evaluation.failures): the error rate of each slice with
its bootstrap interval against the whole set's, the embedding map of a dataset's faces, and a
self-contained HTML page with both galleries of mistakes."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "RATE_LABELS",
    "slice_label",
    "slice_figure",
    "embedding_map_figure",
    "failures_html",
    "png_data_uri",
]

RATE_LABELS = {"frr": "false reject rate", "far": "false accept rate"}
BEYOND = "#d62728"  # a slice whose interval leaves out the whole set's rate
WITHIN = "#1f77b4"
MISTAKE_COLORS = {"false accept": "#d62728", "false reject": "#ff7f0e", "both": "#9467bd", "none": "#c7c7c7"}


def slice_label(s: Mapping) -> str:
    """How a slice is named in charts and tables: "yaw = [12.1, 40.3]"."""
    return f"{s['column']} = {s['value']}"


def slice_figure(
    slices: Sequence[Mapping],
    rate: str = "frr",
    *,
    whole: float | None = None,
    whole_ci: Sequence[float] | None = None,
    top: int = 20,
    title: str | None = None,
) -> go.Figure:
    """The `top` slices with a rate, worst first (top of the chart): the slice's rate (percent) with its
    bootstrap interval, red when the whole set's rate (dashed line, shaded interval) lies outside it.
    slices: slice dicts of slice_rates (keys column, value, rate, rate_ci, rate_beyond, n_images, ...);
    customdata of each point is its label (a click selects the slice)."""
    if rate not in RATE_LABELS:
        raise ValueError(f"rate must be one of {', '.join(RATE_LABELS)}, got {rate!r}")
    rows = [s for s in slices if s.get(rate) is not None]
    rows = sorted(rows, key=lambda s: -s[rate])[:top][::-1]  # worst at the top of a horizontal chart
    labels = [slice_label(s) for s in rows]
    x = [100 * s[rate] for s in rows]
    lo = [100 * (s[rate] - s[f"{rate}_ci"][0]) if s.get(f"{rate}_ci") else 0 for s in rows]
    hi = [100 * (s[f"{rate}_ci"][1] - s[rate]) if s.get(f"{rate}_ci") else 0 for s in rows]
    colors = [BEYOND if s.get(f"{rate}_beyond") else WITHIN for s in rows]
    hover = [
        f"{html.escape(lab)}<br>{RATE_LABELS[rate]} {v:.1f}%"
        + (f" [{100 * s[f'{rate}_ci'][0]:.1f}, {100 * s[f'{rate}_ci'][1]:.1f}]" if s.get(f"{rate}_ci") else "")
        + (f"<br>{100 * s[f'{rate}_diff']:+.1f} points vs the whole set" if s.get(f"{rate}_diff") is not None else "")
        + f"<br>{s.get('n_images', 0):,} faces, {s.get('n_genuine', 0):,} genuine / {s.get('n_impostor', 0):,} impostor pairs"
        for lab, v, s in zip(labels, x, rows)
    ]
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=labels,
            mode="markers",
            marker={"color": colors, "size": 10},
            error_x={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo, "thickness": 2, "width": 4},
            customdata=labels,
            hovertext=hover,
            hoverinfo="text",
            name="slice",
            showlegend=False,
        )
    )
    if whole is not None:
        fig.add_vline(x=100 * whole, line_dash="dash", line_color="#444")
        if whole_ci:
            fig.add_vrect(x0=100 * whole_ci[0], x1=100 * whole_ci[1], fillcolor="#888", opacity=0.15, line_width=0)
        fig.add_annotation(
            x=100 * whole, y=1.0, yref="paper", text=f"whole set {100 * whole:.1f}%", showarrow=False, yanchor="bottom"
        )
    fig.update_layout(
        title=title or f"{RATE_LABELS[rate].capitalize()} per slice, worst first (95% bootstrap intervals)",
        xaxis_title=f"{RATE_LABELS[rate]} (%)",
        height=max(320, 28 * len(rows) + 140),
        margin={"l": 10, "r": 20, "t": 70, "b": 50},
        yaxis={"automargin": True},
        clickmode="event+select",
    )
    return fig


def embedding_map_figure(
    xy: np.ndarray,
    colour: Sequence,
    *,
    kind: str = "category",
    hover: Sequence[str] | None = None,
    title: str = "Embedding map",
    method: str = "",
) -> go.Figure:
    """A 2-D map of face embeddings. xy: (M, 2); colour: (M,) values — kind "category" (a legend
    entry per value, most frequent first; missing -> "unknown"), "identity" (a colour per person, no
    legend) or "mistake" ("false accept", "false reject", "both", "none"). customdata of every point
    is its position (0..M-1), for click and lasso selection."""
    xy = np.asarray(xy, np.float64)
    n = len(xy)
    hover = list(hover) if hover is not None else [str(i) for i in range(n)]
    vals = np.array(["unknown" if v is None or v == "" else str(v) for v in colour], dtype=object)
    fig = go.Figure()
    if kind == "identity":
        codes = np.unique(vals, return_inverse=True)[1]
        fig.add_trace(
            go.Scattergl(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="markers",
                marker={"color": codes, "colorscale": "Turbo", "size": 6, "opacity": 0.8},
                customdata=np.arange(n),
                hovertext=[f"{h}<br>{v}" for h, v in zip(hover, vals)],
                hoverinfo="text",
                showlegend=False,
            )
        )
    else:
        if kind == "mistake":
            order = [v for v in ("none", "false reject", "false accept", "both") if (vals == v).any()]
        else:
            cats, counts = np.unique(vals, return_counts=True)
            order = [c for c in cats[np.argsort(-counts, kind="stable")] if c != "unknown"] + (
                ["unknown"] if (vals == "unknown").any() else []
            )
        for v in order:
            sel = np.flatnonzero(vals == v)
            color = MISTAKE_COLORS.get(v) if kind == "mistake" else None
            if kind != "mistake" and v == "unknown":
                color = "#d0d0d0"
            fig.add_trace(
                go.Scattergl(
                    x=xy[sel, 0],
                    y=xy[sel, 1],
                    mode="markers",
                    name=v,
                    marker={"size": 6, "opacity": 0.85, **({"color": color} if color else {})},
                    customdata=sel,
                    hovertext=[f"{hover[j]}<br>{v}" for j in sel],
                    hoverinfo="text",
                )
            )
    fig.update_layout(
        title=title + (f" ({method})" if method else ""),
        height=560,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        xaxis={"showticklabels": False, "title": None},
        yaxis={"showticklabels": False, "title": None, "scaleanchor": "x"},
        legend={"itemsizing": "constant"},
    )
    return fig


def png_data_uri(rgb: np.ndarray) -> str:
    """An (H, W, 3) uint8 image as a data: URI (PNG)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _gallery(records: list[dict], thumbs, position, limit: int) -> str:
    cells = []
    for r in records[:limit]:
        imgs = "".join(
            f'<img src="{png_data_uri(thumbs[position(r[k])])}" alt="{html.escape(r[k])}" title="{html.escape(r[k])}">'
            for k in ("a", "b")
        )
        cells.append(
            f'<div class="pair">{imgs}<div class="cap">score {r["score"]:.3f} · margin {r["margin"]:.3f}'
            f"<br>{html.escape(str(r['identity_a']))} / {html.escape(str(r['identity_b']))}"
            f"<br>{html.escape(str(r['detector_a']))}/{html.escape(str(r['detector_b']))}, fit "
            f"{r['fit_residual_a']}/{r['fit_residual_b']} px"
            + (f"<br>{html.escape(r['condition'])}" if r.get("condition") != "clean" else "")
            + "</div></div>"
        )
    return '<div class="gallery">' + "".join(cells) + "</div>" if cells else "<p><em>none</em></p>"


def _slice_table(slices: list[dict], limit: int) -> str:
    head = "<tr><th>slice</th><th>faces</th><th>genuine</th><th>FRR %</th><th>95% interval</th><th>vs whole</th><th>FAR %</th></tr>"
    body = []
    for s in [s for s in slices if s.get("frr") is not None][:limit]:
        ci = s.get("frr_ci")
        far = "" if s.get("far") is None else f"{100 * s['far']:.2f}"
        body.append(
            f"<tr{' class=beyond' if s.get('frr_beyond') else ''}><td style='text-align:left'>{html.escape(slice_label(s))}</td>"
            f"<td>{s['n_images']:,}</td><td>{s['n_genuine']:,}</td><td>{100 * s['frr']:.1f}</td>"
            f"<td>{'' if not ci else f'{100 * ci[0]:.1f} – {100 * ci[1]:.1f}'}</td>"
            f"<td>{100 * s['frr_diff']:+.1f}</td><td>{far}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def failures_html(report: Any, path: str | os.PathLike, *, title: str = "Failures", limit: int = 24) -> Path:
    """Write a self-contained HTML page of a FailureReport: per FAR the counts, the slice chart and
    table (worst first), and the galleries of false accepts and false rejects (both faces, score,
    margin, detector, fit residual). plotly.js and the faces are inlined: no external resource."""
    from plotly.offline import get_plotlyjs

    info, fars, rates = report.info, report.fars, report.slices
    thumbs = report.thumbnails
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(info['model'])} on {html.escape(info['dataset_label'])} ({html.escape(info['protocol'])}): "
        f"{info['n_pairs']:,} pairs of {info['n_usable']:,} faces ({info['n_genuine']:,} genuine), conditions "
        f"{html.escape(', '.join(info['conditions']))}; thresholds from {html.escape(info['operating_condition'])}. "
        f"Intervals: {html.escape(rates['kind'])}, {rates['n_resamples']} resamples; a pair is in an image slice "
        f"when {'either face' if rates['membership'] == 'any' else 'both faces'} are.</p>",
    ]
    for key in info["far_keys"]:
        f = fars[key]
        parts.append(f"<h2>FAR {html.escape(key)}</h2>")
        if not f.get("resolvable"):
            parts.append(f"<p>{html.escape(f['note'])}</p>")
            continue
        ci = f.get("frr_ci")
        parts.append(
            f"<p>threshold {f['threshold']:.4f}: {f['n_false_accepts']:,} false accepts, {f['n_false_rejects']:,} "
            f"false rejects (FRR {100 * f['frr']:.1f}%"
            + (f", {100 * ci[0]:.1f} – {100 * ci[1]:.1f}" if ci else "")
            + ")</p>"
        )
        whole = rates["whole"][key]
        fig = slice_figure(rates["slices"][key], "frr", whole=whole["frr"], whole_ci=whole["frr_ci"], top=15)
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"slices-{key}"))
        parts.append(_slice_table(rates["slices"][key], 15))
        if thumbs is not None:
            parts.append("<h3>False accepts (different people accepted), largest margin first</h3>")
            parts.append(_gallery(f["false_accepts"], thumbs, report.position, limit))
            parts.append("<h3>False rejects (one person rejected), largest margin first</h3>")
            parts.append(_gallery(f["false_rejects"], thumbs, report.position, limit))
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
        "text-align:right}th{background:#f3f3f3}tr.beyond td{color:#b00}"
        ".gallery{display:flex;flex-wrap:wrap;gap:10px}.pair{border:1px solid #ddd;padding:4px;font-size:12px;width:240px}"
        ".pair img{width:112px;height:112px;image-rendering:auto;margin-right:4px}.cap{margin-top:3px}"
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{style}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>" + "\n".join(parts) + "</body></html>"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
