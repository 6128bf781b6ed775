"""Where a verifier fails: its false accepts and false rejects at chosen false accept rates, ranked
by margin, and its error rates per slice of the data (detector, landmark fit, head pose, face size,
sharpness, occluder condition, LFW attributes, a user's own metadata), worst first, with
identity-cluster bootstrap intervals (:mod:`.slices`).

Faces come from a prepared dataset (``interpface data prepare``): its aligned crops, its original
landmarks (pose and face size), which detector found each face and how well the 68 points fit.

Pairs (``protocol`` / ``pairs``):

- ``lfw-devtest`` (LFW's default): every pair i < j of the 3,708 View-1 DevTest images, genuine =
  same person — the pairs of `interpface evaluate`'s AUC / TAR@FAR, so the thresholds agree;
- ``lfw-view2``: the 6,000 pairs of ``pairs.txt``;
- a pairs file (``pathA<TAB>pathB<TAB>0|1``, paths relative to the dataset's folder);
- a folder dataset with identities and no pairs file: every pair i < j of its usable images.

Thresholds: for each FAR, the threshold that reaches it on the *first* condition's pairs (the
operating point, usually ``clean``), as `evaluate` reports it; a pair is accepted when its cosine
score is >= the threshold. Other conditions (occluders on the probe side, as in `evaluate`) are read
at the same thresholds. A false accept's margin is score - threshold; a false reject's, threshold -
score: the larger, the more confident the mistake.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

import interpface.evaluation.metrics as M
from interpface.errors import CacheError, ConfigError, DatasetError, NoIdentitiesError
from interpface.evaluation.protocols import (
    Condition,
    Evaluator,
    FaceSet,
    _as_embedder,
    find_attribute_file,
    parse_condition,
    read_lfw_attributes,
)
from interpface.evaluation.slices import (
    DEFAULT_BINS,
    ErrorRows,
    PairLayout,
    condition_slices,
    image_slices,
    slice_rates,
)

__all__ = [
    "FailureReport",
    "find_failures",
    "image_columns",
    "DEFAULT_FAILURE_FARS",
    "MAX_ALL_PAIRS_IMAGES",
    "THUMBNAIL",
]

DEFAULT_FAILURE_FARS = (1e-3, 1e-2)
MAX_ALL_PAIRS_IMAGES = 8000  # all pairs among more images than this: give a pairs file instead
THUMBNAIL = 56  # side of the face thumbnails kept with a report (pixels)
_FORMAT = 1  # version of the saved report


class _FaceEmbeddings(Evaluator):
    """`evaluate`'s embeddings (one cache per condition; occluders on the probe side, placed with the
    same seeds) over faces chosen here instead of a protocol's."""

    def __init__(
        self,
        embedder,
        faces: FaceSet,
        *,
        template,
        seed: int,
        occlude: str,
        batch_size: int,
        precision: str | None,
        progress: bool,
    ):
        if occlude not in ("probe", "both"):
            raise ConfigError(f"occlude must be 'probe' or 'both', got {occlude!r}")
        self.embedder = _as_embedder(embedder, batch_size=batch_size, precision=precision)
        self.faces, self.template, self.seed, self.occlude, self.progress = faces, template, seed, occlude, progress
        self.protocol = "faces"
        self._cache: dict = {}
        self.timings: dict[str, float] = {}


