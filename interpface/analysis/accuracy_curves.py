"""Deletion and insertion as verification accuracy: the protocol of FAME (Zhang & Günther, CVPR
Workshops 2026) and of Lu, Xu and Ebrahimi (CorrRISE, FGGB), beside our cosine curves.

Each pair's probe (face B) loses (deletion) or regains (insertion) its pixels in map order while the
gallery face A stays fixed: a genuine pair in the order of its *similarity* map, an impostor pair in
the order of its *dissimilarity* map. At P = 0, 10, ..., 100 % of the pixels, every pair is decided at
the *clean* EER threshold (the model's threshold on untouched pairs) and the accuracy over all pairs,
genuine and impostor together, is recorded. The summary is the normalised AUC: the trapezoid of
accuracy over P / 100 in [0, 1] (so it lies in [0, 1]).

Reading it: removing the evidence a faithful map names first breaks the decisions fast, so a low
deletion AUC is faithful; restoring it first mends them fast, so a high insertion AUC is faithful.
Accuracy is a property of a set of pairs, so its intervals come from a bootstrap over pairs
(genuine and impostor pairs resampled separately), and a method is compared with the random map on
the same resamples (paired).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interpface.errors import InterpfaceError

__all__ = ["eer_threshold", "clean_eer_threshold", "AccuracyCurves", "accuracy_curves", "paired_auc_difference"]

#: the protocol's probe fractions: P = 0, 10, ..., 100 %
FAME_FRACTIONS = np.linspace(0.0, 1.0, 11)


def eer_threshold(scores, same) -> float:
    """The score threshold (accept when score >= it) where the false accept rate on impostor pairs
    and the false reject rate on genuine pairs are closest: the midpoint between the two scores
    that bracket the crossing. scores, same: (N,)."""
    scores = np.asarray(scores, np.float64).ravel()
    same = np.asarray(same, bool).ravel()
    if scores.shape != same.shape or not same.any() or same.all():
        raise InterpfaceError("an EER threshold needs genuine and impostor scores of matching length")
    if not np.isfinite(scores).all():
        raise InterpfaceError("scores contain NaN or inf")
    cand = np.unique(scores)
    # accept when score >= t: FAR(t) = share of impostors >= t, FRR(t) = share of genuine < t
    gen, imp = np.sort(scores[same]), np.sort(scores[~same])
    far = 1.0 - np.searchsorted(imp, cand, side="left") / len(imp)
    frr = np.searchsorted(gen, cand, side="left") / len(gen)
    k = int(np.argmin(np.abs(far - frr) + 1e-9 * np.arange(len(cand))))
    below = cand[k - 1] if k > 0 else cand[k] - 1e-6
    return float((below + cand[k]) / 2.0)


def clean_eer_threshold(model, pairs) -> float:
    """The model's EER threshold on untouched pairs (a ``pair_benchmark.PairSet`` with landmarks),
    embedded through the one embedding path (``FaceModel.embed``)."""
    a = model.embed(pairs.crops_a, pairs.landmarks_a)
    b = model.embed(pairs.crops_b, pairs.landmarks_b)
    return eer_threshold((a * b).sum(axis=1), pairs.same)


def _resample(same: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(R, P) pair indices: genuine and impostor pairs each resampled with replacement."""
    rng = np.random.default_rng(seed)
    gen, imp = np.flatnonzero(same), np.flatnonzero(~same)
    return np.stack(
        [np.concatenate([rng.choice(gen, len(gen)), rng.choice(imp, len(imp))]) for _ in range(n_resamples)]
    )


