"""Export: any figure as PNG/SVG/PDF/HTML, the arrays as CSV/JSON, and the full report."""

import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import streamlit as st

from interpface.dashboard import common
from interpface.figures import feature_difference_figure, peak_map_figure, std_histogram_figure
from interpface.figures.report import ReportSection, render_report

st.title("Export")
found = list(common.models())
analyses = {n: a for n in found if (a := common.precomputed(n)) is not None}

# Figures: what the other pages showed in this session, plus the shipped analyses' figures.
figures = dict(st.session_state.get("last_figures", {}))
if analyses:
    figures.setdefault("peak_atlas_all_models", peak_map_figure(analyses))
    figures.setdefault(
        "std_histograms_all_models", std_histogram_figure(analyses, bins=next(iter(analyses.values())).hist_edges)
    )
    with_diffs = {n: a for n, a in analyses.items() if a.differences is not None}
    if with_diffs:
        names = next(iter(with_diffs.values())).differences.names
        figures.setdefault(
            "feature_differences_all_models",
            feature_difference_figure(
                with_diffs, regions=[r for r in ("eyes", "nose", "mouth") if r in names] or names[:2]
            ),
        )
if not figures:
    from interpface.figures.probe import face_figure

    figures["sample_face"] = face_figure(common.prepare_sample("astronaut")["crop"], title="aligned sample face")

st.subheader("A figure")
c1, c2 = st.columns([3, 1])
which = c1.selectbox("Figure", list(figures), key="exp_fig")
fmt = c2.radio("Format", ["png", "svg", "pdf", "html"], horizontal=True, key="exp_fmt")
fig = figures[which]
st.plotly_chart(fig, key="exp_preview")


def _figure_bytes(fig=fig, fmt=fmt) -> bytes:
    from interpface.figures import export_figure

    with tempfile.TemporaryDirectory() as d:
        path = export_figure(fig, Path(d) / f"figure.{fmt}")
        return path.read_bytes()


mime = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "html": "text/html"}[fmt]
with common.guarded("Export"):
    st.download_button(
        "Download figure",
        data=_figure_bytes,
        file_name=f"{which}.{fmt}",
        mime=mime,
        key="exp_download",
        on_click="ignore",
    )

st.subheader("Arrays")
if analyses:
    name = st.selectbox("Analysis of model", list(analyses), format_func=common.label, key="exp_arr_model")
    a = analyses[name]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["filter", "pos_x", "pos_y", "pos_std", "neg_x", "neg_y", "neg_std", "pos_presence", "neg_presence"])
    for k in range(len(a.std)):
        w.writerow(
            [
                k,
                *np.round(a.mean_xy[k, 0], 3),
                round(float(a.std[k, 0]), 3),
                *np.round(a.mean_xy[k, 1], 3),
                round(float(a.std[k, 1]), 3),
                round(float(a.peak_presence[k, 0]), 4),
                round(float(a.peak_presence[k, 1]), 4),
            ]
        )
    c1, c2 = st.columns(2)
    c1.download_button(
        "Per-filter peaks (CSV)",
        buf.getvalue(),
        file_name=f"{name}_peaks.csv",
        mime="text/csv",
        key="exp_csv",
        on_click="ignore",
    )
    c2.download_button(
        "Metrics (JSON)",
        json.dumps(a.metrics, indent=2, default=float),
        file_name=f"{name}_metrics.json",
        mime="application/json",
        key="exp_json",
        on_click="ignore",
    )
else:
    st.info("No precomputed analyses to export.")

st.subheader("Full report")
st.caption(
    "One self-contained HTML file: the shipped analyses and evaluations of every model side by side. "
    "For a report computed from scratch on the dataset, run `interpface report --checkpoints A,B --out DIR`."
)


def _report() -> bytes:
    sections = []
    if analyses:
        rows = [
            {"model": n, **{k: v for k, v in a.metrics.items() if not isinstance(v, (dict, list))}}
            for n, a in analyses.items()
        ]
        sections.append(
            ReportSection(
                "Interpretability",
                "Average peak locations (Fig. 5) and their spread.",
                {k: v for k, v in figures.items() if k.endswith("all_models")},
                {"metrics": rows},
            )
        )
    ev_rows = []
    for n in found:
        e = common.evaluation_of(n) or {}
        for cond, r in (e.get("conditions") or {}).items():
            ev_rows.append(
                {
                    "model": n,
                    "condition": cond,
                    "accuracy": r.get("accuracy"),
                    "auc": r.get("auc"),
                    "eer": r.get("eer"),
                    "rank1": r.get("rank1"),
                }
            )
    if ev_rows:
        sections.append(ReportSection("Verification (LFW DevTest)", tables={"results": ev_rows}))
    extra = {k: v for k, v in figures.items() if not k.endswith("all_models")}
    if extra:
        sections.append(ReportSection("Figures from this session", figures=extra))
    return render_report("interpface report", sections).encode()


with common.guarded("Report"):
    st.download_button(
        "Download the full report (HTML)",
        data=_report,
        file_name="interpface_report.html",
        mime="text/html",
        key="exp_report",
        on_click="ignore",
    )
