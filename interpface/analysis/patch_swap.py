"""A Patch-LFW-style faithfulness score (after Huber et al., xSSAB, WACV 2024): swap the patches a map
ranks first, last, or in a random order, and count the decisions that flip.

Face B (the model's input, S x S) is cut into a G x G grid of patches and the patches are ranked by
the map's mean over each. The top-ranked k patches ("best"), the bottom-ranked k ("worst") or k
patches in a seeded random order ("random", averaged over several orders) are replaced by the same
patches of a donor face, and the pair is decided again at the clean threshold:

- genuine pairs, ranked by the *similarity* map; the donor is a face of another identity, so the
  swapped patches carry the wrong person's evidence. Reported: FNMR, the share of genuine pairs now
  rejected.
- impostor pairs, ranked by the *dissimilarity* map; the donor is the gallery face A itself (the
  faces are aligned, so a patch lands where it belongs), so the swapped patches carry the right
  person's evidence. Reported: FMR, the share of impostor pairs now accepted.

A faithful map puts the decisive patches first: best > random > worst, for FNMR and for FMR.
How it differs from Patch-LFW itself: Patch-LFW ships fixed image pairs with a fixed patch protocol
on its own images; this score runs on any dataset's pairs and any model, with the map's own ranking.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.analysis._common import input_size, to_input
from interpface.errors import InterpfaceError

__all__ = ["patch_ranking", "swap_patches", "patch_swap_scores", "patch_swap_rates"]

ORDERS = ("best", "worst", "random")


def _edges(size: int, grid: int) -> np.ndarray:
    """(grid + 1,) pixel edges of the patches along one side (sides not divisible by grid: patches
    differ by at most one pixel)."""
    return np.rint(np.linspace(0, size, grid + 1)).astype(int)


def patch_ranking(saliency: np.ndarray, grid: int) -> np.ndarray:
    """(grid * grid,) patch indices (row-major), highest mean saliency first (ties: lower index first)."""
    s = np.asarray(saliency, np.float64)
    size = s.shape[0]
    if s.ndim != 2 or s.shape != (size, size) or size < grid:
        raise InterpfaceError(f"saliency must be a square map of at least {grid} px a side, got {s.shape}")
    e = _edges(size, grid)
    means = np.array([s[e[i] : e[i + 1], e[j] : e[j + 1]].mean() for i in range(grid) for j in range(grid)])
    return np.argsort(-means, kind="stable")


def swap_patches(x: torch.Tensor, donor: torch.Tensor, patches: np.ndarray, grid: int) -> torch.Tensor:
    """x with the given patches (row-major indices) taken from donor. x, donor: (3, S, S)."""
    e = _edges(x.shape[-1], grid)
    mask = torch.zeros(x.shape[-2:], dtype=torch.bool)
    for p in np.asarray(patches, np.int64).tolist():
        i, j = divmod(p, grid)
        mask[e[i] : e[i + 1], e[j] : e[j + 1]] = True
    return torch.where(mask, donor, x)


@torch.inference_mode()
def patch_swap_scores(
    model: nn.Module,
    face_a,
    face_b,
    donor,
    saliency: np.ndarray,
    *,
    grid: int = 8,
    fraction: float = 0.25,
    random_orders: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    """The cosine of B to A after swapping a fraction of B's patches from the donor in each order:
    {"best": cos, "worst": cos, "random": mean cos over the random orders}.
    face_a, face_b, donor: (S, S, 3) uint8 model input images or (3, S, S) tensors in [0, 1]."""
    size = input_size(model)
    x, d = to_input(face_b, size)[0], to_input(donor, size)[0]
    f_a = model(to_input(face_a, size))[0].float()
    rank = patch_ranking(saliency, grid)
    k = max(1, int(round(fraction * grid * grid)))
    rng = np.random.default_rng(seed)
    chosen = [rank[:k], rank[::-1][:k]] + [rng.permutation(grid * grid)[:k] for _ in range(random_orders)]
    batch = torch.stack([swap_patches(x, d, c, grid) for c in chosen])
    f = model(batch).float()
    cos = F.cosine_similarity(f, f_a[None].expand_as(f), dim=1).double().numpy()
    return {"best": float(cos[0]), "worst": float(cos[1]), "random": float(cos[2:].mean())}


def patch_swap_rates(scores: dict[str, np.ndarray], same, threshold: float) -> dict[str, float | None]:
    """FNMR (genuine pairs rejected) and FMR (impostor pairs accepted) at the threshold per order.
    scores: {order: (P,) cosines after the swap}; same: (P,). Keys fnmr_best, fnmr_worst, fnmr_random,
    fmr_best, ...; None where the set has no pair of that kind."""
    same = np.asarray(same, bool)
    out: dict[str, float | None] = {}
    for order in ORDERS:
        s = np.asarray(scores[order], np.float64)
        out[f"fnmr_{order}"] = float((s[same] < threshold).mean()) if same.any() else None
        out[f"fmr_{order}"] = float((s[~same] >= threshold).mean()) if (~same).any() else None
    return out
