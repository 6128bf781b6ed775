"""ONNX face models: any exported face-recognition graph (insightface's, a user's own) as a
:class:`FaceModel`, with gradients, hooks and response layers like our own networks.

:func:`load_onnx_face_model` reads ``NAME.onnx`` safely (:func:`read_onnx`), takes its
preprocessing from an optional ``NAME.json`` sidecar (:func:`read_sidecar`), converts the graph into
an ``nn.Module`` (:class:`~interpface.models.onnx_graph.OnnxGraphModule`) and refuses it unless the
module gives onnxruntime's embedding on a few deterministic random inputs. Every problem is one
:class:`CheckpointError` line: not ONNX or truncated, over the size cap, external data outside the
model's folder, an unsupported operator, no 2-D output, a bad sidecar, a mismatch with onnxruntime.

The sidecar (every key optional; without one, insightface's conventions: 112 px, ArcFace
alignment, RGB, mean 0.5, std 0.5)::

    {"input_size": 112,                 # square side S; default: the graph's, when static
     "alignment": "arcface",            # "arcface" (5 points, the 112 frame scaled to S) or "crop"
     "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],   # on [0, 1], in the order the graph sees
     "channel_order": "rgb",            # or "bgr"
     "layers": ["/layer3/Add_output_0"],  # graph value names of 4-D feature maps
     "default_layer": "/layer3/Add_output_0", "name": "my model"}

A graph that normalises its input itself takes mean 0, std 1 (it then sees [0, 1] pixels). Without
``layers``, every 4-D feature map the graph computes is a response layer (found by one forward of a
blank input), and the default layer is the last one with at least 7x7 positions.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import onnx
import torch

from interpface.errors import CheckpointError
from interpface.models.adapters import warp_chips
from interpface.models.face_model import FaceModel
from interpface.models.onnx_graph import OnnxGraphModule, check_supported

__all__ = [
    "OnnxFaceModel",
    "load_onnx_face_model",
    "read_onnx",
    "read_sidecar",
    "onnxruntime_session",
    "MAX_BYTES",
    "TOLERANCE",
    "QDQ_TOLERANCE",
    "SIDECAR_KEYS",
]

#: default size cap of a model, its external data included
MAX_BYTES = 1 << 30
SIDECAR_KEYS = frozenset({"input_size", "alignment", "mean", "std", "channel_order", "layers", "default_layer", "name"})
INSIGHTFACE = {"input_size": 112, "alignment": "arcface", "mean": [0.5] * 3, "std": [0.5] * 3, "channel_order": "rgb"}
#: The converted module must give onnxruntime's embedding within TOLERANCE x max(1, max |embedding|):
#: float32 kernels that sum in another order differ by ~1e-6 relative; a wrong operator by far more.
TOLERANCE = 1e-4
#: The same for graphs that quantise activations (QuantizeLinear on a run-time value). There a value
#: within float rounding (~1e-7) of a rounding midpoint may land on the neighbouring integer in one
#: runtime and not in the other: that activation differs by one quantisation step, and later layers
#: pass it on. The bound is two steps of an int8-quantised embedding (2/127 of its range, rounded
#: up); measured on the tests' int8 networks (60 random inputs): at most one step (4.5e-3), at a few
#: entries. It still catches a wrong scale, zero point or axis; a subtler error (say, rounding
#: down instead of half to even: 3.6e-2 there) is the operator tests' to catch.
QDQ_TOLERANCE = 2e-2
#: random inputs of the load-time check
CHECK_INPUTS = 3


# ------------------------------------------------------------------------------------- reading
def _external_files(model: onnx.ModelProto, folder: Path) -> set[Path]:
    """The files the model's external tensors live in, each checked (before anything is read) to
    resolve inside the model's folder: no absolute path, no '..' and no symlink that leads out."""
    root = folder.resolve()
    files = set()
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if not location or os.path.isabs(location):
            raise CheckpointError(
                f"tensor {tensor.name!r}: external data location {location!r} is not a path "
                f"relative to the model's folder"
            )
        target = (root / location).resolve()
        if not target.is_relative_to(root):
            raise CheckpointError(
                f"tensor {tensor.name!r}: external data {location!r} resolves outside the model's folder; refused"
            )
        if not target.is_file():
            raise CheckpointError(f"tensor {tensor.name!r}: external data file {location!r} is missing")
        files.add(target)
    return files


