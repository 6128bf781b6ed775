"""The face models interpface ships adapters for, each a :class:`FaceModel`
(:mod:`interpface.models.face_model`); :mod:`interpface.models.registry` resolves a model URI to one.

- :class:`InterpretableFaceModel` — our :class:`InterpretableFaceNet`: the central 96x96 window,
  layer "psi_smooth", and the part-filter capabilities.
- :class:`IResNetFaceModel` — insightface's arcface_torch IResNet-18/34/50/100: the standard 5-point
  ArcFace alignment to 112x112, (x - 127.5) / 127.5, layers layer1..layer4; weights from a user's
  state dict (:func:`load_state_dict_file`: safetensors, or ``torch.load(weights_only=True)`` only).
- :class:`DlibPortFaceModel` — the PyTorch port of dlib's ResNet: dlib's 150x150 chip, its stages.
- :class:`SpecFaceModel` — any other ``nn.Module`` through a short JSON spec (module, weights, input
  size, alignment, normalisation, layers).
- ONNX files: :mod:`interpface.models.onnx_model`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from interpface.errors import CheckpointError
from interpface.faces.align import center_crop, center_crop_offset, estimate_similarity
from interpface.models.face_model import PART_FILTERS, REPRESENTATION_MAP, FaceModel

__all__ = [
    "FaceModel",
    "InterpretableFaceModel",
    "IResNet",
    "IResNetFaceModel",
    "DlibPortFaceModel",
    "IRESNET_DEPTHS",
    "ARCFACE_112",
    "ModelFileError",
    "arcface_points",
    "dlib_chip_transform",
    "load_state_dict_file",
    "build_iresnet",
    "SpecFaceModel",
    "warp_chips",
]


class ModelFileError(CheckpointError):
    """A weight file that cannot be used: unreadable, a pickle payload, or keys that do not match."""


class _StageOutputs:
    """layer_outputs for networks whose ``stages(x)`` returns every stage's output by name."""

    def layer_outputs(self, x, layers=None):
        layers = self.check_layers(layers)
        stages = self.module.stages(x)
        return {name: stages[name] for name in layers}


def warp_chips(
    crops: np.ndarray, landmarks: np.ndarray | None, size: int, alignment: str
) -> tuple[np.ndarray, np.ndarray]:
    """Cut (N, size, size, 3) uint8 chips from aligned crops (N, 110, 110, 3) and their (N, 2, 3)
    crop -> chip affine maps. alignment "arcface": the similarity that takes the crop's 5 points to
    the ArcFace 112 frame scaled to `size`; "crop": the whole aligned crop resized to `size`."""
    crops = np.asarray(crops)
    if alignment == "arcface":
        if landmarks is None:
            raise CheckpointError("the ArcFace alignment needs the faces' landmarks")
        ref = ARCFACE_112 * (size / 112.0)
        mats = np.stack([estimate_similarity(p, ref) for p in arcface_points(landmarks)])
    elif alignment == "crop":
        k = size / crops.shape[1]
        mats = np.tile(np.array([[k, 0.0, 0.5 * k - 0.5], [0.0, k, 0.5 * k - 0.5]]), (len(crops), 1, 1))
    else:
        raise CheckpointError(f"alignment must be 'arcface' or 'crop', got {alignment!r}")
    chips = (
        np.stack(
            [
                cv2.warpAffine(c, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                for c, m in zip(crops, mats)
            ]
        )
        if len(crops)
        else np.zeros((0, size, size, 3), np.uint8)
    )
    return chips, mats


# ------------------------------------------------------------------------------------------ ours
class InterpretableFaceModel(FaceModel):
    """Our network: the central window of the crop (no resampling), Psi' as the response layer, and the
    part-filter capabilities (peaks, LMF, the representation map)."""

    layers = ("psi", "psi_smooth")
    default_layer = "psi_smooth"
    capabilities = frozenset({PART_FILTERS, REPRESENTATION_MAP})
    default_precision = "auto"  # bf16 where the CPU has it: half the time, metrics equal within spreads

    def __init__(self, net, name: str = "interpface", info: dict | None = None):
        self.module, self.name, self.info = net.eval(), name, dict(info or {})
        self.dim = int(net.config.num_filters)
        self.input_size = int(net.config.input_size)

    def prepare(self, crops, landmarks=None):
        crops = np.asarray(crops)
        off = center_crop_offset(crops.shape[1], self.input_size)
        shift = np.tile(np.array([[1.0, 0.0, -off], [0.0, 1.0, -off]]), (len(crops), 1, 1))
        x = torch.from_numpy(np.ascontiguousarray(center_crop(crops, self.input_size))).permute(0, 3, 1, 2).float()
        # channels_last: oneDNN's convolutions are markedly faster on it, with the same values
        return x.div_(255.0).contiguous(memory_format=torch.channels_last), shift

    def layer_outputs(self, x, layers=None):
        layers = self.check_layers(layers)
        inter = self.module.forward_intermediates(x)
        return {name: getattr(inter, name) for name in layers}

    def layer_responses(self, crops, landmarks=None, layer=None):
        """psi' (B, K, G, G), f (B, K) and the shared cell centres (G*G, 2) in crop pixels, computed
        like ``forward`` (the hypercolumn is freed as soon as Psi exists, which keeps the batch in cache)."""
        from interpface.models.lmf import gaussian_smooth, large_magnitude_filter

        if (layer or self.default_layer) != "psi_smooth":
            return super().layer_responses(crops, landmarks, layer)
        net, c = self.module, self.module.config
        x, _ = self.prepare(crops)
        _, psi = net._psi(*net._hypercolumn(x))
        lmf = large_magnitude_filter(psi, c.lmf_keep)
        del psi
        smooth = gaussian_smooth(lmf.contiguous(memory_format=torch.channels_last), c.smooth_kernel, c.smooth_sigma)
        return (
            smooth.contiguous(),
            lmf.mean(dim=(2, 3)),
            self._cell_centers(smooth.shape[-1], np.asarray(crops).shape[1]),
        )

    def _cell_centers(self, grid: int, crop_size: int) -> np.ndarray:
        """(G*G, 2) crop pixel (x, y) of every psi cell centre (row-major), the same for every face."""
        stride = self.input_size // grid
        c = np.arange(grid) * stride + (stride - 1) / 2 + center_crop_offset(crop_size, self.input_size)
        xx, yy = np.meshgrid(c, c)
        return np.stack([xx.ravel(), yy.ravel()], axis=-1)

    def filter_features(self, crops, landmarks=None):
        return self.forward(self.prepare(crops)[0]).float()

    def input_net(self):
        return self.module  # it already takes [0, 1] RGB

    def chips(self, crops, landmarks=None):
        return self.prepare(crops)


# -------------------------------------------------------------------------------- ArcFace IResNet
#: IBasicBlocks per stage of arcface_torch's IResNets.
IRESNET_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}
#: The 5 points of the standard ArcFace 112x112 alignment: eye centres (image left, right), nose tip,
#: mouth corners (image left, right).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)


