"""Plotly figures of the occlusion probe (no UI code): the face with its occluder, the sorted
feature-difference bars, and response heatmaps before/after."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def face_figure(
    crop: np.ndarray, quad: np.ndarray | None = None, *, title: str = "", height: int = 360, selectable: bool = False
) -> go.Figure:
    """An aligned crop (110, 110, 3) with the occluder's quadrilateral (4, 2) outlined. With
    selectable=True a box selection on it can place an occluder (the dashboard reads the box)."""
    fig = go.Figure(go.Image(z=crop, hoverinfo="x+y"))
    if quad is not None:
        q = np.vstack([quad, quad[:1]])
        fig.add_trace(
            go.Scatter(
                x=q[:, 0],
                y=q[:, 1],
                mode="lines",
                line=dict(color="#ff3b30", width=2),
                name="occluder",
                hoverinfo="skip",
            )
        )
    if selectable:
        # An invisible grid of points: box selections report the points inside, and their range.
        yy, xx = np.mgrid[0 : crop.shape[0] : 4, 0 : crop.shape[1] : 4]
        fig.add_trace(
            go.Scatter(
                x=xx.ravel(),
                y=yy.ravel(),
                mode="markers",
                marker=dict(opacity=0, size=4),
                hoverinfo="skip",
                showlegend=False,
                name="grid",
            )
        )
        fig.update_layout(dragmode="select")
    fig.update_layout(
        title=title or None, height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0), showlegend=False
    )
    fig.update_xaxes(visible=False, range=[-0.5, crop.shape[1] - 0.5])
    fig.update_yaxes(visible=False, range=[crop.shape[0] - 0.5, -0.5], scaleanchor="x")
    return fig


def difference_bars(diff: np.ndarray, order: np.ndarray, *, top: int | None = None, title: str = "") -> go.Figure:
    """Sorted |f(I) - f(I^)| per dimension (paper Fig. 6 for one face). Hover shows the filter id."""
    idx = order if top is None else order[:top]
    fig = go.Figure(
        go.Bar(
            x=np.arange(len(idx)),
            y=diff[idx],
            customdata=idx,
            marker_color="#3b6fb6",
            hovertemplate="filter %{customdata}<br>|Δf| = %{y:.4f}<extra></extra>",
            name="|f(I) - f(Î)|",
        )
    )
    fig.update_layout(
        title=title or "Feature difference per dimension (sorted)",
        height=300,
        xaxis_title="dimension rank",
        yaxis_title="|f(I) − f(Î)|",
        margin=dict(l=40, r=10, t=40, b=40),
    )
    return fig


#: Diverging, colour-blind-safe scale for signed responses (ColorBrewer RdBu): red positive, blue
#: negative; transparent at 0, so the face shows in colour wherever a filter is silent.
RESPONSE_SCALE = [
    [0.0, "rgba(5,48,97,0.95)"],
    [0.2, "rgba(33,102,172,0.85)"],
    [0.4, "rgba(146,197,222,0.45)"],
    [0.5, "rgba(247,247,247,0)"],
    [0.6, "rgba(244,165,130,0.45)"],
    [0.8, "rgba(178,24,43,0.85)"],
    [1.0, "rgba(103,0,31,0.95)"],
]
#: Face parts named under the cursor, most specific first (template regions).
_HOVER_REGIONS = ("left_eye", "right_eye", "nose", "mouth", "chin", "left_cheek", "right_cheek", "forehead")


def cell_regions(
    landmarks: np.ndarray | None, grid: int = 24, aligned_size: int = 110, input_size: int = 96, template=None
) -> np.ndarray:
    """(grid, grid) names of the face part under each response cell of a face with these 68 crop
    landmarks: the cell centre is carried to the template through the face's mesh and looked up in
    the template's regions ("face" inside the face box otherwise, "background" outside)."""
    from interpface.faces.align import center_crop_offset
    from interpface.faces.template import default_template

    template = template or default_template()
    k = input_size / grid
    o = center_crop_offset(aligned_size, input_size)
    c = np.arange(grid) * k + (k - 1) / 2 + o
    pts = np.stack(np.meshgrid(c, c), axis=-1).reshape(-1, 2)  # (x, y), row-major
    t = pts if landmarks is None else template.mesh.to_template(pts, np.asarray(landmarks, np.float64))
    out = np.full(len(pts), "background", dtype=object)
    x0, y0, x1, y1 = template.face_box
    out[(t[:, 0] >= x0) & (t[:, 0] <= x1) & (t[:, 1] >= y0) & (t[:, 1] <= y1)] = "face"
    for name in reversed(_HOVER_REGIONS):  # the most specific region wins
        out[template.regions[name].contains(t)] = name.replace("_", " ")
    return out.reshape(grid, grid)


