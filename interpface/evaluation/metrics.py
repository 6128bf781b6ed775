"""Verification and identification metrics: plain functions on numpy arrays (no torch).

Conventions: a *score* is a similarity (higher = more likely the same person; cosine similarity of
L2-normalised embeddings); a pair is accepted when ``score >= threshold``; labels are 1 (genuine,
same person) and 0 (impostor). ROC points come from scikit-learn's ``roc_curve``; the bootstrap uses
an equivalent weighted ROC on pre-sorted scores (tested against scikit-learn with sample weights) so
that hundreds of resamples of millions of pairs stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from interpface.errors import InterpfaceError

__all__ = [
    "Roc",
    "roc",
    "eer",
    "tar_at_far",
    "verification_metrics",
    "best_threshold",
    "stratified_folds",
    "kfold_accuracy",
    "identification_ranks",
    "rank_rates",
    "bootstrap",
    "bootstrap_verification",
    "paired_bootstrap_verification",
    "DEFAULT_FARS",
]

#: False accept rates reported by default (the paper's 1e-2 and 1e-3, and 1e-4 when resolvable).
DEFAULT_FARS = (1e-2, 1e-3, 1e-4)


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape:
        raise InterpfaceError(f"scores {scores.shape} and labels {labels.shape} differ in length")
    if not np.all(np.isfinite(scores)):
        raise InterpfaceError("scores contain NaN or inf (drop failed pairs first)")
    if labels.all() or not labels.any():
        raise InterpfaceError("need both genuine (1) and impostor (0) pairs")
    return scores, labels


@dataclass
class Roc:
    """fpr, tpr, thresholds: (K,) arrays from scikit-learn (first point (0, 0) at threshold +inf);
    auc: area under the curve; n_genuine / n_impostor: pair counts."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    n_genuine: int
    n_impostor: int


def roc(scores, labels) -> Roc:
    """ROC of scores (N,) with labels (N,) in {0, 1}, every threshold kept (drop_intermediate=False)."""
    from sklearn.metrics import auc, roc_curve

    scores, labels = _check(scores, labels)
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)
    return Roc(fpr, tpr, thr, float(auc(fpr, tpr)), int(labels.sum()), int((~labels).sum()))


