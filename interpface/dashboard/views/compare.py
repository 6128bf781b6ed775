"""Compare: two models side by side on the same face and occlusion — two of ours, or one of ours and
a black box (the dlib port, a user's IResNet): the occluder is placed through the face's landmarks,
so both see it on the same face part whatever their own alignment."""

import streamlit as st

from interpface.analysis.probe import OcclusionProbe
from interpface.dashboard import common
from interpface.faces.occlusion import OcclusionRect, region_rect
from interpface.faces.template import default_template
from interpface.figures.probe import difference_bars, face_figure

st.title("Compare two models")
found = common.require_models()
c1, c2 = st.columns(2)
a = c1.selectbox("Model A", found, index=0, format_func=common.label, key="cmp_a", bind=common.BIND)
b = c2.selectbox("Model B", found, index=len(found) - 1, format_func=common.label, key="cmp_b", bind=common.BIND)
face = common.pick_face("cmp_face", text="Face")
if face is None:
    st.info("Choose or upload a face.")
    st.stop()
template = default_template()
regions = list(template.regions)
how = st.radio("Occluder", ["Named region", "Sliders"], horizontal=True, key="cmp_mode", bind=common.BIND)
if how == "Named region":
    rect = region_rect(
        st.selectbox("Region", regions, index=regions.index("nose"), key="cmp_region", bind=common.BIND), template
    )
else:
    s1, s2, s3, s4 = st.columns(4)
    rect = OcclusionRect(
        s1.slider("x", 0.0, 109.0, 55.0, key="cmp_cx"),
        s2.slider("y", 0.0, 109.0, 60.0, key="cmp_cy"),
        s3.slider("width", 4.0, 100.0, 32.0, key="cmp_w"),
        s4.slider("height", 4.0, 100.0, 12.0, key="cmp_h"),
    )

for i, (col, name) in enumerate(zip(st.columns(2), (a, b))):
    with col, common.guarded(name):
        model, _ = common.load(name)  # ours or a black box: the same occluder, the same face
        r = OcclusionProbe(model, face["crop"], face["landmarks"], template=template).update(rect)
        st.markdown(f"### {common.label(name)}")
        st.plotly_chart(face_figure(r.occluded, r.quad, height=260), key=f"cmp_face_{i}")
        m1, m2 = st.columns(2)
        m1.metric("cos(f(I), f(Î))", f"{r.cos_self:.3f}")
        m2.metric("dimensions changed", f"{len(r.changed)} / {len(r.diff)}", help="|Δf| above 10% of the largest |f|")
        fig = difference_bars(r.diff, r.order, title=f"{common.label(name)}: sorted |Δf|")
        st.plotly_chart(fig, key=f"cmp_bars_{i}")
        common.remember_figure(f"compare_{i}_{name}", fig)
