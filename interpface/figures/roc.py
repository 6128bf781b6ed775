"""ROC curves (paper Fig. 10) for several models."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from interpface.figures._base import color

__all__ = ["roc_points", "roc_figure"]


def roc_points(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray | float]:
    """labels (P,) 1 = same person, scores (P,) higher = more similar -> {"fpr", "tpr", "thresholds",
    "auc", "eer"} (scikit-learn's roc_curve; EER where FPR = 1 - TPR, interpolated)."""
    from sklearn.metrics import auc, roc_curve

    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    fpr, tpr, thr = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.argmax(fnr <= fpr)) if np.any(fnr <= fpr) else len(fpr) - 1
    if i > 0:
        # linear interpolation between i-1 and i of the crossing of fpr and fnr
        d0, d1 = fpr[i - 1] - fnr[i - 1], fpr[i] - fnr[i]
        t = d0 / (d0 - d1) if d0 != d1 else 0.0
        eer = float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))
    else:
        eer = float(fpr[0])
    return {"fpr": fpr, "tpr": tpr, "thresholds": thr, "auc": float(auc(fpr, tpr)), "eer": eer}


def roc_figure(curves: Mapping[str, object], *, log_x: bool = False, title: str | None = None) -> go.Figure:
    """Fig. 10: one ROC line per model (name "<model>", with AUC / EER in the legend when known) plus the
    chance diagonal (name "chance"). curves: name -> {"fpr", "tpr"[, "auc", "eer"]} (e.g.
    :func:`roc_points`) or an (fpr, tpr) pair."""
    fig = go.Figure()
    for i, (name, c) in enumerate(curves.items()):
        if isinstance(c, Mapping):
            fpr, tpr = np.asarray(c["fpr"]), np.asarray(c["tpr"])
            extra = []
            if c.get("auc") is not None:
                extra.append(f"AUC {float(c['auc']):.3f}")
            if c.get("eer") is not None:
                extra.append(f"EER {100 * float(c['eer']):.1f}%")
            label = f"{name} ({', '.join(extra)})" if extra else name
        else:
            fpr, tpr = (np.asarray(v) for v in c)
            label = name
        if log_x:
            keep = fpr > 0
            fpr, tpr = fpr[keep], tpr[keep]
        fig.add_trace(
            go.Scatter(
                x=fpr,
                y=tpr,
                mode="lines",
                name=label,
                line=dict(color=color(i), width=2),
                hovertemplate=f"{name}<br>FPR %{{x:.4f}}<br>TPR %{{y:.4f}}<extra></extra>",
            )
        )
    lo = 1e-3 if log_x else 0.0
    fig.add_trace(
        go.Scatter(
            x=[lo, 1],
            y=[lo, 1],
            mode="lines",
            name="chance",
            line=dict(color="gray", dash="dash", width=1),
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(
        title_text="false positive rate", type="log" if log_x else "linear", range=[-3, 0] if log_x else [0, 1]
    )
    fig.update_yaxes(title_text="true positive rate", range=[0, 1.01])
    fig.update_layout(
        title=title or "ROC", height=480, width=560, legend=dict(x=0.35, y=0.05), margin=dict(l=60, r=20, t=60, b=50)
    )
    return fig
