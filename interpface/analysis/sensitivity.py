"""Occlusion sensitivity of one face: slide an occluder over it and record what changes.

Two modes, one result type (:class:`SensitivitySweep`):

- warped (:func:`warped_occlusion_sweep`): the occluder is a rectangle in the template frame whose
  centre steps over a grid; each one is warped into the face through its landmarks (exactly the
  synthetic occlusion of training) and filled. Masks live in the 110x110 aligned-crop frame.
- axis-aligned (:func:`occlusion_sweep`): rectangles in network-input pixels, enumerated exactly as
  ``captum.attr.Occlusion`` does (first window at 0, steps of `stride` until the input is covered, the
  last window cut off at the border), filled with a constant baseline. Masks live in the S x S input
  frame. Its :meth:`SensitivitySweep.attribution` equals captum's for the same window, stride and
  baseline (tests/test_sensitivity.py).

Every occluded copy of the face is evaluated once, in batches; the clean face is evaluated once and
reused. Each evaluation records the whole embedding, so one sweep gives the change of every dimension
and, when a second face is given, of the pair's cosine similarity; any of them (or the norm of the
change) can then be turned into a pixel map without more forward passes.

Sign convention (captum's): delta = f(clean) - f(occluded); a positive attribution means occluding the
pixel lowers the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.analysis._common import batch_slices, input_size, to_input
from interpface.analysis.incremental import OcclusionForward
from interpface.errors import InterpfaceError
from interpface.faces.align import center_crop_offset
from interpface.faces.occlusion import DEFAULT_OCCLUDER_SIZE, OcclusionRect, quad_masks
from interpface.faces.template import Template, default_template
from interpface.models.face_model import PART_FILTERS, FaceModel

__all__ = [
    "SensitivitySweep",
    "occlusion_sweep",
    "warped_occlusion_sweep",
    "captum_windows",
    "sweep_centers",
    "merge_sweeps",
]


@dataclass
class SensitivitySweep:
    """P occlusions of one face. Frame: "input" (S x S network input pixels; add ``offset`` for
    aligned-crop pixels) or "crop" (110x110 aligned crop, offset 0).

    f_clean: (K,); f_occluded: (P, K); masks: (P, H, W) bool, the occluded pixels of each; centers:
    (P, 2) occluder centres (input pixels in axis mode, template pixels in warped mode); boxes: (P, 4)
    x0, y0, x1, y1 (half-open, input pixels) in axis mode; quads: (P, 4, 2) in crop pixels in warped
    mode; cos_clean / cos_occluded: cosine similarity of the clean / occluded face to the reference
    (None without a reference).
    """

    mode: str
    frame: str
    offset: int
    f_clean: np.ndarray
    f_occluded: np.ndarray
    masks: np.ndarray
    centers: np.ndarray
    boxes: np.ndarray | None = None
    quads: np.ndarray | None = None
    rects: list[OcclusionRect] | None = None
    cos_clean: float | None = None
    cos_occluded: np.ndarray | None = None
    dims: np.ndarray | None = None  # the embedding dimensions recorded (None = all K)

    @property
    def n(self) -> int:
        return len(self.f_occluded)

    @property
    def delta(self) -> np.ndarray:
        """(P, K) f(clean) - f(occluded)."""
        return self.f_clean[None, :] - self.f_occluded

    @property
    def cos_delta(self) -> np.ndarray:
        """(P,) cos(clean, ref) - cos(occluded, ref)."""
        if self.cos_occluded is None:
            raise InterpfaceError("this sweep has no reference face: pass reference= to get the cosine target")
        return self.cos_clean - self.cos_occluded

    def scores(self, target: int | str) -> np.ndarray:
        """(P,) the change of a target per occlusion: an embedding dimension (int), "cosine"
        (similarity drop to the reference), "norm" (||delta f||_2) or "l1" (sum |delta f|)."""
        if isinstance(target, (int, np.integer)):
            k = int(target)
            if self.dims is not None:
                where = np.flatnonzero(self.dims == k)
                if len(where) == 0:
                    raise InterpfaceError(f"dimension {k} was not recorded (this sweep has dims {self.dims.tolist()})")
                return self.delta[:, where[0]]
            if not 0 <= k < self.f_clean.shape[0]:
                raise InterpfaceError(f"dimension {k} out of range [0, {self.f_clean.shape[0]})")
            return self.delta[:, k]
        if target == "cosine":
            return self.cos_delta
        if self.dims is not None and target in ("norm", "l1"):
            raise InterpfaceError(
                f"target {target!r} needs every dimension; this sweep recorded dims {self.dims.tolist()}"
            )
        if target == "norm":
            return np.linalg.norm(self.delta, axis=1)
        if target == "l1":
            return np.abs(self.delta).sum(axis=1)
        raise InterpfaceError(f"unknown target {target!r}: an int dimension, 'cosine', 'norm' or 'l1'")

    @property
    def coverage(self) -> np.ndarray:
        """(H, W) how many occlusions cover each pixel."""
        return self.masks.sum(axis=0)

    def attribution(self, target: int | str | np.ndarray) -> np.ndarray:
        """(H, W) float64 pixel map: for every pixel, the mean of the target's change over the
        occlusions that cover it (captum.attr.Occlusion's convention); 0 where none does.
        target: as in :meth:`scores`, or a (P,) array of per-occlusion scores."""
        s = np.asarray(target, dtype=np.float64) if isinstance(target, np.ndarray) else self.scores(target)
        m = self.masks.reshape(self.n, -1).astype(np.float64)
        total = s @ m
        cov = m.sum(axis=0)
        out = np.divide(total, cov, out=np.zeros_like(total), where=cov > 0)
        return out.reshape(self.masks.shape[1:])

    def changed_dims(self, threshold: float) -> np.ndarray:
        """(P,) how many dimensions change by more than `threshold` under each occlusion."""
        return (np.abs(self.delta) > threshold).sum(axis=1)


def captum_windows(size: tuple[int, int], window: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Windows of captum.attr.Occlusion over an H x W input: (P, 4) x0, y0, x1, y1 (half-open, cut at
    the border), row-major (y outer). Per axis: ceil((D - w) / s) + 1 starts at 0, s, 2s, ..."""
    (h, w), (wh, ww), (sh, sw) = size, window, stride
    if wh > h or ww > w:
        raise InterpfaceError(f"window {window} larger than the {h}x{w} input")
    if (sh > wh and h > wh) or (sw > ww and w > ww) or sh < 1 or sw < 1:
        raise InterpfaceError(f"stride {stride} must be >= 1 and <= the window {window} (captum's rule)")
    ys = [i * sh for i in range(math.ceil((h - wh) / sh) + 1)]
    xs = [i * sw for i in range(math.ceil((w - ww) / sw) + 1)]
    return np.array([[x, y, min(x + ww, w), min(y + wh, h)] for y in ys for x in xs], dtype=np.int64)


def _reference_embedding(model: nn.Module, reference, size: int) -> torch.Tensor | None:
    if reference is None:
        return None
    if isinstance(reference, (np.ndarray, torch.Tensor)) and np.asarray(reference).ndim == 1:
        return torch.as_tensor(np.asarray(reference), dtype=torch.float32)
    with torch.inference_mode():
        return model(to_input(reference, size))[0].float()


def _check_dims(dims, reference, k: int | None) -> np.ndarray | None:
    """dims as (D,) int64 indices < k (None: every dimension)."""
    if dims is None:
        return None
    if reference is not None:
        raise InterpfaceError("the cosine target needs every dimension: pass dims=None with a reference")
    d = np.asarray(dims, dtype=np.int64).reshape(-1)
    if len(d) == 0 or d.min() < 0:
        raise InterpfaceError(f"dims must be non-empty, non-negative dimension indices, got {dims!r}")
    if k is not None and d.max() >= k:
        raise InterpfaceError(f"dimension {int(d.max())} out of range: the model has {k}")
    return d


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _run(clean: torch.Tensor, ref, forward, boxes: np.ndarray, occluded, batch_size: int) -> tuple:
    """Clean pass once, then the occluded copies in batches; occluded(idx) -> (n, 3, S, S) inputs
    for copies idx. Batches follow forward.order (copies with alike changed regions together); the
    results come back in the boxes' order. Returns f_clean (K,), f_occ (P, K), cos_clean, cos_occ."""
    order = forward.order(boxes)
    with torch.inference_mode():
        f_clean = forward.clean(clean)[0]
        outs = [
            forward(forward.batch(occluded(order[sl]), boxes[order[sl]])) for sl in batch_slices(len(boxes), batch_size)
        ]
    f_occ = torch.empty((len(boxes), f_clean.shape[0]), dtype=f_clean.dtype)
    if outs:
        f_occ[torch.from_numpy(order)] = torch.cat(outs)
    cos_clean = cos_occ = None
    if ref is not None:
        cos_clean = float(F.cosine_similarity(f_clean[None], ref[None], dim=1)[0])
        cos_occ = F.cosine_similarity(f_occ, ref[None], dim=1).numpy().astype(np.float64)
    return f_clean.numpy(), f_occ.numpy(), cos_clean, cos_occ


def occlusion_sweep(
    model: nn.Module,
    image,
    *,
    window: int | tuple[int, int] = 16,
    stride: int | tuple[int, int] = 8,
    baseline: float = 0.0,
    reference=None,
    dims=None,
    batch_size: int = 32,
    incremental: bool = True,
) -> SensitivitySweep:
    """Axis-aligned occlusion sweep over the network input (captum's windows).

    image: (3, S, S) float tensor in [0, 1], or an (H, W, 3) uint8 crop (its central S x S is used);
    window, stride: pixels (h, w) or one int; baseline: the fill value in input units ([0, 1]);
    reference: a second face (same forms as image) or its embedding (K,) for the cosine target.
    dims: record only these embedding dimensions (e.g. [k] for one target: most of Psi is skipped);
    None records all of them (needed for the cosine, norm and l1 targets).
    incremental: recompute only what an occluder changes in the early, high-resolution layers
    (same result up to float rounding; see :mod:`interpface.analysis.incremental`).
    """
    dims = _check_dims(dims, reference, getattr(getattr(model, "config", None), "num_filters", None))
    size = input_size(model)
    x = to_input(image, size)
    if x.shape[0] != 1:
        raise InterpfaceError("occlusion_sweep takes one face")
    ref = _reference_embedding(model, reference, size)
    boxes = captum_windows((size, size), _pair(window), _pair(stride))
    masks = np.zeros((len(boxes), size, size), dtype=bool)
    for p, (x0, y0, x1, y1) in enumerate(boxes):
        masks[p, y0:y1, x0:x1] = True
    forward = OcclusionForward(model, x, enabled=incremental, dims=dims)
    fill = torch.tensor(float(baseline))

    f_clean, f_occ, cos_clean, cos_occ = _run(
        x, ref, forward, boxes, lambda idx: torch.where(torch.from_numpy(masks[idx])[:, None], fill, x), batch_size
    )
    centers = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1).astype(np.float64)
    return SensitivitySweep(
        "axis",
        "input",
        center_crop_offset(size=size),
        f_clean,
        f_occ,
        masks,
        centers,
        boxes=boxes,
        cos_clean=cos_clean,
        cos_occluded=cos_occ,
        dims=dims,
    )


