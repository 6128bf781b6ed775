"""The faces the analyses run on: a reproducible sample of a prepared dataset (LFW: its View-1 DevTest)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interpface.errors import CacheError

__all__ = ["Faces", "load_devtest_faces", "load_dataset_faces", "load_faces"]


@dataclass
class Faces:
    """crops: (N, 110, 110, 3) uint8 (in memory); landmarks: (N, 68, 2) float32 crop pixels;
    relpaths / identities: (N,) lists; rows: (N,) rows of the prepared cache."""

    crops: np.ndarray
    landmarks: np.ndarray
    relpaths: list[str]
    identities: list[str]
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.relpaths)


def load_faces(cache, rows) -> Faces:
    """Faces at the given rows of a :class:`interpface.faces.prepare.PreparedDataset` (read in row order)."""
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    crops = np.empty((len(rows),) + cache.crops.shape[1:], np.uint8)
    crops[order] = cache.crops[rows[order]]
    return Faces(
        crops,
        np.asarray(cache.landmarks[rows], dtype=np.float32),
        [cache.relpaths[r] for r in rows],
        [cache.identities[r] for r in rows],
        rows,
    )


def load_devtest_faces(
    n: int | None = 1000, *, seed: int = 0, data_root=None, cache_dir=None, exclude_fallback: bool = True
) -> Faces:
    """n images drawn without replacement (seeded) from LFW View-1 DevTest, in cache order; all of them
    when n is None or larger than the set. Images whose face was not detected (``fallback``) are left
    out unless exclude_fallback=False. Raises DatasetError / CacheError when LFW or its prepared cache
    is missing."""
    from interpface.faces.datasets import LFWProtocols, load_lfw
    from interpface.faces.prepare import PreparedDataset

    lfw = load_lfw(data_root)
    cache = PreparedDataset.open(lfw, cache_dir)
    records = LFWProtocols.load(lfw.protocol_dir).dev_test_images
    rows = cache.rows([r.relpath for r in records], missing_ok=True)
    rows = rows[rows >= 0]
    rows = rows[cache.usable(exclude_fallback=exclude_fallback)[rows]]
    if len(rows) == 0:
        raise CacheError(f"no usable DevTest images in the prepared cache {cache.directory}")
    rows = np.sort(rows)
    if n is not None and n < len(rows):
        if n < 1:
            raise CacheError(f"--images must be >= 1, got {n}")
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=n, replace=False))
    return load_faces(cache, rows)


def load_dataset_faces(
    n: int | None = 1000,
    *,
    dataset="lfw",
    seed: int = 0,
    data_root=None,
    cache_dir=None,
    exclude_fallback: bool = True,
) -> Faces:
    """n faces (seeded, in cache order) of a prepared dataset: ``lfw`` -> :func:`load_devtest_faces`
    (its View-1 DevTest); ``folder:PATH`` or a FaceDataset -> every usable image of its prepared cache
    (all when n is None or larger). Raises CacheError naming `interpface data prepare` when the dataset is
    not prepared, or when it has no usable face."""
    from interpface.faces.sources import open_prepared

    if isinstance(dataset, str) and dataset == "lfw":
        return load_devtest_faces(
            n, seed=seed, data_root=data_root, cache_dir=cache_dir, exclude_fallback=exclude_fallback
        )
    ds, cache = open_prepared(dataset, data_root=data_root, cache_dir=cache_dir)
    rows = np.flatnonzero(cache.usable(exclude_fallback=exclude_fallback))
    if len(rows) == 0:
        counts = ", ".join(f"{k} {v}" for k, v in cache.index.get("counts", {}).items())
        raise CacheError(f"no usable face in the prepared {ds.name} ({counts}): no image had a face found")
    if n is not None and n < len(rows):
        if n < 1:
            raise CacheError(f"--images must be >= 1, got {n}")
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=n, replace=False))
    return load_faces(cache, rows)
