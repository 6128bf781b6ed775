"""Occlusion probing of one face: what a placed occluder does to the representation.

The dashboard's occlusion-probe page calls `OcclusionProbe.update` on every slider move, so it is
kept cheap: the clean face's forward pass is done once (`OcclusionProbe(...)`), an update is one
occlusion + one forward of a single image.

Any :class:`FaceModel` works: one with part filters (ours: its 320 filters psi' on the central 96x96
window) or a black box (the channels of one of its layers, resampled from its own input into the
aligned crop's frame, so every heatmap figure draws them over the same 110x110 face).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from interpface.faces.align import center_crop, center_crop_offset
from interpface.faces.occlusion import occlude_rect
from interpface.faces.template import Template, default_template
from interpface.models.face_model import PART_FILTERS, FaceModel


def to_input(crops110: np.ndarray) -> torch.Tensor:
    """(N, 110, 110, 3) or (110, 110, 3) uint8 aligned crops -> (N, 3, 96, 96) float [0, 1]."""
    arr = np.asarray(crops110)
    if arr.ndim == 3:
        arr = arr[None]
    x = torch.from_numpy(np.ascontiguousarray(center_crop(arr))).permute(0, 3, 1, 2).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last)


#: Cells per side of a black-box layer resampled into the aligned crop (5 px cells over 110 px).
CROP_GRID = 22


@dataclass
class FaceResponse:
    """One forward pass: f (N^f,) and the response maps psi_smooth (C, G, G) as numpy float32.

    Ours: f = the representation, maps = psi' (N^f, 24, 24) over the central `span` = 96 px window.
    A black box: f = its embedding, maps = its layer's C channels on a CROP_GRID x CROP_GRID grid over
    the whole 110 px crop (span 110; NaN where the model's input does not reach)."""

    f: np.ndarray
    psi_smooth: np.ndarray
    span: int = 96

    @property
    def embedding(self) -> np.ndarray:
        return self.f / max(float(np.linalg.norm(self.f)), 1e-12)


@torch.inference_mode()
def respond(
    model: FaceModel, crops110: np.ndarray, landmarks: np.ndarray | None = None, layer: str | None = None
) -> list[FaceResponse]:
    """Forward aligned crops (N, 110, 110, 3) -> one FaceResponse each.

    With part filters (and no other layer asked for): f and psi' on the model's own grid. Otherwise
    `landmarks` (N, 68, 2) cut the model's input, and `layer` picks the response layer (default: the
    model's default layer), resampled into the crop."""
    crops110 = np.asarray(crops110)
    if crops110.ndim == 3:
        crops110 = crops110[None]
    if model.has(PART_FILTERS) and layer in (None, model.default_layer):
        inter = model.part_filters.forward_intermediates(to_input(crops110))
        f = inter.f.float().numpy()
        psi = inter.psi_smooth.float().numpy()
        return [FaceResponse(f[i], psi[i]) for i in range(len(f))]
    if landmarks is None:
        raise ValueError(f"{model.name} cuts its input from the face's landmarks: pass them")
    return _respond_face_model(model, crops110, np.asarray(landmarks, np.float64).reshape(len(crops110), -1, 2), layer)


def _respond_face_model(fm, crops: np.ndarray, landmarks: np.ndarray, layer: str | None) -> list[FaceResponse]:
    layer = fm.check_layers([layer] if layer else None)[0]
    x, mats = fm.prepare(crops, landmarks)
    emb, outs = fm.forward_with_layers(x, [layer])  # one pass where the model allows it
    f, maps = emb.float().numpy(), outs[layer].float()
    grids = _crop_grid_in_input(mats, crops.shape[1], x.shape[-1])
    sampled = F.grid_sample(maps, grids, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = (grids.abs() <= 1).all(dim=-1)  # (N, G, G): cell centres the model's input covers
    out = torch.where(inside[:, None], sampled, torch.full_like(sampled, float("nan"))).numpy()
    return [FaceResponse(f[i], out[i], span=crops.shape[1]) for i in range(len(f))]


def _crop_grid_in_input(mats: np.ndarray, crop_size: int, input_size: int, grid: int = CROP_GRID) -> torch.Tensor:
    """(N, G, G, 2) grid_sample coordinates (x, y in [-1, 1] over the model's input) of the centres
    of a G x G grid of cells over the aligned crop, through each face's crop -> input affine map."""
    cell = crop_size / grid
    c = (np.arange(grid) + 0.5) * cell - 0.5  # cell centres, crop pixels (pixel centres at integers)
    xx, yy = np.meshgrid(c, c)
    pts = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)], axis=0)  # (3, G*G)
    inp = np.einsum("nij,jk->nki", np.asarray(mats, np.float64), pts)  # (N, G*G, 2) input pixels
    norm = (inp + 0.5) / input_size * 2 - 1  # align_corners=False convention
    return torch.from_numpy(norm.reshape(len(mats), grid, grid, 2)).float()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


