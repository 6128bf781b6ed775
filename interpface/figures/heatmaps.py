"""Filter response heatmap grids (paper Figs. 1 and 8) and pixel-attribution maps."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpface.figures._base import frame_axes

__all__ = ["overlay_responses", "heatmap_grid_figure", "attribution_figure"]

POSITIVE_RGB = np.array([230.0, 30.0, 30.0])
NEGATIVE_RGB = np.array([30.0, 90.0, 240.0])


def overlay_responses(
    image: np.ndarray, positive: np.ndarray, negative: np.ndarray, *, alpha: float = 0.75, gamma: float = 0.7
) -> np.ndarray:
    """Face (H, W, 3) uint8 + positive / negative maps (H, W) already scaled to [0, 1] -> (H, W, 3)
    uint8: red where the response is positive, blue where it is negative, the face elsewhere."""
    img = np.asarray(image, dtype=np.float64)
    gray = img.mean(axis=-1, keepdims=True) * np.ones(3)
    p = np.clip(positive, 0, 1)[..., None] ** gamma * alpha
    n = np.clip(negative, 0, 1)[..., None] ** gamma * alpha
    out = gray * (1 - p - n).clip(0, 1) + POSITIVE_RGB * p + NEGATIVE_RGB * n
    return np.clip(out, 0, 255).astype(np.uint8)


def heatmap_grid_figure(
    heatmaps,
    *,
    row_labels=None,
    normalise: str = "filter",
    show_faces: bool = True,
    title: str | None = None,
    tile: int = 110,
) -> go.Figure:
    """Figs. 1 / 8: rows = faces, columns = filters; each tile the face with the filter's positive
    (red) and negative (blue) response. heatmaps: an :class:`interpface.analysis.Heatmaps` (images
    (N, S, S, 3), filters (F,), positive / negative (N, F, S, S)). normalise: "filter" (one scale per
    filter over all faces: shows consistency across faces), "tile" (each tile its own max) or "global".

    Traces: one go.Image per tile (plus one per row for the bare face when show_faces)."""
    images, filters = np.asarray(heatmaps.images), np.asarray(heatmaps.filters)
    pos, neg = np.asarray(heatmaps.positive), np.asarray(heatmaps.negative)
    n, f = pos.shape[:2]
    if normalise == "filter":
        scale = np.maximum(pos.max(axis=(0, 2, 3)), neg.max(axis=(0, 2, 3)))[None, :, None, None]
    elif normalise == "tile":
        scale = np.maximum(pos.max(axis=(2, 3)), neg.max(axis=(2, 3)))[:, :, None, None]
    elif normalise == "global":
        scale = np.array(max(pos.max(), neg.max()))
    else:
        raise ValueError(f"normalise must be 'filter', 'tile' or 'global', got {normalise!r}")
    scale = np.where(scale > 0, scale, 1.0)
    pos, neg = pos / scale, neg / scale
    cols = f + (1 if show_faces else 0)
    titles = []
    for r in range(n):
        for c in range(cols):
            if r == 0:
                titles.append("face" if (show_faces and c == 0) else f"filter {filters[c - (1 if show_faces else 0)]}")
            else:
                titles.append("")
    fig = make_subplots(rows=n, cols=cols, horizontal_spacing=0.005, vertical_spacing=0.01, subplot_titles=titles)
    size = images.shape[1]
    for r in range(n):
        c0 = 1
        if show_faces:
            fig.add_trace(go.Image(z=images[r], hoverinfo="skip", name=f"face {r}"), row=r + 1, col=1)
            frame_axes(fig, r + 1, 1, size)
            c0 = 2
        for j in range(f):
            fig.add_trace(
                go.Image(
                    z=overlay_responses(images[r], pos[r, j], neg[r, j]),
                    hoverinfo="skip",
                    name=f"face {r} filter {filters[j]}",
                ),
                row=r + 1,
                col=c0 + j,
            )
            frame_axes(fig, r + 1, c0 + j, size)
        if row_labels is not None:
            fig.update_yaxes(title_text=str(row_labels[r]), title_font=dict(size=9), row=r + 1, col=1)
    fig.update_layout(
        title=title or "Filter responses (red: positive, blue: negative)",
        height=tile * n + 90,
        width=tile * cols + 60,
        margin=dict(l=30, r=10, t=70, b=10),
    )
    return fig


def _fit(m: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    if m.shape == shape:
        return m
    if (
        m.ndim == 2
        and m.shape[0] <= shape[0]
        and m.shape[1] <= shape[1]
        and (shape[0] - m.shape[0]) % 2 == 0
        and (shape[1] - m.shape[1]) % 2 == 0
    ):
        out = np.full(shape, np.nan)
        top, left = (shape[0] - m.shape[0]) // 2, (shape[1] - m.shape[1]) // 2
        out[top : top + m.shape[0], left : left + m.shape[1]] = m
        return out
    raise ValueError(f"map {name!r} has shape {m.shape}, the image is {shape}")


def attribution_figure(
    image: np.ndarray, maps, *, title: str | None = None, opacity: float = 0.65, tile: int = 260
) -> go.Figure:
    """The face and one panel per attribution map (e.g. {"gradcam": ..., "integrated_gradients": ...,
    "occlusion": ...} or sweep.attribution(...) maps), each a diverging heatmap (0 = white, symmetric
    range) over the greyed face. image: (H, W, 3) uint8; maps: name -> (H, W), or one (H, W) array.
    A map smaller than the image (the S x S network input on a 110x110 aligned crop) is drawn over the
    image's centre, blank around it.

    Traces: go.Image (face) + per map go.Image (face) and go.Heatmap (name = the map's)."""
    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    if not isinstance(maps, Mapping):
        maps = {"attribution": maps}
    maps = {name: _fit(np.asarray(m, dtype=np.float64), (h, w), name) for name, m in maps.items()}
    gray = np.repeat(image.mean(axis=-1, keepdims=True), 3, axis=-1).astype(np.uint8)
    names = list(maps)
    fig = make_subplots(rows=1, cols=len(names) + 1, subplot_titles=["face"] + names, horizontal_spacing=0.02)
    fig.add_trace(go.Image(z=image, hoverinfo="skip", name="face"), row=1, col=1)
    frame_axes(fig, 1, 1, w)
    for c, name in enumerate(names, start=2):
        m = maps[name]
        lim = float(np.nanmax(np.abs(m))) or 1.0
        fig.add_trace(go.Image(z=gray, hoverinfo="skip", name=f"{name} face"), row=1, col=c)
        fig.add_trace(
            go.Heatmap(
                z=m,
                colorscale="RdBu",
                reversescale=True,
                zmin=-lim,
                zmax=lim,
                zmid=0,
                opacity=opacity,
                showscale=False,
                name=name,
                hovertemplate="(%{x}, %{y}): %{z:.4g}<extra></extra>",
            ),
            row=1,
            col=c,
        )
        frame_axes(fig, 1, c, w)
    fig.update_layout(
        title=title or "Pixel attributions (red: raises the target, blue: lowers it)",
        height=tile + 90,
        width=tile * (len(names) + 1) + 40,
        margin=dict(l=10, r=10, t=70, b=10),
    )
    return fig
