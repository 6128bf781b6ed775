"""Verification and identification protocols on clean, synthetically occluded and naturally
occluded faces (the paper's Tables 2-6 and Fig. 10, on the data we have: LFW).

Protocols (``protocol`` argument):

``lfw-devtest`` — LFW View 1 DevTest (1,711 people, 3,708 images; disjoint from DevTrain, on which
    the reference models are trained). Three parts:
    * accuracy: the 500 + 500 pairs of ``pairsDevTest.txt``, 10-fold cross-validation on those
      pairs (stratified: 50 + 50 per fold, seeded shuffle); each fold's threshold is the best one on
      the other 9 folds. Mean and sample std over the 10 folds.
    * AUC, EER, TAR@FAR: all pairs i < j (protocol order) among the DevTest images (3708 * 3707 / 2
      = 6,872,778 pairs with every image usable), genuine = same person. Point estimate on all pairs;
      spread = std over an identity-cluster bootstrap (people resampled with replacement).
    * identification: closed set. Gallery: one image of each person with at least two usable
      images; probes: that person's other images. Repeated for ``n_trials`` seeded random choices of
      the gallery image; Rank-1 / Rank-5 mean and std over trials.
``lfw-view2`` — the 6,000 pairs of ``pairs.txt`` in its 10 official folds: accuracy (threshold from
    the other 9 folds) mean and std over folds; AUC / EER / TAR@FAR on all 6,000 pairs with an
    identity-cluster bootstrap. No identification. NOTE: View 2 spans all of LFW, including the
    DevTrain people the reference models were trained on, so its numbers are optimistic;
    ``lfw-devtest`` is the clean, identity-disjoint test.
``pairs:FILE`` — any ``pathA<TAB>pathB<TAB>0|1`` file, paths relative to ``root`` (default: the LFW
    image folder). Images are detected, landmarked and aligned here (they need not be in the cache);
    a failed image drops its pairs and is listed in ``failures``. Accuracy: stratified 10-fold CV;
    AUC / EER / TAR: all pairs, pair bootstrap. Bring your own occluded set this way (condition
    ``clean``: the occlusion is in the pictures).

Conditions (``condition`` argument). Occlusion is applied to the *probe* side only — the second
image of a pair (``b``; for all-pairs ROC the later image j of i < j; in identification the probes),
the gallery / first side stays clean. This is the practical reading of the paper's test protocol
(an occluded face is matched against an enrolled, unoccluded one) and is how its natural-occlusion
sets are built; pass ``occlude="both"`` to occlude both sides instead (the paper's wording, "for
each testing image", also allows that reading).
* ``clean``: no occlusion.
* ``synthetic``: each image gets one warped 32x12 black quadrilateral (the training occluder) at a
  random position drawn from ``occlusion_seed(relpath, seed)`` — sha256 of ``"{seed}:{relpath}"`` —
  so the same image is always occluded in the same place, whatever the order or the subset.
* ``part:REGION``: every probe occluded on one named template region (eyes, nose, mouth, ...), the
  rectangle of ``occlusion.region_rect`` (covers the region, at least 32x12).
* ``natural`` (lfw-devtest only): Kumar et al.'s attribute scores for the 62 people with >= 20
  images (``lfw/attributes``); 16 of them are DevTest people. Probes: the DevTest images with
  Eyeglasses > 0 or Sunglasses > 0 (226 images of 13 people in the shipped subset). Gallery set G:
  every other usable DevTest image, except those of the 16 scored people that have no attribute
  row. Verification: all probe x G pairs (genuine = same person; ~0.8 M pairs), identity-cluster
  bootstrap; accuracy: all genuine probe x G pairs plus as many impostor pairs drawn with the seed,
  10-fold CV. Identification: gallery = one G image (random per trial) of each DevTest person with
  at least two usable images, probes = the occluded images. No synthetic occluder is added.

Embeddings are computed once per (image, occlusion) and kept in memory across conditions.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

import interpface.evaluation.metrics as M
from interpface.errors import ConfigError, DatasetError, InterpfaceError
from interpface.faces.occlusion import paint_quads

__all__ = [
    "Condition",
    "parse_condition",
    "occlusion_seed",
    "FaceSet",
    "ModelEmbedder",
    "Evaluator",
    "evaluate",
    "read_lfw_attributes",
    "format_table",
    "PROTOCOLS",
]

PROTOCOLS = ("lfw-devtest", "lfw-view2", "pairs:FILE")
DEFAULT_BOOTSTRAP = 50
DEFAULT_TRIALS = 10
DEFAULT_FOLDS = 10
ATTRIBUTE_FILES = (
    "attributes/lfw_attributes_62people_subset.tsv",
    "attributes/lfw_attributes.txt",
    "lfw_attributes.txt",
)
_CHUNK = 512  # images embedded per call (bounds memory)


# ------------------------------------------------------------------------------------ conditions
@dataclass(frozen=True)
class Condition:
    """kind: "clean", "synthetic", "part", "natural" or "occluder"; region: the part's name (kind
    "part") or the occluder condition (kind "occluder": mask, sunglasses, scarf, hand)."""

    kind: str
    region: str | None = None

    @property
    def name(self) -> str:
        if self.kind == "part":
            return f"part:{self.region}"
        return self.region if self.kind == "occluder" else self.kind

    @property
    def occludes(self) -> bool:
        return self.kind in ("synthetic", "part", "occluder")


def parse_condition(spec: str, template=None) -> Condition:
    """ "clean" | "synthetic" | "natural" | "part:REGION" | "mask" | "sunglasses" | "scarf" | "hand"
    -> Condition (ConfigError otherwise)."""
    from interpface.faces.occluders import CONDITION_KINDS

    spec = spec.strip()
    if spec in ("clean", "synthetic", "natural"):
        return Condition(spec)
    if spec in CONDITION_KINDS:
        return Condition("occluder", spec)
    if spec.startswith("part:"):
        from interpface.faces.template import default_template

        region = spec[5:]
        regions = (template or default_template()).regions
        if region not in regions:
            raise ConfigError(f"unknown region {region!r} in {spec!r}; choose from {', '.join(regions)}")
        return Condition("part", region)
    raise ConfigError(
        f"unknown condition {spec!r}: use clean, synthetic, natural, part:REGION, "
        f"or an occluder: {', '.join(CONDITION_KINDS)}"
    )


def occlusion_seed(key: str, seed: int = 0) -> int:
    """Deterministic per-image seed of the synthetic occluder: sha256 of "{seed}:{key}" (key = the
    image's path relative to its root), first 8 bytes."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little")


# ------------------------------------------------------------------------------------ face sets
@dataclass
class FaceSet:
    """Aligned faces to evaluate. keys: (N,) image keys (relative paths); identities: (N,) or None;
    rows: (N,) row of each key in crops / landmarks (-1 = could not be prepared);
    crops: (M, 110, 110, 3) uint8 (a memmap is fine); landmarks: (M, 68, 2) crop pixels;
    raw_landmarks: (M, 68, 2) original-image pixels; image_paths: (N,) originals (for peers that
    work on the original picture); failures: [{"source", "error"}]."""

    keys: list[str]
    identities: list[str] | None
    rows: np.ndarray
    crops: np.ndarray
    landmarks: np.ndarray
    raw_landmarks: np.ndarray | None = None
    image_paths: list | None = None
    failures: list[dict] = field(default_factory=list)
    template_landmarks: np.ndarray | None = None  # (68, 2) the alignment target of the crops

    def __post_init__(self):
        self.index = {k: i for i, k in enumerate(self.keys)}

    @property
    def ok(self) -> np.ndarray:
        return self.rows >= 0

    def positions(self, keys: Sequence[str]) -> np.ndarray:
        return np.array([self.index[k] for k in keys], dtype=np.int64)


def _cache_faces(dataset, prepared, relpaths: Sequence[str], template) -> FaceSet:
    """A FaceSet over the prepared LFW cache (fast: no detection). Images marked `failed` in the
    cache are failures; `fallback` images (no face detected, landmarks fitted in the median face box)
    are kept, as every protocol pair must be scored."""
    rows = prepared.rows(list(relpaths))
    status = prepared.status[rows]
    failures = [
        {"source": r, "error": prepared.entries[i].get("error") or "failed in `data prepare`"}
        for r, i, s in zip(relpaths, rows, status)
        if s == "failed"
    ]
    rows = np.where(status == "failed", -1, rows)
    identities = [prepared.identities[i] for i in prepared.rows(list(relpaths))]
    return FaceSet(
        list(relpaths),
        identities,
        rows,
        prepared.crops,
        prepared.landmarks,
        prepared.raw_landmarks,
        [dataset.path(r) for r in relpaths],
        failures,
        template.landmarks,
    )


def _pipeline_faces(keys: Sequence[str], root: Path, pipeline, fallback: bool, progress=None) -> FaceSet:
    """A FaceSet by detection + alignment of each image (pairs files: images not in any cache)."""
    crops, lms, raws, rows, failures = [], [], [], [], []
    for key in keys:
        try:
            face = pipeline.prepare(root / key, fallback=fallback)
            rows.append(len(crops))
            crops.append(face.crop)
            lms.append(face.landmarks)
            raws.append(face.detection.landmarks)
        except Exception as exc:  # noqa: BLE001 - a bad image drops its pairs, never the run
            rows.append(-1)
            failures.append({"source": key, "error": f"{type(exc).__name__}: {exc}"})
        if progress is not None:
            progress(1)
    empty = np.zeros((0, 110, 110, 3), np.uint8)
    return FaceSet(
        list(keys),
        None,
        np.array(rows, np.int64),
        np.stack(crops) if crops else empty,
        np.stack(lms) if lms else np.zeros((0, 68, 2), np.float32),
        np.stack(raws) if raws else np.zeros((0, 68, 2), np.float32),
        [root / k for k in keys],
        failures,
        pipeline.template.landmarks,
    )


# ------------------------------------------------------------------------------------ embedders
class Embedder(Protocol):
    """Anything that turns aligned faces into embeddings: name, dim, and
    embed(faces, positions (n,), quads: list of (4, 2) crop-pixel quadrilaterals, Occluders or None)
    -> (n, D) L2-normalised float32. A quad is the occluder to paint black before embedding; an
    interpface.faces.occluders.Occluder is painted through the face's landmarks (paint_occlusion)."""

    name: str
    dim: int

    def embed(self, faces: FaceSet, positions: np.ndarray, quads: list) -> np.ndarray: ...


class ModelEmbedder:
    """A FaceModel as an Embedder: the occluder painted on our aligned crop (for every model alike),
    then the model's own input cut from it and embedded (:meth:`FaceModel.embed`)."""

    def __init__(
        self, model, *, batch_size: int = 128, flip: bool = False, precision: str | None = None, name: str | None = None
    ):
        self.model, self.batch_size, self.flip, self.precision = model, batch_size, flip, precision
        self.name, self.dim = name or model.name, model.dim

    def embed(self, faces: FaceSet, positions: np.ndarray, quads: list) -> np.ndarray:
        rows = faces.rows[positions]
        crops = paint_quads(np.array(faces.crops[rows]), faces.landmarks[rows], quads)
        return self.model.embed(
            crops, faces.landmarks[rows], batch_size=self.batch_size, precision=self.precision, flip=self.flip
        )


def _as_embedder(obj, flip: bool = False, batch_size: int = 128, precision: str | None = None):
    """A FaceModel becomes a ModelEmbedder; a peer (dlib's C++ descriptor) is its own Embedder."""
    from interpface.models.face_model import FaceModel  # deferred: the data tools run without torch

    if isinstance(obj, FaceModel):
        return ModelEmbedder(obj, flip=flip, batch_size=batch_size, precision=precision)
    if hasattr(obj, "embed") and hasattr(obj, "dim"):
        return obj
    raise ConfigError(f"expected a FaceModel or an embedder, got {type(obj).__name__}")


# ------------------------------------------------------------------------------------ attributes
def read_lfw_attributes(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Kumar et al.'s LFW attribute file (the full ``lfw_attributes.txt`` or the shipped 62-people
    subset): {relpath: {attribute: score}}; score > 0 means present."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"attribute file missing: {path}")
    header, out = None, {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        stripped = [f.strip() for f in fields if f.strip() not in ("#", "")]
        if header is None:
            if len(stripped) > 2 and stripped[0] == "person" and stripped[1] == "imagenum":
                header = stripped
            continue
        if line.startswith("#"):
            continue
        if len(fields) != len(header):
            raise DatasetError(f"{path}: row with {len(fields)} fields, header has {len(header)}")
        person, num = fields[0].strip().replace(" ", "_"), int(fields[1])
        out[f"{person}/{person}_{num:04d}.jpg"] = {h: float(v) for h, v in zip(header[2:], fields[2:])}
    if header is None:
        raise DatasetError(f"{path}: no 'person<TAB>imagenum<TAB>...' header line")
    return out


def find_attribute_file(protocol_dir: Path) -> Path:
    for rel in ATTRIBUTE_FILES:
        if (protocol_dir / rel).is_file():
            return protocol_dir / rel
    raise DatasetError(
        f"no LFW attribute file under {protocol_dir} (looked for {', '.join(ATTRIBUTE_FILES)}); "
        "the natural-occlusion condition needs Kumar et al.'s lfw_attributes.txt"
    )


# ------------------------------------------------------------------------------------ the evaluator
class Evaluator:
    """One protocol, one embedder; run() it for any number of conditions (embeddings are cached).

    embedder: a FaceModel, or an Embedder (e.g. peers.DlibResNetEmbedder); precision: the FaceModel's
    embedding precision ("fp32", "bf16", "auto"; None: its default).
    protocol: "lfw-devtest", "lfw-view2" or "pairs:FILE". See the module docstring for definitions."""

    def __init__(
        self,
        embedder,
        protocol: str = "lfw-devtest",
        *,
        data_root=None,
        cache_dir=None,
        root=None,
        template=None,
        seed: int = 0,
        n_bootstrap: int = DEFAULT_BOOTSTRAP,
        n_trials: int = DEFAULT_TRIALS,
        n_folds: int = DEFAULT_FOLDS,
        flip: bool = False,
        batch_size: int = 128,
        fallback: bool = False,
        occlude: str = "probe",
        pipeline=None,
        attributes=None,
        progress: bool = False,
        precision: str | None = None,
        pairs_file=None,
    ):
        from interpface.faces.template import default_template

        if occlude not in ("probe", "both"):
            raise ConfigError(f"occlude must be 'probe' or 'both', got {occlude!r}")
        if n_trials < 0 or n_bootstrap < 0:
            raise ConfigError(f"trials and bootstrap must be >= 0 (0 skips them), got {n_trials} and {n_bootstrap}")
        self.embedder = _as_embedder(embedder, flip=flip, batch_size=batch_size, precision=precision)
        self.protocol, self.template = protocol, template or default_template()
        self.seed, self.n_bootstrap, self.n_trials, self.n_folds = seed, n_bootstrap, n_trials, n_folds
        self.occlude, self.progress = occlude, progress
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if protocol in ("lfw-devtest", "lfw-view2"):
            self._init_lfw(protocol, data_root, cache_dir, attributes)
        elif protocol.startswith("pairs:"):
            self._init_pairs(Path(protocol[len("pairs:") :]).expanduser(), root, data_root, pipeline, fallback)
        elif protocol.startswith("dataset:"):
            self._init_dataset(protocol[len("dataset:") :], pairs_file, data_root, cache_dir)
        else:
            raise ConfigError(
                f"unknown protocol {protocol!r}: use lfw-devtest, lfw-view2, pairs:FILE or dataset:lfw|folder:PATH"
            )
        self.timings["setup_s"] = time.perf_counter() - t0

    # -- setup ---------------------------------------------------------------------------------------
    def _init_lfw(self, protocol, data_root, cache_dir, attributes):
        from interpface.faces.datasets import LFWProtocols, load_lfw
        from interpface.faces.prepare import PreparedDataset

        self.dataset = load_lfw(data_root)
        self.lfw = LFWProtocols.load(self.dataset.protocol_dir)
        prepared = PreparedDataset.open(self.dataset, cache_dir, self.template)  # CacheError when missing
        if protocol == "lfw-devtest":
            keys = [r.relpath for r in self.lfw.dev_test_images]
            self.pairs = self.lfw.dev_test_pairs
            self.pair_folds = None  # stratified CV on the 1000 pairs
        else:
            self.pairs = self.lfw.view2_pairs
            keys = sorted({p for q in self.pairs for p in (q.a, q.b)})
            self.pair_folds = np.array([q.fold for q in self.pairs])
        try:
            self.faces = _cache_faces(self.dataset, prepared, keys, self.template)
        except InterpfaceError as exc:
            raise type(exc)(f"{exc}; run `interpface data prepare --dataset lfw` (without --limit)") from None
        self.attributes_path = attributes

    def _init_pairs(self, path: Path, root, data_root, pipeline, fallback):
        from interpface.faces.datasets import check_pairs_exist, find_lfw, read_pairs_file

        self.pairs = read_pairs_file(path)
        if root is None:
            try:
                root = find_lfw(data_root)[1]
            except DatasetError:
                raise DatasetError(f"{path}: pass --root (the folder the pairs' paths are relative to)") from None
        root = Path(root).expanduser()
        check_pairs_exist(self.pairs, root)
        self.pair_folds = None
        self.dataset = None
        keys = sorted({p for q in self.pairs for p in (q.a, q.b)})
        if pipeline is None:
            from interpface.faces.pipeline import FacePipeline

            pipeline = FacePipeline(self.template)
        bar = _bar(len(keys), "align", self.progress)
        self.faces = _pipeline_faces(keys, root, pipeline, fallback, bar.update if bar else None)
        if bar:
            bar.close()

    def _init_dataset(self, spec: str, pairs_file, data_root, cache_dir):
        """dataset:SPEC: a prepared dataset's pairs (a pairs file, LFW's DevTest pairs, or pairs drawn from
        its identities: interpface.faces.sources.dataset_pairs), faces from its cache."""
        from interpface.faces.sources import dataset_pairs, has_identities, open_prepared

        self.dataset, prepared = open_prepared(spec, data_root=data_root, cache_dir=cache_dir, template=self.template)
        dp = dataset_pairs(self.dataset, prepared, pairs_file, seed=self.seed, exclude_fallback=False)
        self.pairs, self.pairs_source, self.pair_folds = dp.pairs, dp.source, None
        self.identity_groups = has_identities(prepared)  # the bootstrap resamples identities
        keys = sorted({p for q in self.pairs for p in (q.a, q.b)})
        self.faces = _cache_faces(self.dataset, prepared, keys, self.template)

    # -- embeddings ------------------------------------------------------------------------------------
    def _quads(self, positions: np.ndarray, cond: Condition) -> list:
        from interpface.faces.occlusion import PhysicalMask, random_rect, region_rect

        if not cond.occludes:
            return [None] * len(positions)
        rows = self.faces.rows[positions]
        lms = np.asarray(self.faces.landmarks[rows], np.float64)
        if cond.kind == "occluder":  # one seeded realistic occluder per image (same seed rule as synthetic)
            from interpface.faces.occluders import occluder_for_condition

            return [
                occluder_for_condition(cond.region, occlusion_seed(self.faces.keys[p], self.seed), self.template)
                for p in positions
            ]
        if cond.kind == "part":
            mask = PhysicalMask.from_rect(region_rect(cond.region, self.template), self.template)
            return list(mask.quads(lms))
        # One seeded rectangle per image; corners located in the mesh in one call (as
        # PhysicalMask.from_rect does per rectangle), then re-placed in each face.
        mesh = self.template.mesh
        rects = [
            random_rect(np.random.default_rng(occlusion_seed(self.faces.keys[p], self.seed)), self.template)
            for p in positions
        ]
        corners = np.clip(np.stack([r.corners() for r in rects]), 0.0, self.template.size - 1.0)  # (n, 4, 2)
        tri, bary = mesh.locate(corners.reshape(-1, 2))
        verts = mesh.face_vertices(lms)  # (n, 76, 2)
        corner_verts = verts[np.repeat(np.arange(len(positions)), 4)[:, None], mesh.triangles[tri]]  # (4n, 3, 2)
        quads = np.einsum("nkd,nk->nd", corner_verts, bary).reshape(-1, 4, 2)
        return list(quads)

    def embeddings(self, positions: np.ndarray, cond: Condition) -> np.ndarray:
        """(n, D) embeddings of faces at `positions` under the condition's occlusion (cached)."""
        name = cond.name if cond.occludes else "clean"
        if name not in self._cache:
            n = len(self.faces.keys)
            self._cache[name] = (np.full((n, self.embedder.dim), np.nan, np.float32), np.zeros(n, bool))
        emb, done = self._cache[name]
        positions = np.asarray(positions, np.int64)
        todo = np.unique(positions[~done[positions]])
        todo = todo[self.faces.ok[todo]]
        if len(todo):
            t0 = time.perf_counter()
            bar = _bar(len(todo), f"embed {name}", self.progress)
            step = getattr(self.embedder, "chunk_size", _CHUNK)  # a Ray embedder takes larger parts
            for start in range(0, len(todo), step):
                part = todo[start : start + step]
                emb[part] = self.embedder.embed(self.faces, part, self._quads(part, cond))
                if bar:
                    bar.update(len(part))
            if bar:
                bar.close()
            self.timings[f"embed_{name}_s"] = self.timings.get(f"embed_{name}_s", 0.0) + time.perf_counter() - t0
            self.timings[f"embed_{name}_images"] = self.timings.get(f"embed_{name}_images", 0) + int(len(todo))
        done[positions] = True
        return emb[positions]

    def _condition(self, condition: str | Condition) -> Condition:
        return condition if isinstance(condition, Condition) else parse_condition(condition, self.template)

    def _sides(self, cond: Condition) -> tuple[Condition, Condition]:
        """(gallery-side condition, probe-side condition)."""
        clean = Condition("clean")
        if not cond.occludes:
            return clean, clean
        return (cond if self.occlude == "both" else clean), cond

    # -- runs ----------------------------------------------------------------------------------------
    def run(self, condition: str | Condition = "clean") -> dict:
        """Evaluate one condition; returns the result dict (see module docstring and README)."""
        cond = self._condition(condition)
        t0 = time.perf_counter()
        embed_before = sum(v for k, v in self.timings.items() if k.startswith("embed_") and k.endswith("_s"))
        if cond.kind == "natural":
            if self.protocol != "lfw-devtest":
                raise ConfigError(
                    "the natural condition is defined on --protocol lfw-devtest (LFW attributes); "
                    "for your own occluded images use --protocol pairs:FILE --condition clean"
                )
            result = self._run_natural()
        else:
            result = self._run_standard(cond)
        embed_s = sum(v for k, v in self.timings.items() if k.startswith("embed_") and k.endswith("_s"))
        self.timings[f"score_{cond.name}_s"] = round(time.perf_counter() - t0 - (embed_s - embed_before), 3)
        result.update(
            {
                "protocol": self.protocol,
                "condition": cond.name,
                "model": self.embedder.name,
                "occluded_side": None if not cond.occludes else self.occlude,
                "seed": self.seed,
                "failures": self.faces.failures,
                "n_failures": len(self.faces.failures),
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        return _ordered(result)

    def _pair_scores(self, pairs, cond: Condition):
        g_cond, p_cond = self._sides(cond)
        a = self.faces.positions([q.a for q in pairs])
        b = self.faces.positions([q.b for q in pairs])
        keep = self.faces.ok[a] & self.faces.ok[b]
        ea, eb = self.embeddings(a[keep], g_cond), self.embeddings(b[keep], p_cond)
        labels = np.array([q.same for q in pairs])[keep]
        return np.einsum("nd,nd->n", ea, eb), labels, keep

    def verification_scores(self, condition: str | Condition = "clean"):
        """What `run`'s AUC, EER and TAR@FAR read: (scores (N,), labels (N,) bool, groups_a, groups_b),
        the groups being both sides' identities (N,) that the bootstrap resamples, or None (pairs are
        resampled). lfw-devtest: all pairs among the DevTest images; lfw-view2 and pairs:FILE: the
        file's pairs. The natural condition has no single score set (one per occlusion kind)."""
        cond = self._condition(condition)
        if cond.kind == "natural":
            raise ConfigError(
                "the natural condition has no single score set: compare clean, synthetic, part:REGION or an occluder"
            )
        if self.protocol == "lfw-devtest":
            (scores, labels), ga, gb = self._devtest_all_pairs(cond)
            return scores, labels, ga, gb
        scores, labels, keep = self._pair_scores(self.pairs, cond)
        if self.protocol == "lfw-view2" or getattr(self, "identity_groups", False):
            ga = np.array([q.a.split("/")[0] for q in self.pairs])[keep]
            gb = np.array([q.b.split("/")[0] for q in self.pairs])[keep]
            return scores, labels, ga, gb
        return scores, labels, None, None

    def pair_accuracy(self, condition: str | Condition = "clean") -> dict:
        """Pair accuracy of `run` (View 1 DevTest pairs, View 2 folds or the file's pairs):
        kfold_accuracy's {"mean", "std", "folds", "thresholds"} plus n_pairs and n_dropped."""
        cond = self._condition(condition)
        scores, labels, keep = self._pair_scores(self.pairs, cond)
        folds = None if self.pair_folds is None else self.pair_folds[keep]
        acc = M.kfold_accuracy(scores, labels, folds=folds, n_folds=self.n_folds, seed=self.seed)
        return {**acc, "n_pairs": int(len(scores)), "n_dropped": int((~keep).sum())}

    def _run_standard(self, cond: Condition) -> dict:
        out: dict = {}
        acc = self.pair_accuracy(cond)
        out.update(
            accuracy=acc["mean"],
            accuracy_std=acc["std"],
            accuracy_folds=acc["folds"],
            n_pairs_accuracy=acc["n_pairs"],
            n_pairs_dropped=acc["n_dropped"],
        )
        scores, labels, ga, gb = self.verification_scores(cond)
        if self.protocol == "lfw-devtest":
            out["accuracy_protocol"] = (
                f"View 1 pairsDevTest ({acc['n_pairs']} pairs), {self.n_folds}-fold stratified "
                "cross-validation, threshold from the other folds; mean, sample std over folds"
            )
            out["verification_protocol"] = (
                "all pairs i < j among the DevTest images (probe = j), identity-cluster "
                f"bootstrap ({self.n_bootstrap} resamples) for the spread"
            )
            out.update(self._verification(scores, labels, ga, gb))
            out.update(self._identification(cond))
        else:
            if self.protocol == "lfw-view2":
                out["accuracy_protocol"] = (
                    "View 2 pairs.txt, official 10 folds, threshold from the other 9; mean, sample std"
                )
            else:
                source = getattr(self, "pairs_source", "the file's pairs")
                out["accuracy_protocol"] = f"{self.n_folds}-fold stratified cross-validation on {source}"
            kind = "pair" if ga is None else "identity-cluster"
            out["verification_protocol"] = (
                f"all {getattr(self, 'pairs_source', 'pairs of the file')}, {kind} bootstrap ({self.n_bootstrap} resamples)"
            )
            out.update(self._verification(scores, labels, ga, gb))
            out.update(rank1=None, rank1_std=None, rank5=None, rank5_std=None)
        return out

    def _devtest_all_pairs(self, cond: Condition):
        g_cond, p_cond = self._sides(cond)
        pos = np.nonzero(self.faces.ok)[0]
        clean = self.embeddings(pos, g_cond)
        probe = self.embeddings(pos, p_cond)
        sim = clean @ probe.T
        i, j = np.triu_indices(len(pos), 1)
        ids = np.unique(np.array(self.faces.identities)[pos], return_inverse=True)[1].astype(np.int32)
        ga, gb = ids[i], ids[j]
        return (sim[i, j], ga == gb), ga, gb

    def _verification(self, scores, labels, ga, gb) -> dict:
        if labels.all() or not labels.any():
            raise InterpfaceError("the protocol left only genuine or only impostor pairs")
        v = M.verification_metrics(scores, labels, roc_points=60)
        out = {
            "auc": v["auc"],
            "eer": v["eer"],
            "tar_at_far": v["tar_at_far"],
            "threshold_at_far": v["threshold_at_far"],
            "n_pairs": v["n_pairs"],
            "n_genuine": v["n_genuine"],
            "n_impostor": v["n_impostor"],
            "roc": v["roc"],
        }
        if self.n_bootstrap > 1:
            b = M.bootstrap_verification(scores, labels, ga, gb, n_resamples=self.n_bootstrap, seed=self.seed)
            out.update(
                auc_std=b["auc"]["std"],
                eer_std=b["eer"]["std"],
                tar_at_far_std={k: (None if s is None else s["std"]) for k, s in b["tar_at_far"].items()},
                bootstrap=b["kind"],
            )
        else:
            out.update(auc_std=None, eer_std=None, tar_at_far_std={k: None for k in v["tar_at_far"]})
        return out

    def _identification(self, cond: Condition, probe_pos=None, gallery_pool=None) -> dict:
        """Closed-set identification over n_trials random gallery draws. probe_pos None: the clean
        protocol (gallery one image per person with >= 2, probes the rest); else fixed probes and a
        gallery drawn from gallery_pool (positions) for each person with >= 2 usable images."""
        if self.n_trials == 0:  # identification skipped: no rates rather than the mean of none
            return {"rank1": None, "rank1_std": None, "rank5": None, "rank5_std": None, "n_trials": 0}
        g_cond, p_cond = self._sides(cond)
        ids = np.array(self.faces.identities)
        ok = self.faces.ok
        names, counts = np.unique(ids[ok], return_counts=True)
        multi = set(names[counts >= 2])
        pool = np.nonzero(ok)[0] if gallery_pool is None else np.asarray(gallery_pool)
        by_person: dict[str, list[int]] = {}
        for p in pool:
            if ids[p] in multi:
                by_person.setdefault(ids[p], []).append(int(p))
        people = sorted(by_person)
        rates = {"rank1": [], "rank5": []}
        n_probes = 0
        for t in range(self.n_trials):
            rng = np.random.default_rng([self.seed, t])
            gallery = np.array([by_person[p][rng.integers(len(by_person[p]))] for p in people])
            if probe_pos is None:
                probes = np.setdiff1d(np.array([q for p in people for q in by_person[p]]), gallery)
            else:
                probes = np.asarray(probe_pos)
                probes = probes[np.isin(ids[probes], people)]  # a probe needs its person in the gallery
            ranks = M.identification_ranks(
                self.embeddings(gallery, g_cond), ids[gallery], self.embeddings(probes, p_cond), ids[probes]
            )
            for k, v in M.rank_rates(ranks, (1, 5)).items():
                rates[k].append(v)
            n_probes = len(probes)
        std = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
        return {
            "rank1": float(np.mean(rates["rank1"])),
            "rank1_std": std(rates["rank1"]),
            "rank5": float(np.mean(rates["rank5"])),
            "rank5_std": std(rates["rank5"]),
            "n_gallery": len(people),
            "n_probes": int(n_probes),
            "n_trials": self.n_trials,
            "identification_protocol": (
                "closed set; gallery one image per person with >= 2 usable images "
                f"(random per trial, {self.n_trials} trials), "
                + ("probes the rest" if probe_pos is None else "probes the occluded images")
                + "; mean, sample std over trials"
            ),
        }

    def _natural_sets(self):
        attr_path = (
            Path(self.attributes_path) if self.attributes_path else find_attribute_file(self.dataset.protocol_dir)
        )
        attrs = read_lfw_attributes(attr_path)
        ids = np.array(self.faces.identities)
        scored_people = {k.split("/")[0] for k in attrs}
        probes, gallery = [], []
        for pos, key in enumerate(self.faces.keys):
            if not self.faces.ok[pos]:
                continue
            a = attrs.get(key)
            if a is not None and (a.get("Eyeglasses", 0) > 0 or a.get("Sunglasses", 0) > 0):
                probes.append(pos)
            elif a is not None or ids[pos] not in scored_people:
                gallery.append(pos)
        if not probes:
            raise DatasetError(f"{attr_path}: no DevTest image with Eyeglasses or Sunglasses > 0")
        return np.array(probes), np.array(gallery), attr_path

    def _run_natural(self) -> dict:
        clean = Condition("clean")
        probes, gallery, attr_path = self._natural_sets()
        ids = np.unique(np.array(self.faces.identities), return_inverse=True)[1].astype(np.int32)
        sim = self.embeddings(probes, clean) @ self.embeddings(gallery, clean).T  # (P, G)
        pi, gj = np.meshgrid(np.arange(len(probes)), np.arange(len(gallery)), indexing="ij")
        ga, gb = ids[probes][pi.ravel()], ids[gallery][gj.ravel()]
        scores, labels = sim.ravel(), ga == gb
        out = {
            "natural_probes": int(len(probes)),
            "natural_gallery": int(len(gallery)),
            "natural_attributes": str(attr_path),
            "natural_probe_people": int(len(np.unique(ids[probes]))),
        }
        # accuracy: every genuine pair + as many impostors, drawn with the seed
        rng = np.random.default_rng(self.seed)
        gen = np.nonzero(labels)[0]
        imp = rng.choice(np.nonzero(~labels)[0], size=len(gen), replace=False)
        sel = np.concatenate([gen, imp])
        acc = M.kfold_accuracy(scores[sel], labels[sel], n_folds=self.n_folds, seed=self.seed)
        out.update(
            accuracy=acc["mean"],
            accuracy_std=acc["std"],
            accuracy_folds=acc["folds"],
            n_pairs_accuracy=int(len(sel)),
            n_pairs_dropped=0,
            accuracy_protocol=(
                f"all {len(gen)} genuine probe x gallery pairs + {len(gen)} random impostor "
                f"pairs, {self.n_folds}-fold stratified CV"
            ),
            verification_protocol=(
                "occluded DevTest images (Eyeglasses or Sunglasses > 0) x every other "
                "DevTest image, identity-cluster bootstrap"
            ),
        )
        out.update(self._verification(scores, labels, ga, gb))
        out.update(self._identification(clean, probe_pos=probes, gallery_pool=gallery))
        return out


def _bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img")


_FIRST = (
    "protocol",
    "condition",
    "model",
    "accuracy",
    "accuracy_std",
    "auc",
    "auc_std",
    "eer",
    "eer_std",
    "tar_at_far",
    "tar_at_far_std",
    "rank1",
    "rank1_std",
    "rank5",
    "rank5_std",
    "n_pairs",
    "n_genuine",
    "n_impostor",
    "n_pairs_accuracy",
    "n_failures",
    "failures",
)


def _ordered(d: dict) -> dict:
    return {**{k: d[k] for k in _FIRST if k in d}, **{k: v for k, v in d.items() if k not in _FIRST}}


def evaluate(model_or_embedder, protocol: str = "lfw-devtest", condition: str = "clean", **kwargs) -> dict:
    """One protocol and condition in one call (see Evaluator for the keyword arguments).

    Returns a dict with at least accuracy, accuracy_std, auc, eer, tar_at_far {"0.01", "0.001",
    "0.0001": float or None}, rank1, rank5 (None without identification), n_pairs, failures."""
    return Evaluator(model_or_embedder, protocol, **kwargs).run(condition)


# ------------------------------------------------------------------------------------ reporting
def plus_minus(value, std, pct: bool = True, digits: int = 1) -> str:
    """A table cell: "97.1 ± 0.4" (percent by default), "97.1" without a std, "—" without a value."""
    if value is None:
        return "—"
    scale = 100.0 if pct else 1.0
    s = f"{value * scale:.{digits}f}"
    return s if std is None else f"{s} ± {std * scale:.{digits}f}"


def format_table(results: Sequence[dict], label_key: str = "condition") -> str:
    """A plain-text table (mean ± std, percent) of result dicts, one row each."""
    head = [label_key, "acc", "AUC", "EER", "TAR@1e-2", "TAR@1e-3", "rank-1", "rank-5", "pairs"]
    rows = []
    for r in results:
        tar, tstd = r.get("tar_at_far", {}), r.get("tar_at_far_std") or {}
        rows.append(
            [
                str(r.get(label_key)),
                plus_minus(r.get("accuracy"), r.get("accuracy_std")),
                plus_minus(r.get("auc"), r.get("auc_std"), digits=2),
                plus_minus(r.get("eer"), r.get("eer_std")),
                plus_minus(tar.get("0.01"), tstd.get("0.01")),
                plus_minus(tar.get("0.001"), tstd.get("0.001")),
                plus_minus(r.get("rank1"), r.get("rank1_std")),
                plus_minus(r.get("rank5"), r.get("rank5_std")),
                f"{r.get('n_pairs', 0):,}",
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def paper_table(results_by_model: dict[str, dict], title: str = "") -> str:
    """Markdown in the paper's Tables 3-5 form: rows = models, TAR@FAR=0.01 / 0.001, Rank-1 / Rank-5
    (percent, mean ± std), plus EER and the pair accuracy (View 1 10-fold CV for clean/synthetic)."""
    lines = ([f"**{title}**", ""] if title else []) + [
        "| Method | TAR@FAR=0.01 | TAR@FAR=0.001 | Rank-1 | Rank-5 | EER | accuracy | pairs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results_by_model.items():
        tar, tstd = r.get("tar_at_far", {}), r.get("tar_at_far_std") or {}
        lines.append(
            f"| {name} | {plus_minus(tar.get('0.01'), tstd.get('0.01'))} | {plus_minus(tar.get('0.001'), tstd.get('0.001'))} "
            f"| {plus_minus(r.get('rank1'), r.get('rank1_std'))} | {plus_minus(r.get('rank5'), r.get('rank5_std'))} "
            f"| {plus_minus(r.get('eer'), r.get('eer_std'))} | {plus_minus(r.get('accuracy'), r.get('accuracy_std'))} "
            f"| {r.get('n_pairs', 0):,} |"
        )
    return "\n".join(lines)