def _auc(acc: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    return np.trapezoid(acc, fractions, axis=-1)


@dataclass
class AccuracyCurves:
    """fractions: (T,) P / 100; deletion, insertion: (T,) accuracy over the pairs at each P;
    deletion_auc / insertion_auc with their bootstrap spreads (std and 95 % interval over resamples)."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    threshold: float
    deletion_auc: float
    insertion_auc: float
    deletion_auc_std: float
    insertion_auc_std: float
    deletion_auc_ci: tuple[float, float]
    insertion_auc_ci: tuple[float, float]

    def to_dict(self) -> dict:
        return {
            "fractions": self.fractions.tolist(),
            "deletion": self.deletion.tolist(),
            "insertion": self.insertion.tolist(),
            "threshold": self.threshold,
            "deletion_auc": self.deletion_auc,
            "insertion_auc": self.insertion_auc,
            "deletion_auc_std": self.deletion_auc_std,
            "insertion_auc_std": self.insertion_auc_std,
            "deletion_auc_ci": list(self.deletion_auc_ci),
            "insertion_auc_ci": list(self.insertion_auc_ci),
        }


def _correct(scores: np.ndarray, same: np.ndarray, threshold: float) -> np.ndarray:
    """(P, T) whether each pair is decided right at each step."""
    return (scores >= threshold) == same[:, None]


def accuracy_curves(
    deletion_scores,
    insertion_scores,
    same,
    threshold: float,
    *,
    fractions=FAME_FRACTIONS,
    n_resamples: int = 1000,
    seed: int = 0,
) -> AccuracyCurves:
    """Accuracy at the clean threshold over pairs at each probe fraction.

    deletion_scores, insertion_scores: (P, T) the cosine of each pair at each fraction (T = len(fractions));
    same: (P,) genuine pair or not; threshold: the clean EER threshold (:func:`eer_threshold`)."""
    dele = np.asarray(deletion_scores, np.float64)
    ins = np.asarray(insertion_scores, np.float64)
    same = np.asarray(same, bool)
    fractions = np.asarray(fractions, np.float64)
    if dele.shape != ins.shape or dele.shape != (len(same), len(fractions)):
        raise InterpfaceError(f"scores must be (pairs, {len(fractions)}), got {dele.shape} and {ins.shape}")
    if not same.any() or same.all():
        raise InterpfaceError("the accuracy protocol needs genuine and impostor pairs")
    c_del, c_ins = _correct(dele, same, threshold), _correct(ins, same, threshold)
    idx = _resample(same, n_resamples, seed)
    boot_del = _auc(c_del[idx].mean(axis=1), fractions)  # (R,)
    boot_ins = _auc(c_ins[idx].mean(axis=1), fractions)
    acc_del, acc_ins = c_del.mean(axis=0), c_ins.mean(axis=0)
    return AccuracyCurves(
        fractions,
        acc_del,
        acc_ins,
        float(threshold),
        float(_auc(acc_del, fractions)),
        float(_auc(acc_ins, fractions)),
        float(boot_del.std(ddof=1)),
        float(boot_ins.std(ddof=1)),
        (float(np.percentile(boot_del, 2.5)), float(np.percentile(boot_del, 97.5))),
        (float(np.percentile(boot_ins, 2.5)), float(np.percentile(boot_ins, 97.5))),
    )


def paired_auc_difference(
    scores_method,
    scores_reference,
    same,
    threshold: float,
    *,
    fractions=FAME_FRACTIONS,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """AUC(method) - AUC(reference) of one curve kind on the same bootstrap resamples of the pairs:
    {"difference", "ci": [2.5 %, 97.5 %]}. scores_*: (P, T) cosines; same: (P,)."""
    same = np.asarray(same, bool)
    fractions = np.asarray(fractions, np.float64)
    a = _correct(np.asarray(scores_method, np.float64), same, threshold)
    b = _correct(np.asarray(scores_reference, np.float64), same, threshold)
    idx = _resample(same, n_resamples, seed)
    boot = _auc(a[idx].mean(axis=1), fractions) - _auc(b[idx].mean(axis=1), fractions)
    return {
        "difference": float(_auc(a.mean(axis=0), fractions) - _auc(b.mean(axis=0), fractions)),
        "ci": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
    }