def eer(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Equal error rate: where FPR = FNR (= 1 - TPR), linearly interpolated between the two ROC
    points that bracket the crossing. fpr, tpr: (K,) non-decreasing, from (0, 0) to (1, 1)."""
    fpr, tpr = np.asarray(fpr, np.float64), np.asarray(tpr, np.float64)
    d = fpr - (1.0 - tpr)  # non-decreasing along the curve, from -1 to +1
    k = int(np.searchsorted(d, 0.0, side="left"))
    if k >= len(d):
        return float(fpr[-1])
    if d[k] == 0.0 or k == 0:
        return float(fpr[k])
    t = -d[k - 1] / (d[k] - d[k - 1])
    return float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))


def tar_at_far(fpr: np.ndarray, tpr: np.ndarray, far: float, n_impostor: int) -> float | None:
    """True accept rate at a false accept rate: the largest TPR over ROC points with FPR <= far.
    None when far < 1 / n_impostor (not resolvable with that many impostor pairs)."""
    if n_impostor <= 0 or far < 1.0 / n_impostor:
        return None
    fpr, tpr = np.asarray(fpr), np.asarray(tpr)
    ok = fpr <= far + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def threshold_at_far(
    fpr: np.ndarray, tpr: np.ndarray, thresholds: np.ndarray, far: float, n_impostor: int
) -> float | None:
    """The score threshold that achieves tar_at_far (accept when score >= threshold): the threshold
    of the ROC point with the largest TPR among those with FPR <= far. None when not resolvable."""
    if n_impostor <= 0 or far < 1.0 / n_impostor:
        return None
    fpr, tpr, thresholds = np.asarray(fpr), np.asarray(tpr), np.asarray(thresholds)
    ok = np.flatnonzero(fpr <= far + 1e-12)
    if not len(ok):
        return None
    best = ok[np.argmax(tpr[ok])]
    t = float(thresholds[best])
    # sklearn puts +inf at the first point (accept nothing): keep JSON finite.
    return t if np.isfinite(t) else float(np.nextafter(thresholds[1], np.inf)) if len(thresholds) > 1 else None


def far_key(far: float) -> str:
    """JSON key of a FAR: 0.01 -> "0.01", 1e-3 -> "0.001", 1e-4 -> "0.0001"."""
    return np.format_float_positional(far, trim="-")


def verification_metrics(scores, labels, fars: Sequence[float] = DEFAULT_FARS, roc_points: int = 0) -> dict:
    """AUC, EER and TAR at each FAR (keys from far_key) of scores (N,) / labels (N,).

    roc_points > 0 adds {"roc": {"far": [...], "tar": [...]}} sampled at log-spaced FARs (figures)."""
    r = roc(scores, labels)
    out = {
        "auc": r.auc,
        "eer": eer(r.fpr, r.tpr),
        "tar_at_far": {far_key(f): tar_at_far(r.fpr, r.tpr, f, r.n_impostor) for f in fars},
        "threshold_at_far": {far_key(f): threshold_at_far(r.fpr, r.tpr, r.thresholds, f, r.n_impostor) for f in fars},
        "n_pairs": r.n_genuine + r.n_impostor,
        "n_genuine": r.n_genuine,
        "n_impostor": r.n_impostor,
    }
    if roc_points > 0:
        lo = max(1.0 / r.n_impostor, 1e-6)
        grid = np.unique(np.concatenate([np.geomspace(lo, 1.0, roc_points), [1.0]]))
        out["roc"] = {
            "far": grid.round(8).tolist(),
            "tar": [round(float(tar_at_far(r.fpr, r.tpr, g, r.n_impostor) or 0.0), 6) for g in grid],
        }
    return out


# -------------------------------------------------------------------------------- k-fold accuracy
def best_threshold(scores, labels) -> float:
    """Threshold maximising accuracy of ``score >= threshold`` on scores (N,) / labels (N,).
    Candidates: midpoints between consecutive distinct scores, and just below / above the extremes;
    ties go to the lowest threshold."""
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], labels[order]
    uniq, first = np.unique(s, return_index=True)
    # Accept everything from index `first[k]` on: correct = positives at/after + negatives before.
    neg_before = np.concatenate([[0], np.cumsum(~y)])  # (N+1,)
    pos_from = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])  # (N+1,)
    starts = np.concatenate([first, [len(s)]])
    correct = neg_before[starts] + pos_from[starts]
    k = int(np.argmax(correct))
    if k == 0:
        return float(uniq[0] - 1e-6 * max(1.0, abs(uniq[0])))
    if k == len(uniq):
        return float(uniq[-1] + 1e-6 * max(1.0, abs(uniq[-1])))
    return float((uniq[k - 1] + uniq[k]) / 2.0)


def stratified_folds(labels, n_folds: int = 10, seed: int = 0) -> np.ndarray:
    """Fold id (N,) for each pair: genuine and impostor pairs are each shuffled with `seed` and dealt
    round-robin, so every fold has the same mix (for 500 + 500 pairs: 50 + 50 per fold)."""
    labels = np.asarray(labels).ravel().astype(bool)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), np.int64)
    for cls in (True, False):
        idx = np.nonzero(labels == cls)[0]
        idx = idx[rng.permutation(len(idx))]
        folds[idx] = np.arange(len(idx)) % n_folds
    return folds


def kfold_accuracy(scores, labels, folds=None, n_folds: int = 10, seed: int = 0, threshold_fn: Callable = None) -> dict:
    """LFW-style verification accuracy: for each fold, the threshold is chosen on the *other* folds
    (best_threshold) and applied to this fold. scores, labels, folds: (N,). folds None ->
    stratified_folds(labels, n_folds, seed).

    Returns {"mean", "std" (sample std over folds, ddof=1), "folds": per-fold accuracies,
    "thresholds": per-fold thresholds}."""
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    folds = stratified_folds(labels, n_folds, seed) if folds is None else np.asarray(folds).ravel()
    threshold_fn = threshold_fn or best_threshold
    accs, thrs = [], []
    for k in np.unique(folds):
        test = folds == k
        thr = threshold_fn(scores[~test], labels[~test])
        accs.append(float(np.mean((scores[test] >= thr) == labels[test])))
        thrs.append(float(thr))
    accs = np.array(accs)
    return {
        "mean": float(accs.mean()),
        "std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
        "folds": accs.tolist(),
        "thresholds": thrs,
    }


# ---------------------------------------------------------------------------------- identification
def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def identification_ranks(gallery, gallery_ids, probes, probe_ids) -> np.ndarray:
    """Closed-set rank of each probe: gallery (G, D) and probes (P, D) embeddings (cosine similarity
    after L2 normalisation), ids (G,) / (P,). An identity's score is its best gallery image's; the
    rank is 1 + the number of *other* identities scoring >= the true one (ties count against the
    probe, so a constant embedding never ranks first). Returns (P,) int ranks (1 = correct)."""
    gallery_ids = np.asarray(gallery_ids)
    probe_ids = np.asarray(probe_ids)
    ids, inv = np.unique(gallery_ids, return_inverse=True)
    missing = ~np.isin(probe_ids, ids)
    if missing.any():
        raise InterpfaceError(
            f"closed-set identification: {int(missing.sum())} probe(s) have no gallery "
            f"image, e.g. {probe_ids[missing][:3].tolist()}"
        )
    sim = _normalize(probes) @ _normalize(gallery).T  # (P, G)
    order = np.argsort(inv, kind="stable")
    starts = np.concatenate([[0], np.nonzero(np.diff(inv[order]))[0] + 1])
    per_id = np.maximum.reduceat(sim[:, order], starts, axis=1)  # (P, identities): best image each
    true = per_id[np.arange(len(probe_ids)), np.searchsorted(ids, probe_ids)]
    return (per_id >= true[:, None]).sum(axis=1)  # the true identity counts itself once


def rank_rates(ranks, ks: Sequence[int] = (1, 5)) -> dict:
    """Fraction of probes with rank <= k, for each k: {"rank1": ..., "rank5": ...}."""
    ranks = np.asarray(ranks)
    return {f"rank{k}": float(np.mean(ranks <= k)) for k in ks}


# ----------------------------------------------------------------------------------------- bootstrap
def bootstrap(statistic: Callable[[np.ndarray], float], n: int, n_resamples: int = 100, seed: int = 0) -> dict:
    """Resample n items with replacement n_resamples times (fixed seed) and evaluate
    statistic(indices (n,)) on each. Returns {"mean", "std" (ddof=1), "values"}."""
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_resamples)], np.float64)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if n_resamples > 1 else 0.0,
        "values": values.tolist(),
    }


class _SortedRoc:
    """Weighted ROC on scores sorted once: each resample is gathers and a cumulative sum, no re-sort.

    reduce=True keeps only the curve's possible corners — the end of each tie group that holds a
    genuine pair and of the group just before it. Between them the curve runs horizontally under
    any weights (only impostors move), so AUC, EER and TAR@FAR are unchanged, and the curve has
    ~2 x (genuine pairs) points instead of one per distinct score."""

    def __init__(self, scores: np.ndarray, labels: np.ndarray, reduce: bool = False):
        order = np.argsort(-scores, kind="stable")
        self.order = order
        y = labels[order]
        s = scores[order]
        ends = np.concatenate([np.nonzero(np.diff(s))[0], [len(s) - 1]])  # last index of each tie group
        if reduce:
            starts = np.concatenate([[0], ends[:-1] + 1])
            has_gen = np.add.reduceat(y.astype(np.int64), starts) > 0
            keep = has_gen | np.concatenate([has_gen[1:], [False]])
            keep[-1] = True
            ends = ends[keep]
        self.gen_pos = np.nonzero(y)[0]  # sorted positions of genuine / impostor pairs
        self.imp_pos = np.nonzero(~y)[0]
        # how many genuine / impostor pairs lie at or before each kept end
        self.gen_upto = np.searchsorted(self.gen_pos, ends, side="right")
        self.imp_upto = np.searchsorted(self.imp_pos, ends, side="right")

    def curve_split(self, w_gen: np.ndarray, w_imp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weights of the genuine (in gen_pos order) and impostor (imp_pos order) pairs -> (fpr, tpr),
        starting at (0, 0)."""
        pos = np.concatenate([[0], np.cumsum(w_gen, dtype=np.int64)])[self.gen_upto]
        neg = np.concatenate([[0], np.cumsum(w_imp, dtype=np.int64)])[self.imp_upto]
        tpr = np.concatenate([[0.0], pos / max(pos[-1], 1)])
        fpr = np.concatenate([[0.0], neg / max(neg[-1], 1)])
        return fpr, tpr

    def curve(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """weights aligned with the *sorted* order -> (fpr, tpr)."""
        return self.curve_split(weights[self.gen_pos], weights[self.imp_pos])


def weighted_roc(scores, labels, weights) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) with integer sample weights (N,) — equal to scikit-learn's roc_curve(...,
    sample_weight=weights, drop_intermediate=False)."""
    scores, labels = _check(scores, labels)
    r = _SortedRoc(scores, labels)
    return r.curve(np.asarray(weights)[r.order])


def _dense_groups(groups_a, groups_b) -> tuple[np.ndarray, np.ndarray, int]:
    """Identity labels of both sides -> dense int32 ids 0..G-1 over the identities that occur.
    Non-negative integer labels are remapped in O(N) (no sort of millions of pairs)."""
    ga, gb = np.asarray(groups_a), np.asarray(groups_b)
    if ga.dtype.kind in "iu" and gb.dtype.kind in "iu" and len(ga) and min(ga.min(), gb.min()) >= 0:
        present = np.zeros(int(max(ga.max(), gb.max())) + 1, bool)
        present[ga] = True
        present[gb] = True
        remap = (np.cumsum(present) - 1).astype(np.int32)
        return remap[ga], remap[gb], int(present.sum())
    uniq, inv = np.unique(np.concatenate([ga, gb]), return_inverse=True)
    inv = inv.astype(np.int32)
    return inv[: len(ga)], inv[len(ga) :], len(uniq)


def _resampled_verification(
    score_sets, labels, groups_a, groups_b, n_resamples: int, seed: int, fars: Sequence[float]
) -> tuple[list[dict], str]:
    """AUC, EER and TAR@FAR of each score set (M of them, each (N,) over the same pairs) on the *same*
    n_resamples bootstrap resamples: one weight draw per resample, applied to every set. Returns one
    {"auc": [...], "eer": [...], far_key: [...]} per set (n_resamples values each) and the kind."""
    labels = np.asarray(labels).ravel().astype(bool)
    n_imp = int((~labels).sum())
    rng = np.random.default_rng(seed)
    rocs = [_SortedRoc(s, labels, reduce=True) for s in score_sets]
    if groups_a is not None:
        ga, gb, n_groups = _dense_groups(groups_a, groups_b)
        # each set sorts the pairs by its own scores: its own view of both sides' identities
        sorted_sides = [(ga[r.order], gb[r.order]) for r in rocs]
        sides = [(a[r.gen_pos], a[r.imp_pos], b[r.imp_pos]) for r, (a, b) in zip(rocs, sorted_sides)]
        kind = "identity cluster bootstrap"
    else:
        kind = "pair bootstrap"
    vals = [{"auc": [], "eer": [], **{far_key(f): [] for f in fars}} for _ in rocs]
    for _ in range(n_resamples):
        if groups_a is not None:
            m = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups).astype(np.int32)
            curves = [r.curve_split(m[gen_a], m[imp_a] * m[imp_b]) for r, (gen_a, imp_a, imp_b) in zip(rocs, sides)]
        else:
            w = np.bincount(rng.integers(0, len(labels), len(labels)), minlength=len(labels)).astype(np.int32)
            curves = [r.curve(w[r.order]) for r in rocs]
        for v, (fpr, tpr) in zip(vals, curves):
            v["auc"].append(float(np.trapezoid(tpr, fpr)))
            v["eer"].append(eer(fpr, tpr))
            for f in fars:
                v[far_key(f)].append(tar_at_far(fpr, tpr, f, n_imp))
    return vals, kind


def _spread(v) -> dict | None:
    """{"mean", "std" (ddof=1)} of bootstrap values; None when any is None (FAR not resolvable)."""
    if any(x is None for x in v):
        return None
    v = np.asarray(v, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def bootstrap_verification(
    scores,
    labels,
    groups_a=None,
    groups_b=None,
    n_resamples: int = 50,
    seed: int = 0,
    fars: Sequence[float] = DEFAULT_FARS,
) -> dict:
    """Spread of AUC, EER and TAR@FAR over bootstrap resamples (fixed seed).

    groups_a, groups_b None: pairs are resampled with replacement. Given (N,) identity ids of each
    side of each pair: a *cluster* bootstrap — identities are resampled, a pair's weight is the
    product of its two identities' multiplicities (the multiplicity for a genuine pair), which keeps
    the dependence between pairs that share people. Returns {"auc": {"mean", "std"}, "eer": ...,
    "tar_at_far": {key: {"mean", "std"} or None}, "n_resamples", "kind"}."""
    scores, labels = _check(scores, labels)
    (vals,), kind = _resampled_verification([scores], labels, groups_a, groups_b, n_resamples, seed, fars)
    return {
        "auc": _spread(vals["auc"]),
        "eer": _spread(vals["eer"]),
        "tar_at_far": {far_key(f): _spread(vals[far_key(f)]) for f in fars},
        "n_resamples": n_resamples,
        "kind": kind,
    }


def paired_bootstrap_verification(
    scores_a,
    scores_b,
    labels,
    groups_a=None,
    groups_b=None,
    n_resamples: int = 200,
    seed: int = 0,
    fars: Sequence[float] = DEFAULT_FARS,
) -> dict:
    """Is model A better than model B on the same pairs? scores_a, scores_b, labels: (N,).

    Both models are scored on the *same* resamples (of identities given groups, else of pairs: as in
    bootstrap_verification), so what they share — which people are hard — cancels, and the spread is
    that of the difference, usually far smaller than either model's own. For AUC, EER and TAR at each
    FAR: {"a", "b" (on all pairs), "diff" (a - b), "std" (of the resampled a - b, ddof=1), "z" (diff /
    std, signed so that > 0 means A is better; +-inf when std is 0), "a_better" (fraction of resamples
    where A is better: higher AUC / TAR, lower EER)}; None for a FAR the pairs cannot resolve."""
    scores_a, labels = _check(scores_a, labels)
    scores_b, _ = _check(scores_b, labels)
    (va, vb), kind = _resampled_verification([scores_a, scores_b], labels, groups_a, groups_b, n_resamples, seed, fars)
    full_a, full_b = verification_metrics(scores_a, labels, fars), verification_metrics(scores_b, labels, fars)

    def compare(key: str, a, b, higher_is_better: bool) -> dict | None:
        if a is None or b is None or any(x is None for x in va[key] + vb[key]):
            return None
        d = np.asarray(va[key], np.float64) - np.asarray(vb[key], np.float64)
        sign = 1.0 if higher_is_better else -1.0
        std = float(d.std(ddof=1)) if len(d) > 1 else 0.0
        diff = float(a - b)
        z = sign * diff / std if std > 0 else (0.0 if diff == 0 else float(np.copysign(np.inf, sign * diff)))
        return {
            "a": float(a),
            "b": float(b),
            "diff": diff,
            "std": std,
            "z": z,
            "a_better": float(np.mean(sign * d > 0)),
        }

    return {
        "auc": compare("auc", full_a["auc"], full_b["auc"], True),
        "eer": compare("eer", full_a["eer"], full_b["eer"], False),
        "tar_at_far": {
            far_key(f): compare(far_key(f), full_a["tar_at_far"][far_key(f)], full_b["tar_at_far"][far_key(f)], True)
            for f in fars
        },
        "n_resamples": n_resamples,
        "kind": kind,
    }
