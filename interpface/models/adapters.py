"""One interface for any face model: ours, the PyTorch port of dlib's ResNet, insightface's ArcFace
IResNets, so that evaluation (and, next, every analysis) can look inside all of them.

A :class:`FaceModel` takes our aligned faces — crops (N, 110, 110, 3) uint8 and their 68 landmarks
(N, 68, 2) in crop pixels — cuts the model's own input from them (its size, its alignment, its
normalisation), and gives the embedding and the outputs of its named response layers. Each input
comes with the affine map crop pixels -> input pixels, so a location found in a layer (a peak) can be
brought back to the crop and from there into the template.

- :class:`InterpretableFaceModel` — :class:`InterpretableFaceNet`: the central 96x96 window, layer "psi".
- :class:`IResNetFaceModel` — insightface's arcface_torch IResNet-18/34/50/100: the standard 5-point
  ArcFace alignment to 112x112, (x - 127.5) / 127.5, layers layer1..layer4; weights from a user's
  state dict (:func:`load_state_dict_file`: safetensors, or ``torch.load(weights_only=True)`` only).
- :class:`DlibPortFaceModel` — the PyTorch port of dlib's ResNet: dlib's 150x150 chip, its stages.
- :class:`SpecFaceModel` — any other ``nn.Module`` through a short JSON spec (module, weights, input
  size, alignment, normalisation, layers).

:func:`load_face_model` resolves a ``--checkpoint`` value: an interpface checkpoint folder,
``dlib-resnet``, or ``iresnet<depth>:<file>``. :func:`input_space_net` wraps a black-box model as a
module on its own input in [0, 1], which the model-agnostic analyses (pair maps, faithfulness
curves, occlusion sweeps) take unchanged.
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

__all__ = ["FaceModel", "InterpretableFaceModel", "IResNet", "IResNetFaceModel", "DlibPortFaceModel",
           "IRESNET_DEPTHS", "ARCFACE_112", "ModelFileError", "arcface_points", "load_state_dict_file",
           "build_iresnet", "load_face_model", "FaceModelEmbedder", "InputSpaceNet", "input_space_net", "SpecFaceModel", "is_face_model_spec"]


class ModelFileError(CheckpointError):
    """A weight file that cannot be used: unreadable, a pickle payload, or keys that do not match."""


# ------------------------------------------------------------------------------------- interface
class FaceModel:
    """name, dim (embedding size), input_size (S), layers (response layer names), default_layer.

    Subclasses implement :meth:`prepare` (faces -> model input + crop->input maps), :meth:`forward`
    (input -> embedding) and :meth:`layer_outputs` (input -> {layer: (N, C, h, w)})."""

    name: str = "face model"
    dim: int = 0
    input_size: int = 0
    layers: tuple[str, ...] = ()
    default_layer: str = ""
    module: nn.Module

    def prepare(self, crops: np.ndarray, landmarks: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """(N, 3, S, S) float input and (N, 2, 3) affine maps aligned-crop px -> input px."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def layer_outputs(self, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def check_layers(self, layers) -> tuple[str, ...]:
        layers = tuple(layers or (self.default_layer,))
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise CheckpointError(f"{self.name} has no layer {', '.join(unknown)}; its layers: {', '.join(self.layers)}")
        return layers

    @torch.inference_mode()
    def embed(self, crops: np.ndarray, landmarks: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """(N, D) float32 L2-normalised embeddings of aligned faces."""
        out = []
        for i in range(0, len(crops), batch_size):
            x, _ = self.prepare(crops[i:i + batch_size], landmarks[i:i + batch_size])
            out.append(nn.functional.normalize(self.forward(x).float(), dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


class _StageOutputs:
    """layer_outputs for networks whose ``stages(x)`` returns every stage's output by name."""

    def layer_outputs(self, x, layers=None):
        layers = self.check_layers(layers)
        stages = self.module.stages(x)
        return {name: stages[name] for name in layers}


def _uint8_nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


# ------------------------------------------------------------------------------------------ ours
class InterpretableFaceModel(FaceModel):
    """Our network: the central window of the crop (no resampling), Psi' as the response layer."""

    layers = ("psi", "psi_smooth")
    default_layer = "psi_smooth"

    def __init__(self, net, name: str = "interpface"):
        self.module, self.name = net.eval(), name
        self.dim = int(net.config.num_filters)
        self.input_size = int(net.config.input_size)

    def embed(self, crops, landmarks, batch_size: int = 64):
        """The evaluator's own path (embedding.embed_crops: bf16 where the CPU has it), so numbers agree."""
        from interpface.evaluation.embedding import embed_crops

        return embed_crops(self.module, crops, batch_size=batch_size)

    def prepare(self, crops, landmarks):
        from interpface.faces.align import center_crop_offset
        from interpface.analysis._common import to_input

        crops = np.asarray(crops)
        off = center_crop_offset(crops.shape[1], self.input_size)
        shift = np.tile(np.array([[1.0, 0.0, -off], [0.0, 1.0, -off]]), (len(crops), 1, 1))
        return to_input(crops, self.input_size), shift

    def layer_outputs(self, x, layers=None):
        layers = self.check_layers(layers)
        inter = self.module.forward_intermediates(x)
        return {name: getattr(inter, name) for name in layers}


# -------------------------------------------------------------------------------- ArcFace IResNet
#: IBasicBlocks per stage of arcface_torch's IResNets.
IRESNET_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}
#: The 5 points of the standard ArcFace 112x112 alignment: eye centres (image left, right), nose tip,
#: mouth corners (image left, right).
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]])


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
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5))
                           if stride != 1 or cin != cout else None)

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
            self.add_module(f"layer{i}", nn.Sequential(*[_IBasicBlock(cin if j == 0 else cout, cout, 2 if j == 0 else 1)
                                                         for j in range(n)]))
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
    return np.stack([lm[..., 36:42, :].mean(-2), lm[..., 42:48, :].mean(-2), lm[..., 30, :], lm[..., 48, :],
                     lm[..., 54, :]], axis=-2)


