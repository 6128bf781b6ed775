"""Occlusion probe: place an occluder on a face and watch the representation change."""

import numpy as np
import streamlit as st

from interpface.analysis.probe import OcclusionProbe
from interpface.dashboard import common
from interpface.faces.occlusion import OcclusionRect, region_rect
from interpface.faces.template import default_template
from interpface.figures.probe import difference_bars, face_figure, heatmap_pairs
from interpface.models.face_model import PART_FILTERS

st.title("Occlusion probe")
name = common.pick_model()
if name is None:
    st.stop()
model, info = common.load(name)
black_box = not model.has(PART_FILTERS)  # no part filters: the channels of one of its layers instead
layer = common.pick_layer(
    model, "probe_layer", "The heatmaps show this layer's channels (a black box has no per-dimension filters)."
)
template = default_template()

left, right = st.columns([1, 1])
face = common.pick_face("probe_face", where=left, text="Face")
second = None
with right:
    if st.toggle("Compare with a second face", key="probe_second_on", bind=common.BIND):
        second = common.pick_face("probe_second", text="Second face")
if face is None:
    st.info("Choose or upload a face.")
    st.stop()


@st.cache_resource(max_entries=32, show_spinner=False)
def _probe(
    model_name: str, layer_name: str | None, face_id: str, other_id: str, _face: dict, _other: dict | None
) -> OcclusionProbe:
    # Cached per (model, layer, face, second face): the clean forward passes are done once.
    return OcclusionProbe(
        model,
        _face["crop"],
        _face["landmarks"],
        None if _other is None else _other["crop"],
        template,
        other_landmarks=None if _other is None else _other["landmarks"],
        layer=layer_name,
    )


probe = _probe(
    common.model_key(name), layer, common.face_key(face), common.face_key(second) if second else "", face, second
)

st.subheader("Occluder")
mode = st.radio(
    "Place it by",
    ["Named region", "Sliders", "Box-select on the face", "Realistic occluder"],
    horizontal=True,
    key="probe_mode",
    bind=common.BIND,
)
regions = list(template.regions)
rect = None
if mode == "Realistic occluder":
    from interpface.faces.occluders import OCCLUDER_KINDS, draw_occluder

    o1, o2 = st.columns([2, 1])
    kind = o1.selectbox(
        "Occluder", OCCLUDER_KINDS, format_func=lambda k: k.replace("_", " "), key="probe_occ_kind", bind=common.BIND
    )
    seed = int(o2.number_input("Seed (shape, colour, texture)", 0, 10_000, 0, key="probe_occ_seed", bind=common.BIND))
    rect = draw_occluder(kind, seed, template)
elif mode == "Named region":
    region = st.selectbox("Region", regions, index=regions.index("eyes"), key="probe_region", bind=common.BIND)
    rect = region_rect(region, template)
elif mode == "Sliders":
    c1, c2, c3, c4, c5 = st.columns(5)
    cx = c1.slider("x centre", 0.0, 109.0, 55.0, 1.0, key="probe_cx", bind=common.BIND)
    cy = c2.slider("y centre", 0.0, 109.0, 45.0, 1.0, key="probe_cy", bind=common.BIND)
    w = c3.slider("width", 4.0, 100.0, 32.0, 1.0, key="probe_w", bind=common.BIND)
    h = c4.slider("height", 4.0, 100.0, 12.0, 1.0, key="probe_h", bind=common.BIND)
    angle = c5.slider("angle", -90.0, 90.0, 0.0, 1.0, key="probe_angle", bind=common.BIND)
    rect = OcclusionRect(cx, cy, w, h, angle)
else:
    st.caption("Drag a box on the face: the occluder takes its place (in the template frame).")
    event = st.plotly_chart(
        face_figure(face["crop"], selectable=True, height=330), key="probe_box", on_select="rerun", selection_mode="box"
    )
    boxes = (event or {}).get("selection", {}).get("box", []) if isinstance(event, dict) or event else []
    if boxes:
        b = boxes[-1]
        xs, ys = sorted(b["x"][:2]), sorted(b["y"][:2])
        corners = np.array([[xs[0], ys[0]], [xs[1], ys[1]]])
        t = template.mesh.to_template(corners, face["landmarks"])
        rect = OcclusionRect(
            float(t[:, 0].mean()),
            float(t[:, 1].mean()),
            max(2.0, float(abs(t[1, 0] - t[0, 0]))),
            max(2.0, float(abs(t[1, 1] - t[0, 1]))),
        )
    else:
        st.info("No box yet: using the eyes.")
        rect = region_rect("eyes", template)

