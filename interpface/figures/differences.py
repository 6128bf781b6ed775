"""Feature-difference curves (paper Fig. 6) and difference-vs-location maps (Fig. 7).

Inputs: analyses with ``differences`` (a :class:`FeatureDifferences`: names, rects, mean_abs (L, K))
and, for Fig. 7, ``mean_xy`` (K, 2, 2) and optionally ``mean_face``; one or a mapping name -> analysis.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpface.analysis.feature_difference import sorted_differences
from interpface.analysis.peaks import SIGNS
from interpface.errors import InterpfaceError
from interpface.faces.template import Template, default_template
from interpface.figures._base import as_models, color, face_traces, frame_axes, get, rect_xy

__all__ = ["feature_difference_figure", "difference_location_figure"]


def _diffs(m):
    d = get(m, "differences")
    if d is None:
        raise InterpfaceError("this analysis has no feature differences (run it with occluders)")
    return {n: np.asarray(d.mean_abs[i]) for i, n in enumerate(d.names)}, d


def feature_difference_figure(models, *, regions=("eyes", "nose"), title: str | None = None) -> go.Figure:
    """Fig. 6: per occluded region, the mean |f(I) - f(I^)| of every dimension sorted in decreasing
    order; one panel per region, one line per model (name "<model>")."""
    models = as_models(models)
    regions = tuple(regions)
    fig = make_subplots(
        rows=1, cols=len(regions), subplot_titles=[f"occluded: {r}" for r in regions], horizontal_spacing=0.07
    )
    for i, (name, m) in enumerate(models.items()):
        by_name, _ = _diffs(m)
        for c, region in enumerate(regions, start=1):
            if region not in by_name:
                raise InterpfaceError(f"{name}: no feature differences for {region!r} (have {sorted(by_name)})")
            y = sorted_differences(by_name[region])
            fig.add_trace(
                go.Scatter(
                    x=np.arange(1, len(y) + 1),
                    y=y,
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    line=dict(color=color(i), width=2),
                    showlegend=c == 1,
                    hovertemplate=f"{name}<br>rank %{{x}}: %{{y:.4f}}<extra></extra>",
                ),
                row=1,
                col=c,
            )
    fig.update_xaxes(title_text="dimension (sorted)")
    fig.update_yaxes(title_text="mean |f(I) - f(I^)|", col=1)
    fig.update_layout(
        title=title or "Mean feature difference under occlusion",
        height=380,
        width=max(500, 430 * len(regions)),
        margin=dict(l=60, r=20, t=70, b=50),
    )
    return fig


def difference_location_figure(
    models,
    *,
    names=None,
    sign: str = "pos",
    template: Template | None = None,
    background: bool = True,
    max_size: float = 14.0,
    cmax: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Fig. 7: for each occluder (columns) and model (rows), every filter drawn at its average peak
    location (of `sign`), its marker size and colour the mean |f_k(I) - f_k(I^)|; the occluder's
    template rectangle outlined in red. One shared colour scale (default max: the largest change).

    Traces per panel: [mean face image], template outline, occluder outline, filter scatter."""
    template = template or default_template()
    models = as_models(models)
    si = SIGNS.index(sign)
    first_diffs = _diffs(next(iter(models.values())))[1]
    names = list(names) if names is not None else list(first_diffs.names)
    top = cmax
    if top is None:
        top = max(float(np.max(_diffs(m)[0][n])) for m in models.values() for n in names) or 1.0
    fig = make_subplots(
        rows=len(models),
        cols=len(names),
        horizontal_spacing=0.02,
        vertical_spacing=0.06,
        subplot_titles=[f"{mn}: {n}" if len(models) > 1 else n for mn in models for n in names],
    )
    first = True
    for r, (mname, m) in enumerate(models.items(), start=1):
        by_name, d = _diffs(m)
        rects = {n: d.rects[i] for i, n in enumerate(d.names)}
        xy = np.asarray(get(m, "mean_xy"))[:, si]
        ok = np.isfinite(xy).all(axis=1)
        face = get(m, "mean_face") if background else None
        for c, n in enumerate(names, start=1):
            if n not in by_name:
                raise InterpfaceError(f"{mname}: no feature differences for {n!r}")
            for t in face_traces(template, face):
                fig.add_trace(t, row=r, col=c)
            rx, ry = rect_xy(rects[n].cx, rects[n].cy, rects[n].width, rects[n].height, rects[n].angle)
            fig.add_trace(
                go.Scatter(
                    x=rx,
                    y=ry,
                    mode="lines",
                    line=dict(color="red", width=2),
                    hoverinfo="skip",
                    showlegend=False,
                    name=f"occluder {n}",
                ),
                row=r,
                col=c,
            )
            v = by_name[n][ok]
            fig.add_trace(
                go.Scatter(
                    x=xy[ok, 0],
                    y=xy[ok, 1],
                    mode="markers",
                    name=f"{mname} {n}",
                    showlegend=False,
                    marker=dict(
                        size=3 + max_size * np.clip(v / top, 0, 1),
                        color=v,
                        colorscale="Hot",
                        reversescale=True,
                        cmin=0,
                        cmax=top,
                        showscale=first,
                        colorbar=dict(title="|Δf|", len=0.8) if first else None,
                        line=dict(width=0.3, color="black"),
                    ),
                    customdata=np.stack([np.flatnonzero(ok), v], axis=1) if ok.any() else None,
                    hovertemplate="filter %{customdata[0]}<br>|Δf| %{customdata[1]:.4f}<extra></extra>",
                ),
                row=r,
                col=c,
            )
            first = False
            frame_axes(fig, r, c, template.size)
    fig.update_layout(
        title=title or "Feature difference vs occlusion location",
        height=260 * len(models) + 90,
        width=max(500, 240 * len(names) + 120),
        margin=dict(l=20, r=20, t=70, b=20),
        plot_bgcolor="white",
    )
    return fig
