"""Failures: where a model's verification goes wrong on a dataset. Its false accepts and false rejects
at a false accept rate (both faces, score, margin; a click opens the pair in "Why this match?"), the
error rate of every slice with its bootstrap interval (a click on a slice filters the gallery), and a
map of the dataset's faces coloured by identity, slice or mistake (a click or lasso shows the faces;
one goes to the Occlusion probe). Computed once per model, dataset and pairs, kept on disk."""

import hashlib
import json
import os

import numpy as np
import streamlit as st

from interpface.dashboard import common
from interpface.evaluation.failures import FailureReport, find_failures
from interpface.faces.occluders import CONDITION_KINDS
from interpface.figures.failures import RATE_LABELS, embedding_map_figure, slice_figure, slice_label

FARS = (1e-3, 1e-2, 1e-1)  # 1e-1: the only one a small set (a few hundred impostor pairs) resolves
CONDITIONS = ["clean", "synthetic", *CONDITION_KINDS]
PROTOCOLS = {
    "lfw-devtest": "LFW DevTest: all pairs of its faces",
    "lfw-view2": "LFW View 2: the pairs of pairs.txt",
    "all-pairs": "all pairs of the dataset's faces",
}
EVERY = "(every slice)"
# smaller sets are analysed on opening the page; larger ones on a click (the operator may change it)
AUTO_RUN_FACES = int(os.environ.get("INTERPFACE_FAILURES_AUTO_FACES", "500"))
UMAP_MIN_FACES = 100  # fewer faces: PCA (a UMAP of a handful of points says nothing)
GALLERY = 8
PER_ROW = 4
VERSION = 1  # of the on-disk report: bump when find_failures' output changes


@st.cache_resource(max_entries=8, show_spinner="Loading the failure analysis...")
def _load(folder: str, stamp: float) -> FailureReport:
    """The report saved in a folder (stamp: its mtime, so a recomputed one is read again). Shared by
    every session: never mutated."""
    return FailureReport.load(folder)


@st.cache_resource(max_entries=8, show_spinner="Drawing the embedding map (once per model and dataset)...")
def _map(folder: str, stamp: float, n_usable: int) -> tuple[np.ndarray, str]:
    """(M, 2) map of the report's clean embeddings and its method, kept beside the report."""
    from pathlib import Path

    from interpface.evaluation.projection import embedding_map, umap_available

    d = Path(folder)
    for method in ("umap", "pca"):
        if (d / f"map_{method}.npy").is_file():
            return np.load(d / f"map_{method}.npy"), method
    method = "umap" if umap_available() and n_usable >= UMAP_MIN_FACES else "pca"
    xy, used = embedding_map(_load(folder, stamp).embeddings, method)
    np.save(d / f"map_{used}.npy", xy)
    return xy, used


def _folder(model_key: str, dataset_key: str, protocol: str, conditions: list[str]):
    from interpface.faces.prepare import cache_root

    spec = json.dumps([VERSION, model_key, dataset_key, protocol, conditions, list(FARS)])
    return cache_root() / "failures" / hashlib.sha256(spec.encode()).hexdigest()[:16]


def _face_params(prefix: str, identity: str, relpath: str) -> dict | None:
    """Query parameters that show a dataset image in a face picker (pick_face with this key prefix)."""
    images = people.get(identity or relpath, [])
    if relpath not in images:
        return None
    return {
        f"{prefix}_src": "Dataset",
        f"{prefix}_person": identity or relpath,
        f"{prefix}_img": str(images.index(relpath) + 1),
    }


def _stem(relpath: str) -> str:
    return relpath.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _n_faces(protocol: str) -> int:
    """How many faces the pairs need (what the first analysis embeds)."""
    if protocol == "all-pairs":
        return int(cache.usable().sum())
    from interpface.faces.datasets import LFWProtocols

    lfw = LFWProtocols.load(ds.protocol_dir)
    if protocol == "lfw-devtest":
        return len(lfw.dev_test_images)
    return len({p for q in lfw.view2_pairs for p in (q.a, q.b)})