def _tensors(graph: onnx.GraphProto):
    """Every tensor stored in a graph: initializers, sparse initializers, node attributes, subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                yield from _tensors(sub)


def read_onnx(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> onnx.ModelProto:
    """The model of an ONNX file, its external data loaded, its stale inputs dropped.

    Refused (CheckpointError) before reading: a file, or a file plus its external data, over
    max_bytes; external data that resolves outside the model's folder. Graph inputs that are also
    initializers (left by old exporters) are dropped, so the graph has one real input and
    onnxruntime does not take its weights for overridable inputs."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such ONNX file")
    size = p.stat().st_size
    if size > max_bytes:
        raise CheckpointError(f"{p}: {size:,} bytes, over the {max_bytes:,}-byte cap for a model")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's errors vary; all mean the same to the user
        text = str(exc).strip().splitlines()
        raise CheckpointError(
            f"{p}: not a readable ONNX file ({text[0][:120] if text else type(exc).__name__})"
        ) from None
    try:
        files = _external_files(model, p.parent)
    except CheckpointError as exc:
        raise CheckpointError(f"{p}: {exc}") from None
    total = size + sum(f.stat().st_size for f in files)
    if total > max_bytes:
        raise CheckpointError(f"{p}: {total:,} bytes with its external data, over the {max_bytes:,}-byte cap")
    if files:
        onnx.load_external_data_for_model(model, str(p.parent))
    weights = {t.name for t in model.graph.initializer}
    if any(i.name in weights for i in model.graph.input):
        real = [i for i in model.graph.input if i.name not in weights]
        del model.graph.input[:]
        model.graph.input.extend(real)
        model.ir_version = max(model.ir_version, 4)  # IR < 4 required initializers among the inputs
    return model


def onnxruntime_session(model: onnx.ModelProto, optimize: bool = True, threads: int | None = None):
    """An onnxruntime CPU session of the (cleaned) model. optimize=False runs every node as the
    graph defines it (no fusions), which is what the load-time check compares against; threads:
    intra-op threads (None: onnxruntime's default, every core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def read_sidecar(path: str | os.PathLike) -> dict:
    """The checked keys of the NAME.json beside NAME.onnx ({} when there is none)."""
    side = Path(path).with_suffix(".json")
    if not side.exists():
        return {}
    try:
        spec = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{side}: not a readable JSON sidecar ({str(exc).splitlines()[0]})") from None
    if not isinstance(spec, dict):
        raise CheckpointError(f"{side}: the sidecar must be a JSON object")
    unknown = sorted(set(spec) - SIDECAR_KEYS)
    if unknown:
        raise CheckpointError(f"{side}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(SIDECAR_KEYS))}")

    def bad(key: str, want: str) -> CheckpointError:
        return CheckpointError(f"{side}: {key} must be {want}, got {spec[key]!r}")

    def is_number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if "input_size" in spec and not (
        isinstance(spec["input_size"], int) and not isinstance(spec["input_size"], bool) and spec["input_size"] >= 8
    ):
        raise bad("input_size", "an integer >= 8")
    for key, choices in (("alignment", ("arcface", "crop")), ("channel_order", ("rgb", "bgr"))):
        if key in spec and spec[key] not in choices:
            raise bad(key, " or ".join(repr(c) for c in choices))
    for key in ("mean", "std"):
        v = spec.get(key)
        if key in spec and not (
            isinstance(v, list)
            and len(v) == 3
            and all(is_number(e) for e in v)
            and (key == "mean" or all(e > 0 for e in v))
        ):
            raise bad(key, "a list of 3 numbers" + (" > 0" if key == "std" else ""))
    if "layers" in spec and not (
        isinstance(spec["layers"], list) and spec["layers"] and all(isinstance(e, str) and e for e in spec["layers"])
    ):
        raise bad("layers", "a non-empty list of graph value names")
    for key in ("default_layer", "name"):
        if key in spec and not (isinstance(spec[key], str) and spec[key]):
            raise bad(key, "a non-empty string")
    return spec


# ---------------------------------------------------------------------------------- the model
class OnnxFaceModel(FaceModel):
    """An ONNX graph as a FaceModel. ``module`` is the converted graph (an OnnxGraphModule returning
    the (N, D) embedding); ``layers`` are graph value names of 4-D feature maps; ``mean``, ``std``
    (1, 3, 1, 1) and ``channel_order`` are the preprocessing :meth:`prepare` applies."""

    def __init__(
        self,
        module: OnnxGraphModule,
        *,
        name: str,
        dim: int,
        input_size: int,
        alignment: str,
        mean,
        std,
        channel_order: str,
        layers: tuple[str, ...],
        default_layer: str,
    ):
        self.module = module.eval().requires_grad_(False)  # inference only (see FaceModel: frozen weights)
        self.name, self.dim, self.input_size = name, dim, input_size
        self.alignment, self.channel_order = alignment, channel_order
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.layers, self.default_layer = tuple(layers), default_layer

    def prepare(self, crops, landmarks):
        """The sidecar's alignment (:func:`warp_chips`), channel order and (x / 255 - mean) / std, with
        mean and std in the model's channel order (:meth:`FaceModel.normalise`)."""
        chips, mats = warp_chips(crops, landmarks, self.input_size, self.alignment)
        return self.normalise(chips), mats

    def layer_outputs(self, x, layers=None):
        return self.forward_with_layers(x, layers)[1]

    def forward_with_layers(self, x, layers=None):
        """One pass of the graph: its output and the kept feature maps."""
        layers = self.check_layers(layers)
        values = self.module.run(x, keep=layers)
        return values[self.module.output], {name: values[name] for name in layers}


