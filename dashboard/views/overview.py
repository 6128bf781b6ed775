"""Overview: models, data source, model cards, what each page is for."""

import streamlit as st

from dashboard import common
from interpface.models.zoo import model_card

st.title("interpface — interpretable face recognition")
st.write(
    "Face-recognition CNNs whose filters each attach to one face part (Yin et al., *Towards Interpretable "
    "Face Recognition*, ICCV 2019): a hypercolumn network whose 320 response maps are pushed apart by the "
    "**SAD** loss and made robust to occlusion by the **FAD** loss.")

handle = common.dataset_handle()
if handle is None:
    st.info("No dataset configured: using the bundled reference models, precomputed analyses and sample "
            "faces. Set INTERPFACE_DATA to a folder holding LFW to browse real faces.")
else:
    ds, cache = handle
    st.success(f"Dataset: {ds.name} at {ds.image_dir} — {len(ds):,} images, "
               f"{'prepared cache found' if cache is not None else 'not prepared (faces are aligned on demand)'}.")

found = common.models()
if not found:
    st.warning("No models in assets/models.")
else:
    chosen = st.multiselect("Models", list(found), default=list(found), format_func=common.label, key="ov_models")
    for name in chosen:
        card = model_card(found[name])
        with st.expander(f"{card['label']} ({name})", expanded=len(chosen) == 1):
            c1, c2 = st.columns(2)
            m = card["model"] or {}
            c1.markdown(f"**Network**: width {m.get('width')}, N^f = {m.get('num_filters')}, "
                        f"input {m.get('input_size')}², 576→576 conv: {m.get('phi_conv')}, LMF keeps "
                        f"{m.get('lmf_keep')} of 576, {card['n_classes']:,} training identities")
            tr = card["training"] or {}
            if tr:
                c1.markdown(f"**Training**: `{tr.get('command')}` — {tr.get('steps')} steps, "
                            f"{(tr.get('train_seconds') or 0) / 60:.0f} min, {tr.get('n_train_images')} images, "
                            f"init from {tr.get('init_from') or 'scratch'}")
                c1.json(tr.get("final") or {}, expanded=False)
            ev = card["evaluation"] or {}
            if ev.get("table"):
                c2.markdown("**Verification / identification (LFW DevTest)**")
                c2.dataframe(ev["table"], hide_index=True)
            try:
                from interpface.analysis import load_precomputed

                pre = load_precomputed(name)
                if pre is not None:
                    c2.markdown("**Interpretability**")
                    c2.json({k: v for k, v in pre["metrics"].items() if not isinstance(v, (dict, list))}, expanded=False)
            except Exception:  # noqa: BLE001 - analysis module optional here
                pass

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
- **Compare** — two models side by side on the same face and occlusion.
- **Export** — figures as PNG/SVG/PDF/HTML, arrays as CSV/JSON, the full report.
""")
