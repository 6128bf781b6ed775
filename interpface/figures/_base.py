"""Private helpers of the figure functions: model mappings, the face background, landmark outlines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from interpface.faces.template import (
    LEFT_BROW,
    LEFT_EYE,
    MOUTH,
    NOSE,
    RIGHT_BROW,
    RIGHT_EYE,
    Template,
    default_template,
)

#: One colour per model, in order (plotly's qualitative "Plotly" palette).
MODEL_COLORS = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880")
SIGN_TITLES = {"pos": "positive peaks", "neg": "negative peaks"}


def as_models(models) -> dict[str, Any]:
    """A mapping name -> analysis stays as is; a single analysis becomes {"model": it}."""
    if isinstance(models, Mapping) and not _looks_like_record(models):
        if not models:
            raise ValueError("no models to draw")
        return dict(models)
    return {"model": models}


def _looks_like_record(d: Mapping) -> bool:
    return any(key in d for key in ("mean_xy", "std", "mean_abs", "fpr"))


def get(obj, name: str, default=None):
    """obj.name, or obj[name] for dicts."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def color(i: int) -> str:
    return MODEL_COLORS[i % len(MODEL_COLORS)]


def outline_xy(landmarks: np.ndarray) -> tuple[list, list]:
    """x, y lists (None-separated) drawing the jaw, brows, nose, eyes and mouth of 68 landmarks."""
    groups = [
        list(range(0, 17)),
        LEFT_BROW,
        RIGHT_BROW,
        NOSE[:4],
        NOSE[4:],
        LEFT_EYE + [LEFT_EYE[0]],
        RIGHT_EYE + [RIGHT_EYE[0]],
        MOUTH[:12] + [MOUTH[0]],
        MOUTH[12:] + [MOUTH[12]],
    ]
    xs, ys = [], []
    for g in groups:
        xs += [float(v) for v in landmarks[g, 0]] + [None]
        ys += [float(v) for v in landmarks[g, 1]] + [None]
    return xs, ys


def face_traces(
    template: Template | None = None, mean_face: np.ndarray | None = None, show_outline: bool = True
) -> list:
    """Background of a template-frame panel: the mean face (go.Image, pixel centres at integer
    coordinates) and the template's landmark outline."""
    template = template or default_template()
    traces = []
    if mean_face is not None:
        traces.append(
            go.Image(
                z=np.asarray(mean_face, dtype=np.uint8),
                x0=0,
                dx=1,
                y0=0,
                dy=1,
                opacity=0.55,
                hoverinfo="skip",
                name="mean face",
            )
        )
    if show_outline:
        xs, ys = outline_xy(template.landmarks)
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color="rgba(80,80,80,0.6)", width=1),
                hoverinfo="skip",
                showlegend=False,
                name="template",
            )
        )
    return traces


def frame_axes(fig: go.Figure, row: int, col: int, size: int) -> None:
    """Square image axes with y pointing down for one subplot."""
    fig.update_xaxes(
        range=[-0.5, size - 0.5],
        showticklabels=False,
        showgrid=False,
        zeroline=False,
        constrain="domain",
        row=row,
        col=col,
    )
    fig.update_yaxes(
        range=[size - 0.5, -0.5],
        showticklabels=False,
        showgrid=False,
        zeroline=False,
        scaleanchor=_anchor(fig, row, col),
        scaleratio=1,
        constrain="domain",
        row=row,
        col=col,
    )


def _anchor(fig: go.Figure, row: int, col: int) -> str:
    ref = fig.get_subplot(row, col)
    return ref.xaxis.plotly_name.replace("axis", "")


def rect_xy(cx: float, cy: float, w: float, h: float, angle: float = 0.0) -> tuple[list, list]:
    """Closed outline of a (possibly rotated) rectangle, for a line trace."""
    from interpface.faces.occlusion import OcclusionRect

    c = OcclusionRect(cx, cy, w, h, angle).corners()
    c = np.vstack([c, c[:1]])
    return c[:, 0].tolist(), c[:, 1].tolist()