def sweep_centers(
    template: Template | None = None, stride: float = 8.0, area: str | tuple[float, float, float, float] = "face"
) -> np.ndarray:
    """(P, 2) occluder centres (template pixels) on a grid of step `stride` over an area: "face" (the
    template's face box), "frame" (the whole template) or a box (x0, y0, x1, y1); row-major."""
    template = template or default_template()
    if area == "face":
        box = template.face_box
    elif area == "frame":
        box = (0.0, 0.0, template.size - 1.0, template.size - 1.0)
    elif isinstance(area, (tuple, list)) and len(area) == 4:
        box = tuple(float(v) for v in area)
    else:
        raise InterpfaceError(f"area must be 'face', 'frame' or (x0, y0, x1, y1), got {area!r}")
    if stride <= 0:
        raise InterpfaceError(f"stride must be > 0, got {stride}")
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1 + 1e-9, stride)
    ys = np.arange(y0, y1 + 1e-9, stride)
    xx, yy = np.meshgrid(xs, ys)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def warped_occlusion_sweep(
    model: FaceModel,
    crop: np.ndarray,
    landmarks: np.ndarray,
    *,
    size: tuple[float, float] = DEFAULT_OCCLUDER_SIZE,
    stride: float = 8.0,
    area="face",
    angle: float = 0.0,
    fill: int = 0,
    reference=None,
    centers: np.ndarray | None = None,
    dims=None,
    batch_size: int = 32,
    template: Template | None = None,
    incremental: bool = True,
) -> SensitivitySweep:
    """Warped-occluder sweep over one aligned face.

    crop: (110, 110, 3) uint8; landmarks: (68, 2) crop pixels; size: occluder (width, height) in
    template pixels; centres from :func:`sweep_centers` (stride, area) unless given (P, 2); fill:
    0-255; reference: a second face crop / input tensor, or its embedding (K,); dims, incremental: as
    in :func:`occlusion_sweep`.

    model: any FaceModel. With part filters, the occluded central windows go through the incremental
    forward; otherwise each occluded crop is cut into the model's own input through the same
    landmarks and embedded, and reference is its embedding (K,) or (crop, landmarks).
    """
    fast = model.has(PART_FILTERS)
    dims = _check_dims(dims, reference, model.dim)
    template = template or default_template()
    crop = np.asarray(crop)
    if crop.shape != (template.size, template.size, 3):
        raise InterpfaceError(f"crop must be ({template.size}, {template.size}, 3), got {crop.shape}")
    lm = np.asarray(landmarks, dtype=np.float64)
    s = model.input_size if fast else None
    off = None if s is None else center_crop_offset(template.size, s)
    centers = (
        sweep_centers(template, stride, area) if centers is None else np.asarray(centers, np.float64).reshape(-1, 2)
    )
    rects = [OcclusionRect(float(cx), float(cy), float(size[0]), float(size[1]), float(angle)) for cx, cy in centers]
    corners = np.clip(np.stack([r.corners() for r in rects]).reshape(-1, 2), 0.0, template.size - 1.0)
    tri, bary = template.mesh.locate(corners)
    quads = template.mesh.warp(tri, bary, lm).reshape(-1, 4, 2)
    masks = quad_masks(quads, template.size)  # (P, 110, 110)
    if fast:
        f_clean, f_occ, cos_clean, cos_occ = _part_filter_run(
            model.part_filters, crop, masks, reference, fill, batch_size, dims, incremental, s, off
        )
    else:
        f_clean, f_occ, cos_clean, cos_occ = _face_model_run(model, crop, lm, masks, reference, fill, batch_size, dims)
    return SensitivitySweep(
        "warped",
        "crop",
        0,
        f_clean,
        f_occ,
        masks,
        centers,
        quads=quads,
        rects=rects,
        cos_clean=cos_clean,
        cos_occluded=cos_occ,
        dims=dims,
    )


