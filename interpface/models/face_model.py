"""The one interface every face model goes through: :class:`FaceModel`.

A FaceModel takes our aligned faces — crops (N, 110, 110, 3) uint8 and their 68 landmarks (N, 68, 2)
in crop pixels — cuts its own input from them (its size, its alignment, its normalisation), and gives
the embedding and the outputs of its named response layers. Each input comes with the affine map crop
pixels -> input pixels, so a location found in a layer (a peak) can be brought back to the crop.

Evaluation, analyses, figures, the CLI and the dashboard take a FaceModel, whatever is inside it (our
network, dlib's port, an IResNet, an ONNX graph, a user's module). What only some models can do is a
*capability* a caller asks for (:meth:`FaceModel.has`), never a type check:

- :data:`PART_FILTERS` — part-based filters with LMF and the psi response maps (our network): peaks,
  filter heatmaps, the paper's analyses on filters. ``model.part_filters`` gives that network.
- :data:`REPRESENTATION_MAP` — the one-forward pair map read from the representation.

Everything else (occlusion probes, pair maps by perturbation or gradients, faithfulness, evaluation)
works on every model through :meth:`FaceModel.embed`, :meth:`FaceModel.layer_outputs` and
:meth:`FaceModel.input_net`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from interpface.errors import CheckpointError, ConfigError

__all__ = [
    "FaceModel",
    "CapabilityError",
    "PART_FILTERS",
    "REPRESENTATION_MAP",
    "PRECISIONS",
    "resolve_precision",
    "inference_dtype",
    "InputSpaceNet",
    "l2_normalize",
]

PART_FILTERS = "part_filters"
REPRESENTATION_MAP = "representation_map"
#: Embedding precisions: "auto" is bf16 autocast on CPUs with native bf16 (else fp32).
PRECISIONS = ("auto", "fp32", "bf16")


class CapabilityError(CheckpointError):
    """The model cannot do what was asked (e.g. part-filter peaks of a black-box model)."""


@functools.lru_cache(maxsize=1)
def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def inference_dtype(device_type: str = "cpu") -> torch.dtype:
    """bf16 autocast on CPUs with native bf16 (AVX512-BF16 / AMX), else fp32; INTERPFACE_EVAL_BF16=0/1
    forces it off/on. On such a CPU bf16 halves the time of embedding LFW DevTest with our network, and
    its embeddings keep a cosine >= 0.998 to fp32 (LMF's top-k selection occasionally flips), with
    verification metrics equal within their spreads. GPUs and other CPUs: fp32."""
    env = os.environ.get("INTERPFACE_EVAL_BF16")
    if env in ("0", "1"):
        return torch.bfloat16 if env == "1" else torch.float32
    if device_type == "cpu" and _cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def resolve_precision(precision: str, device_type: str = "cpu") -> torch.dtype:
    """ "fp32" | "bf16" | "auto" -> the autocast dtype (float32 = no autocast)."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto":
        return inference_dtype(device_type)
    raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of x (N, D) scaled to unit length (all-zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


class FaceModel:
    """name, dim (embedding size), input_size (S), layers (response layer names), default_layer,
    module (the nn.Module that maps the prepared input to the embedding), capabilities.

    Subclasses implement :meth:`prepare` and :meth:`layer_outputs`; :meth:`forward` runs the module.
    A FaceModel is for inference and explanation: the analyses differentiate with respect to the input
    only, so the adapters of other models and the registry freeze the module's weights
    (``requires_grad_(False)``). That spares every backward pass the weight gradients, and oneDNN's
    1x1-convolution weight-gradient kernel crashes on some AVX-512 CPUs (torch 2.13). Our own network
    wrapped by hand (``InterpretableFaceModel(net)``) is left as it is: it may be the one in training.
    ``mean`` / ``std`` (1, 3, 1, 1) on [0, 1] RGB and ``channel_order`` describe the normalisation
    :meth:`prepare` applies, which :meth:`input_net` undoes for analyses that perturb pixels."""

    name: str = "face model"
    dim: int = 0
    input_size: int = 0
    layers: tuple[str, ...] = ()
    default_layer: str = ""
    module: nn.Module
    capabilities: frozenset[str] = frozenset()
    #: precision of :meth:`embed` when none is given ("fp32" keeps a black box's numbers as its runtime's)
    default_precision: str = "fp32"
    mean: torch.Tensor = torch.zeros(1, 3, 1, 1)
    std: torch.Tensor = torch.ones(1, 3, 1, 1)
    channel_order: str = "rgb"

    # ------------------------------------------------------------------ what subclasses provide
    def prepare(self, crops: np.ndarray, landmarks: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """(N, 3, S, S) float input and (N, 2, 3) affine maps aligned-crop px -> input px."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) prepared input -> (N, D) raw (not normalised) embedding."""
        return self.module(x)

    def layer_outputs(self, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        """{layer: (N, C, h, w)} for the prepared input x."""
        raise NotImplementedError

    def forward_with_layers(self, x: torch.Tensor, layers) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(N, D) raw embedding and {layer: (N, C, h, w)}; subclasses that can do both in one pass do."""
        return self.forward(x), self.layer_outputs(x, layers)

    # ------------------------------------------------------------------------- capabilities
    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def require(self, capability: str, what: str) -> None:
        if capability not in self.capabilities:
            raise CapabilityError(f"{what} needs {capability.replace('_', ' ')}, which {self.name} does not have")

    @property
    def part_filters(self) -> nn.Module:
        """Our InterpretableFaceNet, for the analyses of part filters (PART_FILTERS only)."""
        self.require(PART_FILTERS, "this analysis")
        return self.module

    def check_layers(self, layers) -> tuple[str, ...]:
        layers = tuple(layers or (self.default_layer,))
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise CheckpointError(
                f"{self.name} has no layer {', '.join(unknown)}; its layers: {', '.join(self.layers)}"
            )
        return layers

    # ------------------------------------------------------------------------------ shared
    def normalise(self, chips: np.ndarray) -> torch.Tensor:
        """(N, S, S, 3) uint8 RGB chips -> (N, 3, S, S) model input: channel order, then (x/255 - mean) / std."""
        x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float().div_(255.0)
        if self.channel_order == "bgr":
            x = x.flip(1)
        return (x - self.mean) / self.std

    def embed(
        self,
        crops: np.ndarray,
        landmarks: np.ndarray | None,
        *,
        batch_size: int = 64,
        precision: str | None = None,
        flip: bool = False,
    ) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings of aligned faces; the one embedding path.

        precision: "fp32", "bf16" or "auto" (None: the model's default_precision); flip: average the
        embeddings of the input and its mirror image (a test-time augmentation)."""
        crops = np.asarray(crops)
        dtype = resolve_precision(precision or self.default_precision)
        out = np.zeros((len(crops), self.dim), np.float32)
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            for start in range(0, len(crops), batch_size):
                sl = slice(start, start + batch_size)
                x, _ = self.prepare(crops[sl], None if landmarks is None else np.asarray(landmarks)[sl])
                f = self.forward(x).float()
                if flip:
                    f = f + self.forward(torch.flip(x, dims=[3])).float()
                out[sl] = f.numpy()
        return l2_normalize(out)

    def layer_responses(
        self, crops: np.ndarray, landmarks: np.ndarray, layer: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """(maps (B, C, h, w), pooled (B, C) spatial means, cell centres (B, h*w, 2) in crop pixels)
        of one response layer (default: the model's default layer)."""
        from interpface.faces.align import apply_affine, invert_affine

        layer = self.check_layers([layer] if layer else None)[0]
        x, mats = self.prepare(crops, landmarks)
        maps = self.layer_outputs(x, [layer])[layer].float()
        h, w = maps.shape[-2:]
        # centre of cell (i, j) in input pixels (pixel centres at integers)
        ys = (np.arange(h) + 0.5) * x.shape[-2] / h - 0.5
        xs = (np.arange(w) + 0.5) * x.shape[-1] / w - 0.5
        xx, yy = np.meshgrid(xs, ys)
        cells = np.stack([xx.ravel(), yy.ravel()], axis=-1)
        centers = np.stack([apply_affine(invert_affine(m), cells) for m in mats])
        return maps, maps.mean(dim=(2, 3)), centers

    def filter_features(self, crops: np.ndarray, landmarks: np.ndarray) -> torch.Tensor:
        """(B, C) the per-filter features the analyses compare under occlusion: the spatial means of
        the default layer's channels (our network: its representation f, which is exactly that)."""
        return self.layer_responses(crops, landmarks)[1]

    def input_net(self) -> nn.Module:
        """The model as a module on its own input in [0, 1] RGB (N, 3, S, S) -> (N, D), with a
        ``config`` (input_size, num_filters), for the model-agnostic analyses that perturb pixels
        (pair maps, faithfulness curves, occlusion sweeps). Maps over this input go back to the crop
        through :meth:`prepare`'s affine maps."""
        return InputSpaceNet(self)

    def chips(self, crops: np.ndarray, landmarks: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """The model's input in [0, 1] RGB (N, 3, S, S) — what :meth:`input_net` takes — and the maps."""
        x, mats = self.prepare(crops, landmarks)
        x = x * self.std + self.mean
        return (x.flip(1) if self.channel_order == "bgr" else x).clamp(0, 1), mats

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, dim={self.dim}, input={self.input_size})"


class InputSpaceNet(nn.Module):
    """A FaceModel as a plain module on its own input in [0, 1] RGB (N, 3, S, S) -> (N, D), with a
    ``config`` (input_size, num_filters), so the pixel-perturbing analyses run on it unchanged."""

    def __init__(self, model: FaceModel):
        from types import SimpleNamespace

        super().__init__()
        self.net = model.module
        self.register_buffer("mean", model.mean.clone().float(), persistent=False)
        self.register_buffer("std", model.std.clone().float(), persistent=False)
        self.bgr = model.channel_order == "bgr"
        self.config = SimpleNamespace(input_size=model.input_size, num_filters=model.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bgr:
            x = x.flip(1)
        return self.net((x - self.mean) / self.std)
