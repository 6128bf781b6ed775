"""A trust card per pair-map method and model: is the map better than chance, does it depend on the
model, what does it cost, and what can it show?

A card reads two measured results: a faithfulness run (:func:`.pair_benchmark.faithfulness_table`,
``interpface faithfulness``) and, where one was run, a sanity run (:func:`.sanity.sanity_checks`,
``interpface sanity``). Against the random map of the same run and pairs it compares both AUCs,
deletion and insertion, on both protocols:

- **cosine** (our protocol, black baseline): per pair, the gain of the method's AUC over the random
  map's in the faithful direction — similarity maps on genuine pairs (deletion lower, insertion
  higher is faithful), dissimilarity maps on impostor pairs (deletion higher, insertion lower) —
  pooled over pairs, with a 95 % bootstrap interval;
- **accuracy** (FAME's protocol): the accuracy AUC at the clean EER threshold, random minus method
  for deletion and method minus random for insertion (positive is faithful), on the same bootstrap
  resamples of the pairs.

Verdict, from the cosine gains (per-pair, so their intervals are the informative ones): "better than
chance" when the deletion or the insertion interval lies above zero and neither lies below it; "worse
than chance" when one lies below zero and neither above; otherwise "not better than chance". The
dashboard marks maps that are not better than chance on the map itself.
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
    "fggb": "Backpropagates each embedding dimension and weights it by its share of the similarity, "
    "parameter-free, for any differentiable model; it costs one backward pass per dimension (the "
    "lightest, 2 % of the weight, are skipped).",
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


def _cosine_gain(per_m: dict, per_r: dict, same: np.ndarray, curve: str) -> np.ndarray:
    """(P,) per-pair gain over the random map of one curve's AUC (black; curve "del" or "ins"),
    positive = more faithful: lower similarity deletion / higher similarity insertion on genuine pairs,
    higher dissimilarity deletion / lower dissimilarity insertion on impostor pairs."""
    sign = 1.0 if curve == "ins" else -1.0  # genuine: + for insertion, - for deletion; impostor: opposite
    sim_m, sim_r = iter(per_m[f"black_sim_{curve}"]), iter(per_r[f"black_sim_{curve}"])
    dis_m, dis_r = iter(per_m[f"black_dis_{curve}"]), iter(per_r[f"black_dis_{curve}"])
    gains = np.empty(len(same))
    for i, s in enumerate(same):  # per_pair lists hold genuine and impostor pairs in pair order
        gains[i] = sign * (next(sim_m) - next(sim_r)) if s else -sign * (next(dis_m) - next(dis_r))
    return gains


def _verdict(intervals: list[list[float]]) -> str:
    above = any(lo > 0 for lo, _ in intervals)
    below = any(hi < 0 for _, hi in intervals)
    if above and not below:
        return BETTER
    if below and not above:
        return WORSE
    return NOT_BETTER


def trust_cards(faithfulness: dict, sanity: dict | None = None, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """{method: card} for every method of a faithfulness run (its JSON as written by
    ``interpface faithfulness``). A card: cosine_deletion / cosine_insertion {gain, ci, the AUCs of the
    method and of the random map}, accuracy_deletion / accuracy_insertion {auc, random_auc, gain, ci},
    patch_swap, verdict, sanity ("passes" / "fails" / "not run") with the similarity after full
    randomisation, seconds_per_map, what_it_shows."""
    rows = {r["method"]: r for r in faithfulness["rows"]}
    per = faithfulness.get("per_pair") or {}
    same = np.asarray(faithfulness.get("same") or [], bool)
    threshold = faithfulness.get("threshold")
    fractions = faithfulness.get("fame_fractions") or FAME_FRACTIONS
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
            rnd = rows["random"]
            for curve, name in (("del", "deletion"), ("ins", "insertion")):
                gains = _cosine_gain(per[m], per["random"], same, curve)
                card[f"cosine_{name}"] = {
                    "similarity_auc": row.get(f"black_similarity_{name}_auc"),
                    "random_similarity_auc": rnd.get(f"black_similarity_{name}_auc"),
                    "dissimilarity_auc": row.get(f"black_dissimilarity_{name}_auc"),
                    "random_dissimilarity_auc": rnd.get(f"black_dissimilarity_{name}_auc"),
                    "gain": float(gains.mean()),
                    "ci": _ci(gains, n_resamples, seed),
                }
                first, second = (per["random"], per[m]) if curve == "del" else (per[m], per["random"])
                acc = paired_auc_difference(
                    first[f"fame_{name}_scores"],
                    second[f"fame_{name}_scores"],
                    same,
                    threshold,
                    fractions=fractions,
                    n_resamples=n_resamples,
                    seed=seed,
                )  # deletion: random minus method; insertion: method minus random (positive = faithful)
                card[f"accuracy_{name}"] = {
                    "auc": row.get(f"fame_{name}_auc"),
                    "random_auc": rnd.get(f"fame_{name}_auc"),
                    "gain": acc["difference"],
                    "ci": acc["ci"],
                }
            card["patch_swap"] = {k: row.get(k) for k in row if k.startswith(("fnmr_", "fmr_"))}
            if m == "random":
                verdict = "the floor"
            else:
                verdict = _verdict([card["cosine_deletion"]["ci"], card["cosine_insertion"]["ci"]])
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