def _common_params() -> dict:
    """The model and dataset of this view, as their (URL-bound) pickers write them: by label."""
    params = {"model": common.label(name)}
    found = common.datasets()
    if len(found) > 1:
        params["dataset"] = found[dataset_id]
    return params


def _in_slice(record: dict, chosen: dict | None, report: FailureReport) -> bool:
    if chosen is None:
        return True
    if chosen["column"] == "condition":
        return record["condition"] == chosen["value"]
    values = report.images["slices"].get(chosen["column"])
    if values is None:
        return False
    hits = [values[record["position_a"]] == chosen["value"], values[record["position_b"]] == chosen["value"]]
    return any(hits) if report.slices["membership"] == "any" else all(hits)


def _pick_slice_from_chart():
    event = st.session_state.get("fail_chart")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if points:
        st.session_state["fail_slice"] = points[0].get("customdata") or points[0].get("y")


def _pick_slice_from_table():
    event = st.session_state.get("fail_table")
    rows = (event or {}).get("selection", {}).get("rows", []) if event else []
    labels = st.session_state.get("fail_table_labels", [])
    if rows and rows[0] < len(labels):
        st.session_state["fail_slice"] = labels[rows[0]]


st.title("Failures")
name = common.pick_model()
if name is None:
    st.stop()
dataset_id = common.current_dataset()
handle = common.dataset_handle(dataset_id) if dataset_id else None
if handle is None:
    st.info("No dataset here: configure LFW (INTERPFACE_DATA) or prepare a folder with `interpface data prepare`.")
    st.stop()
ds, cache = handle
if cache is None:
    st.info(
        f"{common.datasets().get(dataset_id, dataset_id)} is not prepared: run `interpface data prepare --dataset lfw` "
        "(a few minutes), then reload."
    )
    st.stop()

protocols = ["lfw-devtest", "lfw-view2"] if dataset_id == common.LFW else ["all-pairs"]
c1, c2 = st.columns([1, 1])
protocol = c1.selectbox(
    "Pairs", protocols, format_func=lambda p: PROTOCOLS.get(p, p), key="fail_protocol", bind=common.BIND
)
conditions = c2.multiselect(
    "Conditions (the first sets the thresholds; occluders on the probe side)",
    CONDITIONS,
    default=["clean"],
    key="fail_conditions",
    bind=common.BIND,
)
if not conditions:
    st.info("Choose at least one condition.")
    st.stop()

folder = _folder(common.model_key(name), str(cache.directory), protocol, list(conditions))
report_file = folder / "report.json"
if not report_file.is_file():
    n_faces = _n_faces(protocol)
    auto = n_faces <= AUTO_RUN_FACES
    if not auto:
        st.info(
            f"{common.label(name)} has not been analysed on these pairs yet: about {n_faces:,} faces to embed "
            "(a minute or two here), then kept on disk for every visitor."
        )
    if auto or st.button("Find the failures", key="fail_run", type="primary"):
        with common.guarded("Failure analysis"), st.spinner("Embedding the faces, scoring every pair, slicing..."):
            model, _ = common.load(name)
            found = find_failures(
                model,
                ds,
                protocol=protocol,
                fars=FARS,
                conditions=list(conditions),
                top=500,
                name=common.label(name),
            )
            found.save(folder)
            st.rerun()
    st.stop()

report = _load(str(folder), report_file.stat().st_mtime)
info = report.info
people = common.dataset_people(dataset_id)  # {person: [relpath, ...]}: where a face sits in the face pickers
fars = [k for k in info["far_keys"] if report.fars[k].get("resolvable")]
if not fars:
    st.warning(" ".join(report.fars[k]["note"] for k in info["far_keys"]))
    st.stop()
