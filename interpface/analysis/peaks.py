"""Peak locations of the response maps psi' (paper §4.3, Fig. 5; DESIGN §3).

For each image and filter k, the positive peak is the cell of the highest value of psi'_k (24x24) and
the negative peak the cell of the lowest value. A cell (i, j) (row i, column j) of the G x G grid
covers input pixels 4j..4j+3 (x) and 4i..4i+3 (y) of the S x S network input (S = 4G = 96); its centre
is input pixel (4j + 1.5, 4i + 1.5), i.e. aligned-crop pixel (4j + 1.5 + o, 4i + 1.5 + o) with
o = center_crop_offset() = 7. Peaks are then warped into the canonical frontal template through
barycentric coordinates in the face's own landmark + border mesh (:mod:`interpface.analysis.warp`).

Weights: a positive peak weighs max(psi'_k, 0) (its value), a negative peak max(-min psi'_k, 0) (its
magnitude); a map without a positive (negative) value contributes no positive (negative) peak.
Per filter, over N images:

- mean location mu_k = sum_n w_nk p_nk / sum_n w_nk (template pixels);
- std_k = sqrt(sum_n w_nk ||p_nk - mu_k||^2 / sum_n w_nk): the weighted RMS distance of the peaks to
  their mean, one number per filter in template pixels (sqrt of the x variance plus the y variance).
  A filter whose peak never moves has std 0. Filters with zero total weight get NaN.

Sign axis: index 0 = positive peaks, 1 = negative peaks (``SIGNS``).
"""

from __future__ import annotations

import numpy as np
import torch

from interpface.analysis.warp import to_template_batch
from interpface.faces.align import ALIGNED_SIZE, center_crop_offset
from interpface.faces.template import Template, default_template

__all__ = [
    "SIGNS",
    "GRID_STRIDE",
    "find_peaks",
    "peak_weights",
    "cell_centers",
    "cells_to_crop",
    "cells_to_template",
    "filter_location_stats",
]

SIGNS = ("pos", "neg")
GRID_STRIDE = 4  # input pixels per response-map cell


def find_peaks(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and negative peak of every map.

    maps: (B, K, G, G) (psi'). Returns (index, value): index (B, K, 2) int64 flat cell index
    row * G + col of the [max, min] (the first one in row-major order on ties), value (B, K, 2) the
    max and the min values themselves (same dtype as maps).
    """
    if maps.dim() != 4:
        raise ValueError(f"maps must be (B, K, G, G), got {tuple(maps.shape)}")
    flat = maps.flatten(2)
    vmax, imax = flat.max(dim=-1)
    vmin, imin = flat.min(dim=-1)
    return torch.stack([imax, imin], dim=-1), torch.stack([vmax, vmin], dim=-1)


def peak_weights(values: torch.Tensor | np.ndarray):
    """(..., 2) [max, min] peak values -> (..., 2) weights [max(max, 0), max(-min, 0)]."""
    if isinstance(values, torch.Tensor):
        return torch.stack([values[..., 0].clamp_min(0), (-values[..., 1]).clamp_min(0)], dim=-1)
    values = np.asarray(values)
    return np.stack([np.maximum(values[..., 0], 0), np.maximum(-values[..., 1], 0)], axis=-1)


def cell_centers(grid_size: int = 24, aligned_size: int = ALIGNED_SIZE) -> np.ndarray:
    """(G*G, 2) aligned-crop pixel (x, y) of every cell centre, in flat index order row * G + col."""
    offset = center_crop_offset(aligned_size, grid_size * GRID_STRIDE)
    c = np.arange(grid_size) * GRID_STRIDE + (GRID_STRIDE - 1) / 2 + offset
    xx, yy = np.meshgrid(c, c)  # xx[i, j] = centre x of column j
    return np.stack([xx.ravel(), yy.ravel()], axis=-1)


def cells_to_crop(index: np.ndarray, grid_size: int = 24, aligned_size: int = ALIGNED_SIZE) -> np.ndarray:
    """Flat cell indices (...) -> aligned-crop pixel coordinates (..., 2)."""
    return cell_centers(grid_size, aligned_size)[np.asarray(index)]


def cells_to_template(
    index: np.ndarray, landmarks: np.ndarray, *, grid_size: int = 24, template: Template | None = None
) -> np.ndarray:
    """Flat cell indices (B, ...) of B faces -> template pixel coordinates (B, ..., 2).

    landmarks: (B, 68, 2) in aligned-crop pixels. Every cell centre of each face is warped once
    (G*G points per face) and the peaks pick theirs.
    """
    template = template or default_template()
    index = np.asarray(index)
    b = index.shape[0]
    grid_xy = to_template_batch(template.mesh, cell_centers(grid_size, template.size), landmarks)  # (B, G*G, 2)
    flat = index.reshape(b, -1)
    out = np.take_along_axis(grid_xy, flat[..., None], axis=1)
    return out.reshape(index.shape + (2,))


def filter_location_stats(xy: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-filter weighted mean location and std over images.

    xy: (N, K, S, 2) peak locations (S = 2 signs, or any trailing axes), weight: (N, K, S) >= 0.
    Returns mean (K, S, 2), std (K, S), total weight (K, S); NaN where the total weight is 0.
    """
    xy = np.asarray(xy, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w[..., None] * xy).sum(axis=0) / total[..., None]
        sq = (w * ((xy - mean[None]) ** 2).sum(axis=-1)).sum(axis=0) / total
    bad = total <= 0
    mean[bad] = np.nan
    sq[bad] = np.nan
    return mean, np.sqrt(np.maximum(sq, 0.0)), total