class IResNetFaceModel(_StageOutputs, FaceModel):
    """An ArcFace IResNet on our faces: each crop re-warped to the 112x112 ArcFace frame by the
    similarity that takes its 5 points to :data:`ARCFACE_112`."""

    input_size = 112
    layers = ("layer1", "layer2", "layer3", "layer4")
    default_layer = "layer3"

    def __init__(self, net: IResNet, name: str | None = None):
        self.module = net.eval()
        self.name = name or f"iresnet{net.depth}"
        self.dim = int(net.fc.out_features)

    def prepare(self, crops, landmarks):
        from interpface.faces.align import estimate_similarity

        crops = np.asarray(crops)
        mats = np.stack([estimate_similarity(p, ARCFACE_112) for p in arcface_points(landmarks)])
        chips = np.stack([cv2.warpAffine(c, m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                          for c, m in zip(crops, mats)])
        return (_uint8_nchw(chips) - 127.5) / 127.5, mats


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
            raise ModelFileError(f"{p}: refused — not a plain state dict of tensors (loaded with weights_only=True, "
                                 f"so nothing in it ran): {first}") from None
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

        raise ModelFileError(f"{source}: keys do not match {type(module).__name__}: missing {show(missing)}; "
                             f"unexpected {show(unexpected)}")
    bad = [k for k in expected if tuple(expected[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise ModelFileError(f"{source}: {len(bad)} tensor(s) of the wrong shape, e.g. {k}: "
                             f"{tuple(state[k].shape)} in the file, {tuple(expected[k].shape)} expected")
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

    def __init__(self, net=None, cache_dir=None):
        from interpface.models.dlib_port import load_dlib_port

        self.module = (net if net is not None else load_dlib_port(cache_dir)).eval()
        self.name = "dlib-resnet (PyTorch port)"
        self.layers = tuple(self.module.STAGES)

    def prepare(self, crops, landmarks):
        from interpface.models.teacher import face_chip

        crops, landmarks = np.asarray(crops), np.asarray(landmarks)
        chips = np.stack([face_chip(crop, lm) for crop, lm in zip(crops, landmarks)])
        return _uint8_nchw(chips), np.stack([_chip_transform(lm) for lm in landmarks])


def _chip_transform(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) the similarity crop px -> chip px that dlib.get_face_chip applies for these (68, 2)
    landmarks, from dlib's own chip details (dlib.get_face_chip_details)."""
    import dlib

    from interpface.faces.align import estimate_similarity

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
            raise CheckpointError(f"{p}: model spec with missing keys {missing or 'none'}, unknown keys {unknown or 'none'}")
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
        self.module.eval()
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
            raise CheckpointError(f"{p}: no layer {', '.join(absent) or '(none given)'} in {type(self.module).__name__} "
                                  f"(its modules include {some})")
        self.default_layer = str(spec.get("default_layer", self.layers[0]))
        self.check_layers([self.default_layer])
        self._named = named
        try:
            with torch.inference_mode():
                out = self.module(torch.zeros(1, 3, self.input_size, self.input_size))
        except Exception as exc:  # noqa: BLE001 - any failure here is the spec's fault
            raise CheckpointError(f"{p}: one forward of a (1, 3, {self.input_size}, {self.input_size}) input failed: "
                                  f"{str(exc).splitlines()[0][:160]}") from None
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            raise CheckpointError(f"{p}: the module must return a (B, D) embedding, got "
                                  f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
        self.dim = int(out.shape[1])

    def prepare(self, crops, landmarks):
        from interpface.faces.align import estimate_similarity

        crops, s = np.asarray(crops), self.input_size
        if self.alignment == "arcface":
            ref = ARCFACE_112 * (s / 112.0)
            mats = np.stack([estimate_similarity(p, ref) for p in arcface_points(landmarks)])
        else:  # the whole aligned crop, resized to S
            k = s / crops.shape[1]
            mats = np.tile(np.array([[k, 0.0, 0.5 * k - 0.5], [0.0, k, 0.5 * k - 0.5]]), (len(crops), 1, 1))
        chips = np.stack([cv2.warpAffine(c, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                          for c, m in zip(crops, mats)])
        return (_uint8_nchw(chips) / 255.0 - self.mean) / self.std, mats

    def layer_outputs(self, x, layers=None):
        layers = self.check_layers(layers)
        got: dict[str, torch.Tensor] = {}
        hooks = [self._named[name].register_forward_hook(lambda _m, _i, out, name=name: got.__setitem__(name, out))
                 for name in layers]
        try:
            self.module(x)
        finally:
            for h in hooks:
                h.remove()
        bad = [n for n in layers if not (isinstance(got.get(n), torch.Tensor) and got[n].dim() == 4)]
        if bad:
            raise CheckpointError(f"{self.name}: layer {bad[0]} does not give a (B, C, h, w) map")
        return {n: got[n] for n in layers}


# ------------------------------------------------------------------------------------ resolving
def is_face_model_spec(value) -> bool:
    """`dlib-resnet`, `spec:<file>` or `iresnet<depth>:<file>` (else: an interpface checkpoint folder)."""
    text = str(value)
    return text == "dlib-resnet" or text.startswith("spec:") or (text.startswith("iresnet") and ":" in text)


def load_face_model(spec: str | os.PathLike, cache_dir=None) -> FaceModel:
    """``--checkpoint`` value -> FaceModel: an interpface checkpoint folder; ``dlib-resnet``;
    ``iresnet<depth>:<state-dict file>``; ``spec:<model spec JSON>`` (what --model-spec passes)."""
    text = str(spec)
    if text == "dlib-resnet":
        return DlibPortFaceModel(cache_dir=cache_dir)
    if text.startswith("spec:"):
        return SpecFaceModel(text[len("spec:"):])
    if text.startswith("iresnet") and ":" in text:
        head, _, path = text.partition(":")
        try:
            depth = int(head[len("iresnet"):])
        except ValueError:
            raise CheckpointError(f"{text}: expected iresnet<depth>:<file> with depth in {sorted(IRESNET_DEPTHS)}") from None
        if depth not in IRESNET_DEPTHS:
            raise CheckpointError(f"{text}: no IResNet of depth {depth}; choose from {sorted(IRESNET_DEPTHS)}")
        return IResNetFaceModel(build_iresnet(depth, path), name=f"iresnet{depth}:{Path(path).name}")
    from interpface.models.checkpoint import load_model

    net, _ = load_model(text)
    return InterpretableFaceModel(net, name=Path(text).name or text)


class FaceModelEmbedder:
    """Any FaceModel as an evaluation Embedder: the occluder painted on our aligned crop (as for our
    models), then the model's own input cut from it."""

    def __init__(self, model: FaceModel, batch_size: int = 64):
        self.model, self.batch_size = model, batch_size
        self.name, self.dim = model.name, model.dim

    def embed(self, faces, positions: np.ndarray, quads: list) -> np.ndarray:
        from interpface.evaluation.protocols import paint_quads

        rows = faces.rows[positions]
        crops = paint_quads(np.array(faces.crops[rows]), faces.landmarks[rows], quads)
        return self.model.embed(crops, faces.landmarks[rows], self.batch_size)


class InputSpaceNet(nn.Module):
    """A FaceModel as a plain module on its own input in [0, 1] (N, 3, S, S) -> (N, D), with a
    ``config`` (input_size, num_filters), so the model-agnostic analyses (pair maps by occlusion,
    integrated gradients, RISE; occlusion sweeps) run on it unchanged. Maps come out over the
    model's input; FaceModel.prepare's affine maps carry them back to the aligned crop."""

    def __init__(self, model: FaceModel, scale: float, shift: float):
        from types import SimpleNamespace

        super().__init__()
        self.net = model.module
        self.scale, self.shift = float(scale), float(shift)
        self.config = SimpleNamespace(input_size=model.input_size, num_filters=model.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.scale + self.shift)


def input_space_net(model: FaceModel) -> InputSpaceNet:
    """The [0, 1]-input module of an IResNet (2x - 1) or dlib-port (255x) FaceModel."""
    if isinstance(model, IResNetFaceModel):
        return InputSpaceNet(model, 2.0, -1.0)
    if isinstance(model, DlibPortFaceModel):
        return InputSpaceNet(model, 255.0, 0.0)
    if isinstance(model, SpecFaceModel) and torch.allclose(model.std, model.std.flatten()[0]) \
            and torch.allclose(model.mean, model.mean.flatten()[0]):
        sd, mu = float(model.std.flatten()[0]), float(model.mean.flatten()[0])
        return InputSpaceNet(model, 1.0 / sd, -mu / sd)
    raise CheckpointError(f"{model.name}: already takes [0, 1] input (use its network directly)")