class _IBasicBlock(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus the (projected) input. Parameter
    names follow arcface_torch, so its state dicts load as they are."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """arcface_torch's IResNet: (B, 3, 112, 112) normalised RGB -> (B, 512) embedding."""

    def __init__(self, depth: int = 50, num_features: int = 512):
        super().__init__()
        if depth not in IRESNET_DEPTHS:
            raise CheckpointError(f"no IResNet of depth {depth}; choose from {sorted(IRESNET_DEPTHS)}")
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        cin = 64
        for i, (n, cout) in enumerate(zip(IRESNET_DEPTHS[depth], (64, 128, 256, 512)), start=1):
            self.add_module(
                f"layer{i}",
                nn.Sequential(*[_IBasicBlock(cin if j == 0 else cout, cout, 2 if j == 0 else 1) for j in range(n)]),
            )
            cin = cout
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(512 * 7 * 7, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.prelu(self.bn1(self.conv1(x)))
        out = {}
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            out[f"layer{i}"] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.stages(x)["layer4"])
        return self.features(self.fc(self.dropout(torch.flatten(x, 1))))


def arcface_points(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) dlib landmarks -> (..., 5, 2) ArcFace points (eye centres, nose tip, mouth corners)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.stack(
        [lm[..., 36:42, :].mean(-2), lm[..., 42:48, :].mean(-2), lm[..., 30, :], lm[..., 48, :], lm[..., 54, :]],
        axis=-2,
    )


class IResNetFaceModel(_StageOutputs, FaceModel):
    """An ArcFace IResNet on our faces: each crop re-warped to the 112x112 ArcFace frame by the
    similarity that takes its 5 points to :data:`ARCFACE_112`."""

    input_size = 112
    layers = ("layer1", "layer2", "layer3", "layer4")
    default_layer = "layer3"

    mean = torch.full((1, 3, 1, 1), 0.5)  # (x - 127.5) / 127.5
    std = torch.full((1, 3, 1, 1), 0.5)

    def __init__(self, net: IResNet, name: str | None = None):
        self.module = net.eval().requires_grad_(False)  # inference only (see FaceModel: frozen weights)
        self.name = name or f"iresnet{net.depth}"
        self.dim = int(net.fc.out_features)

    def prepare(self, crops, landmarks):
        chips, mats = warp_chips(crops, landmarks, 112, "arcface")
        return self.normalise(chips), mats

    def forward_with_layers(self, x, layers=None):
        """One pass: the stages, then the head on the last one."""
        layers = self.check_layers(layers)
        stages, net = self.module.stages(x), self.module
        emb = net.features(net.fc(net.dropout(torch.flatten(net.bn2(stages["layer4"]), 1))))
        return emb, {name: stages[name] for name in layers}


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors``, or from ``.pth`` / ``.pt`` through ``torch.load(weights_only=True)``
    — which refuses any pickled object that is not a tensor or a container of tensors, so a payload
    never runs. Unwraps {"state_dict": ...} and DDP's "module." prefix. Raises ModelFileError."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: no such weight file")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(p))
        except Exception as exc:  # noqa: BLE001 - any parse failure is the same user error
            raise ModelFileError(f"{p}: not a readable safetensors file ({str(exc).splitlines()[0][:120]})") from None
    else:
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(
                f"{p}: refused — not a plain state dict of tensors (loaded with weights_only=True, "
                f"so nothing in it ran): {first}"
            ) from None
    if isinstance(state, dict) and len(state) == 1 and next(iter(state)) in ("state_dict", "model"):
        state = next(iter(state.values()))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{p}: expected a state dict (parameter name -> tensor)")
    return {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}


def _load_strict(module: nn.Module, state: dict, source) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:

        def show(keys):
            return ", ".join(keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "") if keys else "none"

        raise ModelFileError(
            f"{source}: keys do not match {type(module).__name__}: missing {show(missing)}; "
            f"unexpected {show(unexpected)}"
        )
    bad = [k for k in expected if tuple(expected[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise ModelFileError(
            f"{source}: {len(bad)} tensor(s) of the wrong shape, e.g. {k}: "
            f"{tuple(state[k].shape)} in the file, {tuple(expected[k].shape)} expected"
        )
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})


def build_iresnet(depth: int, weights: str | os.PathLike | None = None) -> IResNet:
    """An IResNet of that depth, with the weights of a state-dict file (None: random init)."""
    net = IResNet(depth)
    if weights is not None:
        _load_strict(net, load_state_dict_file(weights), weights)
    return net.eval()


# ---------------------------------------------------------------------------------------- dlib
class DlibPortFaceModel(_StageOutputs, FaceModel):
    """The PyTorch port of dlib's ResNet on our faces: dlib's 150x150 chip cut from the aligned crop
    through its landmarks (dlib.get_face_chip's own alignment), its stages as response layers."""

    input_size = 150
    dim = 128
    default_layer = "level2"
    std = torch.full((1, 3, 1, 1), 1.0 / 255.0)  # dlib's network takes raw 0..255 RGB

    def __init__(self, net=None, cache_dir=None):
        from interpface.models.dlib_port import load_dlib_port

        self.module = (net if net is not None else load_dlib_port(cache_dir)).eval().requires_grad_(False)
        self.name = "dlib-resnet (PyTorch port)"
        self.layers = tuple(self.module.STAGES)

    def prepare(self, crops, landmarks):
        from interpface.models.teacher import face_chip

        crops, landmarks = np.asarray(crops), np.asarray(landmarks)
        chips = np.stack([face_chip(crop, lm) for crop, lm in zip(crops, landmarks)])
        x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float()
        return x, np.stack([dlib_chip_transform(lm) for lm in landmarks])


def dlib_chip_transform(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) the similarity crop px -> chip px that dlib.get_face_chip applies for these (68, 2)
    landmarks, from dlib's own chip details (dlib.get_face_chip_details)."""
    import dlib

    from interpface.models.teacher import CHIP_PADDING, CHIP_SIZE, dlib_shape

    det = dlib.get_face_chip_details(dlib_shape(landmarks), CHIP_SIZE, CHIP_PADDING)
    r = det.rect
    # chip corners in the crop: dlib rotates the rectangle by det.angle about its centre
    cx, cy = (r.left() + r.right()) / 2.0, (r.top() + r.bottom()) / 2.0
    w, h = r.right() - r.left(), r.bottom() - r.top()  # drectangle.width() counts one pixel more
    c, s = np.cos(det.angle), np.sin(det.angle)
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    src = corners @ np.array([[c, s], [-s, c]]) + [cx, cy]
    dst = np.array([[0, 0], [CHIP_SIZE - 1, 0], [CHIP_SIZE - 1, CHIP_SIZE - 1], [0, CHIP_SIZE - 1]], np.float64)
    return estimate_similarity(src, dst)


# ---------------------------------------------------------------------------------- spec files
SPEC_KEYS = {"module", "weights", "input_size", "alignment", "mean", "std", "layers", "default_layer", "name"}


class SpecFaceModel(FaceModel):
    """Any ``nn.Module`` described by a JSON spec file (``--model-spec FILE``)::

        {"module": "my_package.nets:build_net",   # a callable returning the nn.Module (your own code)
         "weights": "net.safetensors",             # optional; relative to the spec; .pth: weights_only
         "input_size": 112,                        # square input side S
         "alignment": "arcface",                   # "arcface" (5-point, 112 frame scaled to S) or "crop"
         "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],   # on [0, 1] RGB
         "layers": ["layer3", "layer4"],           # named submodules (named_modules) for heatmaps/peaks
         "default_layer": "layer3", "name": "my net"}

    Checked before any work: the keys, the callable, the weights' keys, the layers' names, and one
    forward of a blank (1, 3, S, S) input (an input size that does not fit fails here)."""

    def __init__(self, path: str | os.PathLike):
        import importlib
        import json

        p = Path(path)
        try:
            spec = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{p}: not a readable JSON model spec ({exc})") from None
        unknown = sorted(set(spec) - SPEC_KEYS)
        missing = [k for k in ("module", "input_size", "layers") if k not in spec]
        if unknown or missing:
            raise CheckpointError(
                f"{p}: model spec with missing keys {missing or 'none'}, unknown keys {unknown or 'none'}"
            )
        mod_name, _, attr = str(spec["module"]).partition(":")
        try:
            factory = getattr(importlib.import_module(mod_name), attr or "build")
        except (ImportError, AttributeError) as exc:
            raise CheckpointError(f"{p}: cannot find {spec['module']!r} ({exc})") from None
        self.module = factory()
        if not isinstance(self.module, nn.Module):
            raise CheckpointError(f"{p}: {spec['module']} returned {type(self.module).__name__}, not an nn.Module")
        if spec.get("weights"):
            w = Path(spec["weights"])
            _load_strict(self.module, load_state_dict_file(w if w.is_absolute() else p.parent / w), w)
        self.module.eval().requires_grad_(False)
        self.name = str(spec.get("name") or p.stem)
        self.input_size = int(spec["input_size"])
        self.alignment = str(spec.get("alignment", "arcface"))
        if self.alignment not in ("arcface", "crop"):
            raise CheckpointError(f"{p}: alignment must be 'arcface' or 'crop', got {self.alignment!r}")
        self.mean = torch.tensor(spec.get("mean", [0.0, 0.0, 0.0]), dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(spec.get("std", [1.0, 1.0, 1.0]), dtype=torch.float32).view(1, 3, 1, 1)
        named = dict(self.module.named_modules())
        self.layers = tuple(spec["layers"])
        absent = [name for name in self.layers if name not in named]
        if absent or not self.layers:
            some = ", ".join(n for n in list(named)[1:8] if n)
            raise CheckpointError(
                f"{p}: no layer {', '.join(absent) or '(none given)'} in {type(self.module).__name__} "
                f"(its modules include {some})"
            )
        self.default_layer = str(spec.get("default_layer", self.layers[0]))
        self.check_layers([self.default_layer])
        self._named = named
        try:
            with torch.inference_mode():
                out = self.module(torch.zeros(1, 3, self.input_size, self.input_size))
        except Exception as exc:  # noqa: BLE001 - any failure here is the spec's fault
            raise CheckpointError(
                f"{p}: one forward of a (1, 3, {self.input_size}, {self.input_size}) input failed: "
                f"{str(exc).splitlines()[0][:160]}"
            ) from None
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            raise CheckpointError(
                f"{p}: the module must return a (B, D) embedding, got "
                f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}"
            )
        self.dim = int(out.shape[1])

    def prepare(self, crops, landmarks):
        chips, mats = warp_chips(crops, landmarks, self.input_size, self.alignment)
        return self.normalise(chips), mats

    def layer_outputs(self, x, layers=None):
        return self.forward_with_layers(x, layers)[1]

    def forward_with_layers(self, x, layers=None):
        """One forward with hooks on the layers' modules: the embedding and their outputs."""
        layers = self.check_layers(layers)
        got: dict[str, torch.Tensor] = {}
        hooks = [
            self._named[name].register_forward_hook(lambda _m, _i, out, name=name: got.__setitem__(name, out))
            for name in layers
        ]
        try:
            emb = self.module(x)
        finally:
            for h in hooks:
                h.remove()
        bad = [n for n in layers if not (isinstance(got.get(n), torch.Tensor) and got[n].dim() == 4)]
        if bad:
            raise CheckpointError(f"{self.name}: layer {bad[0]} does not give a (B, C, h, w) map")
        return emb, {n: got[n] for n in layers}
