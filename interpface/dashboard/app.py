"""interpface dashboard: `interpface dashboard` (or `streamlit run` on this file)."""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="interpface", page_icon=":material/face:", layout="wide")

# Not "pages/": Streamlit serves a folder of that name as legacy pages to a visitor who opens a page
# URL (a shared link) before app.py has run once, without this navigation or the wide layout.
VIEWS = Path(__file__).resolve().parent / "views"
pages = [
    st.Page(VIEWS / "overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page(VIEWS / "probe.py", title="Occlusion probe", icon=":material/visibility_off:"),
    st.Page(VIEWS / "filters.py", title="Filter explorer", icon=":material/grid_view:"),
    st.Page(VIEWS / "atlas.py", title="Peak atlas", icon=":material/scatter_plot:"),
    st.Page(VIEWS / "card.py", title="Filter card", icon=":material/badge:"),
    st.Page(VIEWS / "distributions.py", title="Distributions", icon=":material/bar_chart:"),
    st.Page(VIEWS / "verification.py", title="Verification", icon=":material/verified_user:"),
    st.Page(VIEWS / "pair.py", title="Why this match?", icon=":material/join_inner:"),
    st.Page(VIEWS / "failures.py", title="Failures", icon=":material/report:"),
    st.Page(VIEWS / "compare.py", title="Compare", icon=":material/compare:"),
    st.Page(VIEWS / "export.py", title="Export", icon=":material/download:"),
]
page = st.navigation(pages)
with st.sidebar:
    from interpface.dashboard import common

    with common.guarded("Datasets"):
        common.pick_dataset()  # one picker for every page that shows dataset faces (bound to the URL)
page.run()
