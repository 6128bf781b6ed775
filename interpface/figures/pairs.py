"""Figures of pair explanations: each method's similarity / dissimilarity map over the two faces,
and deletion / insertion curves."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpface.figures._base import color, frame_axes

__all__ = ["pair_maps_figure", "faithfulness_curves_figure"]

_CURVES = (
    ("sim_del", "similarity map, genuine pairs: deletion"),
    ("sim_ins", "similarity map, genuine pairs: insertion"),
    ("dis_del", "dissimilarity map, impostor pairs: deletion"),
    ("dis_ins", "dissimilarity map, impostor pairs: insertion"),
)


def _in_crop(m: np.ndarray, size: int) -> np.ndarray:
    """An (S, S) input-pixel map placed at the centre of the size x size crop (NaN around it)."""
    out = np.full((size, size), np.nan)
    o = (size - m.shape[0]) // 2
    out[o : o + m.shape[0], o : o + m.shape[1]] = m
    return out


def pair_maps_figure(
    crop_a: np.ndarray,
    crop_b: np.ndarray,
    maps: Mapping,
    *,
    score: float | None = None,
    title: str | None = None,
    tile: int = 220,
    columns: int = 4,
    marks: Mapping[str, str] | None = None,
) -> go.Figure:
    """Face A, face B, then one panel per method: its signed map over B (red: supports the match,
    blue: counts against it; a symmetric range per panel, so each panel shows its own evidence), in
    rows of `columns` panels so that each face stays legible. maps: method -> PairMap (or (S, S) array);
    marks: method -> a warning written under its panel's title (e.g. "not better than chance").

    Traces: go.Image for A and B and under every map; one go.Heatmap per method (name = method)."""
    crop_a, crop_b = np.asarray(crop_a, np.uint8), np.asarray(crop_b, np.uint8)
    size = crop_b.shape[0]
    names = list(maps)
    n_panels = len(names) + 2
    cols = max(1, min(columns, n_panels))
    rows = -(-n_panels // cols)
    gray = np.repeat(crop_b.mean(axis=-1, keepdims=True), 3, axis=-1).astype(np.uint8)
    marks = dict(marks or {})
    titles = ["face A", "face B"] + [
        n.replace("_", " ") + (f"<br><span style='color:#b45309'>⚠ {marks[n]}</span>" if marks.get(n) else "")
        for n in names
    ]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.08)

    def cell(i):
        return i // cols + 1, i % cols + 1

    for i, (img, label) in enumerate(((crop_a, "face A"), (crop_b, "face B"))):
        r, c = cell(i)
        fig.add_trace(go.Image(z=img, hoverinfo="skip", name=label), row=r, col=c)
        frame_axes(fig, r, c, size)
    for i, name in enumerate(names, start=2):
        r, c = cell(i)
        m = maps[name]
        signed = np.asarray(getattr(m, "signed", m), np.float64)
        z = _in_crop(signed, size) if signed.shape[0] != size else signed
        lim = float(np.nanmax(np.abs(z))) or 1.0
        fig.add_trace(go.Image(z=gray, hoverinfo="skip", name=f"{name} face"), row=r, col=c)
        fig.add_trace(
            go.Heatmap(
                z=z,
                colorscale="RdBu",
                reversescale=True,
                zmin=-lim,
                zmax=lim,
                zmid=0,
                opacity=0.7,
                showscale=i == 2,
                name=name,
                colorbar=dict(
                    title="for / against",
                    tickvals=[-lim, 0, lim],
                    ticktext=["against", "0", "for"],
                    len=0.5,
                    y=1,
                    yanchor="top",
                ),
                hovertemplate=f"{name} (%{{x}}, %{{y}}): %{{z:.3g}}<extra></extra>",
            ),
            row=r,
            col=c,
        )
        frame_axes(fig, r, c, size)
    head = title or "Why this match? Red: regions of B that support the match with A; blue: against it"
    if score is not None:
        head += f" (cosine {score:.3f})"
    fig.update_layout(
        title=head, height=rows * (tile + 40) + 70, width=cols * tile + 120, margin=dict(l=10, r=10, t=80, b=10)
    )
    return fig


def faithfulness_curves_figure(result: Mapping, baseline: str = "black", *, title: str | None = None) -> go.Figure:
    """The mean deletion / insertion curves of every method (up to four panels: similarity maps on
    genuine pairs, dissimilarity maps on impostor pairs; panels without data are left out). result: faithfulness_table's dict, or one pair's
    {"fractions", "curves": {method: {baseline: {kind: curve}}}}.

    Traces: one go.Scatter per method and panel (name = method, legend shown once)."""
    fractions = np.asarray(result["fractions"])
    present = [
        (k, t)
        for k, t in _CURVES
        if any((pb.get(baseline) or {}).get(k) is not None for pb in result["curves"].values())
    ]
    fig = make_subplots(
        rows=1, cols=max(1, len(present)), subplot_titles=[t for _, t in present], horizontal_spacing=0.06
    )
    for i, (method, per_baseline) in enumerate(result["curves"].items()):
        curves = per_baseline.get(baseline) or {}
        for c, (kind, _) in enumerate(present, start=1):
            y = curves.get(kind)
            if y is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=fractions,
                    y=y,
                    mode="lines",
                    name=method,
                    legendgroup=method,
                    showlegend=c == 1,
                    line=dict(color=color(i), dash="dot" if method == "random" else None),
                    hovertemplate=f"{method}: %{{x:.2f}} of the pixels, cosine %{{y:.3f}}<extra></extra>",
                ),
                row=1,
                col=c,
            )
    fig.update_xaxes(title_text="fraction of B's pixels", range=[0, 1])
    fig.update_yaxes(title_text="cosine to A", col=1)
    fig.update_layout(
        title=title or f"Deletion / insertion curves ({baseline} baseline)",
        height=380,
        width=350 * max(1, len(present)) + 200,
        margin=dict(l=50, r=10, t=80, b=50),
    )
    return fig
