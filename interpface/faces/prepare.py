"""`interpface data prepare`: detect, landmark and align every image of a dataset into a cache.

Layout under ``<cache root>/prepared/<dataset>-<hash of its image dir>/``:

- ``detect/chunk_NNNNN.npz`` — phase 1, per chunk of images: dlib detections in original pixels
  (the expensive part; independent of the template);
- ``aligned-<template digest>/chunk_NNNNN.npz`` — phase 2: aligned 110x110 crops and landmarks;
- ``aligned-<template digest>/{crops.npy, landmarks.npy, raw_landmarks.npy, index.json}`` — the
  consolidated cache that readers memory-map.

Every file is written to a temporary name and renamed, so a killed run leaves only whole files; a
rerun skips finished chunks. A bad image is recorded as ``failed`` with its reason and never stops
the run. Images where the detector finds no face are fitted in a central box (the dataset's median
detection box) and recorded as ``fallback``; readers can exclude them.

With ``ray=ADDRESS`` (`data prepare --ray`) the same per-image code runs as Ray Data over image batches
(one detector per actor, loaded from the landmark model's path) and the driver writes the same chunk
files in the same order: see :mod:`interpface.faces.distributed` and docs/scaling.md.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from interpface.errors import CacheError, InterpfaceError
from interpface.faces.align import ALIGNED_SIZE, align_face
from interpface.faces.datasets import FaceDataset, ImageRecord
from interpface.faces.images import load_image
from interpface.faces.template import Template, default_template

CHUNK_SIZE = 200
STATUSES = ("ok", "multiple", "fallback", "failed")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """--cache-dir, else $INTERPFACE_CACHE, else ~/.cache/interpface (never inside the repo)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("INTERPFACE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "interpface"


def dataset_cache_dir(dataset: FaceDataset, cache_dir=None) -> Path:
    key = hashlib.sha256(str(Path(dataset.image_dir).resolve()).encode()).hexdigest()[:8]
    return cache_root(cache_dir) / "prepared" / f"{dataset.name}-{key}"


def _atomic_savez(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------- worker processes
_DETECTOR = None


def _worker_init(model_path):
    global _DETECTOR
    from interpface.faces.landmarks import LandmarkDetector

    _DETECTOR = LandmarkDetector(model_path)


def detect_images(detector, image_dir, relpaths) -> dict[str, np.ndarray]:
    """Phase 1 for a batch of images (local chunks and Ray batches alike): dlib detections in
    original pixels, one row per relpath, a bad image recorded as failed / no_face."""
    from interpface.errors import NoFaceError

    n = len(relpaths)
    status, errors = [], []
    landmarks = np.full((n, 68, 2), np.nan, np.float32)
    boxes = np.full((n, 4), -1, np.int32)
    hw = np.zeros((n, 2), np.int32)
    n_faces = np.zeros(n, np.int32)
    found_by = []
    for i, rel in enumerate(relpaths):
        try:
            rgb = load_image(Path(image_dir) / rel)
            hw[i] = rgb.shape[:2]
            det = detector.detect(rgb)
            landmarks[i], boxes[i], n_faces[i] = det.landmarks, det.box, det.n_faces
            status.append(det.status)
            errors.append("")
            found_by.append(det.detector)
        except NoFaceError as exc:
            status.append("no_face")
            errors.append(str(exc))
            found_by.append("none")
        except InterpfaceError as exc:
            status.append("failed")
            errors.append(f"{type(exc).__name__}: {exc}")
            found_by.append("none")
        except Exception as exc:  # noqa: BLE001 - one bad image must never stop the run
            status.append("failed")
            errors.append(f"{type(exc).__name__}: {exc}")
            found_by.append("none")
    return _detect_arrays(
        dict(
            relpaths=relpaths,
            status=status,
            errors=errors,
            landmarks=landmarks,
            boxes=boxes,
            hw=hw,
            n_faces=n_faces,
            detector=found_by,
        )
    )


def _detect_arrays(d: dict) -> dict[str, np.ndarray]:
    """A detection chunk's arrays with their on-disk dtypes (from lists or from Ray's columns)."""
    text = lambda v: np.array([str(x) for x in v])
    return dict(
        relpaths=text(d["relpaths"]),
        status=text(d["status"]),
        errors=text(d["errors"]),
        landmarks=np.asarray(d["landmarks"], np.float32).reshape(-1, 68, 2),
        boxes=np.asarray(d["boxes"], np.int32).reshape(-1, 4),
        hw=np.asarray(d["hw"], np.int32).reshape(-1, 2),
        n_faces=np.asarray(d["n_faces"], np.int32),
        detector=text(d["detector"]),
    )


def _detect_chunk(job):
    """Phase 1 for one chunk: returns the chunk's arrays (also saved to disk)."""
    out_path, image_dir, relpaths = job
    _atomic_savez(Path(out_path), **detect_images(_DETECTOR, image_dir, relpaths))
    return len(relpaths)


def _found_by(det: dict) -> np.ndarray:
    """Which detector found each face (caches from before the detector chain: HOG alone)."""
    if "detector" in det:
        return np.asarray(det["detector"]).astype(str)
    return np.where(np.isin(det["status"], ["ok", "multiple"]), "hog", "none")


def align_images(
    detector, image_dir, det: dict, template_lm, fallback_rel, use_fallback: bool
) -> dict[str, np.ndarray]:
    """Phase 2 for a batch of detected images (local chunks and Ray batches alike): fallback fits,
    then aligned crops with the template. det: phase 1's arrays of these images."""
    from interpface.faces.landmarks import central_box

    template_lm = np.asarray(template_lm, np.float64)
    n = len(det["relpaths"])
    crops = np.zeros((n, ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8)
    aligned_lm = np.full((n, 68, 2), np.nan, np.float32)
    raw_lm = np.array(det["landmarks"], np.float32).reshape(n, 68, 2)
    status = np.asarray(det["status"]).astype(str).astype(object)
    errors = np.asarray(det["errors"]).astype(str).astype(object)
    found_by = _found_by(det).astype(object)
    for i, rel in enumerate(det["relpaths"]):
        if status[i] == "failed" or (status[i] == "no_face" and not use_fallback):
            status[i] = "failed"
            continue
        try:
            rgb = load_image(Path(image_dir) / str(rel))
            if status[i] == "no_face":
                h, w = rgb.shape[:2]
                cx, cy, frac = fallback_rel
                raw_lm[i] = detector.fit(rgb, central_box((h, w), frac, (cx, cy)))
                status[i], found_by[i] = "fallback", "fallback"
            face = align_face(rgb, raw_lm[i], template_lm)
            crops[i], aligned_lm[i] = face.crop, face.landmarks
        except Exception as exc:  # noqa: BLE001
            status[i], errors[i] = "failed", f"{type(exc).__name__}: {exc}"
    return _align_arrays(
        dict(
            crops=crops,
            landmarks=aligned_lm,
            raw_landmarks=raw_lm,
            status=status,
            errors=errors,
            relpaths=det["relpaths"],
            n_faces=det["n_faces"],
            detector=found_by,
        )
    )


def _align_arrays(d: dict) -> dict[str, np.ndarray]:
    """An aligned chunk's arrays with their on-disk dtypes (from one batch or from Ray's columns)."""
    text = lambda v: np.array([str(x) for x in v])
    return dict(
        crops=np.asarray(d["crops"], np.uint8).reshape(-1, ALIGNED_SIZE, ALIGNED_SIZE, 3),
        landmarks=np.asarray(d["landmarks"], np.float32).reshape(-1, 68, 2),
        raw_landmarks=np.asarray(d["raw_landmarks"], np.float32).reshape(-1, 68, 2),
        status=text(d["status"]),
        errors=text(d["errors"]),
        relpaths=text(d["relpaths"]),
        n_faces=np.asarray(d["n_faces"], np.int32),
        detector=text(d["detector"]),
    )


def _align_chunk(job):
    """Phase 2 for one chunk: fallback fits, then aligned crops with the template."""
    out_path, det_path, image_dir, template_lm, fallback_rel, use_fallback = job
    det = dict(np.load(det_path))
    arrays = align_images(_DETECTOR, image_dir, det, template_lm, fallback_rel, use_fallback)
    _atomic_savez(Path(out_path), **arrays)
    return len(arrays["relpaths"])


# -------------------------------------------------------------------------------------- the driver
@dataclass
class PrepareReport:
    cache_dir: str
    n_images: int
    counts: dict
    failures: dict  # reason -> count
    seconds: float
    images_per_second: float
    detectors: dict | None = (
        None  # which detector found the faces: {"hog": n, "mmod": n, "hog_relaxed": n, "fallback": n}
    )

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _chunk_jobs(records: list[ImageRecord]):
    for start in range(0, len(records), CHUNK_SIZE):
        yield start // CHUNK_SIZE, [r.relpath for r in records[start : start + CHUNK_SIZE]]


def _chunk_done(path: Path, relpaths: list[str]) -> bool:
    if not path.is_file():
        return False
    try:
        with np.load(path) as z:
            return list(z["relpaths"]) == relpaths
    except Exception:  # noqa: BLE001 - a damaged chunk is simply redone
        return False


# ------------------------------------------------------------------------------------ Ray Data runs
#: images per Ray batch (at most; fewer when there are fewer images than workers x this)
RAY_BATCH_SIZE = 64


class _RayPrepareWorker:
    """One Ray actor: loads the dlib models once (from the landmark model's path), then detects or
    aligns numpy batches of images; every row keeps its ``index`` and ``chunk``."""

    def __init__(
        self, model_path: str, phase: str, image_dir: str, template_lm=None, fallback_rel=None, use_fallback=True
    ):
        from interpface.faces.landmarks import LandmarkDetector

        self.detector = LandmarkDetector(model_path)
        self.phase, self.image_dir = phase, image_dir
        self.template_lm = None if template_lm is None else np.asarray(template_lm, np.float64)
        self.fallback_rel, self.use_fallback = fallback_rel, use_fallback

    def __call__(self, batch: dict) -> dict:
        if self.phase == "detect":
            out = detect_images(self.detector, self.image_dir, [str(r) for r in batch["relpaths"]])
        else:
            out = align_images(
                self.detector, self.image_dir, batch, self.template_lm, tuple(self.fallback_rel), self.use_fallback
            )
        from interpface.faces.distributed import plain_batch

        return plain_batch({**out, "index": batch["index"], "chunk": batch["chunk"]})


def _ray_batch_size(n: int, workers: int) -> int:
    return max(1, min(RAY_BATCH_SIZE, -(-n // max(1, workers))))


def _ray_chunks(rows, n_per_chunk: dict, constructor_kwargs: dict, workers, bar, arrays, save):
    """Stream Ray's result batches; save each chunk (rows in input order) once all its rows are back."""
    from interpface.faces.distributed import cluster_cpus, import_ray, map_batches

    workers = workers or cluster_cpus(import_ray())
    parts: dict[int, list[dict]] = {}
    for batch in map_batches(
        rows,
        _RayPrepareWorker,
        constructor_kwargs=constructor_kwargs,
        batch_size=_ray_batch_size(len(rows), workers),
        workers=workers,
    ):
        for c in np.unique(batch["chunk"]):
            keep = batch["chunk"] == c
            parts.setdefault(int(c), []).append({k: v[keep] for k, v in batch.items()})
            if sum(len(p["index"]) for p in parts[int(c)]) == n_per_chunk[int(c)]:
                done = parts.pop(int(c))
                merged = {k: np.concatenate([p[k] for p in done]) for k in done[0]}
                order = np.argsort(merged["index"], kind="stable")
                save(int(c), arrays({k: v[order] for k, v in merged.items()}))
        bar.update(len(batch["index"]))
    if parts:
        raise RuntimeError(f"Ray returned incomplete chunks: {sorted(parts)}")


def _ray_detect(jobs, workers, model_path, bar) -> None:
    """Phase 1 on Ray: rows = images of the pending chunks; the driver writes the chunk files."""
    if not jobs:
        return
    rows, n_per_chunk, paths = [], {}, {}
    for c, (out_path, _, relpaths) in enumerate(jobs):
        n_per_chunk[c], paths[c] = len(relpaths), out_path
        rows += [{"index": len(rows) + k, "chunk": c, "relpaths": str(rel)} for k, rel in enumerate(relpaths)]
    kwargs = {"model_path": model_path, "phase": "detect", "image_dir": jobs[0][1]}
    save = lambda c, arrays: _atomic_savez(Path(paths[c]), **arrays)
    _ray_chunks(rows, n_per_chunk, kwargs, workers, bar, _detect_arrays, save)


def _ray_align(jobs, workers, model_path, bar) -> None:
    """Phase 2 on Ray: rows = detected images (their phase-1 arrays) of the pending chunks."""
    if not jobs:
        return
    rows, n_per_chunk, paths = [], {}, {}
    for c, (out_path, det_path, _, _, _, _) in enumerate(jobs):
        det = dict(np.load(det_path))
        det["detector"] = _found_by(det)
        n_per_chunk[c], paths[c] = len(det["relpaths"]), out_path
        for k in range(len(det["relpaths"])):
            rows.append(
                {
                    "index": len(rows),
                    "chunk": c,
                    **{key: str(det[key][k]) for key in ("relpaths", "status", "errors", "detector")},
                    "landmarks": det["landmarks"][k],
                    "n_faces": int(det["n_faces"][k]),
                }
            )
    _, _, image_dir, template_lm, fallback_rel, use_fallback = jobs[0]
    kwargs = {
        "model_path": model_path,
        "phase": "align",
        "image_dir": image_dir,
        "template_lm": np.asarray(template_lm, np.float64).tolist(),
        "fallback_rel": [float(x) for x in fallback_rel],
        "use_fallback": bool(use_fallback),
    }
    save = lambda c, arrays: _atomic_savez(Path(paths[c]), **arrays)
    _ray_chunks(rows, n_per_chunk, kwargs, workers, bar, _align_arrays, save)


def _run(fn, jobs, workers, model_path, bar):
    if not jobs:
        return
    if workers <= 1:
        _worker_init(model_path)
        for job in jobs:
            bar.update(fn(job))
        return
    # forkserver, not fork: a process that already ran torch or dlib (threads, locks) can hang a forked child
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_worker_init, initargs=(model_path,)) as pool:
        for n in pool.imap_unordered(fn, jobs):
            bar.update(n)


def prepare_dataset(
    dataset: FaceDataset,
    *,
    cache_dir=None,
    workers: int | None = None,
    limit: int | None = None,
    template: Template | None = None,
    fallback: bool = True,
    landmark_model=None,
    progress: bool = True,
    ray: str | None = None,
) -> PrepareReport:
    """Build (or finish) the aligned cache of a dataset. Returns counts by status and failure reasons.

    ray: None (a local process pool of ``workers``), or a Ray address ("auto", "local",
    "HOST:6379"; see :func:`interpface.faces.distributed.ray_session`): detection and alignment
    then run as Ray Data over image batches on ``workers`` actors (default: every CPU of the
    cluster), each loading the landmark model from its path once. The driver writes the same chunk
    files, so the cache is the local run's, byte for byte in its arrays."""
    from interpface.faces.landmarks import find_landmark_model

    model_path = str(find_landmark_model(landmark_model))
    template = template or default_template()
    if ray is not None:
        from interpface.faces.distributed import ray_session

        with ray_session(ray):
            return _prepare(dataset, cache_dir, workers, limit, template, fallback, model_path, progress, ray=True)
    workers = workers or min(os.cpu_count() or 1, 8)
    return _prepare(dataset, cache_dir, workers, limit, template, fallback, model_path, progress, ray=False)


def _prepare(
    dataset, cache_dir, workers, limit, template, fallback, model_path, progress, *, ray: bool
) -> PrepareReport:
    records = dataset.records[:limit] if limit else dataset.records
    root = dataset_cache_dir(dataset, cache_dir)
    det_dir, out_dir = root / "detect", root / f"aligned-{template.digest}"
    if limit and len(records) < len(dataset.records):
        done = _already_prepared(out_dir, records)
        if done is not None:  # a larger run finished already: never shrink its cache to the first N
            return done
    det_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    chunks = list(_chunk_jobs(records))

    # Phase 1: detection (resumable per chunk).
    todo = [
        (str(det_dir / f"chunk_{i:05d}.npz"), str(dataset.image_dir), rel)
        for i, rel in chunks
        if not _chunk_done(det_dir / f"chunk_{i:05d}.npz", rel)
    ]
    with tqdm(
        total=len(records),
        desc="detect",
        unit="img",
        disable=not progress,
        initial=len(records) - sum(len(j[2]) for j in todo),
    ) as bar:
        if ray:
            _ray_detect(todo, workers, model_path, bar)
        else:
            _run(_detect_chunk, todo, workers, model_path, bar)

    # Fallback box = the median detected box, relative to the image size.
    rel_boxes = []
    for i, _ in chunks:
        with np.load(det_dir / f"chunk_{i:05d}.npz") as z:
            ok = np.isin(z["status"], ["ok", "multiple"])
            b, hw = z["boxes"][ok].astype(float), z["hw"][ok].astype(float)
            rel_boxes.append(
                np.column_stack(
                    [
                        (b[:, 0] + b[:, 2]) / 2 / hw[:, 1],
                        (b[:, 1] + b[:, 3]) / 2 / hw[:, 0],
                        (b[:, 2] - b[:, 0]) / hw.min(axis=1),
                    ]
                )
            )
    rel_boxes = np.concatenate(rel_boxes) if rel_boxes else np.zeros((0, 3))
    fallback_rel = tuple(np.median(rel_boxes, axis=0)) if len(rel_boxes) else (0.5, 0.5, 0.62)

    # Phase 2: alignment (resumable per chunk).
    pending = [(i, rel) for i, rel in chunks if not _chunk_done(out_dir / f"chunk_{i:05d}.npz", rel)]
    todo = [
        (
            str(out_dir / f"chunk_{i:05d}.npz"),
            str(det_dir / f"chunk_{i:05d}.npz"),
            str(dataset.image_dir),
            template.landmarks,
            fallback_rel,
            fallback,
        )
        for i, _ in pending
    ]
    with tqdm(
        total=len(records),
        desc="align",
        unit="img",
        disable=not progress,
        initial=len(records) - sum(len(rel) for _, rel in pending),
    ) as bar:
        if ray:
            _ray_align(todo, workers, model_path, bar)
        else:
            _run(_align_chunk, todo, workers, model_path, bar)

    report = _consolidate(dataset, records, chunks, out_dir, template, fallback_rel)
    seconds = time.perf_counter() - t0
    return PrepareReport(
        str(out_dir),
        len(records),
        report["counts"],
        report["failures"],
        seconds,
        len(records) / max(seconds, 1e-9),
        report.get("detectors"),
    )


def _already_prepared(out_dir: Path, records: list[ImageRecord]) -> PrepareReport | None:
    """The report of a consolidated cache that holds every one of these records already, else None."""
    try:
        index = json.loads((out_dir / "index.json").read_text())
        entries = {e["relpath"]: e for e in index["images"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(r.relpath in entries for r in records):
        return None
    mine = [entries[r.relpath] for r in records]
    counts = Counter(e["status"] for e in mine)
    failures = Counter(e["error"].split(":")[0] or "unknown" for e in mine if e["status"] == "failed")
    detectors = Counter(e.get("detector", "hog") for e in mine if e["status"] != "failed")
    return PrepareReport(
        str(out_dir), len(mine), {k: counts.get(k, 0) for k in STATUSES}, dict(failures), 0.0, 0.0, dict(detectors)
    )


def _consolidate(dataset, records, chunks, out_dir: Path, template: Template, fallback_rel) -> dict:
    """Concatenate chunk files into memory-mappable arrays + index.json (atomic)."""
    n = len(records)
    tmp = out_dir / f".crops.tmp{os.getpid()}.npy"
    crops = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, ALIGNED_SIZE, ALIGNED_SIZE, 3))
    landmarks = np.zeros((n, 68, 2), np.float32)
    raw = np.zeros((n, 68, 2), np.float32)
    entries = []
    identity_of = {r.relpath: r.identity for r in records}
    pos = 0
    from interpface.faces.align import fit_residual

    for i, _ in chunks:
        with np.load(out_dir / f"chunk_{i:05d}.npz") as z:
            k = len(z["relpaths"])
            crops[pos : pos + k], landmarks[pos : pos + k], raw[pos : pos + k] = (
                z["crops"],
                z["landmarks"],
                z["raw_landmarks"],
            )
            found_by = (
                z["detector"] if "detector" in z else np.where(np.isin(z["status"], ["ok", "multiple"]), "hog", "none")
            )
            residual = fit_residual(z["landmarks"], template.landmarks)
            for rel, st, err, nf, by, res in zip(
                z["relpaths"], z["status"], z["errors"], z["n_faces"], found_by, residual
            ):
                entries.append(
                    {
                        "relpath": str(rel),
                        "identity": identity_of[str(rel)],
                        "status": str(st),
                        "n_faces": int(nf),
                        "error": str(err),
                        "detector": str(by),
                        "fit_residual": None if not np.isfinite(res) or st == "failed" else round(float(res), 3),
                    }
                )
            pos += k
    crops.flush()
    del crops
    os.replace(tmp, out_dir / "crops.npy")
    for name, arr in (("landmarks", landmarks), ("raw_landmarks", raw)):
        t = out_dir / f".{name}.tmp{os.getpid()}.npy"
        np.save(t, arr)
        os.replace(t, out_dir / f"{name}.npy")
    counts = Counter(e["status"] for e in entries)
    detectors = Counter(e["detector"] for e in entries if e["status"] != "failed")
    failures = Counter(e["error"].split(":")[0] or "unknown" for e in entries if e["status"] == "failed")
    index = {
        "dataset": dataset.name,
        "image_dir": str(dataset.image_dir),
        "template_digest": template.digest,
        "aligned_size": ALIGNED_SIZE,
        "fallback_box": list(map(float, fallback_rel)),
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "failures": dict(failures),
        "detectors": dict(detectors),
        "images": entries,
    }
    _atomic_write_text(out_dir / "index.json", json.dumps(index))
    return index


# ------------------------------------------------------------------------------------------ reader
class PreparedDataset:
    """Read side of the cache. crops: (N, 110, 110, 3) uint8 memmap; landmarks: (N, 68, 2) float32
    in crop pixels; records/status/identity per row, in dataset order."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        index_path = self.directory / "index.json"
        if not index_path.is_file():
            raise CacheError(f"no prepared cache at {self.directory}; run `interpface data prepare` first")
        self.index = json.loads(index_path.read_text())
        self.entries = self.index["images"]
        self.crops = np.load(self.directory / "crops.npy", mmap_mode="r")
        self.landmarks = np.load(self.directory / "landmarks.npy")
        self.raw_landmarks = np.load(self.directory / "raw_landmarks.npy")
        self.relpaths = [e["relpath"] for e in self.entries]
        self.identities = [e["identity"] for e in self.entries]
        self.status = np.array([e["status"] for e in self.entries])
        self._row = {rel: i for i, rel in enumerate(self.relpaths)}

    @staticmethod
    def open(dataset: FaceDataset, cache_dir=None, template: Template | None = None) -> PreparedDataset:
        template = template or default_template()
        return PreparedDataset(dataset_cache_dir(dataset, cache_dir) / f"aligned-{template.digest}")

    def __len__(self) -> int:
        return len(self.entries)

    def usable(self, exclude_fallback: bool = False, max_fit_residual: float | None = None) -> np.ndarray:
        """Boolean (N,): rows with a face (and, optionally, not fallbacks; not poor landmark fits:
        fit residual above max_fit_residual, e.g. align.MAX_FIT_RESIDUAL)."""
        bad = ["failed", "fallback"] if exclude_fallback else ["failed"]
        ok = ~np.isin(self.status, bad)
        if max_fit_residual is not None:
            ok &= self.fit_residual <= max_fit_residual
        return ok

    @property
    def fit_residual(self) -> np.ndarray:
        """(N,) landmark-fit score of every row (template pixels; NaN for failed rows)."""
        from interpface.faces.align import fit_residual

        out = fit_residual(self.landmarks, self._template_landmarks())
        out[self.status == "failed"] = np.nan
        return out

    @property
    def detectors(self) -> list[str]:
        """Which detector found each row's face: hog, mmod, hog_relaxed, fallback or none (caches before the chain: hog)."""
        return [e.get("detector", "hog" if e["status"] in ("ok", "multiple") else "none") for e in self.entries]

    def _template_landmarks(self) -> np.ndarray:
        from interpface.faces.template import default_template

        t = default_template()
        if t.digest != self.index.get("template_digest"):
            raise CacheError("this cache was aligned to another template; fit residuals need that template")
        return t.landmarks

    def rows(self, relpaths, *, missing_ok: bool = False) -> np.ndarray:
        """Row indices of relpaths (-1 for missing when missing_ok)."""
        out = np.array([self._row.get(r, -1) for r in relpaths], dtype=np.int64)
        if not missing_ok and np.any(out < 0):
            missing = [r for r, i in zip(relpaths, out) if i < 0]
            raise CacheError(f"{len(missing)} image(s) not in the prepared cache, e.g. {missing[:3]}")
        return out
