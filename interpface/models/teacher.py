"""Teacher descriptors for distillation: dlib's ResNet descriptor of every prepared image and of its
mirror image, computed once and cached.

The student sees our 110x110 aligned crop (random 96x96 windows, random flips); the teacher sees its
own 150x150 chip (``dlib.get_face_chip(img, shape, 150, 0.25)``) cut from the original image with the
same 68 landmarks. A random window moves the student's crop by at most 14 px and changes nothing of
who the face is, so one descriptor per (image, flip) is the target for every window of that image:
they are computed once, ahead of training (measured faster than running the teacher online; see the
README), by dlib's own C++ (``source="dlib"``) or by its PyTorch port (``source="port"``).

Cache: ``<cache root>/teacher/<dataset>-<hash>/<name>.npz`` with ``relpaths`` (N,), ``descriptors``
(N, 2, 128) float32 (``[:, 0]`` the image, ``[:, 1]`` its mirror image; dlib's raw, unnormalised
output; NaN rows for images without a usable face) and ``source``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interpface.errors import CacheError

CHIP_SIZE = 150
CHIP_PADDING = 0.25
TEACHER_NAME = "dlib_resnet_v1"


def teacher_cache_path(prepared_dir: str | os.PathLike, name: str = TEACHER_NAME) -> Path:
    """Teacher file of a prepared dataset: next to its aligned cache, shared by every template."""
    prepared_dir = Path(prepared_dir)
    return prepared_dir.parent / "teacher" / f"{name}.npz"


def dlib_shape(landmarks: np.ndarray):
    """(68, 2) landmarks in image pixels -> dlib.full_object_detection (box = their bounding box)."""
    import dlib

    pts = np.rint(np.asarray(landmarks, np.float64)).astype(int)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return dlib.full_object_detection(
        dlib.rectangle(int(x0), int(y0), int(x1), int(y1)), [dlib.point(int(x), int(y)) for x, y in pts]
    )


def face_chip(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """dlib's 150x150 chip of a face: (H, W, 3) uint8 + (68, 2) image-pixel landmarks -> (150, 150, 3)
    uint8, exactly what ``compute_face_descriptor(img, shape)`` feeds its network."""
    import dlib

    return dlib.get_face_chip(np.ascontiguousarray(rgb, np.uint8), dlib_shape(landmarks), CHIP_SIZE, CHIP_PADDING)


# ------------------------------------------------------------------------------ worker processes
_NET = None


def _worker_init(model_path: str) -> None:
    global _NET
    import dlib

    _NET = dlib.face_recognition_model_v1(model_path)


def _describe_rows(job) -> tuple[np.ndarray, np.ndarray]:
    """One chunk: (row indices, descriptors (n, 2, 128)) of the images and their mirror images."""
    from interpface.faces.images import load_image

    rows, paths, landmarks = job
    out = np.full((len(rows), 2, 128), np.nan, np.float32)
    chips, where = [], []
    for k, (path, lm) in enumerate(zip(paths, landmarks)):
        try:
            chip = face_chip(load_image(path), lm)
        except Exception:  # noqa: BLE001 - an unreadable image keeps its NaN row
            continue
        chips += [chip, np.ascontiguousarray(chip[:, ::-1])]
        where.append(k)
    if chips:
        desc = np.asarray(_NET.compute_face_descriptor(chips), np.float32).reshape(-1, 2, 128)
        out[where] = desc
    return np.asarray(rows), out


@dataclass
class TeacherDescriptors:
    """relpaths (N,) and descriptors (N, 2, 128): [:, 0] the image, [:, 1] its mirror image."""

    relpaths: list[str]
    descriptors: np.ndarray
    source: str

    def lookup(self, relpaths) -> np.ndarray:
        """(len(relpaths), 2, 128) for these images; CacheError naming the first missing ones."""
        row = {r: i for i, r in enumerate(self.relpaths)}
        idx = np.array([row.get(r, -1) for r in relpaths])
        missing = [r for r, i in zip(relpaths, idx) if i < 0 or not np.isfinite(self.descriptors[i]).all()]
        if missing:
            raise CacheError(
                f"{len(missing)} image(s) have no teacher descriptor, e.g. {missing[:3]}; run `interpface data teacher`"
            )
        return self.descriptors[idx]


def load_teacher(prepared_dir, name: str = TEACHER_NAME) -> TeacherDescriptors:
    path = teacher_cache_path(prepared_dir, name)
    if not path.is_file():
        raise CacheError(f"no teacher descriptors at {path}; run `interpface data teacher`")
    with np.load(path) as z:
        return TeacherDescriptors(
            [str(r) for r in z["relpaths"]], z["descriptors"].astype(np.float32), str(z["source"])
        )


def _save(path: Path, relpaths, desc: np.ndarray, source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, relpaths=np.array(relpaths), descriptors=desc, source=np.array(source))
    os.replace(tmp, path)


def compute_teacher(
    cache,
    *,
    rows=None,
    source: str = "port",
    workers: int | None = None,
    progress: bool = True,
    chunk: int = 64,
    save_every: int = 1024,
) -> tuple[TeacherDescriptors, dict]:
    """Describe `rows` of a PreparedDataset (default: every usable row) with the teacher and write the
    cache file. Resumable: rows the file already describes are kept, and the file is rewritten
    (atomically) every `save_every` images. source: "dlib" (dlib's C++ through its Python API) or
    "port" (interpface's PyTorch port: the same network, tested equal)."""
    from tqdm import tqdm

    from interpface.models.dlib_files import find_dlib_resnet_model

    if source not in ("dlib", "port"):
        raise ValueError(f"unknown teacher source {source!r} (dlib | port)")
    image_dir = Path(cache.index["image_dir"])
    if rows is None:
        rows = np.flatnonzero(cache.usable(exclude_fallback=False))
    rows = np.asarray(rows, dtype=np.int64)
    path = teacher_cache_path(cache.directory)
    desc = np.full((len(cache), 2, 128), np.nan, np.float32)
    if path.is_file():  # resume: keep what an earlier (possibly interrupted) run described
        old = load_teacher(cache.directory)
        if old.relpaths == list(cache.relpaths):
            desc = old.descriptors.copy()
    todo = rows[~np.isfinite(desc[rows]).all(axis=(1, 2))]
    t0 = time.perf_counter()
    jobs = [
        (
            todo[i : i + chunk],
            [image_dir / cache.relpaths[r] for r in todo[i : i + chunk]],
            cache.raw_landmarks[todo[i : i + chunk]],
        )
        for i in range(0, len(todo), chunk)
    ]
    bar = tqdm(total=len(rows), initial=len(rows) - len(todo), desc="teacher", unit="img", disable=not progress)
    pool = None
    if source == "dlib":
        model_path = str(find_dlib_resnet_model())
        workers = workers or min(os.cpu_count() or 1, 8)
        if workers == 1 or len(jobs) <= 1:
            _worker_init(model_path)
            results = map(_describe_rows, jobs)
        else:
            pool = mp.get_context("fork").Pool(workers, initializer=_worker_init, initargs=(model_path,))
            results = pool.imap_unordered(_describe_rows, jobs)
    else:
        results = _port_results(jobs)
    since_save = 0
    try:
        for r, d in results:
            desc[r] = d
            bar.update(len(r))
            since_save += len(r)
            if since_save >= save_every:
                _save(path, cache.relpaths, desc, source)
                since_save = 0
    finally:
        if pool is not None:
            pool.terminate()
        bar.close()
    seconds = time.perf_counter() - t0
    _save(path, cache.relpaths, desc, source)
    n_ok = int(np.isfinite(desc[rows]).all(axis=(1, 2)).sum())
    return TeacherDescriptors(list(cache.relpaths), desc, source), {
        "path": str(path),
        "images": len(rows),
        "computed": len(todo),
        "described": n_ok,
        "seconds": seconds,
        "images_per_s": len(todo) / max(seconds, 1e-9),
        "source": source,
    }


def _port_results(jobs):
    """Like _describe_rows over jobs, with the PyTorch port (batched; chips cut by dlib)."""
    from interpface.faces.images import load_image
    from interpface.models.dlib_port import load_dlib_port, port_descriptors

    net = load_dlib_port()
    for rows, paths, landmarks in jobs:
        out = np.full((len(rows), 2, 128), np.nan, np.float32)
        chips, where = [], []
        for k, (p, lm) in enumerate(zip(paths, landmarks)):
            try:
                chips.append(face_chip(load_image(p), lm))
                where.append(k)
            except Exception:  # noqa: BLE001 - an unreadable image keeps its NaN row
                continue
        if chips:
            chips = np.stack(chips)
            d = port_descriptors(net, np.concatenate([chips, np.ascontiguousarray(chips[:, :, ::-1])]))
            out[where] = np.stack([d[: len(chips)], d[len(chips) :]], axis=1)
        yield rows, out
