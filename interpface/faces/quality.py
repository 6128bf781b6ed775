"""Picture-quality measures of a face, for slicing errors by them: its size in the original picture
and the sharpness of its aligned crop. Plain functions on arrays."""

from __future__ import annotations

import numpy as np

__all__ = ["face_size", "sharpness", "SHARPNESS_WINDOW"]

#: the part of a 110x110 aligned crop that sharpness looks at: rows and columns 15..95 (the face; the
#: crop's replicated border has no detail and would dilute it)
SHARPNESS_WINDOW = (15, 95)


def face_size(landmarks: np.ndarray) -> np.ndarray:
    """Face size in the original picture: the geometric mean of the 68-point box's width and height,
    in pixels. landmarks: (..., 68, 2) original-image pixels -> (...,) float64 (NaN where not finite)."""
    lm = np.asarray(landmarks, np.float64)
    extent = lm.max(-2) - lm.min(-2)  # (..., 2)
    return np.sqrt(np.clip(extent[..., 0], 0, None) * np.clip(extent[..., 1], 0, None))


def sharpness(crops: np.ndarray, window: tuple[int, int] = SHARPNESS_WINDOW) -> np.ndarray:
    """Variance of the Laplacian of each aligned crop's grey face window: low = blurred.

    crops: (H, W, 3) or (N, H, W, 3) uint8 aligned crops (the same frame for all, so the values are
    comparable across pictures of any size). Returns a float or (N,) float64."""
    import cv2

    c = np.asarray(crops)
    single = c.ndim == 3
    c = c[None] if single else c
    lo, hi = window
    out = np.empty(len(c))
    for i, crop in enumerate(c):
        grey = cv2.cvtColor(np.ascontiguousarray(crop[lo:hi, lo:hi]), cv2.COLOR_RGB2GRAY)
        out[i] = cv2.Laplacian(grey, cv2.CV_64F).var()
    return float(out[0]) if single else out
