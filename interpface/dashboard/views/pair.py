"""Why this match? Two faces, the verifier's score and decision, each method's similarity /
dissimilarity map over the second face, and the deletion / insertion curves of the pair."""

import numpy as np
import streamlit as st

from interpface.analysis.pair_maps import methods_for, pair_map
from interpface.analysis.trust import BETTER, NOT_BETTER, WHAT_IT_SHOWS, WORSE
from interpface.dashboard import common
from interpface.figures.pairs import faithfulness_curves_figure, pair_maps_figure
from interpface.models.face_model import PART_FILTERS

FAST = ("representation", "occlusion", "gradcam", "random")
LABELS = {
    "representation": "representation (LMF, one pass)",
    "occlusion": "occlusion sweep",
    "integrated_gradients": "integrated gradients",
    "gradcam": "Grad-CAM",
    "rise": "RISE (randomised masks)",
    "random": "random (floor)",
    "fggb": "FGGB (per-dimension gradients, a few s)",
    "xssab": "xSSAB (for / against)",
    "corrrise": "CorrRISE (masks, slow)",
    "representation_fggb": "representation, FGGB-weighted",
}

#: Streamlit's own icons and colours (emoji need a font the browser may lack)
VERDICT_BADGE = {
    BETTER: ":green[:material/verified: better than chance]",
    NOT_BETTER: ":orange[:material/warning: not better than chance]",
    WORSE: ":red[:material/block: worse than chance]",
    "the floor": ":gray[:material/casino: the floor]",
}


def trust_section(name: str, methods, cards: dict) -> None:
    """One trust card per chosen method: is its map better than the random map on this model's pairs,
    does it pass the randomisation sanity check, what does it cost, and what can it show."""
    st.subheader("Can I trust these maps?")
    if not cards:
        st.info(
            f"No trust card has been measured for {common.label(name)}. Measure one with "
            "`interpface faithfulness --checkpoint MODEL --methods ... --json f.json`, "
            "`interpface sanity --checkpoint MODEL --json s.json` and "
            "`interpface trust --faithfulness f.json --sanity s.json --precompute NAME --precompute-dir DIR` "
            "(DIR: the served models folder)."
        )
        return
    st.caption(
        "Measured on LFW DevTest pairs: the gain over the random map of the deletion and insertion AUCs of "
        "the pair's cosine (95 % intervals over pairs; positive = removes or restores the evidence faster "
        "than chance) and of verification accuracy at the clean EER threshold, and the randomisation "
        "sanity check (the map must change when the model's weights are randomised)."
    )
    shown = [m for m in methods if m in cards]
    for start in range(0, len(shown), 3):
        for col, m in zip(st.columns(3), shown[start : start + 3]):
            c = cards[m]
            box = col.container(border=True)
            box.markdown(f"**{LABELS.get(m, m)}**  \n{VERDICT_BADGE.get(c['verdict'], c['verdict'])}")
            lines = []
            for key, text in (("cosine_deletion", "deletion"), ("cosine_insertion", "insertion")):
                g = c.get(key)
                if g:
                    lines.append(f"{text} gain {g['gain']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]")
            acc = [c.get(k, {}).get("gain") for k in ("accuracy_deletion", "accuracy_insertion")]
            if None not in acc:
                lines.append(f"accuracy AUC gain: deletion {acc[0]:+.3f}, insertion {acc[1]:+.3f}")
            sanity = c.get("sanity", "not run")
            detail = c.get("sanity_detail")
            if detail:
                sanity += f" (|map| Spearman {detail['spearman_abs']:.2f}, SSIM {detail['ssim']:.2f} after randomising)"
            lines += [f"sanity check: {sanity}", f"{1000 * c['seconds_per_map']:.0f} ms per map"]
            box.markdown("  \n".join(lines))
            box.caption(WHAT_IT_SHOWS.get(m) or c.get("what_it_shows", ""))  # the method as it is now
    missing = [LABELS.get(m, m) for m in methods if m not in cards]
    if missing:
        st.caption("No card measured for: " + ", ".join(missing))


st.title("Why this match?")
name = common.pick_model()
if name is None:
    st.stop()
model, info = common.load(name)
black_box = not model.has(PART_FILTERS)
if black_box:
    st.sidebar.caption(
        f"{common.label(name)} is a black box: every model-agnostic method applies (occlusion, "
        "integrated gradients, RISE), on its own input cut from the aligned face."
    )
left, right = st.columns(2)
face_a = common.pick_face("pair_a", where=left, text="Face A (reference)")
face_b = common.pick_face("pair_b", where=right, text="Face B (explained)")
if face_a is None or face_b is None:
    st.info("Choose two faces.")
    st.stop()
chips = None
with common.guarded(common.label(name)):
    # the maps are computed on, and drawn over, the model's own input (cut by its own alignment)
    chips = common.model_inputs(model, [face_a, face_b])
if chips is None:
    st.stop()
face_a, face_b = {**face_a, "crop": chips[0]}, {**face_b, "crop": chips[1]}
net = model.input_net()
model_key = common.model_key(name)


