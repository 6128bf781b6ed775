"""Average peak maps (paper Fig. 5) and peak-location std histograms (Fig. 9).

Inputs are analyses: :class:`interpface.analysis.AnalysisResult`, :class:`PrecomputedAnalysis`, or
dicts with the same keys — ``mean_xy`` (K, 2, 2) [filter, sign, (x, y)] template pixels, ``std``
(K, 2), optional ``mean_face`` (110, 110, 3) uint8 — one or a mapping name -> analysis (drawn side by
side).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpface.analysis.peaks import SIGNS
from interpface.faces.template import Template, default_template
from interpface.figures._base import SIGN_TITLES, as_models, color, face_traces, frame_axes, get

__all__ = ["peak_map_figure", "std_histogram_figure"]


def peak_map_figure(
    models,
    *,
    signs=SIGNS,
    template: Template | None = None,
    background: bool = True,
    max_std: float | None = None,
    marker_size: int = 6,
    title: str | None = None,
) -> go.Figure:
    """Fig. 5: every filter's average peak location on the frontal template, coloured by the std of its
    peak location; rows = models, columns = signs (positive, negative). One shared colour scale.

    Traces per panel: [mean face image], template outline, filter scatter (name "<model> <sign>")."""
    template = template or default_template()
    models = as_models(models)
    signs = tuple(signs)
    sidx = [SIGNS.index(s) for s in signs]
    stds = np.concatenate([np.asarray(get(m, "std"))[:, sidx].ravel() for m in models.values()])
    stds = stds[np.isfinite(stds)]
    cmax = max_std if max_std is not None else (float(np.percentile(stds, 95)) if len(stds) else 1.0)
    fig = make_subplots(
        rows=len(models),
        cols=len(signs),
        horizontal_spacing=0.04,
        vertical_spacing=0.06,
        subplot_titles=[f"{name}: {SIGN_TITLES[s]}" for name in models for s in signs],
    )
    first = True
    for r, (name, m) in enumerate(models.items(), start=1):
        mean_xy, std = np.asarray(get(m, "mean_xy")), np.asarray(get(m, "std"))
        face = get(m, "mean_face") if background else None
        for c, (s, si) in enumerate(zip(signs, sidx), start=1):
            for t in face_traces(template, face):
                fig.add_trace(t, row=r, col=c)
            xy, sd = mean_xy[:, si], std[:, si]
            ok = np.isfinite(sd) & np.isfinite(xy).all(axis=1)
            k = np.flatnonzero(ok)
            fig.add_trace(
                go.Scatter(
                    x=xy[ok, 0],
                    y=xy[ok, 1],
                    mode="markers",
                    name=f"{name} {s}",
                    marker=dict(
                        size=marker_size,
                        color=sd[ok],
                        colorscale="Viridis",
                        cmin=0,
                        cmax=cmax,
                        line=dict(width=0.5, color="white"),
                        showscale=first,
                        colorbar=dict(title="std (px)", len=0.8) if first else None,
                    ),
                    customdata=np.stack([k, sd[ok]], axis=1) if len(k) else None,
                    hovertemplate="filter %{customdata[0]}<br>(%{x:.1f}, %{y:.1f})<br>std %{customdata[1]:.1f} px<extra></extra>",
                    showlegend=False,
                ),
                row=r,
                col=c,
            )
            first = False
            frame_axes(fig, r, c, template.size)
    fig.update_layout(
        title=title or "Average peak locations (colour: std of the peak location)",
        height=330 * len(models) + 80,
        width=330 * len(signs) + 120,
        margin=dict(l=20, r=20, t=70, b=20),
        plot_bgcolor="white",
    )
    return fig


def std_histogram_figure(
    models, *, signs=SIGNS, bins: np.ndarray | int = 30, max_std: float | None = None, title: str | None = None
) -> go.Figure:
    """Fig. 9: histograms of the per-filter peak-location std, one panel per sign, one bar trace per
    model (overlaid; name "<model>"). bins: edges or a count over [0, max_std]."""
    models = as_models(models)
    signs = tuple(signs)
    sidx = [SIGNS.index(s) for s in signs]
    all_std = np.concatenate([np.asarray(get(m, "std"))[:, sidx].ravel() for m in models.values()])
    all_std = all_std[np.isfinite(all_std)]
    top = max_std if max_std is not None else (float(all_std.max()) if len(all_std) else 1.0)
    edges = np.asarray(bins, dtype=float) if not np.isscalar(bins) else np.linspace(0, max(top, 1e-6), int(bins) + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    fig = make_subplots(
        rows=1, cols=len(signs), subplot_titles=[SIGN_TITLES[s] for s in signs], horizontal_spacing=0.08
    )
    for i, (name, m) in enumerate(models.items()):
        std = np.asarray(get(m, "std"))
        for c, si in enumerate(sidx, start=1):
            v = std[:, si]
            v = np.clip(v[np.isfinite(v)], edges[0], edges[-1])
            counts, _ = np.histogram(v, edges)
            fig.add_trace(
                go.Bar(
                    x=centers,
                    y=counts,
                    width=np.diff(edges),
                    name=name,
                    legendgroup=name,
                    marker_color=color(i),
                    opacity=0.6,
                    showlegend=c == 1,
                    hovertemplate=f"{name}<br>std %{{x:.1f}} px: %{{y}} filters<extra></extra>",
                ),
                row=1,
                col=c,
            )
        fig.update_xaxes(title_text="std of peak location (template px)")
    fig.update_yaxes(title_text="filters", col=1)
    fig.update_layout(
        barmode="overlay",
        title=title or "Standard deviation of peak locations",
        height=380,
        width=900,
        margin=dict(l=50, r=20, t=70, b=50),
    )
    return fig
