"""Is model A better than model B? Both scored on the same pairs, the spread from a paired bootstrap.

Each model's own spread (`Evaluator.run`'s ± std) mostly measures which people happen to be in the
test set; two models trained on the same data find the same people hard, so comparing their means
with their own spreads understates how sure a difference is. Here both models' verification scores
are resampled together (the same identities drawn each time: metrics.paired_bootstrap_verification),
and the spread is that of the difference A - B. Pair accuracy is compared fold by fold (the same
folds for both models).
"""

from __future__ import annotations

import numpy as np

from interpface.errors import ConfigError
from interpface.evaluation import metrics as M

__all__ = ["compare_models", "format_comparison"]


def _check_same_faces(ev_a, ev_b) -> None:
    if ev_a.protocol != ev_b.protocol or ev_a.seed != ev_b.seed or ev_a.occlude != ev_b.occlude:
        raise ConfigError("the two evaluators differ in protocol, seed or occluded side: nothing to pair")
    if list(ev_a.faces.keys) != list(ev_b.faces.keys) or not np.array_equal(ev_a.faces.ok, ev_b.faces.ok):
        raise ConfigError("the two evaluators see different faces: nothing to pair")


def compare_models(ev_a, ev_b, condition: str = "clean", n_resamples: int = 200) -> dict:
    """ev_a, ev_b: Evaluators of the two models on the same protocol, seed and faces.

    Returns {"condition", "a", "b" (model names), "kind", "n_resamples", "auc", "eer", "tar_at_far":
    paired_bootstrap_verification's entries (a, b, diff, std, z, a_better; z > 0 means A better),
    "accuracy": {"a", "b", "diff", "fold_diffs" (per fold, a - b), "folds_a_better" (how many of the
    folds A wins), "n_folds"}}."""
    _check_same_faces(ev_a, ev_b)
    sa, labels, ga, gb = ev_a.verification_scores(condition)
    sb, labels_b, _, _ = ev_b.verification_scores(condition)
    if not np.array_equal(labels, labels_b):
        raise ConfigError("the two models were scored on different pairs")
    out = {
        "condition": str(condition),
        "a": ev_a.embedder.name,
        "b": ev_b.embedder.name,
        **M.paired_bootstrap_verification(sa, sb, labels, ga, gb, n_resamples=n_resamples, seed=ev_a.seed),
    }
    acc_a, acc_b = ev_a.pair_accuracy(condition), ev_b.pair_accuracy(condition)
    d = np.asarray(acc_a["folds"]) - np.asarray(acc_b["folds"])
    out["accuracy"] = {
        "a": acc_a["mean"],
        "b": acc_b["mean"],
        "diff": acc_a["mean"] - acc_b["mean"],
        "fold_diffs": d.tolist(),
        "folds_a_better": int((d > 0).sum()),
        "n_folds": len(d),
    }
    return out


def format_comparison(results: list[dict]) -> str:
    """A text table: one row per condition and metric, percentages."""
    if not results:
        return ""
    a, b = results[0]["a"], results[0]["b"]
    rows = [("condition", "metric", a, b, "diff", "paired std", "z", f"{a} better")]
    for r in results:
        entries = [("accuracy", r["accuracy"]), ("AUC", r["auc"]), ("EER", r["eer"])]
        entries += [(f"TAR@{k}", v) for k, v in r["tar_at_far"].items()]
        for label, e in entries:
            if e is None:
                continue
            if label == "accuracy":
                rows.append(
                    (
                        r["condition"],
                        label,
                        f"{100 * e['a']:.1f}",
                        f"{100 * e['b']:.1f}",
                        f"{100 * e['diff']:+.1f}",
                        "-",
                        "-",
                        f"{e['folds_a_better']}/{e['n_folds']} folds",
                    )
                )
            else:
                rows.append(
                    (
                        r["condition"],
                        label,
                        f"{100 * e['a']:.1f}",
                        f"{100 * e['b']:.1f}",
                        f"{100 * e['diff']:+.1f}",
                        f"{100 * e['std']:.1f}",
                        f"{e['z']:+.1f}",
                        f"{100 * e['a_better']:.0f}% of resamples",
                    )
                )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
