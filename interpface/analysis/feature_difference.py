"""Feature differences under synthetic occlusion (paper Figs. 6 and 7; DESIGN §3).

For an occluder (a rectangle in the template frame, warped into every face through its landmarks
and filled black, exactly as in training: :mod:`interpface.faces.occlusion`), the feature difference of
image n is |f(I_n) - f(I^_n)| per dimension. Averaged over images it gives one (K,) vector per
occluder: sorted, the curves of Fig. 6; drawn at each filter's average peak location, the maps of
Fig. 7.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from interpface.analysis._common import batch_slices, check_crops
from interpface.faces.occlusion import DEFAULT_OCCLUDER_SIZE, OcclusionRect, occlude_batch, region_rect
from interpface.faces.template import Template, default_template
from interpface.models.face_model import FaceModel

__all__ = [
    "FeatureDifferences",
    "DEFAULT_REGIONS",
    "region_rects",
    "location_grid",
    "feature_differences",
    "sorted_differences",
    "difference_summary",
]

#: Regions analysed by default (all named template regions; "eyes" is both eyes at once, Fig. 6a).
DEFAULT_REGIONS = ("eyes", "left_eye", "right_eye", "nose", "mouth", "forehead", "left_cheek", "right_cheek", "chin")


@dataclass
class FeatureDifferences:
    """names: L occluder names; rects: their template rectangles; mean_abs: (L, K) mean over images
    of |f(I) - f(I^)|; image_mean: (L, N) per image, the mean over dimensions of |f(I) - f(I^)|."""

    names: list[str]
    rects: list[OcclusionRect]
    mean_abs: np.ndarray
    image_mean: np.ndarray
    meta: dict = field(default_factory=dict)

    def by_name(self) -> dict[str, np.ndarray]:
        return {n: self.mean_abs[i] for i, n in enumerate(self.names)}

    def rect_array(self) -> np.ndarray:
        """(L, 5): cx, cy, width, height, angle of every occluder."""
        return np.array([[r.cx, r.cy, r.width, r.height, r.angle] for r in self.rects], dtype=np.float64).reshape(-1, 5)


def region_rects(
    regions: Sequence[str] = DEFAULT_REGIONS, template: Template | None = None
) -> dict[str, OcclusionRect]:
    """Occluders centred on named regions, covering each (at least the paper's 32x12)."""
    template = template or default_template()
    return {name: region_rect(name, template) for name in regions}


def location_grid(
    template: Template | None = None, n: int | tuple[int, int] = 3, size: tuple[float, float] = DEFAULT_OCCLUDER_SIZE
) -> dict[str, OcclusionRect]:
    """An nx x ny grid of occluders whose centres span the template's face box (inset by half the
    occluder so each stays on the face), named "grid_r{row}c{col}"."""
    template = template or default_template()
    nx, ny = (n, n) if isinstance(n, int) else n
    x0, y0, x1, y1 = template.face_box
    w, h = size
    xs = np.linspace(x0 + w / 2, x1 - w / 2, nx) if nx > 1 else np.array([(x0 + x1) / 2])
    ys = np.linspace(y0 + h / 2, y1 - h / 2, ny) if ny > 1 else np.array([(y0 + y1) / 2])
    return {
        f"grid_r{r}c{c}": OcclusionRect(float(x), float(y), float(w), float(h))
        for r, y in enumerate(ys)
        for c, x in enumerate(xs)
    }


def feature_differences(
    model: FaceModel,
    crops: np.ndarray,
    landmarks: np.ndarray,
    occluders: dict[str, OcclusionRect],
    *,
    f_clean: np.ndarray | None = None,
    batch_size: int = 32,
    template: Template | None = None,
    fill: int = 0,
    progress: Callable[[int], None] | None = None,
) -> FeatureDifferences:
    """Mean |f(I) - f(I^)| for each occluder, f = :meth:`FaceModel.filter_features` (ours: the
    representation; a black box: the spatial means of its default layer's channels).

    crops: (N, 110, 110, 3) uint8 aligned faces; landmarks: (N, 68, 2) in crop pixels; occluders:
    name -> template rectangle; f_clean: (N, K) clean features when already computed (saves a pass).
    progress: called with the number of images done after each batch (of each occluder).
    Cost: one forward per image per occluder (plus one clean pass without f_clean).
    """
    crops, landmarks = check_crops(crops, landmarks)
    template = template or default_template()
    if f_clean is None:
        with torch.inference_mode():
            f_clean = np.concatenate(
                [
                    model.filter_features(np.asarray(crops[sl]), landmarks[sl]).float().numpy()
                    for sl in batch_slices(len(crops), batch_size)
                ]
            )
    f_clean = np.asarray(f_clean, dtype=np.float32)
    n, k = f_clean.shape
    names = list(occluders)
    mean_abs = np.zeros((len(names), k), np.float64)
    image_mean = np.zeros((len(names), n), np.float64)
    with torch.inference_mode():
        for i, name in enumerate(names):
            rect = occluders[name]
            for sl in batch_slices(n, batch_size):
                occluded, _, _, _ = occlude_batch(
                    np.asarray(crops[sl]), landmarks[sl], None, template, fill=fill, rect=rect
                )
                f_occ = model.filter_features(occluded, landmarks[sl]).float().numpy()
                d = np.abs(f_clean[sl].astype(np.float64) - f_occ)
                mean_abs[i] += d.sum(axis=0)
                image_mean[i, sl] = d.mean(axis=1)
                if progress is not None:
                    progress(sl.stop - sl.start)
    mean_abs /= max(n, 1)
    return FeatureDifferences(
        names, [occluders[nm] for nm in names], mean_abs, image_mean, {"n_images": int(n), "fill": int(fill)}
    )


def sorted_differences(mean_abs: np.ndarray) -> np.ndarray:
    """(..., K) -> the same values sorted in decreasing order along the last axis (Fig. 6 curves)."""
    return -np.sort(-np.asarray(mean_abs), axis=-1)


def difference_summary(mean_abs: np.ndarray) -> dict[str, float]:
    """One occluder's (K,) mean |delta f| -> mean, max, and dims_50 / dims_90: the fewest dimensions that
    hold 50% / 90% of the total change (scale-free: "how many dimensions does the occlusion change")."""
    d = np.asarray(mean_abs, dtype=np.float64)
    s = sorted_differences(d)
    total = s.sum()
    if total <= 0:
        return {"mean": 0.0, "max": 0.0, "dims_50": 0, "dims_90": 0}
    c = np.cumsum(s) / total
    return {
        "mean": float(d.mean()),
        "max": float(d.max()),
        "dims_50": int(np.searchsorted(c, 0.5 - 1e-12) + 1),
        "dims_90": int(np.searchsorted(c, 0.9 - 1e-12) + 1),
    }