result = probe.update(rect)

st.subheader("What changed")
m1, m2, m3, m4 = st.columns(4)
m1.metric("cos(f(I), f(Î))", f"{result.cos_self:.3f}")
m2.metric("dimensions changed", f"{len(result.changed)} / {len(result.diff)}", help="|Δf| above 10% of the largest |f|")
m3.metric("largest |Δf|", f"{result.diff.max():.4f}")
if result.cos_other is not None:
    m4.metric(
        "cos(f(Î), second face)", f"{result.cos_other:.3f}", delta=f"{result.cos_other - result.cos_clean_other:+.3f}"
    )

c1, c2 = st.columns([1, 2])
c1.plotly_chart(face_figure(result.occluded, result.quad, title="occluded"), key="probe_occluded")
bars_fig = difference_bars(result.diff, result.order)
c2.plotly_chart(bars_fig, key="probe_bars")
common.remember_figure("probe_difference", bars_fig)

if second is not None:
    st.subheader("Same person?")
    thresholds = (common.evaluation_of(name) or {}).get("thresholds") or {}
    fars = sorted(thresholds, key=float, reverse=True)
    if fars:
        far = st.selectbox("False accept rate", fars, key="probe_far")
        thr = float(thresholds[far])
        src = "threshold from LFW DevTest impostor pairs"
    else:
        thr = st.slider("Threshold (no calibration shipped with this model)", -1.0, 1.0, 0.5, 0.01, key="probe_thr")
        far, src = None, "manual threshold"
    same_clean = result.cos_clean_other >= thr
    same_occ = result.cos_other >= thr
    st.write(
        f"Threshold {thr:.3f} ({src}{f', FAR {far}' if far else ''}): clean pair → "
        f"**{'same' if same_clean else 'different'}** (cos {result.cos_clean_other:.3f}); occluded pair → "
        f"**{'same' if same_occ else 'different'}** (cos {result.cos_other:.3f})."
    )

st.subheader("Filters that changed most" if not black_box else f"Channels of {layer} that changed most")
k = st.slider("How many", 1, 12, 4, key="probe_topk", bind=common.BIND)
top = [int(i) for i in result.map_order[:k]]
heat_fig = heatmap_pairs(
    face["crop"],
    result.occluded,
    probe.clean.psi_smooth,
    result.response.psi_smooth,
    top,
    landmarks=face["landmarks"],
    span=probe.clean.span,
    layer=layer,
)
st.plotly_chart(heat_fig, key="probe_heat")
common.remember_figure("probe_heatmaps", heat_fig)
st.subheader("Sensitivity map")
st.caption(
    "Slides the warped occluder over the whole face (stride in template pixels) and maps how much each "
    "place changes the chosen target."
)
s1, s2, s3 = st.columns(3)
stride = s1.select_slider("Stride", [4.0, 6.0, 8.0, 12.0], value=8.0, key="sens_stride")
targets = ["l1 (all dimensions)", "one dimension"] + (["cosine to the second face"] if second is not None else [])
target = s2.selectbox("Target", targets, key="sens_target")
dim = (
    int(s3.number_input("Dimension", 0, len(result.diff) - 1, int(result.order[0]), key="sens_dim"))
    if target == "one dimension"
    else None
)
if st.button("Run the sweep", key="sens_run"):
    with common.guarded("Sensitivity sweep"):
        from interpface.analysis import merge_sweeps, sweep_centers, warped_occlusion_sweep
        from interpface.figures.probe import sensitivity_figure

        centers = sweep_centers(template, stride)
        bar = st.progress(0.0, text=f"0 / {len(centers)} occluder positions")
        parts, chunk = [], 16
        for i in range(0, len(centers), chunk):
            reference = None if second is None else probe.other.f  # the second face's embedding, any model
            parts.append(
                warped_occlusion_sweep(
                    model,
                    face["crop"],
                    face["landmarks"],
                    centers=centers[i : i + chunk],
                    reference=reference,
                    template=template,
                )
            )
            done = min(i + chunk, len(centers))
            bar.progress(done / len(centers), text=f"{done} / {len(centers)} occluder positions")
        sweep = merge_sweeps(parts)
        key = {"l1 (all dimensions)": "l1", "one dimension": dim, "cosine to the second face": "cosine"}[target]
        fig = sensitivity_figure(face["crop"], sweep.attribution(key), title=f"Occlusion sensitivity: {target}")
        st.plotly_chart(fig, key="sens_fig")
        common.remember_figure("sensitivity_map", fig)
