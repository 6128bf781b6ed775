"""The figures of a filter card: where one filter's peaks sit on the template (mean and std ellipse
per sign, its region), and how much occluding each face region changes it.

Inputs are analyses (:class:`AnalysisResult`, :class:`PrecomputedAnalysis` or dicts with the same
keys): ``mean_xy`` (K, 2, 2), ``std`` (K, 2), optional ``peak_cov`` (K, 2, 2, 2), ``mean_face``,
``differences`` (names (L,), mean_abs (L, K)).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from interpface.analysis.peaks import SIGNS
from interpface.faces.template import Template, default_template
from interpface.figures._base import SIGN_TITLES, face_traces, get

__all__ = ["ellipse_xy", "filter_region", "filter_location_figure", "region_effect", "region_effect_figure"]

#: Colour-blind-safe pair (Okabe-Ito vermillion / blue) for the positive and the negative peak.
SIGN_COLORS = {"pos": "#D55E00", "neg": "#0072B2"}


def ellipse_xy(
    mean: np.ndarray, cov: np.ndarray, n_std: float = 1.0, points: int = 72
) -> tuple[np.ndarray, np.ndarray]:
    """x, y (points,) of the n_std ellipse of a 2-d Gaussian with this mean (2,) and covariance (2, 2)."""
    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    t = np.linspace(0, 2 * np.pi, points)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, points)
    xy = vecs @ (np.sqrt(np.maximum(vals, 0.0))[:, None] * n_std * circle) + np.asarray(mean, dtype=np.float64)[:, None]
    return xy[0], xy[1]


def filter_region(analysis, k: int, template: Template | None = None, sign: str = "pos") -> str:
    """The template region holding filter k's average peak of that sign ("none" if outside all)."""
    template = template or default_template()
    return template.region_of(np.asarray(get(analysis, "mean_xy"))[k, SIGNS.index(sign)])


def filter_location_figure(
    analysis, k: int, *, template: Template | None = None, n_std: float = 1.0, height: int = 420
) -> go.Figure:
    """Filter k on the frontal template: its average positive and negative peak with their n_std
    ellipses (from ``peak_cov``; a circle of radius std when the analysis has no covariance), over the
    mean face, and the box of the region of its positive peak."""
    template = template or default_template()
    mean_xy = np.asarray(get(analysis, "mean_xy"))
    std = np.asarray(get(analysis, "std"))
    cov = get(analysis, "peak_cov")
    fig = go.Figure()
    for t in face_traces(template, get(analysis, "mean_face")):
        fig.add_trace(t)
    region = filter_region(analysis, k, template)
    if region != "none":
        x0, y0, x1, y1 = template.regions[region].box
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color="#009E73", width=2, dash="dot"))
        fig.add_annotation(
            x=x0,
            y=y0,
            text=region.replace("_", " "),
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            font=dict(color="#009E73", size=13),
        )
    for si, sign in enumerate(SIGNS):
        xy, sd = mean_xy[k, si], std[k, si]
        if not (np.isfinite(xy).all() and np.isfinite(sd)):
            continue
        c = (
            np.asarray(cov)[k, si]
            if cov is not None and np.isfinite(np.asarray(cov)[k, si]).all()
            else np.eye(2) * sd**2 / 2.0
        )  # trace = std^2, as filter_location_stats defines it
        ex, ey = ellipse_xy(xy, c, n_std)
        color = SIGN_COLORS[sign]
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
        fig.add_trace(
            go.Scatter(
                x=ex,
                y=ey,
                mode="lines",
                line=dict(color=color, width=2),
                fill="toself",
                fillcolor=f"rgba({rgb[0]},{rgb[1]},{rgb[2]},0.18)",
                name=f"{SIGN_TITLES[sign]}: {n_std:g} std",
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[xy[0]],
                y=[xy[1]],
                mode="markers",
                marker=dict(size=11, color=color, line=dict(width=1.5, color="white")),
                name=f"{SIGN_TITLES[sign]}: mean",
                hovertemplate=f"{SIGN_TITLES[sign]}<br>(%{{x:.1f}}, %{{y:.1f}})<br>std {sd:.1f} px<extra></extra>",
            )
        )
    size = template.size
    fig.update_xaxes(range=[-0.5, size - 0.5], showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(
        range=[size - 0.5, -0.5],
        showticklabels=False,
        showgrid=False,
        zeroline=False,
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
    )
    fig.update_layout(
        title=f"Filter #{k} on the template",
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="top", y=-0.02, x=0),
    )
    return fig


def region_effect(analysis, k: int) -> dict[str, float] | None:
    """{region: mean |f_k(I) - f_k(I^)|} when that region is occluded, or None without differences."""
    d = get(analysis, "differences")
    if d is None or not len(d.names):
        return None
    return {str(n): float(v) for n, v in zip(d.names, np.asarray(d.mean_abs)[:, k])}


def region_effect_figure(analysis, k: int, *, highlight: str | None = None, height: int = 320) -> go.Figure | None:
    """Bars of :func:`region_effect` for filter k, its own region highlighted, with the mean over all
    filters as a reference tick (is this filter more sensitive to that region than filters are on
    average?). None when the analysis has no feature differences."""
    effect = region_effect(analysis, k)
    if effect is None:
        return None
    d = get(analysis, "differences")
    average = np.asarray(d.mean_abs).mean(axis=1)
    names = list(effect)
    colors = ["#009E73" if n == highlight else "#999999" for n in names]
    fig = go.Figure(
        go.Bar(
            x=[n.replace("_", " ") for n in names],
            y=list(effect.values()),
            marker_color=colors,
            name=f"filter #{k}",
            hovertemplate="%{x}: %{y:.3f}<extra>filter #" + str(k) + "</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[n.replace("_", " ") for n in names],
            y=average,
            mode="markers",
            name="all filters",
            marker=dict(symbol="line-ew", size=26, line=dict(width=3, color="black")),
            hovertemplate="%{x}: %{y:.3f}<extra>mean over filters</extra>",
        )
    )
    fig.update_layout(
        title=f"Occluding each region: mean |Δf| of filter #{k}",
        height=height,
        yaxis_title="mean |f(I) − f(I^)|",
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"),
    )
    return fig