# ------------------------------------------------------------------------------------- the report
@dataclass
class FailureReport:
    """What find_failures found. info: model, dataset, protocol, conditions, thresholds, counts,
    timings; images: {"keys", "identities", "usable", "columns": {name: (M,) values}, "slices": {name:
    (M,) the slice each face is in (a bin's label for a numeric column)}}; fars: {far key: {"far",
    "threshold", "n_false_accepts", "n_false_rejects", "false_accepts": [...], "false_rejects": [...]
    (the top records by margin), "per_image": {"false_accepts", "false_rejects": (M,) counts}}}; slices: slice_rates' result; embeddings: (M, D) clean
    embeddings (NaN rows for unusable faces); thumbnails: (M, THUMBNAIL, THUMBNAIL, 3) uint8 crops."""

    info: dict
    images: dict
    fars: dict
    slices: dict
    embeddings: np.ndarray | None = None
    thumbnails: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self, images: bool = True) -> dict:
        out = {**self.info, "fars": self.fars, "slices": self.slices}
        if images:
            out["images"] = self.images
        return out

    def position(self, key: str) -> int:
        if "_index" not in self.extra:
            self.extra["_index"] = {k: i for i, k in enumerate(self.images["keys"])}
        return self.extra["_index"][key]

    def save(self, folder: str | os.PathLike) -> Path:
        """report.json (everything but the arrays) and arrays.npz (embeddings, thumbnails), written
        atomically; read back with FailureReport.load (no pickle)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": _FORMAT,
            "info": self.info,
            "images": self.images,
            "fars": self.fars,
            "slices": self.slices,
        }
        tmp = folder / f".report.{os.getpid()}.json"
        tmp.write_text(json.dumps(payload, default=_json_default))
        arrays = {}
        if self.embeddings is not None:
            arrays["embeddings"] = self.embeddings
        if self.thumbnails is not None:
            arrays["thumbnails"] = self.thumbnails
        tmp_npz = folder / f".arrays.{os.getpid()}.npz"
        np.savez(tmp_npz, **arrays)
        os.replace(tmp_npz, folder / "arrays.npz")
        os.replace(tmp, folder / "report.json")
        return folder

    @staticmethod
    def load(folder: str | os.PathLike) -> FailureReport:
        folder = Path(folder)
        try:
            payload = json.loads((folder / "report.json").read_text())
        except (OSError, ValueError) as exc:
            raise CacheError(f"no readable failure report in {folder} ({exc})") from None
        if payload.get("format") != _FORMAT:
            raise CacheError(f"{folder}: failure report of another format ({payload.get('format')})")
        emb = thumbs = None
        if (folder / "arrays.npz").is_file():
            with np.load(folder / "arrays.npz", allow_pickle=False) as z:
                emb = z["embeddings"] if "embeddings" in z else None
                thumbs = z["thumbnails"] if "thumbnails" in z else None
        return FailureReport(payload["info"], payload["images"], payload["fars"], payload["slices"], emb, thumbs)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean(values) -> list:
    """JSON-safe list: NaN / inf -> None, numpy scalars -> Python, floats rounded to 4 digits."""
    out = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, (float, np.floating)):
            out.append(round(float(v), 4) if np.isfinite(v) else None)
        elif isinstance(v, np.generic):
            out.append(v.item())
        else:
            out.append(v)
    return out


# ------------------------------------------------------------------------------------ per image
def image_columns(
    cache,
    rows: np.ndarray,
    keys: Sequence[str],
    *,
    dataset=None,
    attributes: bool | Sequence[str] = True,
    metadata=None,
) -> dict[str, list]:
    """The per-image columns errors are sliced by, for the cache rows of the images (-1: unusable ->
    missing): detector, fit residual (template pixels), yaw / pitch / roll (degrees, from the original
    landmarks), face size (original pixels), sharpness (variance of the Laplacian of the aligned
    crop); "lfw:ATTRIBUTE" ("yes" / "no") where the dataset has Kumar et al.'s attribute file
    (attributes: True = all of them, a list = those, False = none); "meta:COLUMN" for each column of a
    metadata CSV (metadata: its path). A metadata file naming images that are not in the dataset is a
    DatasetError listing them."""
    from interpface.faces.pose import head_pose
    from interpface.faces.quality import face_size, sharpness

    rows = np.asarray(rows, np.int64)
    ok = rows >= 0
    safe = np.where(ok, rows, 0)
    detectors = cache.detectors
    residual = cache.fit_residual
    raw = np.asarray(cache.raw_landmarks[safe], np.float64)
    pose = head_pose(raw)
    size = face_size(raw)
    order = np.argsort(safe, kind="stable")  # read the memmap in row order
    sharp = np.empty(len(rows))
    for start in range(0, len(rows), 512):
        part = order[start : start + 512]
        sharp[part] = sharpness(np.asarray(cache.crops[safe[part]]))

    def masked(values):
        return [v if k else None for v, k in zip(values, ok)]

    cols: dict[str, list] = {
        "detector": masked([detectors[r] for r in safe]),
        "fit residual": masked(residual[safe]),
        "yaw": masked(pose[:, 0]),
        "pitch": masked(pose[:, 1]),
        "roll": masked(pose[:, 2]),
        "face size": masked(size),
        "sharpness": masked(sharp),
    }
    if attributes and dataset is not None and getattr(dataset, "protocol_dir", None) is not None:
        try:
            table = read_lfw_attributes(find_attribute_file(Path(dataset.protocol_dir)))
        except DatasetError:
            table = {}
        if table:
            names = list(next(iter(table.values())))
            if not isinstance(attributes, bool):
                unknown = [a for a in attributes if a not in names]
                if unknown:
                    raise ConfigError(f"unknown LFW attribute(s) {', '.join(unknown)}; the file has {', '.join(names)}")
                names = list(attributes)
            for a in names:
                cols[f"lfw:{a}"] = [None if k not in table else ("yes" if table[k][a] > 0 else "no") for k in keys]
    if metadata is not None:
        from interpface.faces.datasets import read_metadata_csv

        md = read_metadata_csv(metadata, dataset if dataset is not None else list(keys))
        if md.unknown:
            shown = ", ".join(md.unknown[:5]) + (f" ... and {len(md.unknown) - 5} more" if len(md.unknown) > 5 else "")
            raise DatasetError(
                f"{metadata}: {len(md.unknown)} row(s) name images that are not in the dataset: {shown} "
                "(paths are relative to the dataset's folder)"
            )
        for c in md.columns:
            cols[f"meta:{c}"] = md.column(c, list(keys))
    return cols


# ------------------------------------------------------------------------------------ the pairs
def _dense_ids(identities: Sequence[str]) -> np.ndarray:
    """(M,) dense identity ids; -1 for an image without identity ("")."""
    ids = np.array(["" if i is None else str(i) for i in identities], dtype=object)
    out = np.full(len(ids), -1, np.int64)
    known = ids != ""
    if known.any():
        out[known] = np.unique(ids[known].astype(str), return_inverse=True)[1]
    return out


def _select(dataset_spec, ds, cache, protocol: str | None, pairs):
    """(protocol name, keys, explicit pairs [(a, b, same)] or None, a note)."""
    is_lfw = ds.protocol_dir is not None and ds.name == "lfw"
    if pairs is not None:
        from interpface.faces.sources import dataset_pairs

        if protocol not in (None, "pairs"):
            raise ConfigError("give --pairs FILE or --protocol, not both")
        dp = dataset_pairs(ds, cache, pairs, exclude_fallback=False)
        keys = sorted({p for q in dp.pairs for p in (q.a, q.b)})
        return f"pairs:{Path(pairs).name}", keys, [(q.a, q.b, q.same) for q in dp.pairs], dp.note()
    if protocol in (None, "lfw-devtest") and is_lfw:
        from interpface.faces.datasets import LFWProtocols

        keys = [r.relpath for r in LFWProtocols.load(ds.protocol_dir).dev_test_images]
        return "lfw-devtest", keys, None, None
    if protocol == "lfw-view2" and is_lfw:
        from interpface.faces.datasets import LFWProtocols

        view2 = LFWProtocols.load(ds.protocol_dir).view2_pairs
        keys = sorted({p for q in view2 for p in (q.a, q.b)})
        return "lfw-view2", keys, [(q.a, q.b, q.same) for q in view2], None
    if protocol in ("lfw-devtest", "lfw-view2"):
        raise ConfigError(f"--protocol {protocol} is LFW's: use --dataset lfw, or give --pairs FILE")
    if protocol not in (None, "all-pairs"):
        raise ConfigError(f"unknown protocol {protocol!r}: use lfw-devtest, lfw-view2, all-pairs, or --pairs FILE")
    if not any(cache.identities):
        raise NoIdentitiesError(
            f"{ds.name} has no identities (a flat folder): failures need to know who is who; put each person's "
            "images in a sub-folder of their own, or give --pairs FILE"
        )
    keys = [r for r, i in zip(cache.relpaths, cache.identities) if i]
    if len(keys) > MAX_ALL_PAIRS_IMAGES:
        raise ConfigError(
            f"{ds.name} has {len(keys):,} images: all pairs among more than {MAX_ALL_PAIRS_IMAGES:,} is too many "
            "here; give --pairs FILE"
        )
    return "all-pairs", keys, None, None


def _faces(ds, cache, keys: list[str], template) -> FaceSet:
    rows = cache.rows(keys, missing_ok=True)
    if (rows < 0).any():
        missing = [k for k, r in zip(keys, rows) if r < 0]
        raise CacheError(
            f"{len(missing)} image(s) are not in the prepared cache (e.g. {missing[:3]}); run "
            "`interpface data prepare` for the dataset (without --limit)"
        )
    status = cache.status[rows]
    failures = [
        {"source": k, "error": cache.entries[r].get("error") or "failed in `data prepare`"}
        for k, r, s in zip(keys, rows, status)
        if s == "failed"
    ]
    usable_rows = np.where(status == "failed", -1, rows)
    return FaceSet(
        list(keys),
        [cache.identities[r] for r in rows],
        usable_rows,
        cache.crops,
        cache.landmarks,
        cache.raw_landmarks,
        [ds.path(k) for k in keys],
        failures,
        template.landmarks,
    )


def _record(kind, faces: FaceSet, cols, a, b, cond_name, score, thr) -> dict:
    ka, kb = faces.keys[a], faces.keys[b]
    margin = score - thr if kind == "false_accept" else thr - score
    det, res = cols["detector"], cols["fit residual"]
    return {
        "kind": kind,
        "a": ka,
        "b": kb,
        "position_a": int(a),
        "position_b": int(b),
        "identity_a": faces.identities[a],
        "identity_b": faces.identities[b],
        "condition": cond_name,
        "score": round(float(score), 5),
        "margin": round(float(margin), 5),
        "detector_a": det[a],
        "detector_b": det[b],
        "fit_residual_a": None if res[a] is None else round(float(res[a]), 3),
        "fit_residual_b": None if res[b] is None else round(float(res[b]), 3),
    }


def find_failures(
    model,
    dataset="lfw",
    *,
    protocol: str | None = None,
    pairs=None,
    fars: Sequence[float] = DEFAULT_FAILURE_FARS,
    conditions: Sequence[str] = ("clean",),
    metadata=None,
    attributes: bool | Sequence[str] = True,
    data_root=None,
    cache_dir=None,
    n_bootstrap: int = 100,
    seed: int = 0,
    n_bins: int = DEFAULT_BINS,
    top: int = 50,
    min_pairs: int = 10,
    min_identities: int = 3,
    membership: str = "any",
    occlude: str = "probe",
    batch_size: int = 128,
    precision: str | None = None,
    progress: bool = False,
    name: str | None = None,
) -> FailureReport:
    """False accepts / rejects and per-slice error rates of a model on a prepared dataset.

    model: a FaceModel (or an embedder, as for `evaluate`); dataset: "lfw", "folder:PATH" or a
    FaceDataset; protocol / pairs: see the module docstring; fars: the operating points; conditions:
    `evaluate`'s conditions (clean, synthetic, part:REGION, mask, sunglasses, ...; not natural), the
    first one sets the thresholds; metadata: a CSV of per-image columns; top: records kept per FAR and
    kind (all are counted); min_pairs / min_identities: a slice's rate needs at least this many pairs of
    its kind, and faces of this many people.
    Raises CacheError when the dataset is not prepared, NoIdentitiesError / DatasetError / ConfigError
    on input that cannot work (one line each)."""
    from interpface.faces.sources import dataset_label, open_prepared
    from interpface.faces.template import default_template

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    fars = sorted({float(f) for f in fars})
    if not fars or any(not 0 < f < 1 for f in fars):
        raise ConfigError(f"false accept rates must be in (0, 1), got {fars}")
    conds = [parse_condition(c) if not isinstance(c, Condition) else c for c in conditions]
    if any(c.kind == "natural" for c in conds):
        raise ConfigError("the natural condition is a set of probes, not an occluder: slice by lfw:Eyeglasses instead")
    if len({c.name for c in conds}) != len(conds):
        raise ConfigError(f"a condition is given twice: {[c.name for c in conds]}")
    template = default_template()
    ds, cache = open_prepared(dataset, data_root=data_root, cache_dir=cache_dir, template=template)
    proto, keys, explicit, note = _select(dataset, ds, cache, protocol, pairs)
    faces = _faces(ds, cache, keys, template)
    groups = _dense_ids(faces.identities)
    usable = faces.ok.copy()
    t0 = time.perf_counter()
    cols = image_columns(cache, faces.rows, keys, dataset=ds, attributes=attributes, metadata=metadata)
    timings["columns_s"] = time.perf_counter() - t0

    emb = _FaceEmbeddings(
        model,
        faces,
        template=template,
        seed=seed,
        occlude=occlude,
        batch_size=batch_size,
        precision=precision,
        progress=progress,
    )
    t0 = time.perf_counter()
    clean = Condition("clean")
    pos = np.flatnonzero(usable)
    if len(pos) < 2:
        raise DatasetError(f"{ds.name}: fewer than two usable faces among the {len(keys)} images")
    emb.embeddings(pos, clean)
    timings["embed_s"] = time.perf_counter() - t0

    # ---- scores of every pair under every condition; thresholds on the first condition
    t0 = time.perf_counter()
    if explicit is None:
        layout = PairLayout(groups, usable, len(conds))
        iu, ju = (x.astype(np.int32) for x in np.triu_indices(len(pos), 1))  # rows / columns of sim
        pa, pb = pos.astype(np.int32)[iu], pos.astype(np.int32)[ju]
        same = groups[pa] == groups[pb]
    else:
        index = faces.index
        a = np.array([index[x] for x, _, _ in explicit], np.int64)
        b = np.array([index[y] for _, y, _ in explicit], np.int64)
        s = np.array([z for _, _, z in explicit], bool)
        layout = PairLayout(groups if (groups >= 0).all() else None, usable, len(conds), a, b, s)
        keep = usable[a] & usable[b]
        pa, pb, same = a[keep], b[keep], s[keep]
        pair_index = np.flatnonzero(keep)
    if same.all() or not same.any():
        raise DatasetError(
            f"{proto} on {ds.name}: {'only genuine' if same.all() else 'no genuine'} pairs among the usable faces; "
            "failures need both genuine and impostor pairs"
        )

    def scores_of(cond: Condition) -> np.ndarray:
        g_cond, p_cond = emb._sides(cond)
        ea = emb.embeddings(pos if explicit is None else np.unique(pa), g_cond)
        eb = emb.embeddings(pos if explicit is None else np.unique(pb), p_cond)
        if explicit is None:
            return (ea @ eb.T)[iu, ju]
        ua, ub = np.unique(pa), np.unique(pb)
        return np.einsum("nd,nd->n", ea[np.searchsorted(ua, pa)], eb[np.searchsorted(ub, pb)])

    scores = [scores_of(c) for c in conds]
    timings["score_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = M.verification_metrics(scores[0], same, fars)
    thresholds = {M.far_key(f): first["threshold_at_far"][M.far_key(f)] for f in fars}
    per_condition = {}
    for c, sc in zip(conds, scores):
        v = first if c is conds[0] else M.verification_metrics(sc, same, fars)
        per_condition[c.name] = {
            "auc": v["auc"],
            "eer": v["eer"],
            "tar_at_far": v["tar_at_far"],
            "threshold_at_far": v["threshold_at_far"],
        }
    timings["roc_s"] = time.perf_counter() - t0

    # ---- errors at each threshold
    t0 = time.perf_counter()
    errors: dict[str, ErrorRows] = {}
    error_pidx: dict[str, np.ndarray] = {}
    far_out: dict[str, dict] = {}
    for f in fars:
        key = M.far_key(f)
        thr = thresholds[key]
        if thr is None:
            far_out[key] = {
                "far": f,
                "threshold": None,
                "resolvable": False,
                "note": f"FAR {key} needs at least {int(np.ceil(1 / f)):,} impostor pairs; there are "
                f"{int((~same).sum()):,}",
            }
            continue
        ea_, eb_, ec_, eg_, es_, ei_ = [], [], [], [], [], []
        for k, sc in enumerate(scores):
            wrong = np.flatnonzero(np.where(same, sc < thr, sc >= thr))
            ea_.append(pa[wrong])
            eb_.append(pb[wrong])
            ec_.append(np.full(len(wrong), k, np.int64))
            eg_.append(same[wrong])
            es_.append(sc[wrong])
            if explicit is not None:
                ei_.append(pair_index[wrong])
        err = ErrorRows(np.concatenate(ea_), np.concatenate(eb_), np.concatenate(ec_), np.concatenate(eg_))
        err_scores = np.concatenate(es_)
        errors[key] = err
        if explicit is not None:
            error_pidx[key] = np.concatenate(ei_)
        margin = np.where(err.genuine, thr - err_scores, err_scores - thr)
        records = {}
        for kind, sel in (("false_accept", ~err.genuine), ("false_reject", err.genuine)):
            idx = np.flatnonzero(sel)
            idx = idx[np.argsort(-margin[idx], kind="stable")][:top]
            records[kind] = [
                _record(kind, faces, cols, err.a[i], err.b[i], conds[err.condition[i]].name, err_scores[i], thr)
                for i in idx
            ]
        by_cond = {}
        for k, c in enumerate(conds):
            here = err.condition == k
            by_cond[c.name] = {
                "n_false_accepts": int((here & ~err.genuine).sum()),
                "n_false_rejects": int((here & err.genuine).sum()),
            }
        m_all = len(keys)
        far_out[key] = {
            "far": f,
            "threshold": thr,
            "resolvable": True,
            "per_image": {  # how many false accepts / rejects each face takes part in
                "false_accepts": np.bincount(
                    np.concatenate([err.a[~err.genuine], err.b[~err.genuine]]), minlength=m_all
                ).tolist(),
                "false_rejects": np.bincount(
                    np.concatenate([err.a[err.genuine], err.b[err.genuine]]), minlength=m_all
                ).tolist(),
            },
            "n_false_accepts": int((~err.genuine).sum()),
            "n_false_rejects": int(err.genuine.sum()),
            "by_condition": by_cond,
            "false_accepts": records["false_accept"],
            "false_rejects": records["false_reject"],
        }
    timings["errors_s"] = time.perf_counter() - t0

    # ---- slices
    t0 = time.perf_counter()
    slices = image_slices(cols, n_bins) + condition_slices([c.name for c in conds])
    rates = slice_rates(
        layout,
        slices,
        errors,
        membership=membership,
        n_resamples=n_bootstrap,
        seed=seed,
        min_pairs=min_pairs,
        min_identities=min_identities,
        error_pair_index=error_pidx if explicit is not None and layout.groups is None else None,
    )
    for key, whole in rates["whole"].items():
        far_out[key].update(frr=whole["frr"], frr_ci=whole["frr_ci"], far_measured=whole["far"], far_ci=whole["far_ci"])
    timings["slices_s"] = time.perf_counter() - t0

    # ---- what the dashboard shows: clean embeddings, small crops
    import cv2

    e_all = np.full((len(keys), emb.embedder.dim), np.nan, np.float32)
    e_all[pos] = emb.embeddings(pos, clean)
    thumbs = np.zeros((len(keys), THUMBNAIL, THUMBNAIL, 3), np.uint8)
    order = pos[np.argsort(faces.rows[pos], kind="stable")]
    for start in range(0, len(order), 512):
        part = order[start : start + 512]
        for p, crop in zip(part, np.asarray(faces.crops[faces.rows[part]])):
            thumbs[p] = cv2.resize(crop, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA)
    timings.update({k: round(v, 3) for k, v in emb.timings.items() if k.startswith("embed_")})
    timings = {k: round(float(v), 3) for k, v in timings.items()}
    timings["total_s"] = round(time.perf_counter() - t_start, 3)

    n_pairs = int(len(same))
    info = {
        "model": name or getattr(emb.embedder, "name", "model"),
        "dataset": dataset if isinstance(dataset, str) else ds.name,
        "dataset_label": dataset_label(dataset if isinstance(dataset, str) else ds),
        "protocol": proto,
        "pairs_note": note,
        "conditions": [c.name for c in conds],
        "operating_condition": conds[0].name,
        "occluded_side": occlude if any(c.occludes for c in conds) else None,
        "far_keys": [M.far_key(f) for f in fars],
        "thresholds": thresholds,
        "n_images": len(keys),
        "n_usable": int(usable.sum()),
        "n_identities": int(len(np.unique(groups[groups >= 0]))),
        "n_pairs": n_pairs,
        "n_genuine": int(same.sum()),
        "n_impostor": int((~same).sum()),
        "per_condition": per_condition,
        "failures": faces.failures,
        "bootstrap": {k: rates[k] for k in ("kind", "n_resamples", "level", "membership")},
        "min_pairs": min_pairs,
        "min_identities": min_identities,
        "n_bins": n_bins,
        "seed": seed,
        "timings": timings,
    }
    slice_of: dict[str, list] = {c: [None] * len(keys) for c in cols}  # each face's slice in each column
    for sl in slices:
        if sl.images is not None:
            for p in np.flatnonzero(sl.images):
                slice_of[sl.column][p] = sl.value
    images = {
        "keys": list(keys),
        "identities": list(faces.identities),
        "usable": usable.tolist(),
        "columns": {k: _clean(v) for k, v in cols.items()},
        "slices": slice_of,
    }
    return FailureReport(info, images, far_out, rates, e_all, thumbs)
