"""The interpretable face network of Yin et al. (ICCV 2019), paper Table 1.

    image (B,3,96,96) in [0,1]
      -> CASIA-Net-style backbone: conv11 .. conv33 (24x24x192) .. conv43 (12x12x256) .. conv53 (6x6x320)
      -> hypercolumn parts: conv33; conv44 = 1x1(up(conv43)); conv54 = 1x1(up(conv53)), each 24x24x192
      -> Phi = concat (24x24x576) [-> optional 3x3 conv 576->576, Table 1's "Phi (HC)" row]
      -> Psi = 3x3 conv -> N^f response maps (24x24xN^f), signed (no activation)
      -> LMF (keep the 24 largest |values| per map) -> global average pool -> f (N^f)
      [-> optional linear classifier, shared by the clean and occluded branches in training]
      [-> optional linear teacher projection (distillation), training only]

Every conv except Psi is followed by BatchNorm + activation (the authors' code: BN + ELU).
Channel counts of the backbone and the hypercolumn parts scale with `ModelConfig.width`; N^f, the
24x24 grid and the LMF count never do, so the analyses of every config are comparable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from interpface.errors import ConfigError
from interpface.models.lmf import gaussian_smooth, large_magnitude_filter

__all__ = [
    "ModelConfig",
    "MODEL_CONFIGS",
    "get_model_config",
    "Intermediates",
    "InterpretableFaceNet",
    "count_parameters",
    "count_flops",
]

_ACTIVATIONS = ("elu", "relu")
# Numerical floor of the channel-wise L2 normalisation of the hypercolumn parts (all-zero vectors
# stay zero instead of producing NaN).
_L2_EPS = 1e-6


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network; saved next to the weights in every checkpoint.

    The defaults are Table 1 of the paper (the "paper" entry of MODEL_CONFIGS).
    """

    width: float = 1.0  # multiplier on every backbone and hypercolumn-part channel count
    num_filters: int = 320  # N^f: response maps in Psi = dimension of f
    input_size: int = 96  # square input side; the response grid is input_size // 4
    activation: str = "elu"  # "elu" (authors' code) or "relu"
    phi_conv: bool = True  # Table 1's 3x3 576->576 conv on Phi (~47% of forward FLOPs; not in the code)
    psi_batchnorm: bool = False  # BN (no activation) on Psi, as in the authors' code; keeps signs
    l2_normalize_parts: bool = True  # L2-normalise conv33/44/54 over channels before concat (code)
    hc_channels: int = 192  # channels of each hypercolumn part at width 1
    lmf_keep: int = 24  # positions kept per response map by LMF (of grid_size**2 = 576)
    smooth_kernel: int = 3  # side of the Gaussian g_sigma used for psi' (odd)
    # sigma = 1.5 reproduces the authors' fixed 3x3 kernel (0.0947 / 0.1183 / 0.1478) to 6 digits.
    smooth_sigma: float = 1.5
    num_classes: int = 0  # identities of the softmax classifier; 0 = no classifier
    # Training head for distillation: a linear map of f to the teacher's descriptor space; 0 = none.
    teacher_dim: int = 0

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"ModelConfig: {msg}")

        for name in ("phi_conv", "psi_batchnorm", "l2_normalize_parts"):
            need(isinstance(getattr(self, name), bool), f"{name} must be true/false")
        for name in (
            "num_filters",
            "input_size",
            "hc_channels",
            "lmf_keep",
            "smooth_kernel",
            "num_classes",
            "teacher_dim",
        ):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool), f"{name} must be an integer, got {v!r}")
        for name in ("width", "smooth_sigma"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and not isinstance(v, bool), f"{name} must be a number")
            setattr(self, name, float(v))
        need(self.width > 0, f"width must be > 0, got {self.width}")
        need(self.activation in _ACTIVATIONS, f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        need(self.num_filters >= 1, "num_filters must be >= 1")
        need(self.hc_channels >= 1, "hc_channels must be >= 1")
        need(
            self.input_size >= 16 and self.input_size % 16 == 0,
            f"input_size must be a multiple of 16, got {self.input_size}",
        )
        cells = self.grid_size**2
        need(1 <= self.lmf_keep <= cells, f"lmf_keep must be in [1, {cells}], got {self.lmf_keep}")
        need(self.smooth_kernel >= 1 and self.smooth_kernel % 2 == 1, "smooth_kernel must be a positive odd integer")
        need(self.smooth_sigma > 0, "smooth_sigma must be > 0")
        need(self.num_classes >= 0, "num_classes must be >= 0")
        need(self.teacher_dim >= 0, "teacher_dim must be >= 0")

    @property
    def grid_size(self) -> int:
        """Side of the response maps psi (24 for 96x96 input)."""
        return self.input_size // 4

    def channels(self, base: int) -> int:
        """A Table-1 channel count scaled by `width` (at least 1)."""
        return max(1, int(round(base * self.width)))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of to_dict. Unknown keys raise ConfigError (a typo must not silently fall back to a
        default); missing keys take the defaults."""
        if not isinstance(d, dict):
            raise ConfigError(f"ModelConfig: expected a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"ModelConfig: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with some fields changed (validated like from_dict)."""
        return ModelConfig.from_dict({**self.to_dict(), **overrides})


# Named configurations. Cost per 96x96 image, without classifier (forward FLOPs with an FMA counted as
# 2, from torch.utils.flop_counter, i.e. convs and matmuls only):
#   paper   7.62 M params, 7.35 GFLOP  (Table 1 exactly; the paper says 7.9 M, see below)
#   authors 4.63 M params, 3.91 GFLOP  (the released TF code: no 576->576 conv, BN on Psi)
#   cpu     1.57 M params, 1.46 GFLOP
#   tiny    0.07 M params, 0.06 GFLOP  (tests only)
# Table 1's layers give 7.62 M weights (+BN) and exactly the paper's 7.35 GFLOP; the 0.3 M gap to the
# quoted 7.9 M is not explained by Table 1 (biases and BN add < 0.02 M).
# Training throughput measured on the 2-core dev machine (another job sharing it), bf16 autocast +
# channels_last, batch 64 clean + 64 occluded images, all five losses, Adam step:
#   cpu: ~1.9 s/step = ~34 pairs/s = ~67 img/s; paper: ~4 pairs/s = ~8 img/s (batch 32).
MODEL_CONFIGS: dict[str, ModelConfig] = {
    "paper": ModelConfig(width=1.0, phi_conv=True),
    "authors": ModelConfig(width=1.0, phi_conv=False, psi_batchnorm=True),
    # Half-width backbone, no 576->576 conv; keeps N^f = 320, the 24x24 grid and LMF 24, so its
    # analyses compare 1:1 with the paper's. (width 0.375 measured no faster on oneDNN; 0.25 was
    # ~1.7x faster but leaves a 48-channel conv33.)
    "cpu": ModelConfig(width=0.5, phi_conv=False),
    "tiny": ModelConfig(width=0.125, num_filters=32, phi_conv=False),
}


def get_model_config(name: str, **overrides: Any) -> ModelConfig:
    """A fresh copy of a named config with optional field overrides (ConfigError on unknown name/key)."""
    if name not in MODEL_CONFIGS:
        raise ConfigError(f"unknown model config {name!r}; choose one of {sorted(MODEL_CONFIGS)}")
    return MODEL_CONFIGS[name].replace(**overrides)


class Intermediates(NamedTuple):
    """Everything the analyses need from one forward pass (no hooks). G = grid size (24)."""

    conv33: torch.Tensor  # (B, hc, G, G) hypercolumn part 1 as it enters Phi (L2-normalised if enabled)
    conv44: torch.Tensor  # (B, hc, G, G) part 2: 1x1 conv of upsampled conv43
    conv54: torch.Tensor  # (B, hc, G, G) part 3: 1x1 conv of upsampled conv53
    phi: torch.Tensor  # (B, 3*hc, G, G) the input of Psi (after the 576->576 conv when enabled)
    psi: torch.Tensor  # (B, N^f, G, G) signed response maps
    psi_lmf: torch.Tensor  # (B, N^f, G, G) LMF(psi): lmf_keep nonzeros per map
    psi_smooth: torch.Tensor  # (B, N^f, G, G) psi' = g_sigma * LMF(psi) (SAD response loss, peaks)
    f: torch.Tensor  # (B, N^f) representation = spatial mean of psi_lmf


def _l2_normalize_channels(x: torch.Tensor) -> torch.Tensor:
    """x / max(||x||_2 over channels, eps), (B, C, H, W) -> same. Like F.normalize, but the norm is
    taken in float32 and the result keeps x's dtype (bf16 under autocast: no float32 copy of the
    activation, which on CPU made this cost as much as a conv)."""
    inv = x.float().square().sum(dim=1, keepdim=True).clamp_min(_L2_EPS * _L2_EPS).rsqrt()
    return x * inv.to(x.dtype)


class _ConvBNAct(nn.Module):
    """conv (no bias: BN's shift replaces it) -> BatchNorm -> activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, activation: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ELU() if activation == "elu" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class InterpretableFaceNet(nn.Module):
    """Table-1 network. Input: float RGB (B, 3, S, S) with values in [0, 1] (S = config.input_size,
    any multiple of 16 works); it is mapped to [-1, 1] inside (x - 0.5) * 2, the authors' range, so
    callers never normalise. Output of forward: f (B, N^f)."""

    # (name, Table-1 output channels, stride); input channels follow the chain.
    _BACKBONE = (
        ("conv11", 32, 1), ("conv12", 64, 1),
        ("conv21", 64, 2), ("conv22", 64, 1), ("conv23", 128, 1),
        ("conv31", 128, 2), ("conv32", 96, 1), ("conv33", 192, 1),
        ("conv41", 192, 2), ("conv42", 128, 1), ("conv43", 256, 1),
        ("conv51", 256, 2), ("conv52", 160, 1), ("conv53", 320, 1),
    )  # fmt: skip

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        cin = 3
        for name, cout, stride in self._BACKBONE:
            cout = c.channels(cout)
            setattr(self, name, _ConvBNAct(cin, cout, 3, stride, c.activation))
            cin = cout
        hc = c.channels(c.hc_channels)
        self.conv44 = _ConvBNAct(c.channels(256), hc, 1, 1, c.activation)
        self.conv54 = _ConvBNAct(c.channels(320), hc, 1, 1, c.activation)
        self.phi_conv = _ConvBNAct(3 * hc, 3 * hc, 3, 1, c.activation) if c.phi_conv else None
        # Psi keeps its bias and has no activation: responses must stay signed (positive and negative
        # peaks are both analysed); LMF selects by magnitude.
        self.psi = nn.Conv2d(3 * hc, c.num_filters, 3, padding=1, bias=True)
        self.psi_bn = nn.BatchNorm2d(c.num_filters) if c.psi_batchnorm else None
        self.classifier = nn.Linear(c.num_filters, c.num_classes, bias=False) if c.num_classes > 0 else None
        # Distillation head (training only, like the classifier): f -> the teacher's descriptor space.
        self.teacher_projection = nn.Linear(c.num_filters, c.teacher_dim, bias=False) if c.teacher_dim > 0 else None
        self.reset_parameters()

    # -- construction ------------------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """Truncated normal (std 0.02, cut at 2 std as TF does) for conv/linear weights, zero biases,
        BN gamma 1 / beta 0 (paper §3.4)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def grid_size(self) -> int:
        """Side of the response maps (24 for 96x96 input)."""
        return self.config.grid_size

    @property
    def num_filters(self) -> int:
        return self.config.num_filters

    @property
    def psi_weight(self) -> torch.Tensor:
        """The Psi filters F, (N^f, 3*hc, 3, 3): the argument of the SAD filter loss (Eq. 1)."""
        return self.psi.weight

    # -- forward -----------------------------------------------------------------------------------
    def _hypercolumn(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = (x - 0.5) * 2.0
        for name in ("conv11", "conv12", "conv21", "conv22", "conv23", "conv31", "conv32", "conv33"):
            x = getattr(self, name)(x)
        c33 = x
        for name in ("conv41", "conv42", "conv43"):
            x = getattr(self, name)(x)
        c43 = x
        for name in ("conv51", "conv52", "conv53"):
            x = getattr(self, name)(x)
        c53 = x
        size = c33.shape[-2:]
        # Table-1 order: upsample, then 1x1 conv (bilinear, like TF's resize_images default).
        c44 = self.conv44(F.interpolate(c43, size=size, mode="bilinear", align_corners=False))
        c54 = self.conv54(F.interpolate(c53, size=size, mode="bilinear", align_corners=False))
        if self.config.l2_normalize_parts:
            # The three parts have very different scales; equalising them lets each contribute.
            c33, c44, c54 = (_l2_normalize_channels(p) for p in (c33, c44, c54))
        return c33, c44, c54

    def _psi(self, c33: torch.Tensor, c44: torch.Tensor, c54: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = torch.cat([c33, c44, c54], dim=1)
        if self.phi_conv is not None:
            phi = self.phi_conv(phi)
        psi = self.psi(phi)
        if self.psi_bn is not None:
            psi = self.psi_bn(psi)
        return phi, psi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, S, S) in [0, 1] -> f: (B, N^f)."""
        _, psi = self._psi(*self._hypercolumn(x))
        return large_magnitude_filter(psi, self.config.lmf_keep).mean(dim=(2, 3))

    def forward_intermediates(self, x: torch.Tensor) -> Intermediates:
        """Same computation as forward, returning every stage (see Intermediates for shapes)."""
        c33, c44, c54 = self._hypercolumn(x)
        phi, psi = self._psi(c33, c44, c54)
        psi_lmf = large_magnitude_filter(psi, self.config.lmf_keep)
        psi_smooth = gaussian_smooth(psi_lmf, self.config.smooth_kernel, self.config.smooth_sigma)
        f = psi_lmf.mean(dim=(2, 3))
        return Intermediates(c33, c44, c54, phi, psi, psi_lmf, psi_smooth, f)

    def logits(self, f: torch.Tensor) -> torch.Tensor:
        """f: (B, N^f) -> identity logits (B, num_classes)."""
        if self.classifier is None:
            raise ConfigError("this model has no classifier (num_classes = 0)")
        return self.classifier(f)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: InterpretableFaceNet, batch: int = 1) -> int:
    """Forward FLOPs of `model` for `batch` images (FMA = 2 FLOPs; convs and matmuls only: BN, ELU,
    interpolation and LMF are not counted by torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    s = model.config.input_size
    x = torch.rand(batch, 3, s, s)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
