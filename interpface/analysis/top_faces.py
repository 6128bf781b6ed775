"""The faces a filter fires on most, and where on the template its peak scatters: the data of the
dashboard's filter card.

- :func:`top_faces` — per filter, the analysed images with the strongest positive peak and a small
  crop of each around that peak (so the shipped analyses can show them without the dataset).
- :func:`peak_covariance` — per filter and sign, the weighted 2x2 covariance of the peak location in
  the template (the std ellipse; its trace is the squared std of :func:`filter_location_stats`).
- :func:`encode_thumbs` / :func:`decode_thumbs` — the crops as one JPEG mosaic (a few hundred KiB
  for 320 filters instead of a few MiB of raw pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from interpface.errors import CacheError

__all__ = [
    "TOP_FACES",
    "THUMB_WINDOW",
    "THUMB_SIZE",
    "TopFaces",
    "top_faces",
    "peak_covariance",
    "thumb_origin",
    "encode_thumbs",
    "decode_thumbs",
]

#: Faces kept per filter.
TOP_FACES = 4
#: Side of the window cut around the peak, in aligned-crop pixels (110 px frame: a face part and a
#: little context), and of the stored thumbnail it is resized to.
THUMB_WINDOW = 44
THUMB_SIZE = 32
#: JPEG quality of the mosaic: thumbnails are for recognising the face part, not for measuring.
JPEG_QUALITY = 80


@dataclass
class TopFaces:
    """index: (K, T) int32 image rows of the analysis, strongest first (-1 = fewer than T images
    with a positive peak); value: (K, T) float32 peak magnitudes; peak_xy: (K, T, 2) float32 peak in
    aligned-crop pixels; thumbs: (K, T, S, S, 3) uint8 windows around the peak (zeros where index is
    -1); relpaths: (K, T) str image paths ('' where index is -1)."""

    index: np.ndarray
    value: np.ndarray
    peak_xy: np.ndarray
    thumbs: np.ndarray
    relpaths: np.ndarray


def thumb_origin(peak_xy: np.ndarray, crop_size: int, window: int = THUMB_WINDOW) -> np.ndarray:
    """(..., 2) int top-left corner of the window centred on the peak, shifted to lie inside the crop
    (the window keeps its size at the borders, so every thumbnail shows the same scale)."""
    o = np.round(np.asarray(peak_xy, dtype=np.float64) - window / 2.0).astype(int)
    return np.clip(o, 0, crop_size - window)


def top_faces(
    crops: np.ndarray,
    weight: np.ndarray,
    crop_xy: np.ndarray,
    relpaths=None,
    *,
    n: int = TOP_FACES,
    window: int = THUMB_WINDOW,
    size: int = THUMB_SIZE,
) -> TopFaces:
    """The `n` images with the strongest positive peak per filter.

    crops: (N, H, H, 3) uint8 aligned crops; weight: (N, K, 2) peak magnitudes (0 = no peak);
    crop_xy: (N, K, 2, 2) peak locations [image, filter, sign, (x, y)] in crop pixels.
    """
    crops = np.asarray(crops)
    weight = np.asarray(weight)
    n_img, k = weight.shape[:2]
    t = min(n, n_img)
    pos = weight[:, :, 0]
    order = np.argsort(-pos, axis=0, kind="stable")[:t].T  # (K, t)
    value = np.take_along_axis(pos.T, order, axis=1).astype(np.float32)
    index = np.where(value > 0, order, -1).astype(np.int32)
    peak = crop_xy[order, np.arange(k)[:, None], 0].astype(np.float32)  # (K, t, 2)
    thumbs = np.zeros((k, n, size, size, 3), np.uint8)
    names = np.full((k, n), "", dtype=object)
    origin = thumb_origin(peak, crops.shape[1], window)
    for f in range(k):
        for j in range(t):
            if index[f, j] < 0:
                continue
            x0, y0 = origin[f, j]
            tile = crops[index[f, j], y0 : y0 + window, x0 : x0 + window]
            thumbs[f, j] = cv2.resize(tile, (size, size), interpolation=cv2.INTER_AREA) if size != window else tile
            if relpaths is not None and len(relpaths):
                names[f, j] = str(relpaths[index[f, j]])
    pad = n - t  # fewer images than n: pad the table so its shape is always (K, n)
    if pad:
        index = np.pad(index, ((0, 0), (0, pad)), constant_values=-1)
        value = np.pad(value, ((0, 0), (0, pad)))
        peak = np.pad(peak, ((0, 0), (0, pad), (0, 0)))
    return TopFaces(index, value, peak, thumbs, names.astype(str))


def peak_covariance(xy: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(K, S, 2, 2) weighted covariance of the peak locations; NaN where a filter has no peak.

    xy: (N, K, S, 2) template pixels; weight: (N, K, S) >= 0 (the weights of filter_location_stats).
    """
    xy = np.asarray(xy, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w[..., None] * xy).sum(axis=0) / total[..., None]
        d = xy - mean[None]
        cov = np.einsum("nks,nksi,nksj->ksij", w, d, d) / total[..., None, None]
    cov[total <= 0] = np.nan
    return cov.astype(np.float32)


def encode_thumbs(thumbs: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """(K, T, S, S, 3) uint8 RGB -> (B,) uint8 JPEG bytes of the mosaic (K rows of T tiles)."""
    k, t, s = thumbs.shape[:3]
    mosaic = thumbs.transpose(0, 2, 1, 3, 4).reshape(k * s, t * s, 3)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(mosaic[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise CacheError("could not encode the filter thumbnails as JPEG")
    return buf.reshape(-1)


def decode_thumbs(data: np.ndarray, n_filters: int, n_faces: int) -> np.ndarray:
    """Inverse of :func:`encode_thumbs`: (K, T, S, S, 3) uint8 RGB."""
    img = cv2.imdecode(np.asarray(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.shape[0] % n_filters or img.shape[1] % n_faces:
        raise CacheError("the precomputed filter thumbnails are unreadable (re-run `interpface analyze --precompute`)")
    s = img.shape[0] // n_filters
    return img[..., ::-1].reshape(n_filters, s, n_faces, s, 3).transpose(0, 2, 1, 3, 4).copy()