def _part_filter_run(
    net, crop, masks, reference, fill: int, batch_size: int, dims, incremental: bool, s: int, off: int
):
    """Our network's clean and occluded embeddings for (P, 110, 110) masks: the occluded central
    windows through the incremental forward (only the mask's bounding box is recomputed)."""
    x = to_input(crop, s)
    ref = _reference_embedding(net, reference, s)
    forward = OcclusionForward(net, x, enabled=incremental, dims=dims)
    crop_t = torch.from_numpy(np.array(crop, copy=True)).permute(2, 0, 1).float().div(255.0)
    fill_t = torch.tensor(fill / 255.0)
    # the changed pixels of each occluded input: the mask's bounding box in input coordinates
    inner = masks[:, off : off + s, off : off + s]

    def bbox(m):
        ys, xs = np.nonzero(m)
        if len(ys) == 0:
            return [0, 0, 0, 0]
        return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]

    boxes = np.array([bbox(m) for m in inner], dtype=np.int64).reshape(-1, 4)

    def occluded(idx):
        return torch.where(torch.from_numpy(masks[idx])[:, None], fill_t, crop_t)[:, :, off : off + s, off : off + s]

    return _run(x, ref, forward, boxes, occluded, batch_size)


def _face_model_run(
    fm, crop: np.ndarray, landmarks: np.ndarray, masks: np.ndarray, reference, fill: int, batch_size: int, dims
) -> tuple:
    """A black box's clean and occluded embeddings (raw, not normalised) for (P, 110, 110) masks."""

    def embed(crops):
        x, _ = fm.prepare(crops, np.broadcast_to(landmarks, (len(crops), *landmarks.shape)))
        return fm.forward(x).float()

    with torch.inference_mode():
        f_clean = embed(crop[None])[0]
        outs = [
            embed(np.where(masks[sl, :, :, None], np.uint8(fill), crop[None]))
            for sl in batch_slices(len(masks), batch_size)
        ]
        f_occ = torch.cat(outs) if outs else torch.empty((0, f_clean.shape[0]))
        ref = None
        if reference is not None:
            if isinstance(reference, tuple):
                ref_crop, ref_lm = reference
                x, _ = fm.prepare(np.asarray(ref_crop)[None], np.asarray(ref_lm, np.float64)[None])
                ref = fm.forward(x).float()[0]
            else:
                ref = torch.as_tensor(np.asarray(reference), dtype=torch.float32).reshape(-1)
    cos_clean = cos_occ = None
    if ref is not None:
        cos_clean = float(F.cosine_similarity(f_clean[None], ref[None], dim=1)[0])
        cos_occ = F.cosine_similarity(f_occ, ref[None], dim=1).numpy().astype(np.float64)
    if dims is not None:
        f_clean, f_occ = f_clean[torch.from_numpy(dims)], f_occ[:, torch.from_numpy(dims)]
    return f_clean.numpy(), f_occ.numpy(), cos_clean, cos_occ


def merge_sweeps(sweeps: list[SensitivitySweep]) -> SensitivitySweep:
    """Concatenate sweeps of the same face and mode run on chunks of centres (e.g. to show progress)."""
    if not sweeps:
        raise InterpfaceError("merge_sweeps needs at least one sweep")
    first = sweeps[0]

    def cat(name):
        parts = [getattr(s, name) for s in sweeps]
        return None if any(p is None for p in parts) else np.concatenate(parts)

    rects = None if any(s.rects is None for s in sweeps) else [r for s in sweeps for r in s.rects]
    return SensitivitySweep(
        first.mode,
        first.frame,
        first.offset,
        first.f_clean,
        cat("f_occluded"),
        cat("masks"),
        cat("centers"),
        boxes=cat("boxes"),
        quads=cat("quads"),
        rects=rects,
        cos_clean=first.cos_clean,
        cos_occluded=cat("cos_occluded"),
        dims=first.dims,
    )
