"""Why do two faces match? Signed pixel maps of face B for the cosine similarity to face A.

A pair map is one (S, S) float array over B's network input: positive where B's pixels support the
match with A (the *similarity* map is its positive part), negative where they count against it (the
*dissimilarity* map is its negative part, sign flipped). Methods:

- ``representation``: read straight from the interpretable representation, one forward pass. With LMF,
  f_B[k] is the mean over the G x G grid of LMF(psi_k), so the cosine splits exactly over grid cells:
  cos(f_A, f_B) = sum_p sum_k f_A[k] LMF(psi_B)_k(p) / (G^2 |f_A| |f_B|). Each cell's share is spread
  evenly over its (S/G)^2 input pixels, so the map sums to the cosine. Needs a model with the
  REPRESENTATION_MAP capability (ours); every other model gets every other method.
- ``representation_fggb``: the representation read with FGGB's weighting: per dimension k, where its
  value comes from, |LMF(psi_B)_k(p)| over the G x G cells scaled to unit L2 norm, weighted by the
  dimension's share of the cosine, v_k = a_hat_k f_hat_B_k (less an even share of a threshold, 0 by
  default), and summed over k. One forward pass; REPRESENTATION_MAP models only. It does not sum to
  the cosine; it ranks the cells by the evidence of the dimensions that carry the match.
- ``occlusion``: our occlusion sweep (window 16, stride 8, baseline 0): per pixel, the mean drop of the
  cosine over the windows covering it (captum.attr.Occlusion's map; the incremental forward makes it fast).
- ``integrated_gradients`` and ``gradcam``: captum on the cosine target (interpface.analysis.attribution).
- ``rise``: RISE-style randomised masks (Petsiuk et al. 2018), correlated with the score as in
  CorrRISE: N seeded low-resolution binary masks, bilinearly upsampled with random shifts; the map is
  the covariance of each pixel's mask value with the cosine, over the masks.
- ``random``: seeded uniform noise in [-1, 1], the floor every faithful map must beat.

The verification-literature methods ``fggb``, ``xssab`` and ``corrrise``
(``interpface.analysis.verification_maps``) apply to every model too; they are taken by name
(``pair_map(..., "fggb")``, ``methods_for(model, verification=True)``) and left out of the default
set, which stays the methods above.

Sign convention everywhere: positive = supports the match (removing it lowers the cosine).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.analysis._common import batch_slices, input_size, to_input
from interpface.analysis.verification_maps import VERIFICATION_METHODS, corrrise_map, fggb_map, xssab_map
from interpface.errors import InterpfaceError
from interpface.models.face_model import PART_FILTERS, REPRESENTATION_MAP, FaceModel

__all__ = [
    "PAIR_METHODS",
    "ALL_PAIR_METHODS",
    "PairMap",
    "pair_map",
    "pair_maps",
    "representation_map",
    "representation_fggb_map",
    "rise_map",
    "methods_for",
]

PAIR_METHODS = ("representation", "occlusion", "integrated_gradients", "gradcam", "rise", "random")
#: every method pair_map takes: the default set and, by name, FGGB, xSSAB, CorrRISE and the
#: FGGB-weighted representation map
ALL_PAIR_METHODS = PAIR_METHODS + VERIFICATION_METHODS + ("representation_fggb",)


@dataclass
class PairMap:
    """signed: (S, S) float64 over B's network input (positive = supports the match); seconds: time."""

    method: str
    signed: np.ndarray
    seconds: float

    @property
    def similarity(self) -> np.ndarray:
        return np.clip(self.signed, 0, None)

    @property
    def dissimilarity(self) -> np.ndarray:
        return np.clip(-self.signed, 0, None)


