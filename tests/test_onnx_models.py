"""ONNX face models: the graph converter against onnxruntime (operator by operator and on whole
networks: a small IResNet, our own network, int8 QDQ and block-quantised graphs), the FaceModel
built on it (faces -> unit embeddings, response layers, gradients, hooks, captum), the sidecar, and
every bad file refused with one CheckpointError line before anything unsafe is read."""

from __future__ import annotations

import builtins
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from interpface.errors import CheckpointError
from interpface.models.onnx_graph import OnnxConv2d, OnnxGraphModule
from interpface.models.onnx_model import QDQ_TOLERANCE, TOLERANCE, load_onnx_face_model, onnxruntime_session, read_onnx

FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64


# ------------------------------------------------------------------------------------ helpers
class _Block(nn.Module):
    """IResNet's block at a tiny width: BN -> conv -> BN -> PReLU -> conv(stride 2) -> BN, + projection."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2, self.prelu = nn.BatchNorm2d(cout), nn.PReLU(cout)
        self.conv2, self.bn3 = nn.Conv2d(cout, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x)))))) + self.down(x)


class TinyIResNet(nn.Module):
    """(N, 3, 112, 112) -> (N, 32): stem, four stride-2 blocks to 7x7, BN, flatten, Linear, BN1d.
    view=True flattens with x.view(N, -1), which a fixed-batch export turns into Reshape [1, -1]."""

    def __init__(self, view: bool = False):
        super().__init__()
        self.conv1, self.bn1, self.prelu = nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.PReLU(8)
        self.layers = nn.Sequential(_Block(8, 8), _Block(8, 12), _Block(12, 16), _Block(16, 16))
        self.bn2, self.fc, self.features = nn.BatchNorm2d(16), nn.Linear(16 * 7 * 7, 32), nn.BatchNorm1d(32)
        self.view = view

    def forward(self, x):
        x = self.bn2(self.layers(self.prelu(self.bn1(self.conv1(x)))))
        return self.features(self.fc(x.view(x.shape[0], -1) if self.view else torch.flatten(x, 1)))


def tiny_iresnet(view: bool = False) -> TinyIResNet:
    torch.manual_seed(0)
    net = TinyIResNet(view).eval()
    with torch.no_grad():  # BN statistics and affine terms that show in the outputs when loaded wrong
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return net


def export(net: nn.Module, path: Path, size: int = 112, dynamic: bool = True) -> Path:
    """The legacy TorchScript exporter (the dynamo one needs onnxscript, which is not installed)."""
    with warnings.catch_warnings():  # its deprecation notice, and tracer notes on shape-dependent Python
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            torch.rand(1, 3, size, size),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["embedding"],
            dynamic_axes={"x": {0: "n"}} if dynamic else None,
        )
    return path


def ort_run(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    return onnxruntime_session(model, optimize=False).run(None, feeds)


def graph_model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    """A model of hand-made nodes. inputs: {name: array} (runtime inputs, typed by the array);
    outputs: {name: TensorProto type, or (type, shape)} (the checker wants shapes from IR 10 on);
    inits: {name: array}."""

    def info(name, a):
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)

    graph = helper.make_graph(
        nodes,
        "g",
        [info(k, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(k, *(t if isinstance(t, tuple) else (t, None))) for k, t in outputs.items()],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    net = tiny_iresnet()
    return export(net, tmp_path_factory.mktemp("onnx") / "tiny.onnx"), net


@pytest.fixture(scope="module")
def aligned(faces):
    """Three aligned crops (3, 110, 110, 3) uint8 and their landmarks (3, 68, 2)."""
    from interpface.faces.pipeline import FacePipeline

    pipe = FacePipeline()
    prepared = [
        pipe.prepare(faces.path(r))
        for r in (
            "Grace_Hopper/Grace_Hopper_0001.jpg",
            "Eileen_Collins/Eileen_Collins_0001.jpg",
            "Wide_Astronaut/Wide_Astronaut_0001.jpg",
        )
    ]
    return np.stack([f.crop for f in prepared]), np.stack([f.landmarks for f in prepared])


# ----------------------------------------------------------------------------- operators
_RNG = np.random.default_rng(0)


def _x(*shape, positive=False):
    a = _RNG.standard_normal(shape).astype(np.float32)
    return np.abs(a) + 0.5 if positive else a


def _i64(*values):
    return np.array(values, dtype=np.int64)


def op(op_type, inputs, attrs=None, opset=17, outputs=None, inits=None):
    """One node: inputs is a list of (name, array) runtime inputs, (name, None) for an absent optional
    input, or names of inits; outputs {name: type} (default one float output y)."""
    outputs = outputs or {"y": FLOAT}
    names, feeds = [], {}
    for item in inputs:
        if isinstance(item, tuple):
            name, value = item
            names.append(name if value is not None else "")
            if value is not None:
                feeds[name] = value
        else:
            names.append(item)
    node = helper.make_node(op_type, names, list(outputs), **(attrs or {}))
    return graph_model([node], feeds, outputs, inits or {}, opset), feeds


def _chain(nodes, feeds, outputs, inits=None, opset=17):
    return graph_model(nodes, feeds, outputs, inits or {}, opset), feeds


X4 = _x(2, 3, 5, 5)
OP_CASES = {
    "conv groups dilations asymmetric pads": op(
        "Conv",
        [("x", _x(2, 4, 9, 9)), "w", "b"],
        dict(group=2, dilations=[2, 1], pads=[1, 0, 2, 1], strides=[1, 2]),
        inits={"w": _x(6, 2, 3, 3), "b": _x(6)},
    ),
    "conv SAME_UPPER": op(
        "Conv", [("x", _x(1, 3, 10, 10)), "w"], dict(auto_pad="SAME_UPPER", strides=[2, 2]), inits={"w": _x(4, 3, 4, 4)}
    ),
    "conv SAME_LOWER": op(
        "Conv", [("x", _x(1, 3, 10, 10)), "w"], dict(auto_pad="SAME_LOWER"), inits={"w": _x(4, 3, 4, 4)}
    ),
    "conv transpose": op(
        "ConvTranspose",
        [("x", _x(1, 4, 5, 5)), "w", "b"],
        dict(strides=[2, 2], pads=[1, 1, 0, 0], output_padding=[1, 1]),
        inits={"w": _x(4, 3, 3, 3), "b": _x(3)},
    ),
    "batchnorm 4-D": op(
        "BatchNormalization",
        [("x", X4), "s", "b", "m", "v"],
        dict(epsilon=1e-3),
        inits={"s": _x(3), "b": _x(3), "m": _x(3), "v": _x(3, positive=True)},
    ),
    "batchnorm 2-D": op(
        "BatchNormalization",
        [("x", _x(4, 3)), "s", "b", "m", "v"],
        inits={"s": _x(3), "b": _x(3), "m": _x(3), "v": _x(3, positive=True)},
    ),
    "prelu": op("PRelu", [("x", X4), "s"], inits={"s": _x(3, 1, 1)}),
    **{
        name: op(name, [("x", X4)], attrs, opset)
        for name, attrs, opset in (
            ("Relu", {}, 17),
            ("Sigmoid", {}, 17),
            ("Tanh", {}, 17),
            ("Neg", {}, 17),
            ("Exp", {}, 17),
            ("Abs", {}, 17),
            ("Erf", {}, 17),
            ("Identity", {}, 17),
            ("Elu", dict(alpha=0.5), 17),
            ("LeakyRelu", dict(alpha=0.2), 17),
            ("HardSigmoid", dict(alpha=0.3, beta=0.4), 17),
            ("HardSwish", {}, 17),
            ("Gelu", dict(approximate="tanh"), 20),
        )
    },
    "Sqrt": op("Sqrt", [("x", _x(2, 3, positive=True))]),
    "Reciprocal": op("Reciprocal", [("x", _x(2, 3, positive=True))]),
    "clip attrs": op("Clip", [("x", X4)], dict(min=-0.5, max=0.5), opset=6),
    "clip min input": op("Clip", [("x", X4), "lo"], inits={"lo": np.float32(-0.3)}),
    "clip max input": op("Clip", [("x", X4), ("lo", None), "hi"], inits={"hi": np.float32(0.2)}),
    **{name: op(name, [("a", X4), ("b", _x(3, 1, 1))]) for name in ("Add", "Sub", "Mul", "Div")},
    "Pow": op("Pow", [("a", _x(2, 3, positive=True)), "e"], inits={"e": np.float32(1.5)}),
    "Max": op("Max", [("a", _x(2, 3)), ("b", _x(2, 3)), ("c", _x(3))]),
    "Min": op("Min", [("a", _x(2, 3)), ("b", _x(2, 3))]),
    "integer Div truncates": op("Div", [("a", _i64(7, -7, 9)), ("b", _i64(2, 2, -4))], outputs={"y": INT64}),
    "Equal": op("Equal", [("a", _i64(1, 2, 3)), ("b", _i64(1, 0, 3))], outputs={"y": TensorProto.BOOL}),
    "Where": op("Where", [("c", np.array([[True, False, True]])), ("a", _x(2, 3)), ("b", _x(3))]),
    "flatten axis 2": op("Flatten", [("x", X4)], dict(axis=2)),
    "flatten axis 0": op("Flatten", [("x", X4)], dict(axis=0)),
    "reshape 0 and -1": op("Reshape", [("x", _x(2, 3, 4)), "s"], inits={"s": _i64(0, -1, 2)}),
    "transpose perm": op("Transpose", [("x", X4)], dict(perm=[0, 2, 3, 1])),
    "transpose reversed": op("Transpose", [("x", X4)]),
    "gemm transposes alpha beta": op(
        "Gemm",
        [("a", _x(4, 3)), "b", "c"],
        dict(transA=1, transB=1, alpha=0.5, beta=2.0),
        inits={"b": _x(5, 4), "c": _x(5)},
    ),
    "gemm no C": op("Gemm", [("a", _x(3, 4)), "b"], inits={"b": _x(4, 5)}),
    "gemm run-time B": op("Gemm", [("a", _x(3, 4)), ("b", _x(4, 5)), "c"], dict(beta=0.5), inits={"c": _x(1, 5)}),
    "matmul constant": op("MatMul", [("a", _x(2, 3, 4)), "b"], inits={"b": _x(4, 5)}),
    "matmul run-time": op("MatMul", [("a", _x(2, 3, 4)), ("b", _x(2, 4, 5))]),
    "GlobalAveragePool": op("GlobalAveragePool", [("x", X4)]),
    "GlobalMaxPool": op("GlobalMaxPool", [("x", X4)]),
    "avgpool pads": op(
        "AveragePool", [("x", _x(1, 2, 7, 7))], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    ),
    "avgpool pads counted": op(
        "AveragePool",
        [("x", _x(1, 2, 7, 7))],
        dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1], count_include_pad=1),
    ),
    "avgpool ceil": op("AveragePool", [("x", _x(1, 2, 8, 8))], dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    "avgpool plain": op("AveragePool", [("x", _x(1, 2, 8, 8))], dict(kernel_shape=[2, 2], strides=[2, 2])),
    "maxpool pads": op(
        "MaxPool", [("x", _x(1, 2, 9, 9))], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    ),
    "maxpool asymmetric ceil": op(
        "MaxPool", [("x", _x(1, 2, 8, 8))], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1], ceil_mode=1)
    ),
    "maxpool SAME_UPPER": op(
        "MaxPool", [("x", _x(1, 2, 7, 7))], dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")
    ),
    "maxpool dilated": op("MaxPool", [("x", _x(1, 2, 7, 7))], dict(kernel_shape=[2, 2], dilations=[2, 2])),
    "Concat": op("Concat", [("a", _x(2, 3, 4)), ("b", _x(2, 1, 4))], dict(axis=1)),
    "Shape start": op("Shape", [("x", X4)], dict(start=1, end=-1), opset=15, outputs={"y": INT64}),
    "gather indices": op("Gather", [("x", _x(2, 3, 4)), "i"], dict(axis=1), inits={"i": _i64(0, -1, 1).reshape(3, 1)}),
    "gather scalar": op("Gather", [("x", _x(2, 3, 4)), "i"], inits={"i": np.array(1, np.int64)}),
    "unsqueeze input": op("Unsqueeze", [("x", _x(2, 3)), "a"], inits={"a": _i64(0, -1)}),
    "unsqueeze attr": op("Unsqueeze", [("x", _x(2, 3))], dict(axes=[1]), opset=11),
    "squeeze input": op("Squeeze", [("x", _x(2, 1, 3)), "a"], inits={"a": _i64(1)}),
    "squeeze all": op("Squeeze", [("x", _x(2, 1, 3, 1))]),
    "squeeze attr": op("Squeeze", [("x", _x(2, 1, 3))], dict(axes=[-2]), opset=11),
    "slice steps": op(
        "Slice",
        [("x", _x(4, 3, 5)), "s", "e", "a", "st"],
        inits={"s": _i64(1, -1), "e": _i64(2**62, -100), "a": _i64(0, 2), "st": _i64(2, -2)},
    ),
    "slice attrs": op("Slice", [("x", _x(4, 3, 5))], dict(starts=[1], ends=[-1], axes=[2]), opset=9),
    "Dropout": op("Dropout", [("x", X4)]),
    "dropout mask": op("Dropout", [("x", X4)], outputs={"y": FLOAT, "m": TensorProto.BOOL}),
    "pad constant": op(
        "Pad", [("x", _x(1, 2, 3, 3)), "p", "v"], inits={"p": _i64(0, 0, 1, 2, 0, 0, 2, 1), "v": np.float32(0.5)}
    ),
    "pad reflect": op(
        "Pad", [("x", _x(1, 2, 4, 4)), "p"], dict(mode="reflect"), inits={"p": _i64(0, 0, 1, 2, 0, 0, 2, 1)}
    ),
    "pad edge": op("Pad", [("x", _x(1, 2, 4, 4)), "p"], dict(mode="edge"), inits={"p": _i64(0, 0, 1, 1, 0, 0, 1, 1)}),
    "pad axes": op(
        "Pad", [("x", _x(1, 2, 4, 4)), "p", ("v", None), "a"], opset=18, inits={"p": _i64(1, 0, 2, 1), "a": _i64(2, 3)}
    ),
    "pad attrs": op("Pad", [("x", _x(1, 2, 4, 4))], dict(pads=[0, 0, 1, 1, 0, 0, 1, 1], value=2.0), opset=10),
    "reducemean attr": op("ReduceMean", [("x", X4)], dict(axes=[1], keepdims=0), opset=13),
    "reducemean input": op("ReduceMean", [("x", X4), "a"], opset=18, inits={"a": _i64(2, 3)}),
    "reducesum input": op("ReduceSum", [("x", X4), "a"], opset=13, inits={"a": _i64(1)}),
    "reducesum all": op("ReduceSum", [("x", X4)], dict(keepdims=0), opset=13),
    "ReduceL2": op("ReduceL2", [("x", X4)], dict(axes=[2, 3]), opset=13),
    "ReduceMax": op("ReduceMax", [("x", X4)], dict(axes=[1]), opset=13),
    "lpnorm 2": op("LpNormalization", [("x", _x(2, 3, 4))], dict(axis=1)),
    "lpnorm 1": op("LpNormalization", [("x", _x(2, 3, 4))], dict(p=1)),
    "softmax coerced": op("Softmax", [("x", _x(2, 3, 4))], dict(axis=1), opset=11),
    "softmax axis": op("Softmax", [("x", _x(2, 3, 4))], dict(axis=1)),
    "LogSoftmax": op("LogSoftmax", [("x", _x(2, 3, 4))]),
    "cast to int32": op("Cast", [("x", 3 * _x(2, 5))], dict(to=TensorProto.INT32), outputs={"y": TensorProto.INT32}),
    "Expand": op("Expand", [("x", _x(3, 1)), "s"], inits={"s": _i64(2, 1, 4)}),
    "split input": op(
        "Split", [("x", _x(2, 3, 4)), "s"], dict(axis=1), outputs={"y": FLOAT, "z": FLOAT}, inits={"s": _i64(1, 2)}
    ),
    "split uneven": op(
        "Split", [("x", _x(2, 7))], dict(axis=1, num_outputs=3), opset=18, outputs={"y": FLOAT, "z": FLOAT, "w": FLOAT}
    ),
    "split attr": op("Split", [("x", _x(3, 2))], dict(split=[2, 1]), opset=11, outputs={"y": FLOAT, "z": FLOAT}),
    "resize nearest": op(
        "Resize",
        [("x", _x(1, 2, 3, 4)), ("r", None), "s"],
        dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        inits={"s": np.array([1, 1, 2, 2], np.float32)},
    ),
    "resize linear sizes": op(
        "Resize",
        [("x", _x(1, 2, 3, 4)), ("r", None), ("s", None), "z"],
        dict(mode="linear"),
        inits={"z": _i64(1, 2, 7, 9)},
    ),
    "resize linear align_corners": op(
        "Resize",
        [("x", _x(1, 2, 4, 4)), ("r", None), "s"],
        dict(mode="linear", coordinate_transformation_mode="align_corners"),
        inits={"s": np.array([1, 1, 1.5, 1.5], np.float32)},
    ),
    "resize nearest half_pixel": op(
        "Resize",
        [("x", _x(1, 2, 8, 8)), ("r", None), "s"],
        dict(mode="nearest", nearest_mode="round_prefer_ceil"),
        inits={"s": np.array([1, 1, 0.5, 0.5], np.float32)},
    ),
    "resize opset 10": op(
        "Resize",
        [("x", _x(1, 2, 3, 3)), "s"],
        dict(mode="nearest"),
        opset=10,
        inits={"s": np.array([1, 1, 2, 3], np.float32)},
    ),
    "dequantize per tensor": op(
        "DequantizeLinear",
        [("q", np.array([[-128, 0, 5, 127]], np.int8)), "s", "z"],
        inits={"s": np.float32(0.1), "z": np.int8(3)},
    ),
    "dequantize per axis": op(
        "DequantizeLinear",
        [("q", np.array([[0, 10, 255], [7, 128, 1]], np.uint8)), "s", "z"],
        dict(axis=0),
        inits={"s": np.array([0.5, 0.25], np.float32), "z": np.array([128, 3], np.uint8)},
    ),
    "dequantize blocked": op(
        "DequantizeLinear",
        [("q", _RNG.integers(-128, 128, (4, 5), dtype=np.int8)), "s", "z"],
        dict(axis=1, block_size=2),
        opset=21,
        inits={"s": _x(4, 3, positive=True), "z": _RNG.integers(-5, 5, (4, 3), dtype=np.int8)},
    ),
    "quantize dequantize": _chain(
        [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
        ],
        {"x": 4 * X4},
        {"y": FLOAT},
        {"s": np.float32(0.05), "z": np.uint8(128)},
    ),
    "quantize dequantize per axis": _chain(
        [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1),
        ],
        {"x": 4 * X4},
        {"y": FLOAT},
        {"s": np.array([0.02, 0.05, 0.1], np.float32), "z": np.int8([0, -3, 4])},
    ),
    "TopK": op("TopK", [("x", _x(2, 6)), "k"], inits={"k": _i64(3)}, outputs={"v": FLOAT, "i": INT64}),
    "ScatterElements": op(
        "ScatterElements",
        [("x", _x(3, 4)), "i", ("u", _x(3, 2))],
        dict(axis=1),
        inits={"i": _i64(1, -1, 0, 2, 3, 0).reshape(3, 2)},
    ),
    "ScatterND": op("ScatterND", [("x", _x(4, 3, 2)), "i", ("u", _x(2, 3, 2))], inits={"i": _i64(2, -1).reshape(2, 1)}),
    "Range": _chain(
        [
            helper.make_node("Range", ["a", "b", "d"], ["r"]),
            helper.make_node("Cast", ["r"], ["rf"], to=FLOAT),
            helper.make_node("Add", ["x", "rf"], ["y"]),
        ],
        {"x": _x(5)},
        {"y": FLOAT},
        {"a": np.array(1, np.int64), "b": np.array(11, np.int64), "d": np.array(2, np.int64)},
    ),
    "shape arithmetic": _chain(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Gather", ["s", "zero"], ["n"]),
            helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
            helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["flat"]),
            helper.make_node("ConstantOfShape", ["s"], ["ones"], value=numpy_helper.from_array(np.float32([1.5]))),
            helper.make_node("Add", ["x", "ones"], ["y"]),
            helper.make_node("Constant", [], ["c"], value_floats=[1.0, 2.0, 3.0, 4.0, 5.0]),
            helper.make_node("Mul", ["y", "c"], ["z"]),
        ],
        {"x": X4},
        {"flat": FLOAT, "z": FLOAT},
        {"zero": np.array(0, np.int64), "axes": _i64(0), "minus1": _i64(-1)},
    ),
}


@pytest.mark.parametrize("case", list(OP_CASES))
def test_each_operator_matches_onnxruntime(case):
    model, feeds = OP_CASES[case]
    want = ort_run(model, feeds)
    got = OnnxGraphModule(model).run(*[torch.from_numpy(np.array(v)) for v in feeds.values()])
    for name, w in zip([o.name for o in model.graph.output], want):
        g = got[name]
        assert tuple(g.shape) == w.shape, name
        if w.dtype.kind in "biu":
            assert np.array_equal(g.numpy(), w), name
        else:
            assert np.abs(g.detach().numpy() - w).max() <= 1e-5 * max(1.0, np.abs(w).max()), name


def test_a_quantised_activation_passes_gradients_straight_through():
    model, _ = OP_CASES["quantize dequantize"]
    x = torch.tensor([[-7.0, -1.234, 0.0, 3.33, 7.0]], requires_grad=True)  # range (0-128..255-128) * 0.05
    module = OnnxGraphModule(
        graph_model(
            model.graph.node, {"x": x.detach().numpy()}, {"y": FLOAT}, {"s": np.float32(0.05), "z": np.uint8(128)}
        )
    )
    y = module(x)
    y.sum().backward()
    assert torch.allclose(y, torch.tensor([[-6.4, -1.25, 0.0, 3.35, 6.35]]))  # rounded, saturated at both ends
    assert x.grad.tolist() == [[0.0, 1.0, 1.0, 1.0, 0.0]]


# ------------------------------------------------------------------------------ whole networks
def test_a_small_iresnet_converts_exactly_and_works_as_a_face_model(tiny_file, aligned):
    path, net = tiny_file
    model = load_onnx_face_model(path)
    assert (model.name, model.dim, model.input_size, model.alignment, model.channel_order) == (
        "tiny",
        32,
        112,
        "arcface",
        "rgb",
    )
    assert torch.allclose(model.mean, torch.full((1, 3, 1, 1), 0.5)) and torch.allclose(model.std, model.mean)
    x = torch.randn(3, 3, 112, 112)
    want = onnxruntime_session(read_onnx(path)).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        got = model.forward(x)
        assert np.abs(got.numpy() - want).max() <= TOLERANCE and torch.allclose(got, net(x), atol=1e-4)
    # real submodules, named after the graph's nodes
    modules = list(model.module.modules())
    assert all(any(isinstance(m, kind) for m in modules) for kind in (nn.Conv2d, nn.BatchNorm2d, nn.PReLU, nn.Linear))
    crops, lms = aligned
    emb = model.embed(crops, lms)
    assert emb.shape == (3, 32) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    xs, mats = model.prepare(crops, lms)
    assert xs.shape == (3, 3, 112, 112) and mats.shape == (3, 2, 3)
    # response layers: the graph's 4-D maps; the default the last one with >= 7x7 positions
    maps = model.layer_outputs(xs)
    assert model.default_layer == "/bn2/BatchNormalization_output_0"
    assert maps[model.default_layer].shape == (3, 16, 7, 7)
    assert len(model.layers) > 20 and all(v.dim() == 4 for v in model.layer_outputs(xs, model.layers[:5]).values())
    with pytest.raises(CheckpointError, match="no layer"):
        model.layer_outputs(xs, ["nope"])
    # gradients reach the input, through the layers too
    xg = xs.clone().requires_grad_(True)
    model.forward(xg)[:, 0].sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    xg.grad = None
    model.layer_outputs(xg)[model.default_layer].sum().backward()
    assert xg.grad.abs().sum() > 0
    # a forward hook on a converted conv fires with its output
    name = model.module.module_names["/layers/layers.2/conv1/Conv_output_0"]
    seen = []
    handle = getattr(model.module, name).register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    with torch.no_grad():
        model.forward(xs)
    handle.remove()
    assert seen == [(3, 16, 28, 28)]


def test_captum_grad_cam_on_a_converted_layer(tiny_file, aligned):
    from captum.attr import LayerGradCam

    model = load_onnx_face_model(tiny_file[0])
    conv = getattr(model.module, model.module.module_names["/layers/layers.3/conv1/Conv_output_0"])
    assert isinstance(conv, OnnxConv2d)
    x, _ = model.prepare(*aligned)
    cam = LayerGradCam(model.module, conv).attribute(x, target=0)
    assert cam.shape == (3, 1, 14, 14) and torch.isfinite(cam).all() and cam.abs().sum() > 0


def _traceable_lmf(psi, keep):
    """large_magnitude_filter as the legacy exporter can trace it (its scatter_ of a Python bool is not):
    the same kept set, through TopK / ScatterElements / Where."""
    b, c, h, w = psi.shape
    flat = psi.reshape(b, c, h * w)
    idx = flat.abs().topk(keep, dim=-1, sorted=False).indices
    mask = torch.zeros(flat.shape, dtype=torch.bool).scatter(-1, idx, torch.ones_like(idx, dtype=torch.bool))
    return torch.where(mask, flat, torch.zeros((), dtype=flat.dtype)).reshape(b, c, h, w)


def test_our_own_network_converts(tmp_path, aligned, monkeypatch):
    from interpface.models import networks
    from tests.tiny import tiny_model

    net = tiny_model(he_init=True)
    with monkeypatch.context() as patch:
        patch.setattr(networks, "large_magnitude_filter", _traceable_lmf)
        path = export(net, tmp_path / "ours.onnx", size=96)
    # it takes [0, 1] pixels and normalises inside: mean 0, std 1; the crop's central 96 px is close
    # to a resize, which is all the sidecar offers
    (tmp_path / "ours.json").write_text(json.dumps({"alignment": "crop", "mean": [0, 0, 0], "std": [1, 1, 1]}))
    model = load_onnx_face_model(path)
    assert (model.input_size, model.dim) == (96, net.config.num_filters)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Elu", "Resize", "TopK", "ScatterElements", "Where", "ReduceSum", "Clip"} <= ops
    x, _ = model.prepare(*aligned)
    with torch.no_grad():
        assert torch.allclose(model.forward(x), net(x), atol=1e-5)  # the original network, unpatched
    assert model.layer_outputs(x)[model.default_layer].shape[-2:] == (24, 24)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
def test_int8_qdq_graphs_from_onnxruntime_quantization(tiny_file, tmp_path, per_channel, aligned):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Calibration(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter([{"x": rng.uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    path = tmp_path / "q.onnx"
    quantize_static(str(tiny_file[0]), str(path), Calibration(), quant_format=QuantFormat.QDQ, per_channel=per_channel)
    graph = onnx.load(str(path)).graph
    weights = {t.name: t for t in graph.initializer}
    dq_axes = {
        onnx.helper.get_attribute_value(a)
        for n in graph.node
        if n.op_type == "DequantizeLinear"
        and n.input[0] in weights
        and weights[n.input[0]].data_type == TensorProto.INT8
        for a in n.attribute
        if a.name == "axis"
    }
    assert any(n.op_type == "QuantizeLinear" for n in graph.node) and (dq_axes == {0}) == per_channel
    model = load_onnx_face_model(path)  # checked against onnxruntime at load, within QDQ_TOLERANCE
    x = torch.rand(3, 3, 112, 112, generator=torch.Generator().manual_seed(7)) * 2 - 1
    want = ort_run(read_onnx(path), {"x": x.numpy()})[0]
    with torch.no_grad():
        diff = np.abs(model.forward(x).numpy() - want)
    scale = max(1.0, np.abs(want).max())
    # most entries agree to float precision; a few differ by one rounding flip (see QDQ_TOLERANCE)
    assert diff.max() <= QDQ_TOLERANCE * scale and np.mean(diff > TOLERANCE * scale) < 0.1
    assert np.allclose(np.linalg.norm(model.embed(*aligned), axis=1), 1.0, atol=1e-5)
    xg = x.clone().requires_grad_(True)
    model.forward(xg).sum().backward()  # straight-through gradients across the fake quantisation
    assert xg.grad.abs().sum() > 0


def test_a_block_quantised_weight_graph(tmp_path, aligned):
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (8, 3, 3, 3), dtype=np.int8)
    w_scale = rng.uniform(0.001, 0.01, (8, 2, 3, 3)).astype(np.float32)  # blocks of 2 input channels: 3 -> 2
    fc = rng.integers(-128, 128, (8, 5), dtype=np.int8)
    fc_scale = rng.uniform(0.01, 0.1, (4, 5)).astype(np.float32)  # blocks of 2 rows
    fc_zero = rng.integers(-3, 4, (4, 5), dtype=np.int8)
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "w_s"], ["w"], axis=1, block_size=2),
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("DequantizeLinear", ["fc_q", "fc_s", "fc_z"], ["fc"], axis=0, block_size=2),
        helper.make_node("MatMul", ["f", "fc"], ["embedding"]),
    ]
    model = graph_model(
        nodes,
        {"x": np.zeros((1, 3, 16, 16), np.float32)},
        {"embedding": (FLOAT, ["n", 5])},
        {"w_q": w, "w_s": w_scale, "fc_q": fc, "fc_s": fc_scale, "fc_z": fc_zero},
        opset=21,
    )
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    path = tmp_path / "blocked.onnx"
    onnx.save(model, str(path))
    (tmp_path / "blocked.json").write_text(json.dumps({"alignment": "crop"}))
    face = load_onnx_face_model(path)  # matches onnxruntime (checked at load)
    conv = next(m for m in face.module.modules() if isinstance(m, nn.Conv2d))
    want = w.astype(np.float32) * np.repeat(w_scale, 2, axis=1)[:, :3]
    assert np.array_equal(conv.weight.detach().numpy(), want)  # folded once, exactly as dequantised
    assert face.embed(*aligned).shape == (3, 5)


def test_stale_initializer_inputs_are_dropped(tiny_file, tmp_path, aligned):
    path, _ = tiny_file
    model = onnx.load(str(path))
    for t in model.graph.initializer:
        model.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, t.dims))
    stale = tmp_path / "stale.onnx"
    onnx.save(model, str(stale))
    assert len(read_onnx(stale).graph.input) == 1
    assert np.allclose(
        load_onnx_face_model(stale).embed(*aligned), load_onnx_face_model(path).embed(*aligned), atol=1e-6
    )


def test_a_graph_with_its_batch_fixed_to_one_embeds_batches(tmp_path, aligned):
    path = export(tiny_iresnet(view=True), tmp_path / "one.onnx", dynamic=False)
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1 and any(
        n.op_type == "Reshape" for n in graph.node
    )
    model = load_onnx_face_model(path)
    assert model.module.fixed_batch and not model.module.per_sample  # the Reshape takes the batch
    crops, lms = aligned
    emb = model.embed(crops, lms)
    assert emb.shape == (3, 32)
    assert np.allclose(
        emb, np.concatenate([model.embed(crops[i : i + 1], lms[i : i + 1]) for i in range(3)]), atol=1e-6
    )


def test_a_fixed_batch_graph_that_cannot_batch_runs_per_sample(tmp_path, aligned):
    # (1, 3, 8, 8) -> (3, 64) -> mean (3,) -> (1, 3): its first Reshape has no batch to give
    nodes = [
        helper.make_node("Reshape", ["x", "s1"], ["r"]),
        helper.make_node("ReduceMean", ["r"], ["m"], axes=[1], keepdims=0),
        helper.make_node("Reshape", ["m", "s2"], ["embedding"]),
    ]
    model = graph_model(
        nodes,
        {"x": np.zeros((1, 3, 8, 8), np.float32)},
        {"embedding": (FLOAT, [1, 3])},
        {"s1": _i64(3, 64), "s2": _i64(1, 3)},
        opset=13,
    )
    onnx.save(model, str(tmp_path / "loop.onnx"))
    (tmp_path / "loop.json").write_text(json.dumps({"alignment": "crop"}))
    face = load_onnx_face_model(tmp_path / "loop.onnx")
    assert face.module.per_sample
    x, _ = face.prepare(*aligned)
    assert torch.allclose(face.forward(x), x.mean(dim=(2, 3)), atol=1e-6)


# -------------------------------------------------------------------------------- the sidecar
def test_sidecar_keys_are_honoured(tiny_file, tmp_path, aligned):
    path = tmp_path / "side.onnx"
    path.write_bytes(tiny_file[0].read_bytes())
    layer = "/layers/layers.2/Add_output_0"
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    (tmp_path / "side.json").write_text(
        json.dumps(
            {
                "name": "my model",
                "alignment": "crop",
                "channel_order": "bgr",
                "mean": mean,
                "std": std,
                "layers": [layer, "/bn2/BatchNormalization_output_0"],
                "default_layer": layer,
            }
        )
    )
    model = load_onnx_face_model(path)
    assert (model.name, model.alignment, model.channel_order, model.default_layer) == ("my model", "crop", "bgr", layer)
    assert model.layers == (layer, "/bn2/BatchNormalization_output_0")
    crops, lms = aligned
    x, mats = model.prepare(crops, lms)
    k = 112 / 110
    assert np.allclose(mats, [[k, 0, 0.5 * k - 0.5], [0, k, 0.5 * k - 0.5]])
    # undo the normalisation and the channel flip: the crop resized to 112 px, in [0, 1]
    rgb = (x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)).flip(1)
    import cv2

    resized = cv2.warpAffine(crops[0], mats[0], (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    assert torch.allclose(rgb[0], torch.from_numpy(resized).permute(2, 0, 1).float() / 255, atol=1e-5)
    assert model.layer_outputs(x)[layer].shape == (3, 16, 14, 14)


@pytest.mark.parametrize(
    "sidecar, message",
    [
        ({"input_size": 112, "colour": "rgb"}, "unknown key.*colour"),
        ({"alignment": "dlib"}, "alignment must be"),
        ({"std": [0.5, 0.0, 0.5]}, "std must be"),
        ({"mean": [0.5, 0.5]}, "mean must be"),
        ({"channel_order": "BGR"}, "channel_order must be"),
        ({"input_size": 96}, "input_size 96 is not the graph's 112"),
        ({"layers": ["/fc/Gemm_output_0"]}, "not a 4-D feature map"),
        ({"default_layer": "/nowhere"}, "default_layer"),
        ([0.5], "JSON object"),
    ],
)
def test_a_bad_sidecar_is_refused(tiny_file, tmp_path, sidecar, message):
    path = tmp_path / "m.onnx"
    path.write_bytes(tiny_file[0].read_bytes())
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=message) as exc:
        load_onnx_face_model(path)
    assert "\n" not in str(exc.value)


# ----------------------------------------------------------------------------------- bad files
def _flatten_graph(*extra_nodes):
    nodes = [helper.make_node("Flatten", ["x"], ["embedding"])] + list(extra_nodes)
    return graph_model(nodes, {"x": np.zeros((1, 3, 8, 8), np.float32)}, {"embedding": FLOAT}, opset=17)


def test_bad_files_are_refused_in_one_line(tiny_file, tmp_path):
    real = tiny_file[0].read_bytes()
    cases = {}
    (tmp_path / "random.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    cases["random.onnx"] = "not a readable ONNX file"
    (tmp_path / "truncated.onnx").write_bytes(real[: len(real) // 2])
    cases["truncated.onnx"] = "not a readable ONNX file"
    made_up = _flatten_graph(
        helper.make_node("FrobnicateFace", ["embedding"], ["z"]),
        helper.make_node("NonMaxSuppression", ["z", "z"], ["w"]),
    )
    onnx.save(made_up, str(tmp_path / "ops.onnx"))
    cases["ops.onnx"] = "unsupported ONNX operator\\(s\\): FrobnicateFace, NonMaxSuppression"
    four_d = graph_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        {"x": np.zeros((1, 3, 8, 8), np.float32)},
        {"y": (FLOAT, [1, 3, 8, 8])},
    )
    onnx.save(four_d, str(tmp_path / "maps.onnx"))
    cases["maps.onnx"] = "no 2-D \\(N, D\\) embedding among the graph's outputs \\(y \\(1, 3, 8, 8\\)\\)"
    future = _flatten_graph()
    future.opset_import[0].version = 23
    onnx.save(future, str(tmp_path / "future.onnx"))
    cases["future.onnx"] = "opset 23 is newer than the converter knows \\(up to 21\\)"
    cases["absent.onnx"] = "no such ONNX file"
    for name, message in cases.items():
        with pytest.raises(CheckpointError, match=message) as exc:
            load_onnx_face_model(tmp_path / name)
        assert "\n" not in str(exc.value) and name in str(exc.value)
    with pytest.raises(CheckpointError, match="over the 1,000-byte cap"):
        load_onnx_face_model(tiny_file[0], max_bytes=1000)


def test_a_conversion_that_differs_from_onnxruntime_is_refused(tiny_file, monkeypatch):
    from interpface.models import onnx_graph

    monkeypatch.setitem(onnx_graph._BUILDERS, "PRelu", lambda n: lambda x, slope: torch.relu(x))
    with pytest.raises(CheckpointError, match="does not match onnxruntime: max abs difference .* > 0.0001"):
        load_onnx_face_model(tiny_file[0])


def _external(model: onnx.ModelProto, location: str) -> onnx.ModelProto:
    """The model with its first initializer's data said to live in `location` (no data written)."""
    t = next(t for t in model.graph.initializer if t.HasField("raw_data"))
    size = len(t.raw_data)
    t.ClearField("raw_data")
    for key, value in (("location", location), ("offset", "0"), ("length", str(size))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    t.data_location = TensorProto.EXTERNAL
    return model


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "link.bin"])
def test_external_data_outside_the_folder_is_never_read(tiny_file, tmp_path, location, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"\0" * 4096)
    (folder / "link.bin").symlink_to(outside)  # inside by name, outside once resolved
    path = folder / "ext.onnx"
    path.write_bytes(_external(onnx.load(str(tiny_file[0])), location).SerializeToString())
    opened = []
    real_open = builtins.open

    def recording_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def never(*_a, **_k):
        raise AssertionError("external data loaded")

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(onnx, "load_external_data_for_model", never)
    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_tensor", never)
    with pytest.raises(CheckpointError, match="not a path relative|resolves outside the model's folder") as exc:
        load_onnx_face_model(path)
    assert "\n" not in str(exc.value)
    assert not any(Path(f).name in ("outside.bin", "passwd", "link.bin") for f in opened)


def test_external_data_inside_the_folder_loads_and_counts_to_the_cap(tiny_file, tmp_path, aligned):
    path = tmp_path / "ext.onnx"
    onnx.save(
        onnx.load(str(tiny_file[0])), str(path), save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    assert (tmp_path / "weights.bin").stat().st_size > path.stat().st_size
    model = load_onnx_face_model(path)
    assert np.allclose(model.embed(*aligned), load_onnx_face_model(tiny_file[0]).embed(*aligned), atol=1e-6)
    with pytest.raises(CheckpointError, match="with its external data, over the"):
        load_onnx_face_model(path, max_bytes=path.stat().st_size + 100)