def _input_size(model: onnx.ModelProto, spec: dict, p: Path) -> int:
    """S from the sidecar or the graph's static (N, 3, S, S) input (insightface's 112 otherwise)."""
    weights = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if len(inputs) != 1:
        raise CheckpointError(f"{p}: a face model takes one input image, this graph takes {len(inputs)}")
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        raise CheckpointError(
            f"{p}: the input must be float32, it is {onnx.TensorProto.DataType.Name(tensor.elem_type)}"
        )
    dims = [d.dim_value or None for d in tensor.shape.dim]
    if len(dims) != 4 or dims[1] not in (3, None):
        raise CheckpointError(f"{p}: the input must be (N, 3, S, S), it is {tuple(dims)}")
    if dims[2] and dims[3] and dims[2] != dims[3]:
        raise CheckpointError(f"{p}: the input must be square, it is {dims[2]}x{dims[3]}")
    if dims[2] and "input_size" in spec and spec["input_size"] != dims[2]:
        raise CheckpointError(f"{p}: the sidecar's input_size {spec['input_size']} is not the graph's {dims[2]}")
    return int(spec.get("input_size") or dims[2] or INSIGHTFACE["input_size"])


def _choose_layers(module: OnnxGraphModule, values: dict, spec: dict, p: Path) -> tuple[tuple[str, ...], str]:
    """Response layers and the default one: the sidecar's, else every 4-D float map the graph computes."""
    maps = [
        v
        for v, op in module.value_ops.items()
        if op != "QuantizeLinear" and values[v].dim() == 4 and values[v].is_floating_point()
    ]
    if "layers" in spec:
        absent = [v for v in spec["layers"] if v not in maps]
        if absent:
            raise CheckpointError(
                f"{p}: sidecar layer {absent[0]!r} is not a 4-D feature map of the graph "
                f"(some are: {', '.join(maps[-4:]) or 'none'})"
            )
        layers = tuple(spec["layers"])
    else:
        layers = tuple(maps)
    if "default_layer" in spec:
        if spec["default_layer"] not in layers:
            raise CheckpointError(f"{p}: default_layer {spec['default_layer']!r} is not among the layers")
        return layers, spec["default_layer"]
    big = [v for v in layers if values[v].shape[-2] * values[v].shape[-1] >= 49]
    return layers, (big or list(layers) or [""])[-1]