def methods_for(model: FaceModel, *, verification: bool = False) -> tuple[str, ...]:
    """The pair-map methods that apply to a model (the representation map needs REPRESENTATION_MAP,
    Grad-CAM the part filters' psi layer); verification: with FGGB, xSSAB and CorrRISE (every model)."""
    out = [m for m in PAIR_METHODS] + (list(VERIFICATION_METHODS) + ["representation_fggb"] if verification else [])
    if not model.has(REPRESENTATION_MAP):
        out = [m for m in out if not m.startswith("representation")]
    if not model.has(PART_FILTERS):
        out.remove("gradcam")
    return tuple(out)


def _embedding(model: nn.Module, face, size: int) -> torch.Tensor:
    arr = face.detach() if isinstance(face, torch.Tensor) else np.asarray(face)
    if arr.ndim == 1:
        return torch.as_tensor(np.asarray(arr), dtype=torch.float32)
    with torch.inference_mode():
        return model(to_input(face, size))[0].float()


@torch.inference_mode()
def representation_map(model: nn.Module, face_b, f_a: torch.Tensor) -> np.ndarray:
    """The exact split of cos(f_A, f_B) over B's input pixels (see the module docstring): (S, S).
    model: the part-filter network (``FaceModel.part_filters``)."""
    size = input_size(model)
    inter = model.forward_intermediates(to_input(face_b, size))
    psi = inter.psi_lmf[0].float()  # (K, G, G)
    f_b = inter.f[0].float()
    g = psi.shape[-1]
    f_a = f_a.float()
    cells = torch.einsum("k,kij->ij", f_a, psi) / (g * g * f_a.norm().clamp_min(1e-12) * f_b.norm().clamp_min(1e-12))
    k = size // g
    pixels = torch.kron(cells, torch.ones(k, k)) / (k * k)  # each cell's share spread over its pixels
    return pixels.double().numpy()


@torch.inference_mode()
def representation_fggb_map(model: nn.Module, face_b, f_a: torch.Tensor, *, threshold: float = 0.0) -> np.ndarray:
    """The representation map with FGGB's weighting (see the module docstring): (S, S).
    model: the part-filter network (``FaceModel.part_filters``)."""
    size = input_size(model)
    inter = model.forward_intermediates(to_input(face_b, size))
    psi = inter.psi_lmf[0].float()  # (K, G, G)
    k_dims, g = psi.shape[0], psi.shape[-1]
    shares = F.normalize(f_a.float(), dim=0) * F.normalize(inter.f[0].float(), dim=0)  # (K,), sums to the cosine
    weights = shares - threshold / k_dims
    evidence = psi.abs().reshape(k_dims, -1)
    evidence = evidence / (evidence.norm(dim=1, keepdim=True) + 1e-8)
    cells = (weights[:, None] * evidence).sum(0).reshape(g, g)
    k = size // g
    return (torch.kron(cells, torch.ones(k, k)) / (k * k)).double().numpy()


def rise_map(
    model: nn.Module,
    face_b,
    f_a: torch.Tensor,
    *,
    n_masks: int = 512,
    cells: int = 7,
    keep: float = 0.5,
    baseline: float = 0.0,
    seed: int = 0,
    batch_size: int = 64,
) -> np.ndarray:
    """CorrRISE-style map: covariance over seeded random masks of each pixel's mask value with the
    cosine of the masked face B (masked-out pixels set to `baseline`) to f_A. (S, S)."""
    size = input_size(model)
    x = to_input(face_b, size)
    gen = torch.Generator().manual_seed(int(seed))
    cell = int(np.ceil(size / cells))
    grid = (torch.rand(n_masks, 1, cells + 1, cells + 1, generator=gen) < keep).float()
    up = F.interpolate(grid, size=((cells + 1) * cell, (cells + 1) * cell), mode="bilinear", align_corners=False)
    shifts = torch.randint(0, cell, (n_masks, 2), generator=gen)
    masks = torch.stack([up[i, 0, sy : sy + size, sx : sx + size] for i, (sy, sx) in enumerate(shifts.tolist())])
    scores = torch.empty(n_masks)
    ref = f_a.float()[None]
    with torch.inference_mode():
        for sl in batch_slices(n_masks, batch_size):
            m = masks[sl][:, None]
            f = model(x * m + baseline * (1 - m)).float()
            scores[sl] = F.cosine_similarity(f, ref.expand_as(f), dim=1)
    centred = scores - scores.mean()
    return (torch.einsum("n,nij->ij", centred, masks) / n_masks).double().numpy()


