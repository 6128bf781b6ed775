"""Filter card: everything about one filter — where its peaks sit on the template (mean, std
ellipse, region), its heatmap on a face, the DevTest faces it fires on most, and how much occluding
each face region changes it. Opened from the Peak atlas (click a point), the Filter explorer, or by
number; the filter is in the URL."""

import cv2
import numpy as np
import streamlit as st

from interpface.analysis.probe import respond
from interpface.analysis.top_faces import THUMB_WINDOW, thumb_origin
from interpface.dashboard import common
from interpface.faces.template import default_template
from interpface.figures.filter_card import filter_location_figure, filter_region, region_effect, region_effect_figure
from interpface.figures.probe import response_grid
from interpface.models.face_model import PART_FILTERS

#: Displayed width of a top-face crop (px): the stored 32 px thumbnails upscaled, legible at 1400 px.
SHOWN = 168

st.title("Filter card")
name = common.pick_model()
if name is None:
    st.stop()
model, info = common.load(name)
black_box = not model.has(PART_FILTERS)
layer = model.default_layer if black_box else None  # a black box's "filters": its default layer's channels
n_filters = 0
if black_box:
    with common.guarded("Model"):
        n_filters = respond(
            model,
            common.prepare_sample("astronaut")["crop"][None],
            common.prepare_sample("astronaut")["landmarks"][None],
        )[0].psi_smooth.shape[0]
    st.caption(
        f"{common.label(name)} is a black box: a filter here is a channel of its layer `{layer}`, "
        "resampled from its own input into the aligned face."
    )
else:
    n_filters = model.dim
if not n_filters:
    st.stop()
analysis = common.precomputed(name)
if analysis is not None and analysis.n_filters != n_filters:
    st.warning(
        f"The precomputed analysis of {common.label(name)} has {analysis.n_filters} filters, the model "
        f"{n_filters}: it belongs to another model and is not used."
    )
    analysis = None
template = default_template()
default = int(np.nanargmin(analysis.std[:, 0])) if analysis is not None else 0
k = int(
    st.number_input(
        f"Filter id (0-{n_filters - 1}; the default is the filter with the smallest positive-peak std)",
        0,
        n_filters - 1,
        default,
        key="card_filter",
        bind=common.BIND,
    )
)

if analysis is None:
    st.info(
        f"No precomputed analysis for {common.label(name)}: the card shows the filter's heatmap only. "
        "Make one with `interpface analyze --checkpoint DIR --precompute NAME`."
    )
else:
    region = filter_region(analysis, k, template)
    effect = region_effect(analysis, k)
    sd = analysis.std[k, 0]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Region (positive peak)", region.replace("_", " "))
    c2.metric(
        "Positive-peak std",
        f"{sd:.1f} px" if np.isfinite(sd) else "n/a",
        help="Spread of the filter's positive peak over the analysed faces, in template pixels (110 px frame).",
    )
    rank = int((analysis.std[:, 0] < sd).sum()) + 1 if np.isfinite(sd) else None
    c3.metric(
        "Rank by std",
        f"{rank} / {analysis.n_filters}" if rank else "n/a",
        help="1 = the filter whose peak moves least.",
    )
    if effect is not None and region in effect:
        mean_all = float(np.asarray(analysis.differences.mean_abs)[list(effect).index(region)].mean())
        c4.metric(
            f"Occluding the {region.replace('_', ' ')}: |Δf|, × mean",
            f"{effect[region]:.2f} · {effect[region] / mean_all:.1f}×" if mean_all > 0 else f"{effect[region]:.2f}",
            help="Mean |f_k(I) - f_k(I^)| over the analysed faces when this filter's region is blacked out, "
            "and its ratio to the mean over all filters for that region.",
        )
    else:
        c4.metric("Occluding its region", "n/a", help="The analysis has no feature difference for this region.")
    st.caption(
        f"From {analysis.meta.get('n_images', '?')} LFW DevTest faces (precomputed analysis of {common.label(name)})."
    )

left, right = st.columns(2)
with left:
    if analysis is not None:
        fig = filter_location_figure(analysis, k, template=template)
        st.plotly_chart(fig, key="card_location")
        common.remember_figure("filter_card_location", fig)
with right:
    st.markdown("**Faces it fires on most**")
    top = analysis.top if analysis is not None else None
    if analysis is not None and top is None:
        st.info(
            "This precomputed analysis has no top faces (written before the filter card): re-run "
            "`interpface analyze --precompute` to add them."
        )
    elif top is not None:
        # the faces of the dataset this analysis ran on (LFW for the shipped ones), when it is here
        source = common.dataset_id_of(analysis.meta.get("dataset", common.LFW))
        handle = common.dataset_handle(source) if source else None
        shown = [j for j in range(top.index.shape[1]) if top.index[k, j] >= 0]
        for row_start in range(0, len(shown), 2):  # 2 per row: each drawn SHOWN px wide
            cols = st.columns(2)
            for col, j in zip(cols, shown[row_start : row_start + 2]):
                rel = str(top.relpaths[k, j])
                tile = top.thumbs[k, j]
                if handle is not None and rel:
                    # with the dataset: the same window cut from the full-quality aligned crop
                    with common.guarded(rel):
                        crop = common.prepare_dataset_image(rel, source)["crop"]
                        x0, y0 = thumb_origin(top.peak_xy[k, j], crop.shape[0])
                        tile = crop[y0 : y0 + THUMB_WINDOW, x0 : x0 + THUMB_WINDOW]
                who = rel.split("/")[0].replace("_", " ") or f"row {int(top.index[k, j])}"
                col.image(
                    cv2.resize(tile, (SHOWN, SHOWN), interpolation=cv2.INTER_CUBIC),
                    caption=f"{who} · peak {top.value[k, j]:.2f}",
                    width=SHOWN,
                )
        st.caption(
            f"{THUMB_WINDOW} px windows (of the 110 px aligned face) centred on the filter's positive peak, "
            "strongest first"
            + (
                ", cut from the dataset."
                if handle is not None
                else " (thumbnails shipped with the analysis: no dataset needed)."
            )
        )

pick, heat = st.columns([1, 2])
with pick:
    face = common.pick_face("card_face", text="Its heatmap on a face")
with heat:
    if face is not None:
        with common.guarded("Heatmap"):
            resp = respond(model, face["crop"][None], face["landmarks"][None])[0]
            fig = response_grid(
                [face["crop"]],
                [resp.psi_smooth],
                [k],
                titles=[face["label"][:20]],
                landmarks=[face["landmarks"]],
                columns=2,
                split_sign=True,
                span=resp.span,
                layer=layer,
            )
            st.plotly_chart(fig, key="card_heatmap")
            if black_box:
                st.caption(f"mean of channel {k} on this face = {np.nanmean(resp.psi_smooth[k]):+.3f}")
            else:
                st.caption(f"f[{k}] on this face = {resp.f[k]:+.3f}")

if analysis is not None:
    fig = region_effect_figure(analysis, k, highlight=region)
    if fig is not None:
        st.plotly_chart(fig, key="card_effect")
        common.remember_figure("filter_card_effect", fig)
