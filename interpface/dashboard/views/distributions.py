"""Distributions: peak-location std histograms (Fig. 9), feature-difference curves (Fig. 6) and
difference-vs-location maps (Fig. 7) for one or more models."""

import streamlit as st

from interpface.dashboard import common
from interpface.figures import difference_location_figure, feature_difference_figure, std_histogram_figure

st.title("Distributions")
found = common.require_models()
chosen = st.multiselect("Models", found, default=found, format_func=common.label, key="dist_models")
analyses = common.analyses_for(chosen)
if not analyses:
    st.stop()

st.subheader("How tightly each filter sticks to one place (Fig. 9)")
fig = std_histogram_figure(analyses, bins=next(iter(analyses.values())).hist_edges)
st.plotly_chart(fig, key="dist_hist")
common.remember_figure("std_histograms", fig)
# metric key -> (column label, number format); a black box without negative peaks shows None there
SUMMARY_COLUMNS = {
    "spread_pos": ("spread + (px)", "%.2f"),
    "spread_neg": ("spread − (px)", "%.2f"),
    "hull_fraction_pos": ("hull fraction +", "%.3f"),
    "hull_fraction_neg": ("hull fraction −", "%.3f"),
    "regions_covered_pos": ("regions +", "%d"),
    "regions_covered_neg": ("regions −", "%d"),
    "median_peak_std_pos": ("median std + (px)", "%.2f"),
    "median_peak_std_neg": ("median std − (px)", "%.2f"),
    "location_instability": ("instability", "%.4f"),
}
rows = [{"model": common.label(n), **{k: a.metrics.get(k) for k in SUMMARY_COLUMNS}} for n, a in analyses.items()]
st.dataframe(
    rows,
    hide_index=True,
    column_config={k: st.column_config.NumberColumn(label, format=fmt) for k, (label, fmt) in SUMMARY_COLUMNS.items()},
)

with_diffs = {n: a for n, a in analyses.items() if a.differences is not None}
if with_diffs:
    names = next(iter(with_diffs.values())).differences.names
    st.subheader("What an occlusion changes (Fig. 6)")
    regions = st.multiselect(
        "Occluded regions",
        names,
        default=[r for r in ("eyes", "nose", "mouth") if r in names] or names[:2],
        key="dist_regions",
    )
    if regions:
        fig6 = feature_difference_figure(with_diffs, regions=regions)
        st.plotly_chart(fig6, key="dist_fig6")
        common.remember_figure("feature_differences", fig6)
    st.subheader("Where the changed filters sit (Fig. 7)")
    sign = st.radio("Peaks", ["pos", "neg"], horizontal=True, key="dist_sign")
    fig7 = difference_location_figure(with_diffs, names=regions or None, sign=sign)
    st.plotly_chart(fig7, key="dist_fig7")
    common.remember_figure("difference_locations", fig7)
else:
    st.info("These analyses hold no feature differences.")