@st.cache_data(max_entries=64, show_spinner="Computing the maps...")
def _maps(model_key: str, key_a: str, key_b: str, methods: tuple, _a: np.ndarray, _b: np.ndarray, masks: int):
    return {m: pair_map(model, _a, _b, m, n_masks=masks) for m in methods}


@st.cache_data(max_entries=64, show_spinner="Deleting and inserting pixels...")
def _curves(model_key: str, key_a: str, key_b: str, method: str, baseline: str, _a, _b, _saliency):
    from interpface.analysis.faithfulness import deletion_insertion

    return deletion_insertion(net, _a, _b, _saliency, baseline=baseline, steps=20)


with common.guarded("Pair"):
    import torch

    with torch.inference_mode():
        f = torch.nn.functional.normalize(
            net(torch.from_numpy(chips).permute(0, 3, 1, 2).float() / 255.0), dim=1
        ).numpy()
    score = float(f[0] @ f[1])
    # calibrated where an evaluation ships (the dlib port's cosines sit high: a shared mean direction)
    thresholds = (common.evaluation_of(name) or {}).get("thresholds") or {}
    m1, m2, m3 = st.columns(3)
    m1.metric("cosine similarity", f"{score:.3f}")
    if thresholds:
        fars = sorted(thresholds, key=float, reverse=True)
        far = m2.selectbox("False accept rate", fars, index=0, key="pair_far", bind=common.BIND)
        thr = float(thresholds[far])
        same = score >= thr
        m3.metric(
            "decision",
            "same person" if same else "different people",
            help=f"threshold {thr:.3f} at FAR {far} (LFW DevTest impostor pairs)",
        )
    else:
        thr = m2.slider("Threshold (no calibration shipped with this model)", -1.0, 1.0, 0.5, 0.01, key="pair_thr")
        same = score >= thr
        m3.metric("decision", "same person" if same else "different people")

    applicable = methods_for(model, verification=True)  # FGGB, xSSAB, CorrRISE: offered, not preselected
    chosen = st.multiselect(
        "Methods",
        applicable,
        default=[m for m in FAST if m in applicable],
        format_func=lambda m: LABELS.get(m, m),
        key="pair_methods",
        bind=common.BIND,
        help="Integrated gradients and RISE take a few seconds each on this CPU.",
    )
    masks = 256
    if "rise" in chosen:
        masks = st.select_slider("RISE masks", [128, 256, 512, 1024], value=256, key="pair_rise_masks")
    if chosen:
        maps = _maps(
            model_key,
            common.face_key(face_a),
            common.face_key(face_b),
            tuple(chosen),
            face_a["crop"],
            face_b["crop"],
            masks,
        )
        cards = common.trust_cards_of(name) or {}
        marks = {m: c["verdict"] for m, c in cards.items() if c.get("verdict") in (NOT_BETTER, WORSE)}
        fig = pair_maps_figure(face_a["crop"], face_b["crop"], maps, score=score, marks=marks)
        st.plotly_chart(fig, key="pair_maps")
        common.remember_figure("pair_maps", fig)
        st.caption(
            "Time per map: " + ", ".join(f"{LABELS.get(m, m)} {1000 * p.seconds:.0f} ms" for m, p in maps.items())
        )
        trust_section(name, chosen, cards)

        st.subheader("Deletion and insertion")
        c1, c2 = st.columns([1, 3])
        kind = c1.radio(
            "Map",
            ["similarity", "dissimilarity"],
            index=0 if same else 1,
            key="pair_kind",
            bind=common.BIND,
            help="Similarity maps are read on genuine pairs, dissimilarity maps on impostor pairs.",
        )
        baseline = c1.radio("Deleted pixels become", ["black", "blur"], key="pair_baseline", bind=common.BIND)
        short = "sim" if kind == "similarity" else "dis"
        curves, fractions = {}, None
        for m, p in maps.items():
            c = _curves(
                model_key,
                common.face_key(face_a),
                common.face_key(face_b),
                f"{m}:{kind}:{masks}",
                baseline,
                face_a["crop"],
                face_b["crop"],
                getattr(p, kind),
            )
            fractions = c.fractions
            curves[m] = {baseline: {f"{short}_del": c.deletion.tolist(), f"{short}_ins": c.insertion.tolist()}}
        cfig = faithfulness_curves_figure(
            {"fractions": fractions.tolist(), "curves": curves},
            baseline,
            title=f"This pair: {kind} maps, {baseline} baseline",
        )
        c2.plotly_chart(cfig, key="pair_curves")
        common.remember_figure("pair_curves", cfig)
        rows = [
            {
                "method": LABELS.get(m, m),
                "deletion AUC": round(float(np.trapezoid(v[baseline][f"{short}_del"], fractions)), 4),
                "insertion AUC": round(float(np.trapezoid(v[baseline][f"{short}_ins"], fractions)), 4),
            }
            for m, v in curves.items()
        ]
        c1.dataframe(rows, hide_index=True)
        st.caption(
            "A faithful similarity map drops the score fast when its pixels are deleted (low deletion AUC) "
            "and raises it fast when they are inserted (high insertion AUC); a faithful dissimilarity map "
            "does the opposite. The random map is the floor."
        )
