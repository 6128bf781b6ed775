"""Side-by-side bars of the per-model analysis numbers (with their bootstrap spread over images), and
the table behind them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpface.figures._base import color

__all__ = ["SUMMARY_METRICS", "metrics_table", "metrics_bar_figure"]

#: (key, label) of the scalar metrics compared across models.
SUMMARY_METRICS = (
    ("spread_pos", "spread, positive (px)"),
    ("spread_neg", "spread, negative (px)"),
    ("hull_fraction_pos", "hull fraction, positive"),
    ("hull_fraction_neg", "hull fraction, negative"),
    ("regions_covered_pos", "regions covered, positive"),
    ("regions_covered_neg", "regions covered, negative"),
    ("median_peak_std_pos", "median peak std, positive (px)"),
    ("median_peak_std_neg", "median peak std, negative (px)"),
    ("location_instability", "location instability (Zhang)"),
)


def metrics_table(metrics: Mapping[str, Mapping], keys=None) -> list[dict]:
    """Rows {"model", key: value, key + "_sd": bootstrap std (when known), ...} for scalar metrics and
    the per-region mean feature differences ("mfd_<region>")."""
    keys = [k for k, _ in SUMMARY_METRICS] if keys is None else list(keys)
    rows = []
    for name, m in metrics.items():
        row: dict = {"model": name}
        boot = m.get("bootstrap", {}) or {}
        for k in keys:
            row[k] = m.get(k)
            if k in boot:
                row[f"{k}_sd"] = boot[k].get("std")
        for region, v in (m.get("mean_feature_difference") or {}).items():
            row[f"mfd_{region}"] = v
            b = boot.get(f"mean_feature_difference/{region}")
            if b:
                row[f"mfd_{region}_sd"] = b.get("std")
        for region, v in (m.get("feature_difference_dims_50") or {}).items():
            row[f"dims50_{region}"] = v
        rows.append(row)
    return rows


def metrics_bar_figure(
    metrics: Mapping[str, Mapping], keys=None, *, title: str | None = None, cols: int = 3
) -> go.Figure:
    """One panel per metric, one bar per model (error bars: bootstrap std over images when present).
    metrics: model name -> metrics.json dict. Traces: one go.Bar per metric (name = the metric key)."""
    known = dict(SUMMARY_METRICS)
    items = list(SUMMARY_METRICS) if keys is None else [(k, known.get(k, k)) for k in keys]
    rows = int(np.ceil(len(items) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[lbl for _, lbl in items], vertical_spacing=0.12)
    names = list(metrics)
    for i, (k, _) in enumerate(items):
        vals = [metrics[n].get(k) for n in names]
        sds = [((metrics[n].get("bootstrap") or {}).get(k) or {}).get("std") for n in names]
        fig.add_trace(
            go.Bar(
                x=names,
                y=[np.nan if v is None else v for v in vals],
                name=k,
                showlegend=False,
                marker_color=[color(j) for j in range(len(names))],
                error_y=dict(type="data", array=[0 if s is None else s for s in sds], visible=any(sds)),
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_layout(
        title=title or "Analysis numbers per model (error bars: bootstrap std over images)",
        height=280 * rows + 80,
        width=320 * cols + 60,
        margin=dict(l=40, r=20, t=80, b=40),
    )
    return fig
