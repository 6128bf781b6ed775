"""Model-parameter randomisation sanity checks for pair maps (Adebayo et al., "Sanity Checks for
Saliency Maps", NeurIPS 2018), on any model through the one model interface.

A map that explains the model must change when the model's weights are destroyed. Two tests:

- **cascading**: the parameterised layers (modules that own parameters, in registration order, which
  is the forward order for the networks here) are randomised from the top down, in stages: the top
  quarter, half, three quarters, then all of them;
- **independent**: one group of layers at a time (bottom, lower middle, upper middle, top quarter),
  the rest left trained.

Randomising a tensor redraws it from a normal with the tensor's own mean and standard deviation
(seeded), so activations keep their scale and no layer blows up; the structure the weights learned
is what goes. Each randomised model explains the same pairs, and its map is compared with the
trained model's map by

- Spearman rank correlation of the signed maps and of their absolute values, and
- SSIM (scikit-image, data range 1) of the absolute maps, each scaled to [0, 1] by its maximum,

the three measures of Adebayo et al. **Pass rule**: a method passes when, with every layer
randomised, the mean over pairs of both the |map| Spearman correlation and the SSIM is below
``PASS_THRESHOLD`` = 0.5. Adebayo et al. give no number; their figures show the methods they call
insensitive (guided backpropagation, guided Grad-CAM) staying highly similar to the original under
full randomisation while gradients decorrelate; 0.5 is the midpoint between perfect similarity and
none, which the random map (independent of the model by construction) must fail and a map that
tracks the model must pass.

We wrote these checks rather than use Quantus's ``MPRT``: Quantus re-explains after randomising
every parameterised module one at a time (50 to 150 modules in the networks here), which at seconds
per FGGB or CorrRISE map is hours per model on a CPU; staged randomisation keeps the same test at 8
randomised models.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn

from interpface.errors import InterpfaceError
from interpface.models.face_model import FaceModel

__all__ = [
    "PASS_THRESHOLD",
    "parameter_layers",
    "randomised_model",
    "cascading_stages",
    "independent_groups",
    "map_similarity",
    "sanity_checks",
]

PASS_THRESHOLD = 0.5
STAGES = 4


def parameter_layers(module: nn.Module) -> list[str]:
    """Names of the submodules that own parameters directly, bottom (first registered) to top."""
    return [name for name, m in module.named_modules() if any(True for _ in m.parameters(recurse=False))]


@torch.no_grad()
def randomised_model(face_model: FaceModel, layers, *, seed: int = 0) -> FaceModel:
    """A copy of the model whose named layers' parameters are redrawn from N(mean, std) of each tensor;
    the original is untouched."""
    module = copy.deepcopy(face_model.module)
    named = dict(module.named_modules())
    gen = torch.Generator().manual_seed(int(seed))
    for name in layers:
        if name not in named:
            raise InterpfaceError(f"{face_model.name} has no layer {name!r}")
        for p in named[name].parameters(recurse=False):
            flat = p.detach().float()
            mean = float(flat.mean())
            std = float(flat.std()) if flat.numel() > 1 else 0.0
            if not np.isfinite(std) or std == 0.0:
                std = 0.1 * abs(mean) or 0.01
            p.copy_((mean + std * torch.randn(p.shape, generator=gen)).to(p.dtype))
    clone = copy.copy(face_model)
    clone.module = module.eval()
    return clone


def cascading_stages(layers: list[str], stages: int = STAGES) -> list[tuple[str, list[str]]]:
    """[(label, layers randomised)]: the top 1/stages, 2/stages, ... of the layers, cumulatively."""
    n = len(layers)
    out = []
    for k in range(1, stages + 1):
        m = max(1, int(round(n * k / stages)))
        out.append((f"top {100 * k // stages}%", layers[n - m :]))
    return out


def independent_groups(layers: list[str], groups: int = STAGES) -> list[tuple[str, list[str]]]:
    """[(label, layers)]: the layers split into contiguous groups, bottom first, each randomised alone."""
    parts = np.array_split(np.arange(len(layers)), groups)
    names = {4: ("bottom", "lower middle", "upper middle", "top")}.get(groups)
    return [
        (names[i] if names else f"group {i + 1}", [layers[j] for j in idx]) for i, idx in enumerate(parts) if len(idx)
    ]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0  # a constant map has no ranking to share
    return float(spearmanr(a, b).statistic)


def _unit_abs(m: np.ndarray) -> np.ndarray:
    a = np.abs(np.asarray(m, np.float64))
    top = a.max()
    return a / top if top > 0 else a


def map_similarity(original: np.ndarray, randomised: np.ndarray) -> dict[str, float]:
    """{"spearman": signed maps, "spearman_abs": |maps|, "ssim": SSIM of |maps| scaled to [0, 1]}."""
    from skimage.metrics import structural_similarity

    return {
        "spearman": _spearman(original, randomised),
        "spearman_abs": _spearman(np.abs(original), np.abs(randomised)),
        "ssim": float(structural_similarity(_unit_abs(original), _unit_abs(randomised), data_range=1.0)),
    }


def _mean(rows: list[dict]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def sanity_checks(
    face_model: FaceModel,
    faces_a,
    faces_b,
    methods,
    *,
    stages: int = STAGES,
    seed: int = 0,
    threshold: float = PASS_THRESHOLD,
    progress=None,
    **map_kwargs,
) -> dict:
    """Cascading and independent randomisation of one model for each method, on the pairs (A_i, B_i).

    faces_a, faces_b: (P, S, S, 3) uint8 model input images (pair_benchmark.model_input_pairs).
    Returns {"layers": n, "stages": [...], "groups": [...], "threshold", "methods": {method:
    {"cascading": [{stage, spearman, spearman_abs, ssim} per stage], "independent": [... per group],
    "passes": bool, "seconds": s}}}."""
    from interpface.analysis.pair_maps import pair_map

    layers = parameter_layers(face_model.module)
    if not layers:
        raise InterpfaceError(f"{face_model.name} has no parameters to randomise")
    cascade, groups = cascading_stages(layers, stages), independent_groups(layers, stages)
    variants = [("cascading", label, ls) for label, ls in cascade] + [
        ("independent", label, ls) for label, ls in groups
    ]
    faces_a, faces_b = np.asarray(faces_a), np.asarray(faces_b)
    methods = tuple(methods)
    t0 = time.perf_counter()
    original = {
        m: [
            pair_map(face_model, a, b, m, seed=seed + i, **map_kwargs).signed
            for i, (a, b) in enumerate(zip(faces_a, faces_b))
        ]
        for m in methods
    }
    sims: dict[str, dict[str, list]] = {m: {"cascading": [], "independent": []} for m in methods}
    for v, (test, label, ls) in enumerate(variants):
        rand = randomised_model(face_model, ls, seed=seed + 1000 + v)
        for m in methods:
            rows = [
                map_similarity(original[m][i], pair_map(rand, a, b, m, seed=seed + i, **map_kwargs).signed)
                for i, (a, b) in enumerate(zip(faces_a, faces_b))
            ]
            sims[m][test].append({"stage": label, "layers": len(ls), **_mean(rows)})
        if progress is not None:
            progress(1)
    out = {}
    for m in methods:
        full = sims[m]["cascading"][-1]
        out[m] = {
            **sims[m],
            "passes": bool(full["spearman_abs"] < threshold and full["ssim"] < threshold),
        }
    return {
        "model": face_model.name,
        "layers": len(layers),
        "stages": [label for label, _ in cascade],
        "groups": [label for label, _ in groups],
        "threshold": threshold,
        "pairs": len(faces_a),
        "seconds": round(time.perf_counter() - t0, 1),
        "methods": out,
    }