def _check_against_onnxruntime(module: OnnxGraphModule, model: onnx.ModelProto, size: int, mean, std, p: Path) -> None:
    """Refuse the module unless it gives onnxruntime's embedding on CHECK_INPUTS random inputs, as one
    batch. A graph whose batch is fixed to 1 runs one sample at a time in onnxruntime; if batching
    it here does not match, the module runs per sample (OnnxGraphModule.per_sample)."""
    try:
        session = onnxruntime_session(model, optimize=False)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors
        raise CheckpointError(f"{p}: onnxruntime cannot load it: {str(exc).strip().splitlines()[0][:160]}") from None
    generator = torch.Generator().manual_seed(0)
    x = (
        torch.rand(CHECK_INPUTS, 3, size, size, generator=generator) - torch.tensor(mean).view(1, 3, 1, 1)
    ) / torch.tensor(std).view(1, 3, 1, 1)
    name = module.input_names[0]
    batches = [x[i : i + 1] for i in range(len(x))] if module.fixed_batch else [x]
    try:
        want = torch.from_numpy(np.concatenate([session.run([module.output], {name: b.numpy()})[0] for b in batches]))
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors
        raise CheckpointError(f"{p}: onnxruntime cannot run it: {str(exc).strip().splitlines()[0][:160]}") from None
    quantised = "QuantizeLinear" in module.value_ops.values()  # on activations (weights' are folded)
    tolerance = (QDQ_TOLERANCE if quantised else TOLERANCE) * max(1.0, float(want.abs().max()))

    def difference() -> tuple[float, str]:
        """(max abs difference, why it is infinite)"""
        try:
            with torch.inference_mode():
                got = module(x).float()
        except CheckpointError as exc:  # a node that cannot run this batch
            return math.inf, f" ({exc})"
        if got.shape != want.shape:
            return math.inf, f" (shape {tuple(got.shape)}, onnxruntime's {tuple(want.shape)})"
        return float((got - want).abs().max()), ""

    diff, why = difference()
    if diff > tolerance and module.fixed_batch:
        module.per_sample = True
        diff, why = difference()
    if not diff <= tolerance:  # NaN too
        raise CheckpointError(
            f"{p}: the converted graph does not match onnxruntime: max abs difference "
            f"{diff:.3g} > {tolerance:.3g} on the embedding of {CHECK_INPUTS} random inputs{why}"
        )


def load_onnx_face_model(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> OnnxFaceModel:
    """NAME.onnx (+ NAME.json) -> OnnxFaceModel, checked against onnxruntime. CheckpointError otherwise."""
    p = Path(path)
    model = read_onnx(p, max_bytes)
    spec = read_sidecar(p)
    size = _input_size(model, spec, p)
    try:
        check_supported(model)
        onnx.checker.check_model(model)
    except CheckpointError as exc:
        raise CheckpointError(f"{p}: {exc}") from None
    except onnx.checker.ValidationError as exc:
        raise CheckpointError(f"{p}: not a valid ONNX graph ({str(exc).strip().splitlines()[0][:160]})") from None
    pre = {**INSIGHTFACE, **spec}
    try:
        module = OnnxGraphModule(model).eval()
        with torch.inference_mode():  # one blank forward: the outputs' and the feature maps' shapes
            values = module.run(torch.zeros(1, 3, size, size), keep=module.value_ops)
    except CheckpointError as exc:
        raise CheckpointError(f"{p}: {exc}") from None
    embeddings = [
        o for o in module.output_names if o in values and values[o].dim() == 2 and values[o].is_floating_point()
    ]
    if not embeddings:
        shapes = ", ".join(f"{o} {tuple(values[o].shape)}" for o in module.output_names if o in values)
        raise CheckpointError(f"{p}: no 2-D (N, D) embedding among the graph's outputs ({shapes})")
    module.output = embeddings[0]
    layers, default = _choose_layers(module, values, spec, p)
    _check_against_onnxruntime(module, model, size, pre["mean"], pre["std"], p)
    return OnnxFaceModel(
        module,
        name=spec.get("name", p.stem),
        dim=int(values[module.output].shape[1]),
        input_size=size,
        alignment=pre["alignment"],
        mean=pre["mean"],
        std=pre["std"],
        channel_order=pre["channel_order"],
        layers=layers,
        default_layer=default,
    )
