"""Verification: ROC curves (Fig. 10) and the tables per model and condition (LFW DevTest)."""

import streamlit as st

from interpface.dashboard import common
from interpface.figures import roc_figure


def _pct(v):
    return None if v is None else round(100 * float(v), 1)


st.title("Verification and identification")
found = common.require_models()
chosen = st.multiselect("Models", found, default=found, format_func=common.label, key="ver_models")
evaluations = {n: common.evaluation_of(n) for n in chosen}
missing = [n for n, e in evaluations.items() if not e]
if missing:
    st.info(
        "No shipped evaluation for: "
        + ", ".join(common.label(m) for m in missing)
        + ". Run `interpface evaluate --checkpoint DIR --protocol lfw-devtest --json OUT`."
    )
evaluations = {n: e for n, e in evaluations.items() if e}
if evaluations:
    conditions = sorted({c for e in evaluations.values() for c in e.get("conditions", {})})
    cond = st.selectbox("Condition", conditions, key="ver_cond", bind=common.BIND) if conditions else None
    if cond:
        curves = {}
        for n, e in evaluations.items():
            r = e["conditions"].get(cond)
            if r and r.get("roc"):
                curves[common.label(n)] = {
                    "fpr": r["roc"]["far"],
                    "tpr": r["roc"]["tar"],
                    "auc": r.get("auc"),
                    "eer": r.get("eer"),
                }
        if curves:
            fig = roc_figure(
                curves,
                log_x=st.toggle("log FAR axis", True, key="ver_log"),
                title=f"ROC, LFW DevTest all pairs, {cond}",
            )
            st.plotly_chart(fig, key="ver_roc")
            common.remember_figure(f"roc_{cond}", fig)
        rows = []
        for n, e in evaluations.items():
            r = e["conditions"].get(cond) or {}
            tar = r.get("tar_at_far") or {}
            rows.append(
                {
                    "model": common.label(n),
                    "accuracy %": _pct(r.get("accuracy")),
                    "± (folds)": _pct(r.get("accuracy_std")),
                    "AUC": r.get("auc"),
                    "EER %": _pct(r.get("eer")),
                    "TAR@FAR=0.01 %": _pct(tar.get("0.01")),
                    "TAR@FAR=0.001 %": _pct(tar.get("0.001")),
                    "Rank-1 %": _pct(r.get("rank1")),
                    "Rank-5 %": _pct(r.get("rank5")),
                    "pairs": r.get("n_pairs"),
                }
            )
        st.dataframe(rows, hide_index=True)