def pair_map(face_model: FaceModel, face_a, face_b, method: str, *, seed: int = 0, **kwargs) -> PairMap:
    """One method's signed map of face B for its cosine similarity to face A.

    face_a: a (3, S, S) tensor on the model's own input in [0, 1] (:meth:`FaceModel.chips`), its
    embedding (K,), or (models that take the crop's central window) a (110, 110, 3) uint8 crop;
    face_b: a tensor or a crop. kwargs go to the method (rise: n_masks, cells; occlusion: window, stride;
    fggb: threshold, chunk, precision, skip_mass; xssab: threshold; corrrise: n_masks, patches, patch_size, rank)."""
    if method not in ALL_PAIR_METHODS:
        raise InterpfaceError(f"unknown pair-map method {method!r}; choose from {', '.join(ALL_PAIR_METHODS)}")
    applicable = methods_for(face_model, verification=True)
    if method not in applicable:
        raise InterpfaceError(f"{method} does not apply to {face_model.name} (it applies: {', '.join(applicable)})")
    model = face_model.input_net()
    size = input_size(model)
    t0 = time.perf_counter()
    f_a = _embedding(model, face_a, size)
    if method == "representation":
        signed = representation_map(model, face_b, f_a)
    elif method == "representation_fggb":
        signed = representation_fggb_map(model, face_b, f_a, **{k: v for k, v in kwargs.items() if k == "threshold"})
    elif method == "occlusion":
        from interpface.analysis.sensitivity import occlusion_sweep

        sweep = occlusion_sweep(
            model,
            face_b,
            window=kwargs.get("window", 16),
            stride=kwargs.get("stride", 8),
            reference=f_a,
            batch_size=kwargs.get("batch_size", 32),
        )
        signed = sweep.attribution("cosine")
    elif method in ("integrated_gradients", "gradcam"):
        from interpface.analysis.attribution import pixel_attribution

        signed = pixel_attribution(
            model, to_input(face_b, size)[0], method=method, reference=f_a, steps=kwargs.get("steps", 32)
        ).astype(np.float64)
    elif method == "rise":
        signed = rise_map(
            model,
            face_b,
            f_a,
            seed=seed,
            **{k: v for k, v in kwargs.items() if k in ("n_masks", "cells", "keep", "baseline", "batch_size")},
        )
    elif method == "fggb":
        signed = fggb_map(
            model,
            face_b,
            f_a,
            **{k: v for k, v in kwargs.items() if k in ("threshold", "chunk", "precision", "skip_mass")},
        )
    elif method == "xssab":
        signed = xssab_map(model, face_b, f_a, **{k: v for k, v in kwargs.items() if k == "threshold"})
    elif method == "corrrise":
        signed = corrrise_map(
            model,
            face_b,
            f_a,
            seed=seed,
            **{k: v for k, v in kwargs.items() if k in ("n_masks", "patches", "patch_size", "batch_size", "rank")},
        )
    else:
        signed = np.random.default_rng(seed).uniform(-1, 1, size=(size, size))
    return PairMap(method, np.asarray(signed, np.float64), time.perf_counter() - t0)


def pair_maps(model: FaceModel, face_a, face_b, methods=None, *, seed: int = 0, **kwargs) -> dict[str, PairMap]:
    """Every applicable method's map (or those named): {method: PairMap}."""
    methods = methods_for(model) if methods is None else tuple(methods)
    return {m: pair_map(model, face_a, face_b, m, seed=seed, **kwargs) for m in methods}