far = st.selectbox(
    "False accept rate (operating point)",
    fars,
    index=min(1, len(fars) - 1),
    key="fail_far",
    bind=common.BIND,
    help="The threshold reaching this FAR on the first condition's pairs; every rate below is read at it.",
)
f = report.fars[far]
m1, m2, m3, m4 = st.columns(4)
m1.metric("threshold (cosine)", f"{f['threshold']:.3f}")
m2.metric("false accepts", f"{f['n_false_accepts']:,}")
m3.metric("false rejects", f"{f['n_false_rejects']:,}")
ci = f.get("frr_ci")
m4.metric(
    "false reject rate",
    f"{100 * f['frr']:.1f}%",
    help=None if not ci else f"95% interval {100 * ci[0]:.1f}–{100 * ci[1]:.1f}%",
)
st.caption(
    f"{info['n_pairs']:,} pairs of {info['n_usable']:,} faces ({info['n_genuine']:,} genuine) under "
    f"{', '.join(info['conditions'])}. Intervals: {report.slices['kind']} ({report.slices['n_resamples']} "
    "resamples); a pair is in a slice when either face is."
)

# ---- slices
st.subheader("Where it fails: error rates per slice")
rows = report.slices["slices"][far]
ranked = [r for r in rows if r.get("frr") is not None or r.get("far") is not None]
labels = [slice_label(r) for r in ranked]
if st.session_state.get("fail_slice") not in [EVERY, *labels]:
    st.session_state.pop("fail_slice", None)
rate = st.radio(
    "Rate",
    ["frr", "far"],
    format_func=RATE_LABELS.get,
    horizontal=True,
    key="fail_rate",
    bind=common.BIND,
)
whole = report.slices["whole"][far]
fig = slice_figure(ranked, rate, whole=whole[rate], whole_ci=whole[f"{rate}_ci"], top=15)
st.plotly_chart(fig, key="fail_chart", on_select=_pick_slice_from_chart, selection_mode=("points",))
common.remember_figure(f"failures_slices_{far}_{rate}", fig)
table = [
    {
        "slice": lab,
        "FRR %": None if r["frr"] is None else round(100 * r["frr"], 1),
        "FRR 95% interval": "" if not r.get("frr_ci") else f"{100 * r['frr_ci'][0]:.1f} – {100 * r['frr_ci'][1]:.1f}",
        "vs whole (points)": None if r["frr_diff"] is None else round(100 * r["frr_diff"], 1),
        "beyond": "yes" if r["frr_beyond"] else "",
        "FAR %": None if r["far"] is None else round(100 * r["far"], 3),
        "FAR 95% interval": "" if not r.get("far_ci") else f"{100 * r['far_ci'][0]:.3f} – {100 * r['far_ci'][1]:.3f}",
        "faces": r["n_images"],
        "people": r.get("n_identities"),
        "genuine pairs": r["n_genuine"],
        "impostor pairs": r["n_impostor"],
    }
    for lab, r in zip(labels, ranked)
]
st.session_state["fail_table_labels"] = labels
st.dataframe(
    table,
    hide_index=True,
    height=min(320, 35 * (len(table) + 1) + 3),
    key="fail_table",
    on_select=_pick_slice_from_table,
    selection_mode="single-row",
)
st.caption(
    "Worst false reject rate first; beyond: the whole set's rate lies outside the slice's interval. A click on a "
    "slice (chart or table) filters the mistakes below."
)

# ---- the gallery
st.subheader("The mistakes, largest margin first")
g1, g2, g3 = st.columns([2, 2, 1])
kind = g1.radio(
    "Show",
    ["false_rejects", "false_accepts"],
    format_func=lambda k: {
        "false_rejects": "false rejects (one person)",
        "false_accepts": "false accepts (two people)",
    }[k],
    horizontal=True,
    key="fail_kind",
    bind=common.BIND,
)
chosen_label = g2.selectbox("In slice", [EVERY, *labels], key="fail_slice", bind=common.BIND)
count = int(g3.number_input("How many", PER_ROW, 60, GALLERY, step=PER_ROW, key="fail_n", bind=common.BIND))
chosen = None if chosen_label == EVERY else ranked[labels.index(chosen_label)]
records = [r for r in f[kind] if _in_slice(r, chosen, report)][:count]
if not records:
    st.info("No such mistake" + ("" if chosen is None else f" in {chosen_label}") + f" among the {len(f[kind])} kept.")
