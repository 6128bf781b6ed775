"""Occlusion probing of one face: what a placed occluder does to the representation.

The dashboard's occlusion-probe page calls `OcclusionProbe.update` on every slider move, so it is
kept cheap: the clean face's forward pass is done once (`OcclusionProbe(...)`), an update is one
occlusion + one forward of a single 96x96 image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from interpface.faces.align import center_crop, center_crop_offset
from interpface.models.networks import InterpretableFaceNet
from interpface.faces.occlusion import OcclusionRect, occlude_rect
from interpface.faces.template import Template, default_template


def to_input(crops110: np.ndarray) -> torch.Tensor:
    """(N, 110, 110, 3) or (110, 110, 3) uint8 aligned crops -> (N, 3, 96, 96) float [0, 1]."""
    arr = np.asarray(crops110)
    if arr.ndim == 3:
        arr = arr[None]
    x = torch.from_numpy(np.ascontiguousarray(center_crop(arr))).permute(0, 3, 1, 2).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last)


@dataclass
class FaceResponse:
    """One forward pass: f (N^f,) and psi' (N^f, 24, 24) as numpy float32."""

    f: np.ndarray
    psi_smooth: np.ndarray

    @property
    def embedding(self) -> np.ndarray:
        return self.f / max(float(np.linalg.norm(self.f)), 1e-12)


@torch.inference_mode()
def respond(model: InterpretableFaceNet, crops110: np.ndarray) -> list[FaceResponse]:
    """Forward aligned crops (N, 110, 110, 3) -> one FaceResponse each (model must be in eval mode)."""
    inter = model.forward_intermediates(to_input(crops110))
    f = inter.f.float().numpy()
    psi = inter.psi_smooth.float().numpy()
    return [FaceResponse(f[i], psi[i]) for i in range(len(f))]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


@dataclass
class ProbeResult:
    """What one occluder placement does.

    occluded: (110, 110, 3) uint8; mask: (110, 110) bool; quad: (4, 2) crop pixels (None for a
    realistic occluder);
    diff: (N^f,) |f(I) - f(I^)|; order: dimensions sorted by decreasing diff;
    cos_self: cosine(f(I), f(I^)); cos_other: cosine(f(I^), f(other)) when a second face is set;
    changed: dimensions whose change exceeds `threshold_fraction` of the largest clean |f|.
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


class OcclusionProbe:
    """Holds a model, a face (aligned crop + landmarks) and optionally a second face to compare with."""

    def __init__(self, model: InterpretableFaceNet, crop: np.ndarray, landmarks: np.ndarray,
                 other_crop: np.ndarray | None = None, template: Template | None = None):
        self.model, self.crop, self.landmarks = model, crop, np.asarray(landmarks)
        self.template = template or default_template()
        crops = [crop] if other_crop is None else [crop, other_crop]
        responses = respond(model, np.stack(crops))
        self.clean = responses[0]
        self.other = responses[1] if other_crop is not None else None

    def update(self, rect, *, fill: int = 0, threshold_fraction: float = 0.1) -> ProbeResult:
        """rect: an OcclusionRect (the paper's rectangle, filled with `fill`) or a realistic
        interpface.faces.occluders.Occluder (painted through the face's landmarks; quad = None)."""
        if hasattr(rect, "apply"):
            occluded, mask = rect.apply(self.crop, self.landmarks)
            quad = None
        else:
            occluded, mask, quad = occlude_rect(self.crop, self.landmarks, rect, self.template, fill=fill)
        resp = respond(self.model, occluded[None])[0]
        diff = np.abs(self.clean.f - resp.f)
        scale = max(float(np.abs(self.clean.f).max()), 1e-12)
        return ProbeResult(
            occluded=occluded, mask=mask, quad=quad, response=resp, diff=diff,
            order=np.argsort(-diff, kind="stable"), cos_self=cosine(self.clean.f, resp.f),
            cos_other=cosine(resp.f, self.other.f) if self.other is not None else None,
            cos_clean_other=cosine(self.clean.f, self.other.f) if self.other is not None else None,
            changed=np.flatnonzero(diff > threshold_fraction * scale))


def heatmap_to_crop(psi_map: np.ndarray, aligned_size: int = 110, input_size: int = 96) -> np.ndarray:
    """A (G, G) response map -> (aligned_size, aligned_size) float, upsampled to the input's 96x96
    (nearest: one grid cell = a 4x4 input block) and placed at the centre crop's offset (NaN outside)."""
    g = psi_map.shape[0]
    k = input_size // g
    up = np.kron(psi_map, np.ones((k, k), dtype=psi_map.dtype))
    out = np.full((aligned_size, aligned_size), np.nan, dtype=np.float32)
    o = center_crop_offset(aligned_size, input_size)
    out[o:o + input_size, o:o + input_size] = up
    return out
