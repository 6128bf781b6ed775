"""Faithfulness of every pair-map method on seeded LFW DevTest pairs: the table behind
``interpface faithfulness`` (method x model: deletion / insertion AUC with spreads over pairs, time
per map) and the mean curves for its figures.

Similarity maps are scored on genuine pairs, dissimilarity maps on impostor pairs (see
:mod:`.faithfulness` for how to read each). Pairs come from ``pairsDevTest.txt`` (View 1: identities
the models never saw), n genuine + n impostor drawn with a seed, faces from the prepared cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interpface.analysis.faithfulness import BASELINES, deletion_insertion
from interpface.analysis.pair_maps import methods_for, pair_map
from interpface.errors import CacheError
from interpface.models.face_model import FaceModel

__all__ = ["PairSet", "load_devtest_pairs", "load_pairs", "faithfulness_table", "model_input_pairs"]


@dataclass
class PairSet:
    """crops_a / crops_b: (P, 110, 110, 3) uint8; same: (P,) bool; keys: (P,) "a | b" relpaths;
    landmarks_a / landmarks_b: (P, 68, 2) crop pixels (what a black box cuts its input with)."""

    crops_a: np.ndarray
    crops_b: np.ndarray
    same: np.ndarray
    keys: list[str]
    landmarks_a: np.ndarray | None = None
    landmarks_b: np.ndarray | None = None
    note: str = ""  # where the pairs come from, what was left out (load_pairs)


def model_input_pairs(model: FaceModel, pairs: PairSet) -> PairSet:
    """The pairs as the model's own input images (P, S, S, 3) uint8 — cut by its alignment, before its
    normalisation — which the pair maps and the deletion / insertion curves take for any model."""
    if pairs.landmarks_a is None or pairs.landmarks_b is None:
        raise CacheError("these pairs carry no landmarks: a model cuts its input with them")

    def images(crops, landmarks):
        x01, _ = model.chips(crops, landmarks)
        return (x01 * 255).permute(0, 2, 3, 1).numpy().round().astype(np.uint8)

    return PairSet(
        images(pairs.crops_a, pairs.landmarks_a), images(pairs.crops_b, pairs.landmarks_b), pairs.same, pairs.keys
    )


def load_devtest_pairs(n: int, *, seed: int = 0, data_root=None, cache_dir=None, up_to: bool = False) -> PairSet:
    """n genuine and n impostor View-1 DevTest pairs (seeded), both faces detected (no fallback);
    up_to: all usable pairs of a kind where there are fewer than n (else CacheError)."""
    from interpface.faces.datasets import LFWProtocols, load_lfw
    from interpface.faces.prepare import PreparedDataset

    lfw = load_lfw(data_root)
    cache = PreparedDataset.open(lfw, cache_dir)
    usable = cache.usable(exclude_fallback=True)
    pairs = LFWProtocols.load(lfw.protocol_dir).dev_test_pairs
    rng = np.random.default_rng(seed)
    chosen = []
    for same in (True, False):
        cand = [p for p in pairs if p.same == same]
        rows = [cache.rows([p.a, p.b], missing_ok=True) for p in cand]
        ok = [i for i, r in enumerate(rows) if (r >= 0).all() and usable[r].all()]
        if len(ok) < n and not up_to:
            raise CacheError(f"only {len(ok)} usable {'genuine' if same else 'impostor'} DevTest pairs, {n} asked")
        for i in sorted(rng.choice(ok, size=min(n, len(ok)), replace=False)):
            chosen.append((cand[i], rows[i]))
    a = np.stack([np.asarray(cache.crops[r[0]]) for _, r in chosen])
    b = np.stack([np.asarray(cache.crops[r[1]]) for _, r in chosen])
    return PairSet(
        a,
        b,
        np.array([p.same for p, _ in chosen]),
        [f"{p.a} | {p.b}" for p, _ in chosen],
        np.stack([cache.landmarks[r[0]] for _, r in chosen]),
        np.stack([cache.landmarks[r[1]] for _, r in chosen]),
    )


def load_pairs(
    n: int | None = 20,
    *,
    dataset="lfw",
    pairs_file=None,
    seed: int = 0,
    data_root=None,
    cache_dir=None,
) -> PairSet:
    """n genuine and n impostor pairs (seeded) of any prepared dataset, both faces detected (no fallback).

    dataset: ``lfw``, ``folder:PATH`` or a FaceDataset; pairs_file: ``pathA<TAB>pathB<TAB>0|1`` paths
    relative to the dataset's folder. Without a pairs file: LFW -> :func:`load_devtest_pairs` (the same
    View-1 DevTest pairs); a dataset with identities -> pairs drawn from them
    (:func:`interpface.faces.sources.identity_pairs`); a flat folder -> NoPairsError. With fewer usable
    pairs of a kind than n, all of them (n None: all). PairSet.note says where they come from and what
    was left out."""
    from interpface.faces.sources import dataset_pairs, open_prepared

    if pairs_file is None and isinstance(dataset, str) and dataset == "lfw":
        out = load_devtest_pairs(n, seed=seed, data_root=data_root, cache_dir=cache_dir)
        n_same = int(out.same.sum())
        out.note = f"{n_same} genuine + {len(out.same) - n_same} impostor LFW View-1 DevTest pairs"
        return out
    ds, cache = open_prepared(dataset, data_root=data_root, cache_dir=cache_dir)
    dp = dataset_pairs(ds, cache, pairs_file, n_generated=max(n or 500, 1), seed=seed, exclude_fallback=True)
    same = dp.same
    rng = np.random.default_rng(seed)
    chosen = []
    for kind in (True, False):
        ok = np.flatnonzero(same == kind)
        if n is not None and len(ok) > n:
            ok = np.sort(rng.choice(ok, size=n, replace=False))
        chosen.extend(ok.tolist())
    ra, rb = dp.rows_a[chosen], dp.rows_b[chosen]
    order = np.argsort(ra, kind="stable")  # read the memmap in row order
    a = np.empty((len(chosen),) + cache.crops.shape[1:], np.uint8)
    b = np.empty_like(a)
    a[order] = cache.crops[ra[order]]
    b[np.argsort(rb, kind="stable")] = cache.crops[np.sort(rb)]
    notes = [f"{int(same[chosen].sum())} genuine + {int((~same[chosen]).sum())} impostor {dp.source}"]
    if dp.note():
        notes.append(dp.note())
    return PairSet(
        a,
        b,
        same[chosen],
        [f"{dp.pairs[i].a} | {dp.pairs[i].b}" for i in chosen],
        np.asarray(cache.landmarks[ra], np.float32),
        np.asarray(cache.landmarks[rb], np.float32),
        note="; ".join(notes),
    )


def _identity(relpath: str) -> str:
    """The identity folder of a dataset-relative path ("" for a flat folder)."""
    parts = relpath.replace("\\", "/").split("/")
    return parts[0] if len(parts) > 1 else ""


def _donors(pairs: PairSet) -> list[int]:
    """For each genuine pair, the pair whose face B donates patches: an impostor pair's B of another
    identity than both faces (or any other pair's B where identities are unknown). -1: none."""
    out = []
    for i, key in enumerate(pairs.keys):
        if not pairs.same[i]:
            out.append(-1)
            continue
        ids = {_identity(k.strip()) for k in key.split("|")}
        candidates = [j for j in range(len(pairs.keys)) if j != i and not pairs.same[j]]
        candidates += [j for j in range(len(pairs.keys)) if j != i and pairs.same[j]]
        pick = next(
            (j for j in candidates if _identity(pairs.keys[j].split("|")[1].strip()) not in ids - {""}),
            -1,
        )
        out.append(pick)
    return out


def faithfulness_table(
    model: FaceModel,
    pairs: PairSet,
    *,
    methods=None,
    baselines=BASELINES,
    steps: int = 20,
    seed: int = 0,
    progress=None,
    rise_masks: int = 512,
    threshold: float | None = None,
    patch_grid: int = 8,
    patch_fraction: float = 0.25,
    n_resamples: int = 1000,
) -> dict:
    """Pair maps of every method on every pair, scored on the model's own input by two protocols.

    - Ours (:mod:`.faithfulness`): deletion / insertion curves of the cosine, per baseline: the mean /
      std over pairs of similarity_deletion_auc, similarity_insertion_auc (genuine pairs) and
      dissimilarity_deletion_auc, dissimilarity_insertion_auc (impostor pairs).
    - The field's (:mod:`.accuracy_curves`, FAME / Lu et al.): accuracy over all pairs at the clean EER
      threshold with the black baseline at P = 0, 10, ..., 100 % (read off the same curves when steps is
      a multiple of 10, else at every step): fame_deletion_auc, fame_insertion_auc with bootstrap std and 95 % interval;
      and the Patch-LFW-style swap (:mod:`.patch_swap`): fnmr_best / _worst / _random on genuine pairs,
      fmr_best / ... on impostor pairs.

    threshold: the clean EER threshold (default: from these pairs' untouched cosines; pass the one of
    a larger pair set for a stable value). Returns {"rows": [per method], "curves": {method: {baseline:
    {kind: mean curve}}}, "fame_curves": {method: {"deletion", "insertion"}}, "per_pair": {method:
    {metric: (P,) values}}, "fractions", "threshold", ...}; per_pair feeds the comparisons with the
    random map (:mod:`.trust`)."""
    from interpface.analysis.accuracy_curves import FAME_FRACTIONS, accuracy_curves, eer_threshold
    from interpface.analysis.patch_swap import patch_swap_rates, patch_swap_scores

    if "black" not in baselines:
        baselines = ("black",) + tuple(baselines)
    methods = tuple(methods) if methods is not None else methods_for(model)
    net = model.input_net()
    pairs = model_input_pairs(model, pairs)
    n_pairs = len(pairs.same)
    donors = _donors(pairs)
    kinds = ("sim_del", "sim_ins", "dis_del", "dis_ins")
    per = {m: {"seconds": [], **{f"{b}_{k}": [] for b in baselines for k in kinds}} for m in methods}
    curves = {m: {b: {k: [] for k in kinds} for b in baselines} for m in methods}
    # the black curves of each pair in its map's order (similarity on genuine, dissimilarity on impostor)
    raw = {
        m: {"deletion": np.zeros((n_pairs, steps + 1)), "insertion": np.zeros((n_pairs, steps + 1))} for m in methods
    }
    swaps = {m: {o: np.full(n_pairs, np.nan) for o in ("best", "worst", "random")} for m in methods}
    fractions = None
    for i in range(n_pairs):
        for m in methods:
            pm = pair_map(model, pairs.crops_a[i], pairs.crops_b[i], m, seed=seed + i, n_masks=rise_masks)
            per[m]["seconds"].append(pm.seconds)
            saliency, kind = (pm.similarity, "sim") if pairs.same[i] else (pm.dissimilarity, "dis")
            for b in baselines:
                c = deletion_insertion(
                    net, pairs.crops_a[i], pairs.crops_b[i], saliency, baseline=b, steps=steps, seed=seed + i
                )
                fractions = c.fractions
                per[m][f"{b}_{kind}_del"].append(c.deletion_auc)
                per[m][f"{b}_{kind}_ins"].append(c.insertion_auc)
                curves[m][b][f"{kind}_del"].append(c.deletion)
                curves[m][b][f"{kind}_ins"].append(c.insertion)
                if b == "black":
                    raw[m]["deletion"][i], raw[m]["insertion"][i] = c.deletion, c.insertion
            donor = pairs.crops_a[i] if not pairs.same[i] else (pairs.crops_b[donors[i]] if donors[i] >= 0 else None)
            if donor is not None:
                s = patch_swap_scores(
                    net,
                    pairs.crops_a[i],
                    pairs.crops_b[i],
                    donor,
                    saliency,
                    grid=patch_grid,
                    fraction=patch_fraction,
                    seed=seed + i,
                )
                for o, v in s.items():
                    swaps[m][o][i] = v
        if progress is not None:
            progress(1)
    clean = raw[methods[0]]["deletion"][:, 0] if methods else np.zeros(0)
    source = "given"
    if threshold is None:
        threshold, source = eer_threshold(clean, pairs.same), "these pairs"
    # the protocol's P = 0, 10, ..., 100 % where the curves have those points, else every point
    every, fame_fractions = (steps // 10, FAME_FRACTIONS) if steps % 10 == 0 else (1, np.asarray(fractions))
    names = {
        "sim_del": "similarity_deletion_auc",
        "sim_ins": "similarity_insertion_auc",
        "dis_del": "dissimilarity_deletion_auc",
        "dis_ins": "dissimilarity_insertion_auc",
    }
    rows, fame_curves, per_pair = [], {}, {}
    for m in methods:
        row = {
            "method": m,
            "n_genuine": int(pairs.same.sum()),
            "n_impostor": int((~pairs.same).sum()),
            "seconds_per_map": float(np.mean(per[m]["seconds"])),
            "seconds_per_map_std": float(np.std(per[m]["seconds"])),
        }
        for b in baselines:
            for k, name in names.items():
                v = np.asarray(per[m][f"{b}_{k}"], np.float64)
                row[f"{b}_{name}"] = float(v.mean()) if len(v) else None
                row[f"{b}_{name}_std"] = float(v.std(ddof=1)) if len(v) > 1 else None
        dele, ins = raw[m]["deletion"][:, ::every], raw[m]["insertion"][:, ::every]
        acc = accuracy_curves(
            dele, ins, pairs.same, threshold, fractions=fame_fractions, n_resamples=n_resamples, seed=seed
        )
        row.update(
            fame_deletion_auc=acc.deletion_auc,
            fame_deletion_auc_std=acc.deletion_auc_std,
            fame_deletion_auc_ci=list(acc.deletion_auc_ci),
            fame_insertion_auc=acc.insertion_auc,
            fame_insertion_auc_std=acc.insertion_auc_std,
            fame_insertion_auc_ci=list(acc.insertion_auc_ci),
        )
        ok = ~np.isnan(swaps[m]["best"])
        row.update(patch_swap_rates({o: v[ok] for o, v in swaps[m].items()}, pairs.same[ok], threshold))
        rows.append(row)
        fame_curves[m] = {"deletion": acc.deletion.tolist(), "insertion": acc.insertion.tolist()}
        per_pair[m] = {
            **{f"{b}_{k}": [float(x) for x in per[m][f"{b}_{k}"]] for b in baselines for k in kinds},
            "fame_deletion_scores": dele.tolist(),
            "fame_insertion_scores": ins.tolist(),
            **{f"swap_{o}": [None if np.isnan(x) else float(x) for x in v] for o, v in swaps[m].items()},
        }
    mean_curves = {
        m: {b: {k: (np.mean(v, axis=0).tolist() if v else None) for k, v in d.items()} for b, d in cb.items()}
        for m, cb in curves.items()
    }
    return {
        "rows": rows,
        "curves": mean_curves,
        "fame_curves": fame_curves,
        "fame_fractions": np.asarray(fame_fractions).tolist(),
        "per_pair": per_pair,
        "same": [bool(s) for s in pairs.same],
        "keys": list(pairs.keys),
        "fractions": None if fractions is None else fractions.tolist(),
        "baselines": list(baselines),
        "steps": steps,
        "threshold": float(threshold),
        "threshold_source": source,
        "patch_grid": patch_grid,
        "patch_fraction": patch_fraction,
    }