for start in range(0, len(records), PER_ROW):
    for col, r in zip(st.columns(PER_ROW), records[start : start + PER_ROW]):
        box = col.container(border=True)
        with common.guarded("Pair"):
            a, b = (common.prepare_dataset_image(r[k], dataset_id)["crop"] for k in ("a", "b"))
            gap = np.full((a.shape[0], 4, 3), 255, np.uint8)
            box.image(np.concatenate([a, gap, b], axis=1), width="stretch")  # the two faces side by side
        box.markdown(
            f"score **{r['score']:.3f}** · margin **{r['margin']:.3f}**"
            + ("" if r["condition"] == "clean" else f" · {r['condition']}")
        )
        box.caption(
            f"{_stem(r['a'])}  \n{_stem(r['b'])}  \n{r['detector_a']} / {r['detector_b']}, fit "
            f"{r['fit_residual_a']} / {r['fit_residual_b']} px"
        )
        pa, pb = _face_params("pair_a", r["identity_a"], r["a"]), _face_params("pair_b", r["identity_b"], r["b"])
        if pa and pb:
            box.page_link(
                "views/pair.py",
                label="Why this match?",
                icon=":material/join_inner:",
                query_params={**_common_params(), **pa, **pb},
            )

# ---- the map
st.subheader("The faces on a map")
columns = [c for c in report.images["slices"] if any(v is not None for v in report.images["slices"][c])]
colour = st.selectbox(
    "Colour by",
    ["mistake", "identity", *columns],
    key="fail_colour",
    bind=common.BIND,
    help="mistake: whether a face takes part in a false accept / reject at this FAR.",
)
with common.guarded("Embedding map"):
    xy, method = _map(str(folder), report_file.stat().st_mtime, info["n_usable"])
    usable = np.flatnonzero(np.array(report.images["usable"]) & np.isfinite(xy).all(axis=1))
    keys, ids = report.images["keys"], report.images["identities"]
    if colour == "mistake":
        fa = np.array(f["per_image"]["false_accepts"]) > 0
        fr = np.array(f["per_image"]["false_rejects"]) > 0
        values = np.where(fa & fr, "both", np.where(fa, "false accept", np.where(fr, "false reject", "none")))
        kind_ = "mistake"
    elif colour == "identity":
        values, kind_ = np.array(ids, dtype=object), "identity"
    else:
        values, kind_ = np.array(report.images["slices"][colour], dtype=object), "category"
    mfig = embedding_map_figure(
        xy[usable],
        values[usable],
        kind=kind_,
        hover=[keys[p] for p in usable],
        title=f"{info['dataset_label']} faces by {colour}",
        method=method,
    )
    event = st.plotly_chart(mfig, key="fail_map", on_select="rerun", selection_mode=("points", "box", "lasso"))
    common.remember_figure("failures_map", mfig)
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    picked = []
    for p in points:
        cd = p.get("customdata")
        cd = cd[0] if isinstance(cd, list) else cd
        if cd is not None and int(cd) < len(usable):
            picked.append(int(usable[int(cd)]))
    if not picked:
        st.caption(
            f"{method.upper()} of the clean embeddings ({len(usable):,} faces). Click a face, or draw a lasso, to see them."
        )
    else:
        st.caption(f"{len(picked)} face(s) selected; the first 12:")
        cols = st.columns(6)
        for j, p in enumerate(picked[:12]):
            with cols[j % 6]:
                st.image(report.thumbnails[p], width=96, caption=keys[p].split("/")[-1])
                params = _face_params("probe_face", ids[p], keys[p])
                if params:
                    st.page_link(
                        "views/probe.py",
                        label="Probe",
                        icon=":material/visibility_off:",
                        query_params={**_common_params(), **params},
                        help="Open this face in the Occlusion probe",
                    )