@dataclass
class ProbeResult:
    """What one occluder placement does.

    occluded: (110, 110, 3) uint8; mask: (110, 110) bool; quad: (4, 2) crop pixels (None for a
    realistic occluder);
    diff: (N^f,) |f(I) - f(I^)|; order: dimensions sorted by decreasing diff;
    cos_self: cosine(f(I), f(I^)); cos_other: cosine(f(I^), f(other)) when a second face is set;
    changed: dimensions whose change exceeds `threshold_fraction` of the largest clean |f|;
    map_order: response maps sorted by how much they changed (ours: = order, a filter is a
    dimension; a black box: its layer's channels by mean |change| of their maps).
    """

    occluded: np.ndarray
    mask: np.ndarray
    quad: np.ndarray
    response: FaceResponse
    diff: np.ndarray
    order: np.ndarray
    cos_self: float
    cos_other: float | None
    cos_clean_other: float | None
    changed: np.ndarray
    map_order: np.ndarray


class OcclusionProbe:
    """Holds a model, a face (aligned crop + landmarks) and optionally a second face to compare with."""

    def __init__(
        self,
        model: FaceModel,
        crop: np.ndarray,
        landmarks: np.ndarray,
        other_crop: np.ndarray | None = None,
        template: Template | None = None,
        other_landmarks: np.ndarray | None = None,
        layer: str | None = None,
    ):
        """model: any FaceModel (a black box also needs `other_landmarks` with a second face, to cut
        that face's input)."""
        self.model, self.crop, self.landmarks = model, crop, np.asarray(landmarks)
        self.template = template or default_template()
        self.layer = layer
        # filters are embedding dimensions only for part-filter models on their own response layer
        self.black_box = not (model.has(PART_FILTERS) and layer in (None, model.default_layer))
        if self.black_box and other_crop is not None and other_landmarks is None:
            raise ValueError(f"{model.name} needs the second face's landmarks too")
        self.clean = self._respond(crop, self.landmarks)
        self.other = self._respond(other_crop, other_landmarks) if other_crop is not None else None

    def _respond(self, crop, landmarks) -> FaceResponse:
        return respond(
            self.model, np.asarray(crop)[None], None if landmarks is None else np.asarray(landmarks)[None], self.layer
        )[0]

    def update(self, rect, *, fill: int = 0, threshold_fraction: float = 0.1) -> ProbeResult:
        """rect: an OcclusionRect (the paper's rectangle, filled with `fill`) or a realistic
        interpface.faces.occluders.Occluder (painted through the face's landmarks; quad = None)."""
        if hasattr(rect, "apply"):
            occluded, mask = rect.apply(self.crop, self.landmarks)
            quad = None
        else:
            occluded, mask, quad = occlude_rect(self.crop, self.landmarks, rect, self.template, fill=fill)
        # the occluder changes pixels, not the face's geometry: the clean landmarks still place it
        resp = self._respond(occluded, self.landmarks)
        diff = np.abs(self.clean.f - resp.f)
        scale = max(float(np.abs(self.clean.f).max()), 1e-12)
        order = np.argsort(-diff, kind="stable")
        if self.black_box:
            change = np.nanmean(np.abs(self.clean.psi_smooth - resp.psi_smooth), axis=(1, 2))
            map_order = np.argsort(-np.nan_to_num(change, nan=0.0), kind="stable")
        else:
            map_order = order
        return ProbeResult(
            occluded=occluded,
            mask=mask,
            quad=quad,
            response=resp,
            diff=diff,
            order=order,
            cos_self=cosine(self.clean.f, resp.f),
            cos_other=cosine(resp.f, self.other.f) if self.other is not None else None,
            cos_clean_other=cosine(self.clean.f, self.other.f) if self.other is not None else None,
            changed=np.flatnonzero(diff > threshold_fraction * scale),
            map_order=map_order,
        )


def heatmap_to_crop(psi_map: np.ndarray, aligned_size: int = 110, input_size: int = 96) -> np.ndarray:
    """A (G, G) response map -> (aligned_size, aligned_size) float, upsampled to the input's 96x96
    (nearest: one grid cell = a 4x4 input block) and placed at the centre crop's offset (NaN outside)."""
    g = psi_map.shape[0]
    k = input_size // g
    up = np.kron(psi_map, np.ones((k, k), dtype=psi_map.dtype))
    out = np.full((aligned_size, aligned_size), np.nan, dtype=np.float32)
    o = center_crop_offset(aligned_size, input_size)
    out[o : o + input_size, o : o + input_size] = up
    return out
