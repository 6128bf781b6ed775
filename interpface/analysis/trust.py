"""A trust card per pair-map method and model: is the map better than chance, does it depend on the
model, what does it cost, and what can it show?

A card reads two measured results: a faithfulness run (:func:`.pair_benchmark.faithfulness_table`,
``interpface faithfulness``) and, where one was run, a sanity run (:func:`.sanity.sanity_checks`,
``interpface sanity``). Against the random map of the same run and pairs it compares

- **cosine deletion** (our protocol, black baseline): the similarity map's deletion AUC on genuine
  pairs (lower is faithful) and the dissimilarity map's on impostor pairs (higher is faithful),
  pooled as one signed gain per pair (random minus method on genuine, method minus random on
  impostor pairs), with a 95 % bootstrap interval over pairs;
- **accuracy deletion** (FAME's protocol): accuracy AUC at the clean EER threshold, random minus
  method (positive is faithful), on the same bootstrap resamples of the pairs.

Verdict: "better than chance" when the cosine-deletion interval lies above zero and the accuracy
gain is not below zero; "worse than chance" when the cosine interval lies below zero; otherwise
"not better than chance". The dashboard marks maps that are not better than chance on the map itself.
"""

from __future__ import annotations

import re

import numpy as np

from interpface.analysis.accuracy_curves import FAME_FRACTIONS, paired_auc_difference

__all__ = ["WHAT_IT_SHOWS", "trust_cards", "save_trust_cards", "load_trust_cards", "BETTER", "NOT_BETTER", "WORSE"]

BETTER, NOT_BETTER, WORSE = "better than chance", "not better than chance", "worse than chance"

#: one sentence per method: what it can and cannot show
WHAT_IT_SHOWS = {
    "representation": "Reads the cosine straight off the part-filter representation in one pass (exact "
    "to the cell), but only at the G x G resolution of the filters, and only for our networks.",
    "representation_fggb": "Weights each filter's evidence map by that dimension's share of the cosine, "
    "as FGGB does with gradients, at the G x G resolution of the filters; our networks only.",
    "occlusion": "Shows what hiding a 16 px window does to the score, for any model; it cannot see "
    "evidence spread thinner than the window or interactions between distant regions.",
    "integrated_gradients": "Attributes the score to pixels along a path from a black image, for any "
    "model; it depends on that baseline and can be noisy at the pixel level.",
    "gradcam": "Localises the score on the part filters' psi layer, coarse and fast; it needs part "
    "filters and cannot resolve detail finer than that layer.",
    "rise": "Averages smooth random masks against the score, for any model; its map is blurry and its "
    "noise shrinks only with more masks (seconds per map).",
    "fggb": "Backpropagates every embedding dimension and weights it by its share of the similarity, "
    "parameter-free, for any differentiable model; it costs one backward pass per dimension.",
    "xssab": "Splits the cosine into the dimensions for and against the match and backpropagates each "
    "once: fast, any differentiable model, but gradient maps are local and can be noisy.",
    "corrrise": "Correlates hard square masks with the score's rank, for any model (black boxes "
    "included); slow (500 forward passes) and coarse at the square's scale.",
    "random": "Seeded noise independent of the model and the pair: the floor every map must beat.",
}


def _ci(values: np.ndarray, n_resamples: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_resamples, len(values)))
    means = values[idx].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def _cosine_gain(per_m: dict, per_r: dict, same: np.ndarray) -> np.ndarray:
    """(P,) per-pair gain over the random map of the deletion AUC (black), positive = more faithful."""
    gains = np.empty(len(same))
    sim_m, sim_r = iter(per_m["black_sim_del"]), iter(per_r["black_sim_del"])
    dis_m, dis_r = iter(per_m["black_dis_del"]), iter(per_r["black_dis_del"])
    for i, s in enumerate(same):  # per_pair lists hold genuine and impostor pairs in pair order
        gains[i] = (next(sim_r) - next(sim_m)) if s else (next(dis_m) - next(dis_r))
    return gains


