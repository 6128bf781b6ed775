"""Overview: models, data source, model cards, what each page is for."""

import streamlit as st

from interpface.dashboard import common
from interpface.models.zoo import model_card

st.title("interpface — interpretable face recognition")
st.write(
    "Face-recognition CNNs whose filters each attach to one face part (Yin et al., *Towards Interpretable "
    "Face Recognition*, ICCV 2019): a hypercolumn network whose 320 response maps are pushed apart by the "
    "**SAD** loss and made robust to occlusion by the **FAD** loss."
)

handle = common.dataset_handle()
if handle is None:
    st.info(
        "No dataset configured: using the bundled reference models, precomputed analyses and sample "
        "faces. Set INTERPFACE_DATA to a folder holding LFW, or prepare a folder of your own with "
        "`interpface data prepare --dataset folder:PATH`, to browse real faces."
    )
else:
    ds, cache = handle
    found = common.datasets()
    st.success(
        f"Dataset: {found.get(common.current_dataset(), ds.name)} at {ds.image_dir} — {len(ds):,} images, "
        + ("no identities, " if not ds.has_identities else "")
        + f"{'prepared cache found' if cache is not None else 'not prepared (faces are aligned on demand)'}."
        + (
            f" Others, in the sidebar's Dataset: {', '.join(v for k, v in found.items() if k != common.current_dataset())}."
            if len(found) > 1
            else ""
        )
    )

root = common.served_models_dir()
st.caption(
    "Models are served from the bundled reference models"
    + (
        f" and the folder `{root}`"
        if root
        else " (no model folder: start with `interpface dashboard --models-dir DIR`)"
    )
    + "; a visitor can add a model only by uploading it, for their own session."
)
common.add_user_model_form()
found = common.models()
if not found:
    st.warning("No models in assets/models.")
else:
    chosen = st.multiselect("Models", list(found), default=list(found), format_func=common.label, key="ov_models")
    for name in chosen:
        uri = found[name]
        if not uri.startswith("interpface:"):
            with st.expander(f"{common.label(name)} ({name})", expanded=len(chosen) == 1), common.guarded(name):
                fm, _ = common.load(name)
                c1, c2 = st.columns(2)
                n_params = sum(p.numel() for p in fm.module.parameters())
                shown = "uploaded in this session" if uri.startswith("upload:") else f"`{uri}`"
                c1.markdown(
                    f"**Black box** {shown}: {n_params / 1e6:.1f} M parameters, a {fm.dim}-d embedding "
                    f"from a {fm.input_size}x{fm.input_size} input cut from the aligned face by its own "
                    f"alignment. Response layers: {', '.join(f'`{n}`' for n in fm.layers)} (default "
                    f"`{fm.default_layer}`: its channels are what the pages show as filters). No filter is "
                    "trained to stick to a face part: the Peak atlas and Distributions measure how much they do."
                )
                ev = common.evaluation_of(name) or {}
                if ev.get("table"):
                    c2.markdown("**Verification / identification (LFW DevTest)**")
                    c2.dataframe(ev["table"], hide_index=True)
                pre = common.precomputed(name)
                if pre is not None:
                    c2.markdown("**Interpretability**")
                    c2.json({k: v for k, v in pre.metrics.items() if not isinstance(v, (dict, list))}, expanded=False)
            continue
        card = model_card(uri.partition(":")[2])
        with st.expander(f"{card['label']} ({name})", expanded=len(chosen) == 1):
            c1, c2 = st.columns(2)
            m = card["model"] or {}
            c1.markdown(
                f"**Network**: width {m.get('width')}, N^f = {m.get('num_filters')}, "
                f"input {m.get('input_size')}², 576→576 conv: {m.get('phi_conv')}, LMF keeps "
                f"{m.get('lmf_keep')} of 576, {card['n_classes']:,} training identities"
            )
            tr = card["training"] or {}
            if tr:
                c1.markdown(
                    f"**Training**: `{tr.get('command')}` — {tr.get('steps')} steps, "
                    f"{(tr.get('train_seconds') or 0) / 60:.0f} min, {tr.get('n_train_images')} images, "
                    f"init from {tr.get('init_from') or 'scratch'}"
                )
                c1.json(tr.get("final") or {}, expanded=False)
            ev = card["evaluation"] or {}
            if ev.get("table"):
                c2.markdown("**Verification / identification (LFW DevTest)**")
                c2.dataframe(ev["table"], hide_index=True)
            pre = common.precomputed(name)
            if pre is not None:
                c2.markdown("**Interpretability**")
                c2.json({k: v for k, v in pre.metrics.items() if not isinstance(v, (dict, list))}, expanded=False)

st.caption(
    "Black boxes (the dlib port; ONNX and IResNet models from the server's folder or uploaded in the sidebar's "
    "'Add a face model') work on every page: their filters are the channels of one of their layers."
)
st.subheader("Pages")
st.markdown("""
- **Occlusion probe** — place an occluder (region, sliders, or a box drawn on the face) and see the occluded face,
  the sorted feature differences, which filters changed and their heatmaps, the cosine similarity to the clean face
  and to a second face, and the same/different decision at a chosen false-accept rate; a sensitivity sweep maps it all.
- **Filter explorer** — response heatmaps of a face's filters; one filter across many subjects and across one
  subject's images (Fig. 8); captum attributions for a dimension or a pair's similarity.
- **Peak atlas** — each filter's average peak location on the frontal template, coloured by its spread (Fig. 5).
- **Distributions** — peak-location std histograms (Fig. 9) and feature-difference curves (Figs. 6, 7).
- **Verification** — ROC curves and tables per model and condition.
- **Why this match?** — similarity / dissimilarity maps of a pair by several methods, with deletion / insertion curves.
- **Compare** — two models side by side on the same face and occlusion (ours or a black box).
- **Export** — figures as PNG/SVG/PDF/HTML, arrays as CSV/JSON, the full report.
""")
