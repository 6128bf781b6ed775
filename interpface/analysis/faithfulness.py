"""Deletion and insertion curves: how faithful a pair map is to the verifier (DESIGN §8).

Pixels of face B are ordered by a map, most important first (ties in a fixed seeded order).
Deletion replaces them, step by step, by a baseline image; insertion starts from the baseline and puts
them back. At every step the cosine similarity of B to face A is recorded; the area under the curve
(mean over the steps, fractions 0..1) summarises it. Baselines: "black" (zeros) and "blur" (B under a
Gaussian blur of sigma = S/12, as in RISE's evaluation).

Reading them: for a *similarity* map on a genuine pair, a faithful map drops the cosine fast under
deletion (low deletion AUC) and raises it fast under insertion (high insertion AUC). For a
*dissimilarity* map on an impostor pair, the evidence against is removed first, so a faithful map
*raises* the cosine under deletion (high deletion AUC) and keeps it low under insertion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.analysis._common import batch_slices, input_size, to_input
from interpface.errors import InterpfaceError

__all__ = ["BASELINES", "Curves", "deletion_insertion", "baseline_image"]

BASELINES = ("black", "blur")


@dataclass
class Curves:
    """fractions: (T+1,) of B's pixels removed (deletion) / restored (insertion); deletion,
    insertion: (T+1,) cosine to A at each step; their AUCs (trapezoid over fractions)."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    baseline: str

    @property
    def deletion_auc(self) -> float:
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        return float(np.trapezoid(self.insertion, self.fractions))


def baseline_image(x: torch.Tensor, kind: str) -> torch.Tensor:
    """The image pixels are replaced by: (1, 3, S, S) zeros ("black") or x blurred ("blur")."""
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "blur":
        size = x.shape[-1]
        sigma = size / 12.0
        r = int(3 * sigma)
        t = torch.arange(-r, r + 1, dtype=torch.float32)
        g = torch.exp(-t * t / (2 * sigma * sigma))
        g = g / g.sum()
        pad = F.pad(x, (r, r, r, r), mode="reflect")
        h = F.conv2d(pad, g.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
        return F.conv2d(h, g.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
    raise InterpfaceError(f"unknown baseline {kind!r}; choose from {', '.join(BASELINES)}")


def pixel_order(saliency: np.ndarray, seed: int = 0) -> np.ndarray:
    """(S*S,) flat pixel indices, highest saliency first; ties broken by a seeded permutation."""
    flat = np.asarray(saliency, np.float64).reshape(-1)
    tiebreak = np.random.default_rng(seed).permutation(flat.size)
    return np.lexsort((tiebreak, -flat))


@torch.inference_mode()
def deletion_insertion(
    model: nn.Module,
    face_a,
    face_b,
    saliency: np.ndarray,
    *,
    baseline: str = "black",
    steps: int = 20,
    batch_size: int = 32,
    seed: int = 0,
) -> Curves:
    """Deletion and insertion curves of B's pixels in the order of `saliency` (S, S).

    face_a: crop, (3, S, S) tensor or embedding (K,); face_b: crop or (3, S, S) tensor."""
    size = input_size(model)
    x = to_input(face_b, size)
    if np.asarray(saliency).shape != (size, size):
        raise InterpfaceError(f"saliency must be ({size}, {size}), got {np.asarray(saliency).shape}")
    arr = face_a.detach() if isinstance(face_a, torch.Tensor) else np.asarray(face_a)
    f_a = (
        torch.as_tensor(np.asarray(arr), dtype=torch.float32)
        if arr.ndim == 1
        else model(to_input(face_a, size))[0].float()
    )
    base = baseline_image(x, baseline)
    order = torch.from_numpy(pixel_order(saliency, seed))
    counts = np.rint(np.linspace(0, size * size, steps + 1)).astype(int)
    rank = torch.empty(size * size, dtype=torch.long)
    rank[order] = torch.arange(size * size)
    rank = rank.view(1, 1, size, size)
    images = []
    for mode in ("deletion", "insertion"):
        for c in counts:
            chosen = rank < int(c)  # the c most salient pixels
            keep_b = ~chosen if mode == "deletion" else chosen
            images.append(torch.where(keep_b, x, base))
    batch = torch.cat(images)
    scores = torch.empty(len(batch))
    for sl in batch_slices(len(batch), batch_size):
        f = model(batch[sl]).float()
        scores[sl] = F.cosine_similarity(f, f_a[None].expand_as(f), dim=1)
    n = steps + 1
    return Curves(counts / float(size * size), scores[:n].double().numpy(), scores[n:].double().numpy(), baseline)
