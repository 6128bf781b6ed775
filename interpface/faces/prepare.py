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


def _detect_chunk(job):
    """Phase 1 for one chunk: returns the chunk's arrays (also saved to disk)."""
    out_path, image_dir, relpaths = job
    n = len(relpaths)
    status, errors = [], []
    landmarks = np.full((n, 68, 2), np.nan, np.float32)
    boxes = np.full((n, 4), -1, np.int32)
    hw = np.zeros((n, 2), np.int32)
    n_faces = np.zeros(n, np.int32)
    detector = []
    from interpface.errors import NoFaceError

    for i, rel in enumerate(relpaths):
        try:
            rgb = load_image(Path(image_dir) / rel)
            hw[i] = rgb.shape[:2]
            det = _DETECTOR.detect(rgb)
            landmarks[i], boxes[i], n_faces[i] = det.landmarks, det.box, det.n_faces
            status.append(det.status)
            errors.append("")
            detector.append(det.detector)
        except NoFaceError as exc:
            status.append("no_face")
            errors.append(str(exc))
            detector.append("none")
        except InterpfaceError as exc:
            status.append("failed")
            errors.append(f"{type(exc).__name__}: {exc}")
            detector.append("none")
        except Exception as exc:  # noqa: BLE001 - one bad image must never stop the run
            status.append("failed")
            errors.append(f"{type(exc).__name__}: {exc}")
            detector.append("none")
    arrays = dict(
        relpaths=np.array(relpaths),
        status=np.array(status),
        errors=np.array(errors),
        landmarks=landmarks,
        boxes=boxes,
        hw=hw,
        n_faces=n_faces,
        detector=np.array(detector),
    )
    _atomic_savez(Path(out_path), **arrays)
    return n


def _align_chunk(job):
    """Phase 2 for one chunk: fallback fits, then aligned crops with the template."""
    out_path, det_path, image_dir, template_lm, fallback_rel, use_fallback = job
    from interpface.faces.landmarks import central_box

    det = dict(np.load(det_path))
    n = len(det["relpaths"])
    crops = np.zeros((n, ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8)
    aligned_lm = np.full((n, 68, 2), np.nan, np.float32)
    raw_lm = det["landmarks"].copy()
    status = det["status"].astype(object)
    errors = det["errors"].astype(object)
    # which detector found each face (caches from before the detector chain: HOG alone)
    found_by = (
        det["detector"].astype(object)
        if "detector" in det
        else np.where(np.isin(det["status"], ["ok", "multiple"]), "hog", "none").astype(object)
    )
    for i, rel in enumerate(det["relpaths"]):
        if status[i] == "failed" or (status[i] == "no_face" and not use_fallback):
            status[i] = "failed"
            continue
        try:
            rgb = load_image(Path(image_dir) / str(rel))
            if status[i] == "no_face":
                h, w = rgb.shape[:2]
                cx, cy, frac = fallback_rel
                raw_lm[i] = _DETECTOR.fit(rgb, central_box((h, w), frac, (cx, cy)))
                status[i], found_by[i] = "fallback", "fallback"
            face = align_face(rgb, raw_lm[i], template_lm)
            crops[i], aligned_lm[i] = face.crop, face.landmarks
        except Exception as exc:  # noqa: BLE001
            status[i], errors[i] = "failed", f"{type(exc).__name__}: {exc}"
    _atomic_savez(
        Path(out_path),
        crops=crops,
        landmarks=aligned_lm,
        raw_landmarks=raw_lm,
        status=status.astype(str),
        errors=errors.astype(str),
        relpaths=det["relpaths"],
        n_faces=det["n_faces"],
        detector=found_by.astype(str),
    )
    return n


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


def _run(fn, jobs, workers, model_path, bar):
    if not jobs:
        return
    if workers <= 1:
        _worker_init(model_path)
        for job in jobs:
            bar.update(fn(job))
        return
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
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
) -> PrepareReport:
    """Build (or finish) the aligned cache of a dataset. Returns counts by status and failure reasons."""
    from interpface.faces.landmarks import find_landmark_model

    model_path = str(find_landmark_model(landmark_model))
    template = template or default_template()
    workers = workers or min(os.cpu_count() or 1, 8)
    records = dataset.records[:limit] if limit else dataset.records
    root = dataset_cache_dir(dataset, cache_dir)
    det_dir, out_dir = root / "detect", root / f"aligned-{template.digest}"
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