def trust_cards(faithfulness: dict, sanity: dict | None = None, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """{method: card} for every method of a faithfulness run (its JSON as written by
    ``interpface faithfulness``). A card: cosine_deletion {method, random, gain, ci}, accuracy_deletion
    {method, random, gain, ci}, verdict, sanity ("passes" / "fails" / "not run") with the similarity
    after full randomisation, seconds_per_map, what_it_shows."""
    rows = {r["method"]: r for r in faithfulness["rows"]}
    per = faithfulness.get("per_pair") or {}
    same = np.asarray(faithfulness.get("same") or [], bool)
    threshold = faithfulness.get("threshold")
    have_random = "random" in per and len(same)
    san = (sanity or {}).get("methods", {})
    cards = {}
    for m, row in rows.items():
        card: dict = {
            "method": m,
            "model": faithfulness.get("model"),
            "pairs": {"genuine": row["n_genuine"], "impostor": row["n_impostor"]},
            "seconds_per_map": row["seconds_per_map"],
            "what_it_shows": WHAT_IT_SHOWS.get(m, ""),
        }
        verdict = None
        if have_random and m in per:
            gains = _cosine_gain(per[m], per["random"], same)
            card["cosine_deletion"] = {
                "similarity_auc": row.get("black_similarity_deletion_auc"),
                "random_similarity_auc": rows["random"].get("black_similarity_deletion_auc"),
                "dissimilarity_auc": row.get("black_dissimilarity_deletion_auc"),
                "random_dissimilarity_auc": rows["random"].get("black_dissimilarity_deletion_auc"),
                "gain": float(gains.mean()),
                "ci": _ci(gains, n_resamples, seed),
            }
            acc = paired_auc_difference(
                per["random"]["fame_deletion_scores"],
                per[m]["fame_deletion_scores"],
                same,
                threshold,
                fractions=faithfulness.get("fame_fractions") or FAME_FRACTIONS,
                n_resamples=n_resamples,
                seed=seed,
            )  # random minus method: positive = the method breaks decisions faster
            card["accuracy_deletion"] = {
                "auc": row.get("fame_deletion_auc"),
                "random_auc": rows["random"].get("fame_deletion_auc"),
                "gain": acc["difference"],
                "ci": acc["ci"],
            }
            card["patch_swap"] = {k: row.get(k) for k in row if k.startswith(("fnmr_", "fmr_"))}
            lo, hi = card["cosine_deletion"]["ci"]
            if m == "random":
                verdict = "the floor"
            elif lo > 0 and acc["difference"] >= 0:
                verdict = BETTER
            elif hi < 0:
                verdict = WORSE
            else:
                verdict = NOT_BETTER
        card["verdict"] = verdict or "not measured against the random map"
        if m in san:
            full = san[m]["cascading"][-1]
            card["sanity"] = "passes" if san[m]["passes"] else "fails"
            card["sanity_detail"] = {
                "spearman_abs": full["spearman_abs"],
                "ssim": full["ssim"],
                "threshold": sanity.get("threshold"),
            }
        else:
            card["sanity"] = "not run"
        cards[m] = card
    return cards


def _trust_dir(directory=None):
    from pathlib import Path

    from interpface.files import assets_dir

    return Path(directory) if directory else assets_dir() / "analyses" / "trust"


def save_trust_cards(name: str, cards: dict, directory=None):
    """Write {"model", "checkpoint", "cards"} as <directory>/<name>.trust.json (default
    assets/analyses/trust; a served models folder holds them beside the models, under the same name)."""
    from interpface.files import write_json

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name or "") or name.startswith("."):
        raise ValueError(f"a trust-card name is letters, digits, '_', '-', '.': {name!r}")
    path = _trust_dir(directory) / f"{name}.trust.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, cards)
    return path


def load_trust_cards(name: str, directory=None) -> dict | None:
    """{method: card} of a model name from <directory>/<name>.trust.json (default: the shipped cards),
    or None (no card measured for it). The name is never read as a path."""
    from interpface.files import read_json

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name or "") or name.startswith("."):
        return None  # never a path
    path = _trust_dir(directory) / f"{name}.trust.json"
    data = read_json(path) if path.is_file() else None
    return data.get("cards") if isinstance(data, dict) else None