def _tile_grid(
    tiles: list[dict], *, columns: int, tile: int, lim: float, title: str, symbol: str = "ψ′", unit: str = "filter"
) -> go.Figure:
    """Panels in reading order, `columns` per row, each the face in colour under its response map on
    one shared symmetric colour scale (one colour bar). tile: {"crop", "psi" (G, G), "title",
    "filter", "regions" (G, G) or None, "span" (crop pixels the map covers, centred; default 96)}."""
    from interpface.faces.align import center_crop_offset

    cols = max(1, min(columns, len(tiles)))
    rows = max(1, -(-len(tiles) // cols))
    height = rows * (tile + 34) + 70
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[t["title"] for t in tiles],
        horizontal_spacing=0.012,
        vertical_spacing=min(0.3, 34 / height) if rows > 1 else 0.0,
    )
    for i, t in enumerate(tiles):
        r, c = i // cols + 1, i % cols + 1
        crop, psi = np.asarray(t["crop"], np.uint8), np.asarray(t["psi"], np.float64)
        size, g = crop.shape[0], psi.shape[0]
        span = t.get("span", 96)  # the centred window the map covers: 96 (ours) or the whole crop (black box)
        k = span / g
        o = center_crop_offset(size, span)
        regions = t.get("regions")
        fig.add_trace(go.Image(z=crop, hoverinfo="skip", name=f"{t['title']} face"), r, c)
        fig.add_trace(
            go.Heatmap(
                z=psi,
                x0=o + (k - 1) / 2,
                dx=k,
                y0=o + (k - 1) / 2,
                dy=k,
                colorscale=RESPONSE_SCALE,
                zmin=-lim,
                zmax=lim,
                zmid=0,
                showscale=i == 0,
                name=f"{unit} {t['filter']}",
                customdata=regions if regions is not None else np.full(psi.shape, ""),
                colorbar=dict(
                    title=dict(text=f"{symbol} (one scale<br>for the grid)", side="right"),
                    len=min(1.0, 0.9 / rows + 0.1),
                    y=1,
                    yanchor="top",
                    thickness=14,
                ),
                hovertemplate=f"{unit} #{t['filter']}<br>{symbol} = %{{z:.3f}}<br>%{{customdata}}<extra></extra>",
            ),
            r,
            c,
        )
        fig.update_xaxes(range=[-0.5, size - 0.5], visible=False, constrain="domain", row=r, col=c)
        fig.update_yaxes(
            range=[size - 0.5, -0.5],
            visible=False,
            scaleanchor=f"x{'' if i == 0 else i + 1}",
            scaleratio=1,
            constrain="domain",
            row=r,
            col=c,
        )
    fig.update_annotations(font_size=12)
    fig.update_layout(title=title, height=height, width=cols * tile + 140, margin=dict(l=10, r=10, t=70, b=10))
    return fig


def heatmap_pairs(
    crop: np.ndarray,
    occluded: np.ndarray,
    psi_clean: np.ndarray,
    psi_occ: np.ndarray,
    filters: list[int],
    *,
    landmarks: np.ndarray | None = None,
    columns: int = 4,
    tile: int = 210,
    span: int = 96,
    layer: str | None = None,
) -> go.Figure:
    """For each filter, its response psi' on the clean face and on the occluded face, side by side,
    wrapped `columns` panels per row; the faces in colour at their true aspect ratio; one symmetric
    colour scale for the whole grid (red positive, blue negative); hover: filter, value, face part.
    span, layer: a black box's maps cover the whole crop (span 110) and are channels of `layer`."""
    regions = cell_regions(landmarks, psi_clean.shape[-1], input_size=span) if landmarks is not None else None
    shown = [psi_clean[k] for k in filters] + [psi_occ[k] for k in filters]
    lim = _limit(shown)
    symbol, unit = _names(layer)
    tiles = []
    for k in filters:
        tiles.append(
            {"crop": crop, "psi": psi_clean[k], "title": f"#{k} clean", "filter": k, "regions": regions, "span": span}
        )
        tiles.append(
            {
                "crop": occluded,
                "psi": psi_occ[k],
                "title": f"#{k} occluded",
                "filter": k,
                "regions": regions,
                "span": span,
            }
        )
    return _tile_grid(
        tiles,
        columns=columns,
        tile=tile,
        lim=lim,
        symbol=symbol,
        unit=unit,
        title=f"Responses {symbol} before and after the occluder (red: positive, blue: negative)",
    )


def _limit(maps) -> float:
    """The symmetric colour limit of a grid (NaN: cells a black box's input does not cover)."""
    return float(max([np.nanmax(np.abs(m)) if np.isfinite(m).any() else 0.0 for m in maps] + [1e-9]))


def _names(layer: str | None) -> tuple[str, str]:
    """(what the colour shows, what a map is): ours psi' of a filter, a black box's layer channel."""
    return ("ψ′", "filter") if layer is None else (f"{layer}", "channel")


def response_grid(
    faces: list[np.ndarray],
    psi_maps: list[np.ndarray],
    filters: list[int],
    *,
    titles: list[str] | None = None,
    landmarks: list | None = None,
    columns: int = 4,
    tile: int = 210,
    split_sign: bool = False,
    span: int = 96,
    layer: str | None = None,
) -> go.Figure:
    """Heatmaps of chosen filters over faces (paper Figs. 1 and 8): one panel per (face, filter), faces
    in reading order, wrapped `columns` panels per row, each the face in colour under the signed map
    psi' (red positive, blue negative) on one colour scale for the whole grid, stated on its colour
    bar; hover: filter, value and the face part under the cursor (from landmarks, when given).

    faces: aligned crops (110, 110, 3); psi_maps: each (N^f, 24, 24), psi' of that face; titles: a
    label per face. split_sign=True shows the positive and the negative part in two panels. span,
    layer: a black box's maps (FaceResponse.span = 110) are channels of `layer`."""
    tiles = []
    symbol, unit = _names(layer)
    for r, (crop, psi) in enumerate(zip(faces, psi_maps)):
        regions = cell_regions(landmarks[r], psi.shape[-1], input_size=span) if landmarks is not None else None
        label = titles[r] if titles else f"face {r + 1}"
        for k in filters:
            parts = (
                ((psi[k], ""),) if not split_sign else ((np.maximum(psi[k], 0), " +"), (np.minimum(psi[k], 0), " −"))
            )
            for m, suffix in parts:
                tiles.append(
                    {
                        "crop": crop,
                        "psi": m,
                        "title": f"#{k}{suffix} · {label}",
                        "filter": k,
                        "regions": regions,
                        "span": span,
                    }
                )
    lim = _limit([t["psi"] for t in tiles])
    return _tile_grid(
        tiles,
        columns=columns,
        tile=tile,
        lim=lim,
        symbol=symbol,
        unit=unit,
        title=f"{unit.capitalize()} responses {symbol} (red: positive, blue: negative)",
    )


def sensitivity_figure(crop: np.ndarray, attribution: np.ndarray, *, title: str = "") -> go.Figure:
    """A (110, 110) pixel map of an occlusion sweep (mean change of the target over the occluders
    covering each pixel) over the grey face."""
    gray = crop.mean(axis=2)
    lim = float(np.nanmax(np.abs(attribution))) or 1e-9
    fig = go.Figure(
        [
            go.Heatmap(z=gray, colorscale="gray", showscale=False, hoverinfo="skip"),
            go.Heatmap(
                z=np.where(attribution == 0, np.nan, attribution),
                colorscale="RdBu_r",
                zmin=-lim,
                zmax=lim,
                opacity=0.65,
                colorbar=dict(title="change"),
                hovertemplate="(%{x}, %{y}): %{z:.4f}<extra></extra>",
            ),
        ]
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(title=title or "Occlusion sensitivity", height=420, margin=dict(l=0, r=0, t=40, b=0))
    return fig
