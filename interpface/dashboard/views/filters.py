"""Filter explorer: response heatmaps of a face, one filter across subjects and across one subject
(paper Figs. 1 and 8), and captum attributions."""

import numpy as np
import streamlit as st
import torch

from interpface.analysis.probe import respond
from interpface.dashboard import common
from interpface.figures.probe import response_grid
from interpface.models.face_model import PART_FILTERS

st.title("Filter explorer")
name = common.pick_model()
if name is None:
    st.stop()
model, info = common.load(name)
black_box = not model.has(PART_FILTERS)  # no part filters: the channels of one of its layers instead
layer = common.pick_layer(
    model,
    "flt_layer",
    "Channels of this layer are shown as its filters, resampled from the model's own input into the aligned face.",
)


def _respond(faces: list[dict]):
    """One FaceResponse per face (ours: psi' over the central 96 px; a black box: `layer` over the crop)."""
    return respond(model, np.stack([f["crop"] for f in faces]), np.stack([f["landmarks"] for f in faces]), layer)


def _strength(resp) -> np.ndarray:
    """How strongly each map responds on a face: |f_k| (ours), mean |channel| (a black box)."""
    return np.abs(resp.f) if not black_box else np.nan_to_num(np.nanmean(np.abs(resp.psi_smooth), axis=(1, 2)))


with common.guarded("Model"):
    n_filters = model.dim if not black_box else _respond([common.prepare_sample("astronaut")])[0].psi_smooth.shape[0]
unit = "Channel" if black_box else "Filter"

tab_face, tab_across, tab_attr = st.tabs(["One face", "One filter across faces", "Attributions (captum)"])

with tab_face:
    face = common.pick_face("flt_face", text="Face")
    if face is not None:
        resp = _respond([face])[0]
        how = st.radio(
            f"{unit}s", ["Strongest on this face", "Choose"], horizontal=True, key="flt_how", bind=common.BIND
        )
        if how == "Choose":
            chosen = st.multiselect(
                f"{unit} ids", list(range(n_filters)), default=[0, 1, 2, 3], key="flt_ids", bind=common.BIND
            )
        else:
            k = st.slider("How many", 1, 16, 8, key="flt_k", bind=common.BIND)
            chosen = [int(i) for i in np.argsort(-_strength(resp), kind="stable")[:k]]
        if chosen:
            fig = response_grid(
                [face["crop"]],
                [resp.psi_smooth],
                chosen,
                titles=[face["label"][:20]],
                landmarks=[face["landmarks"]],
                span=resp.span,
                layer=layer,
            )
            st.plotly_chart(fig, key="flt_grid")
            common.remember_figure("filter_grid", fig)
            links = st.columns(min(len(chosen), 8))
            for col, kk in zip(links, chosen[:8]):
                col.page_link(
                    "views/card.py",
                    label=f"Card of #{kk}",
                    icon=":material/badge:",
                    query_params={"model": common.label(name), "card_filter": kk},
                )

with tab_across:
    k = st.number_input(f"{unit} id", 0, n_filters - 1, 0, key="flt_one", bind=common.BIND)
    handle = common.dataset_handle()
    faces, titles = [], []
    with common.guarded("Faces"):
        people = common.dataset_people() if handle is not None else {}
        # subjects with several images, most images first (LFW: 8 or more; a small dataset: whatever it has)
        many = sorted((p for p in people if len(people[p]) >= 2), key=lambda p: (-len(people[p]), p))
        many = [p for p in many if len(people[p]) >= min(8, len(people[many[0]]))] if many else []
        if many:
            subject = st.selectbox(
                "One subject",
                many,
                index=many.index("Colin_Powell") if "Colin_Powell" in many else 0,
                key="flt_subject",
                bind=common.BIND,
            )
            n = st.slider("Faces per row", 3, 10, 6, key="flt_n")
            pool = [p for p in (many if len(many) > n else people) if p != subject]
            others = pool[:: max(1, len(pool) // n)][:n]
            rows = {"different subjects": [people[p][0] for p in others], f"{subject}": people[subject][:n]}
            for row_title, rels in rows.items():
                fs = [common.prepare_dataset_image(r) for r in rels]
                resps = _respond(fs)
                fig = response_grid(
                    [f["crop"] for f in fs],
                    [r.psi_smooth for r in resps],
                    [int(k)],
                    titles=[r.split("/")[-1][:-4] for r in rels],
                    landmarks=[f["landmarks"] for f in fs],
                    span=resps[0].span,
                    layer=layer,
                )
                st.markdown(f"**{unit} #{k} — {row_title}**")
                st.plotly_chart(fig, key=f"flt_across_{row_title}")
        else:
            st.info(
                "No dataset configured"
                + (" (or no subject with several images)" if handle is not None else "")
                + ": showing the bundled sample faces."
            )
            fs = [common.prepare_sample(s) for s in ("astronaut", "grace_hopper")]
            resps = _respond(fs)
            st.plotly_chart(
                response_grid(
                    [f["crop"] for f in fs],
                    [r.psi_smooth for r in resps],
                    [int(k)],
                    titles=["astronaut", "grace_hopper"],
                    landmarks=[f["landmarks"] for f in fs],
                    span=resps[0].span,
                    layer=layer,
                ),
                key="flt_across_samples",
            )

with tab_attr:
    st.caption("Pixel attributions of one embedding dimension, or of the cosine similarity to a second face.")
    face = common.pick_face("attr_face", text="Face")
    target = st.radio(
        "Target", ["One dimension", "Similarity to a second face"], horizontal=True, key="attr_target", bind=common.BIND
    )
    other = common.pick_face("attr_other", text="Second face") if target != "One dimension" else None
    n_dims = n_filters if not black_box else model.dim
    dim = (
        st.number_input("Dimension", 0, n_dims - 1, 0, key="attr_dim", bind=common.BIND)
        if target == "One dimension"
        else None
    )
    methods = (["LayerGradCam (on psi)"] if not black_box else []) + ["IntegratedGradients", "Occlusion"]
    method = st.selectbox("Method", methods, key="attr_method", bind=common.BIND)
    if black_box:
        st.caption(
            f"{common.label(name)} is a black box: the attribution is computed and drawn on its own input "
            f"({model.input_size}x{model.input_size}, cut from the aligned face by its own alignment)."
        )
    if face is not None and (other is not None or dim is not None) and st.button("Compute", key="attr_go"):
        with common.guarded("Attribution"), st.spinner("Computing attribution..."):
            from interpface.analysis import attribute
            from interpface.figures import attribution_figure

            shown, net, x, ref = face["crop"], model.input_net(), face["crop"], None if other is None else other["crop"]
            if black_box:
                chips = common.model_inputs(model, [face] + ([other] if other is not None else []))
                shown = chips[0]
                x = torch.from_numpy(chips[0]).permute(2, 0, 1).float() / 255.0
                ref = None if other is None else torch.from_numpy(chips[1]).permute(2, 0, 1).float() / 255.0
            attr = attribute(
                net, x, method=method.split(" ")[0], dimension=None if dim is None else int(dim), other_crop=ref
            )
            fig = attribution_figure(shown, attr, title=method)
            st.plotly_chart(fig, key="attr_fig")
            common.remember_figure("attribution", fig)
