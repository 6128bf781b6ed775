"""Plotly figures of the occlusion probe (no UI code): the face with its occluder, the sorted
feature-difference bars, and response heatmaps before/after."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .probe import heatmap_to_crop


def face_figure(crop: np.ndarray, quad: np.ndarray | None = None, *, title: str = "", height: int = 360,
                selectable: bool = False) -> go.Figure:
    """An aligned crop (110, 110, 3) with the occluder's quadrilateral (4, 2) outlined. With
    selectable=True a box selection on it can place an occluder (the dashboard reads the box)."""
    fig = go.Figure(go.Image(z=crop, hoverinfo="x+y"))
    if quad is not None:
        q = np.vstack([quad, quad[:1]])
        fig.add_trace(go.Scatter(x=q[:, 0], y=q[:, 1], mode="lines", line=dict(color="#ff3b30", width=2),
                                 name="occluder", hoverinfo="skip"))
    if selectable:
        # An invisible grid of points: box selections report the points inside, and their range.
        yy, xx = np.mgrid[0:crop.shape[0]:4, 0:crop.shape[1]:4]
        fig.add_trace(go.Scatter(x=xx.ravel(), y=yy.ravel(), mode="markers", marker=dict(opacity=0, size=4),
                                 hoverinfo="skip", showlegend=False, name="grid"))
        fig.update_layout(dragmode="select")
    fig.update_layout(title=title or None, height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
                      showlegend=False)
    fig.update_xaxes(visible=False, range=[-0.5, crop.shape[1] - 0.5])
    fig.update_yaxes(visible=False, range=[crop.shape[0] - 0.5, -0.5], scaleanchor="x")
    return fig


def difference_bars(diff: np.ndarray, order: np.ndarray, *, top: int | None = None, title: str = "") -> go.Figure:
    """Sorted |f(I) - f(I^)| per dimension (paper Fig. 6 for one face). Hover shows the filter id."""
    idx = order if top is None else order[:top]
    fig = go.Figure(go.Bar(x=np.arange(len(idx)), y=diff[idx], customdata=idx, marker_color="#3b6fb6",
                           hovertemplate="filter %{customdata}<br>|Δf| = %{y:.4f}<extra></extra>",
                           name="|f(I) - f(Î)|"))
    fig.update_layout(title=title or "Feature difference per dimension (sorted)", height=300,
                      xaxis_title="dimension rank", yaxis_title="|f(I) − f(Î)|", margin=dict(l=40, r=10, t=40, b=40))
    return fig


def heatmap_pairs(crop: np.ndarray, occluded: np.ndarray, psi_clean: np.ndarray, psi_occ: np.ndarray,
                  filters: list[int]) -> go.Figure:
    """Rows = filters; columns = response on the clean face, on the occluded face (psi' upsampled to
    the crop, symmetric colour scale per filter: red positive, blue negative)."""
    rows = max(1, len(filters))
    fig = make_subplots(rows=rows, cols=2, horizontal_spacing=0.02, vertical_spacing=0.03,
                        column_titles=["clean", "occluded"], row_titles=[f"#{k}" for k in filters] or None)
    gray_c, gray_o = crop.mean(axis=2), occluded.mean(axis=2)
    for r, k in enumerate(filters, start=1):
        lim = float(max(np.abs(psi_clean[k]).max(), np.abs(psi_occ[k]).max(), 1e-9))
        for c, (gray, psi) in enumerate(((gray_c, psi_clean[k]), (gray_o, psi_occ[k])), start=1):
            fig.add_trace(go.Heatmap(z=gray, colorscale="gray", showscale=False, hoverinfo="skip"), r, c)
            fig.add_trace(go.Heatmap(z=heatmap_to_crop(psi), colorscale="RdBu_r", zmin=-lim, zmax=lim, opacity=0.6,
                                     showscale=False, hovertemplate="ψ' = %{z:.3f}<extra></extra>"), r, c)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(height=170 * rows + 30, margin=dict(l=30, r=0, t=30, b=0))
    return fig


def response_grid(faces: list[np.ndarray], psi_maps: list[np.ndarray], filters: list[int], *,
                  titles: list[str] | None = None, split_sign: bool = True) -> go.Figure:
    """Heatmaps of chosen filters over faces (paper Figs. 1 and 8).

    faces: aligned crops (110, 110, 3); psi_maps: each (N^f, 24, 24), psi' of that face. Rows = faces,
    columns = filters (x2 with split_sign: the positive part in red, the negative part in blue)."""
    signs = ("+", "−") if split_sign else ("±",)
    cols = len(filters) * len(signs)
    col_titles = [f"#{k} {s}" for k in filters for s in signs]
    fig = make_subplots(rows=len(faces), cols=cols, horizontal_spacing=0.005, vertical_spacing=0.01,
                        column_titles=col_titles, row_titles=titles)
    for r, (crop, psi) in enumerate(zip(faces, psi_maps), start=1):
        gray = crop.mean(axis=2)
        for j, k in enumerate(filters):
            lim = float(max(np.abs(psi[k]).max(), 1e-9))
            for s, sign in enumerate(signs):
                c = j * len(signs) + s + 1
                m = psi[k] if sign == "±" else (np.maximum(psi[k], 0) if sign == "+" else np.minimum(psi[k], 0))
                fig.add_trace(go.Heatmap(z=gray, colorscale="gray", showscale=False, hoverinfo="skip"), r, c)
                fig.add_trace(go.Heatmap(z=heatmap_to_crop(m), colorscale="RdBu_r", zmin=-lim, zmax=lim, opacity=0.65,
                                         showscale=False, hovertemplate=f"#{k}: %{{z:.3f}}<extra></extra>"), r, c)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    # Square cells: about 1,100 px of page width shared by the columns.
    fig.update_layout(height=int(len(faces) * min(220, 1100 / cols)) + 60,
                      margin=dict(l=30, r=0, t=40, b=0))
    return fig


def sensitivity_figure(crop: np.ndarray, attribution: np.ndarray, *, title: str = "") -> go.Figure:
    """A (110, 110) pixel map of an occlusion sweep (mean change of the target over the occluders
    covering each pixel) over the grey face."""
    gray = crop.mean(axis=2)
    lim = float(np.nanmax(np.abs(attribution))) or 1e-9
    fig = go.Figure([go.Heatmap(z=gray, colorscale="gray", showscale=False, hoverinfo="skip"),
                     go.Heatmap(z=np.where(attribution == 0, np.nan, attribution), colorscale="RdBu_r", zmin=-lim,
                                zmax=lim, opacity=0.65, colorbar=dict(title="change"),
                                hovertemplate="(%{x}, %{y}): %{z:.4f}<extra></extra>")])
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(title=title or "Occlusion sensitivity", height=420, margin=dict(l=0, r=0, t=40, b=0))
    return fig
