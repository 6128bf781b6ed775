"""interpface dashboard: `interpface dashboard` (or `streamlit run dashboard/app.py`)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so pages can `from dashboard import common`
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="interpface", page_icon=":material/face:", layout="wide")

PAGES = Path(__file__).resolve().parent / "pages"
pages = [
    st.Page(PAGES / "overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page(PAGES / "probe.py", title="Occlusion probe", icon=":material/visibility_off:"),
    st.Page(PAGES / "filters.py", title="Filter explorer", icon=":material/grid_view:"),
    st.Page(PAGES / "atlas.py", title="Peak atlas", icon=":material/scatter_plot:"),
    st.Page(PAGES / "distributions.py", title="Distributions", icon=":material/bar_chart:"),
    st.Page(PAGES / "verification.py", title="Verification", icon=":material/verified_user:"),
    st.Page(PAGES / "pair.py", title="Why this match?", icon=":material/join_inner:"),
    st.Page(PAGES / "compare.py", title="Compare", icon=":material/compare:"),
    st.Page(PAGES / "export.py", title="Export", icon=":material/download:"),
]
st.navigation(pages).run()
