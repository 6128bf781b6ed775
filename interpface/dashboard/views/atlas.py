"""Peak atlas: every filter's average peak location on the frontal template, coloured by its spread
(paper Fig. 5); pick a filter to see its heatmaps over faces, its std and its region."""

import numpy as np
import streamlit as st

from interpface.dashboard import common
from interpface.faces.template import default_template
from interpface.figures import peak_map_figure
from interpface.models.face_model import PART_FILTERS

st.title("Peak atlas")
found = common.require_models()
chosen = st.multiselect(
    "Models",
    found,
    default=[m for m in ("base", "full") if m in found] or found[:1],
    format_func=common.label,
    key="atlas_models",
)
analyses = common.analyses_for(chosen)
if not analyses:
    st.stop()
signs = st.multiselect(
    "Peaks",
    ["pos", "neg"],
    default=["pos", "neg"],
    key="atlas_signs",
    format_func={"pos": "positive (max)", "neg": "negative (min)"}.get,
) or ["pos"]
fig = peak_map_figure(analyses, signs=signs)
st.caption("Click a filter to open its card.")
event = st.plotly_chart(fig, key="atlas_map", on_select="rerun", selection_mode="points")
common.remember_figure("peak_atlas", fig)
points = (event.get("selection") or {}).get("points") or [] if event else []
if points and points[0].get("customdata") is not None:
    # the scatter traces are named "<model> <sign>" and carry [filter id, std] per point
    trace = fig.data[int(points[0]["curve_number"])]
    st.switch_page(
        "views/card.py",
        query_params={
            "model": common.label(trace.name.rsplit(" ", 1)[0]),
            "card_filter": int(points[0]["customdata"][0]),
        },
    )

st.subheader("One filter")
name = st.selectbox("Model", list(analyses), format_func=common.label, key="atlas_one_model", bind=common.BIND)
a = analyses[name]
k = int(
    st.number_input(
        "Filter id", 0, len(a.std) - 1, int(np.nanargmin(a.std[:, 0])), key="atlas_filter", bind=common.BIND
    )
)
template = default_template()
cols = st.columns(3)
for c, (si, sign) in zip(cols, enumerate(("positive", "negative"))):
    xy, sd = a.mean_xy[k, si], a.std[k, si]
    region = (
        next((r for r, reg in template.regions.items() if r != "eyes" and reg.contains(xy)), "none")
        if np.isfinite(xy).all()
        else "none"
    )
    c.metric(
        f"{sign} peak std (px)",
        f"{sd:.1f}" if np.isfinite(sd) else "n/a",
        help=f"average location ({xy[0]:.1f}, {xy[1]:.1f}); region: {region}",
    )
    c.caption(f"average {sign} peak at ({xy[0]:.1f}, {xy[1]:.1f}) — region **{region}**")
cols[2].metric("filter rank by std", f"{int((a.std[:, 0] < a.std[k, 0]).sum()) + 1} / {len(a.std)}")
st.page_link(
    "views/card.py",
    label=f"Open the card of filter #{k}",
    icon=":material/badge:",
    query_params={"model": common.label(name), "card_filter": k},
)

with common.guarded("Heatmaps"):
    model, info = common.load(name)  # a black box's analysis: the channels of its default layer
    from interpface.analysis.probe import respond
    from interpface.figures.probe import response_grid

    people = common.dataset_people() if common.dataset_handle() is not None else {}
    if people:
        # people with several images (LFW: every 40th); a small or flat dataset: whoever it has
        many = ([p for p in people if len(people[p]) >= 4][::40] or list(people)[:: max(1, len(people) // 6)])[:6]
        faces = [common.prepare_dataset_image(people[p][0]) for p in many]
        titles = many
    else:
        faces = [common.prepare_sample(s) for s in ("astronaut", "grace_hopper")]
        titles = ["astronaut", "grace_hopper"]
    resps = respond(model, np.stack([f["crop"] for f in faces]), np.stack([f["landmarks"] for f in faces]))
    st.plotly_chart(
        response_grid(
            [f["crop"] for f in faces],
            [r.psi_smooth for r in resps],
            [k],
            titles=[t[:16] for t in titles],
            landmarks=[f["landmarks"] for f in faces],
            span=resps[0].span,
            layer=None if model.has(PART_FILTERS) else model.default_layer,
        ),
        key="atlas_heat",
    )
