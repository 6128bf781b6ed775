"""Filter response heatmaps (paper Figs. 1 and 8) and how to pick the filters and faces to show.

A heatmap is a response map of psi' (or psi / LMF(psi)) upsampled bilinearly from the G x G grid to the
S x S network input (align_corners=False: cell (i, j)'s centre lands on input pixel (4j + 1.5, 4i + 1.5),
the convention of :mod:`interpface.analysis.peaks`), split into its positive part and the magnitude of
its negative part, so both can be drawn in two colours over the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.analysis._common import batch_slices, input_size, to_input
from interpface.errors import InterpfaceError
from interpface.models.face_model import PART_FILTERS, FaceModel

__all__ = [
    "RESPONSE_STAGES",
    "Heatmaps",
    "response_maps",
    "upsample_maps",
    "response_heatmaps",
    "choose_filters",
    "choose_faces",
]

#: Which response maps: "smooth" psi' = g * LMF(psi) (default, what the peaks use), "lmf", "raw" psi.
RESPONSE_STAGES = {"smooth": "psi_smooth", "lmf": "psi_lmf", "raw": "psi"}


@dataclass
class Heatmaps:
    """images: (N, S, S, 3) uint8 network inputs; filters: (F,) filter indices; positive / negative:
    (N, F, S, S) float32 >= 0 (the positive part and the magnitude of the negative part);
    maps: (N, F, G, G) the signed response maps they come from."""

    images: np.ndarray
    filters: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    maps: np.ndarray
    stage: str = "smooth"


def response_maps(model: nn.Module, images, filters=None, *, stage: str = "smooth", batch_size: int = 32) -> np.ndarray:
    """Signed response maps (N, F, G, G) float32 of the chosen filters (all when None) for aligned
    crops (N, 110, 110, 3) uint8 or input tensors (N, 3, S, S)."""
    if stage not in RESPONSE_STAGES:
        raise InterpfaceError(f"stage must be one of {sorted(RESPONSE_STAGES)}, got {stage!r}")
    size = input_size(model)
    idx = None if filters is None else torch.as_tensor(np.asarray(filters, dtype=np.int64).reshape(-1))
    out = []
    n = len(images)
    with torch.inference_mode():
        for sl in batch_slices(n, batch_size):
            inter = model.forward_intermediates(to_input(images[sl], size))
            maps = getattr(inter, RESPONSE_STAGES[stage])
            out.append((maps if idx is None else maps[:, idx]).float().numpy())
    return np.concatenate(out)


def upsample_maps(maps: np.ndarray, size: int = 96) -> np.ndarray:
    """(..., G, G) -> (..., size, size) bilinear (align_corners=False)."""
    maps = np.asarray(maps, dtype=np.float32)
    lead = maps.shape[:-2]
    t = torch.from_numpy(np.ascontiguousarray(maps.reshape((-1, 1) + maps.shape[-2:])))
    up = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return up.reshape(lead + (size, size)).numpy()


def response_heatmaps(
    model: FaceModel,
    crops: np.ndarray,
    filters,
    *,
    stage: str = "smooth",
    batch_size: int = 32,
    landmarks: np.ndarray | None = None,
) -> Heatmaps:
    """Heatmaps of `filters` over faces: crops (N, 110, 110, 3) uint8 -> :class:`Heatmaps`.

    With part filters: psi' (or the `stage` asked for) over the network input. Otherwise (pass the
    faces' `landmarks` (N, 68, 2)) the filters are the channels of the default layer, resampled into
    the aligned crop (images are then the 110 px crops, and cells the model's input does not reach are 0)."""
    if not model.has(PART_FILTERS):
        return _face_model_heatmaps(
            model, np.asarray(crops), np.asarray(filters, dtype=np.int64).reshape(-1), landmarks
        )
    model = model.part_filters
    filters = np.asarray(filters, dtype=np.int64).reshape(-1)
    k = getattr(getattr(model, "config", None), "num_filters", None)
    if len(filters) == 0 or filters.min() < 0 or (k is not None and filters.max() >= k):
        raise InterpfaceError(f"filters must be indices in [0, {k}), got {filters.tolist()}")
    size = input_size(model)
    x = to_input(crops, size)
    images = (x.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
    maps = response_maps(model, x, filters, stage=stage, batch_size=batch_size)
    up = upsample_maps(maps, size)
    return Heatmaps(images, filters, np.maximum(up, 0), np.maximum(-up, 0), maps, stage)


def _face_model_heatmaps(fm, crops: np.ndarray, filters: np.ndarray, landmarks) -> Heatmaps:
    from interpface.analysis.probe import respond

    if landmarks is None:
        raise InterpfaceError(f"{fm.name} cuts its input from the faces' landmarks: pass them")
    responses = respond(fm, crops, landmarks)
    maps = np.stack([r.psi_smooth for r in responses])  # (N, C, G, G) over the crop, NaN outside the input
    if len(filters) == 0 or filters.min() < 0 or filters.max() >= maps.shape[1]:
        raise InterpfaceError(f"filters must be indices in [0, {maps.shape[1]}), got {filters.tolist()}")
    maps = np.nan_to_num(maps[:, filters])
    up = upsample_maps(maps, crops.shape[1])
    return Heatmaps(np.ascontiguousarray(crops), filters, np.maximum(up, 0), np.maximum(-up, 0), maps, fm.default_layer)


def choose_filters(mean_xy: np.ndarray, std: np.ndarray, n: int = 10, *, stable_fraction: float = 0.5) -> np.ndarray:
    """n filters worth showing: among the `stable_fraction` of filters with the smallest peak-location
    std, a farthest-point sample of their average locations (spread over the face), starting from the
    most stable one. mean_xy: (K, 2), std: (K,) (NaN = no peaks). Returns (<= n,) indices."""
    mean_xy = np.asarray(mean_xy, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(std) & np.isfinite(mean_xy).all(axis=1))
    if len(ok) == 0:
        return np.arange(min(n, len(std)))
    order = ok[np.argsort(std[ok], kind="stable")]
    pool = order[: max(n, int(np.ceil(len(order) * stable_fraction)))]
    chosen = [pool[0]]
    dist = np.linalg.norm(mean_xy[pool] - mean_xy[pool[0]], axis=1)
    while len(chosen) < min(n, len(pool)):
        i = int(np.argmax(dist))
        chosen.append(pool[i])
        dist = np.minimum(dist, np.linalg.norm(mean_xy[pool] - mean_xy[pool[i]], axis=1))
    return np.asarray(chosen, dtype=np.int64)


def choose_faces(identities, n: int = 4, *, mode: str = "different", seed: int = 0) -> np.ndarray:
    """Row indices of n faces: "different" = n different identities (one image each), "same" = n images
    of the identity with the most images. identities: (N,) labels. Deterministic for a seed."""
    ids = np.asarray(identities)
    rng = np.random.default_rng(seed)
    if mode == "different":
        uniq = np.unique(ids)
        pick = rng.choice(uniq, size=min(n, len(uniq)), replace=False)
        return np.array([int(rng.choice(np.flatnonzero(ids == p))) for p in pick], dtype=np.int64)
    if mode == "same":
        uniq, counts = np.unique(ids, return_counts=True)
        who = uniq[np.argmax(counts)]
        rows = np.flatnonzero(ids == who)
        return np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False)).astype(np.int64)
    raise InterpfaceError(f"mode must be 'different' or 'same', got {mode!r}")
