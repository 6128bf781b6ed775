"""Pixel attributions with captum for one embedding dimension or a pair's cosine similarity
(DESIGN §3, beyond the paper).

The target is a small module, :class:`EmbeddingTarget`, mapping an input batch (B, 3, S, S) to one
scalar per image: f_k(x), or cos(f(x), f_ref) for a reference face. Methods:

- "gradcam": ``captum.attr.LayerGradCam`` on the Psi conv (the N^f response maps, G x G), upsampled
  bilinearly to S x S;
- "integrated_gradients": ``captum.attr.IntegratedGradients`` from a constant baseline image, summed
  over the colour channels;
- "occlusion": ``captum.attr.Occlusion`` with a square window over all channels (for sweeps that give
  every dimension at once, and for warped occluders, see :mod:`interpface.analysis.sensitivity`).

All return an (S, S) float32 map in network-input pixels (add center_crop_offset() for crop pixels).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.analysis._common import input_size, to_input
from interpface.errors import InterpfaceError

__all__ = ["ATTRIBUTION_METHODS", "EmbeddingTarget", "pixel_attribution", "attribute"]

ATTRIBUTION_METHODS = ("gradcam", "integrated_gradients", "occlusion")


class EmbeddingTarget(nn.Module):
    """x (B, 3, S, S) -> (B,): f(x)[:, dim], or cos(f(x), reference) when reference (K,) is given.
    Wraps (never modifies) the model; exactly one of dim / reference must be set."""

    def __init__(self, model: nn.Module, dim: int | None = None, reference: torch.Tensor | None = None):
        super().__init__()
        if (dim is None) == (reference is None):
            raise InterpfaceError("give exactly one target: an embedding dimension or a reference embedding")
        self.model = model
        self.dim = None if dim is None else int(dim)
        self.register_buffer(
            "reference", None if reference is None else torch.as_tensor(reference).float().reshape(1, -1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.model(x)
        if self.dim is not None:
            return f[:, self.dim]
        return F.cosine_similarity(f, self.reference.expand_as(f), dim=1)


def _reference(model: nn.Module, reference, size: int):
    if reference is None:
        return None
    arr = reference.detach() if isinstance(reference, torch.Tensor) else np.asarray(reference)
    if arr.ndim == 1:
        return torch.as_tensor(np.asarray(arr), dtype=torch.float32)
    with torch.no_grad():
        return model(to_input(reference, size))[0].float()


def pixel_attribution(
    model: nn.Module,
    image,
    *,
    method: str = "gradcam",
    dim: int | None = None,
    reference=None,
    baseline: float = 0.0,
    steps: int = 32,
    window: int = 12,
    stride: int = 6,
    batch_size: int = 16,
) -> np.ndarray:
    """(S, S) attribution map of one face for one target.

    image: (110, 110, 3) uint8 crop or (3, S, S) tensor in [0, 1]; dim: embedding dimension, or
    reference: a second face (crop / tensor) or its embedding (K,) for the pair's cosine similarity;
    baseline: constant input value for IG and occlusion; steps: IG steps; window / stride: occlusion.
    """
    if method not in ATTRIBUTION_METHODS:
        raise InterpfaceError(f"method must be one of {ATTRIBUTION_METHODS}, got {method!r}")
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion

    size = input_size(model)
    x = to_input(image, size)
    if x.shape[0] != 1:
        raise InterpfaceError("pixel_attribution takes one face")
    k = getattr(getattr(model, "config", None), "num_filters", None)
    if dim is not None and (dim < 0 or (k is not None and dim >= k)):
        raise InterpfaceError(f"dimension {dim} out of range [0, {k})")
    target = EmbeddingTarget(model, dim, _reference(model, reference, size))
    if method == "gradcam":
        layer = getattr(model, "psi", None)
        if not isinstance(layer, nn.Module):
            raise InterpfaceError("gradcam needs a model with a `psi` layer (InterpretableFaceNet)")
        attr = LayerGradCam(target, layer).attribute(x, relu_attributions=False)
        out = LayerAttribution.interpolate(attr, (size, size), interpolate_mode="bilinear")[0, 0]
    elif method == "integrated_gradients":
        attr = IntegratedGradients(target).attribute(
            x, baselines=float(baseline), n_steps=int(steps), internal_batch_size=batch_size
        )
        out = attr[0].sum(dim=0)
    else:
        attr = Occlusion(target).attribute(
            x,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=float(baseline),
            perturbations_per_eval=batch_size,
        )
        out = attr[0, 0]
    return out.detach().float().numpy()


_METHOD_ALIASES = {
    "gradcam": "gradcam",
    "layergradcam": "gradcam",
    "grad-cam": "gradcam",
    "integrated_gradients": "integrated_gradients",
    "integratedgradients": "integrated_gradients",
    "ig": "integrated_gradients",
    "occlusion": "occlusion",
}


def attribute(
    model: nn.Module, crop, *, method: str = "gradcam", dimension: int | None = None, other_crop=None, **kwargs
) -> np.ndarray:
    """Convenience form of :func:`pixel_attribution`: method names as captum spells them
    ("LayerGradCam", "IntegratedGradients", "Occlusion") or ours; `dimension` or `other_crop` (a second
    face for the cosine target). Returns the (S, S) map in network-input pixels."""
    key = _METHOD_ALIASES.get(str(method).replace(" ", "").lower())
    if key is None:
        raise InterpfaceError(
            f"unknown attribution method {method!r}; use LayerGradCam, IntegratedGradients or Occlusion"
        )
    return pixel_attribution(model, crop, method=key, dim=dimension, reference=other_crop, **kwargs)
