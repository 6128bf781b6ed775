"""An ONNX graph as a PyTorch module, so that gradients, forward hooks, captum and Grad-CAM work on
any exported face model.

:class:`OnnxGraphModule` holds the graph's initializers and runs its nodes in topological order with
torch ops. Conv, ConvTranspose, Gemm (and MatMul by a constant matrix), BatchNormalization and PRelu
nodes become real submodules (subclasses of nn.Conv2d, nn.ConvTranspose2d, nn.Linear,
nn.BatchNorm2d, nn.PReLU) named after their sanitized node names, so ``named_modules()`` lists them
and hooks on them fire; every intermediate value can be captured by its graph name (:meth:`run`).

Subgraphs that depend on constants only are folded once at construction: int8 / uint8 weights behind
DequantizeLinear (per tensor, per channel, or blocked with opset 21's ``block_size``) become the
float weights of those submodules, exactly as a runtime dequantises them. A QuantizeLinear ->
DequantizeLinear pair on an activation is a fake quantisation: round half to even and saturate, as
ONNX defines it, with a straight-through gradient (1 / scale inside the integer range, 0 outside), so
attributions flow through quantised graphs.

A graph whose input batch is fixed to 1 still runs batches: a Reshape to a constant shape with a
literal leading 1 takes the batch of its input instead (what a constant-folded ``x.view(1, -1)``
needs). Graphs for which that is not enough run one sample at a time (:attr:`per_sample`; the loader
decides by checking against onnxruntime); hooks then fire once per sample.

Supported operators (default domain, opsets up to 21): see ``supported_ops()``. Anything else
raises CheckpointError naming it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Collection

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, numpy_helper
from torch import nn

from interpface.errors import CheckpointError

__all__ = ["OnnxGraphModule", "MAX_OPSET", "check_supported", "supported_ops", "graph_opset", "tensor_from_proto"]

MAX_OPSET = 21

_DTYPES = {
    TensorProto.FLOAT: torch.float32,
    TensorProto.DOUBLE: torch.float64,
    TensorProto.FLOAT16: torch.float16,
    TensorProto.BFLOAT16: torch.bfloat16,
    TensorProto.INT8: torch.int8,
    TensorProto.UINT8: torch.uint8,
    TensorProto.INT16: torch.int16,
    TensorProto.INT32: torch.int32,
    TensorProto.INT64: torch.int64,
    TensorProto.BOOL: torch.bool,
}
#: integer range of QuantizeLinear's output types (its output is carried as float, see _quantize)
_QRANGE = {
    TensorProto.UINT8: (0, 255),
    TensorProto.INT8: (-128, 127),
    TensorProto.UINT16: (0, 65535),
    TensorProto.INT16: (-32768, 32767),
}


def graph_opset(model: onnx.ModelProto) -> int:
    """The default-domain opset the model imports (1 when it declares none)."""
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)


def tensor_from_proto(proto: onnx.TensorProto) -> torch.Tensor:
    """An ONNX tensor (external data already loaded) as a torch tensor of the same dtype."""
    if proto.data_type not in _DTYPES:
        raise CheckpointError(
            f"tensor {proto.name!r}: data type {TensorProto.DataType.Name(proto.data_type)} is not supported"
        )
    array = np.array(numpy_helper.to_array(proto))
    if proto.data_type == TensorProto.BFLOAT16:  # numpy has no bfloat16 of its own (onnx uses ml_dtypes)
        return torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(array)


def _sanitize(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_")


class _Batch:
    """The batch size of the run in progress, for a graph whose input batch is fixed to 1 (see _reshape)."""

    size = 1


class _Node:
    """One node while it is built: attributes, opset, and the values of its constant inputs."""

    def __init__(self, proto: onnx.NodeProto, opset: int, consts: dict[str, torch.Tensor], batch: _Batch | None):
        self.proto, self.op, self.opset, self.batch = proto, proto.op_type, opset, batch
        self.attrs = {}
        for a in proto.attribute:
            v = onnx.helper.get_attribute_value(a)
            self.attrs[a.name] = (
                v.decode() if isinstance(v, bytes) else tensor_from_proto(v) if isinstance(v, onnx.TensorProto) else v
            )
        self._consts = consts

    def attr(self, key: str, default=None):
        return self.attrs.get(key, default)

    def const(self, i: int) -> torch.Tensor | None:
        """The constant value of input i (None: absent or computed at run time)."""
        name = self.proto.input[i] if i < len(self.proto.input) else ""
        return self._consts.get(name) if name else None

    def has_input(self, i: int) -> bool:
        return i < len(self.proto.input) and self.proto.input[i] != ""

    def fail(self, why: str) -> CheckpointError:
        return CheckpointError(f"ONNX {self.op} node {self.proto.name or self.proto.output[0]!r}: {why}")


def _ints(t) -> list[int]:
    return [int(v) for v in t.tolist()] if isinstance(t, torch.Tensor) else [int(v) for v in t]


# ------------------------------------------------------------------------------- module nodes
def _same_pads(sizes, kernel, strides, dilations, upper: bool) -> list[int]:
    """ONNX auto_pad SAME_UPPER / SAME_LOWER: [begin..., end...] so that out = ceil(in / stride)."""
    begin, end = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if upper else large)
        end.append(large if upper else small)
    return begin + end


def _torch_pad(pads: list[int]) -> list[int]:
    """ONNX 2-D pads [top, left, bottom, right] -> F.pad's (left, right, top, bottom)."""
    return [pads[1], pads[3], pads[0], pads[2]]


class _Spatial:
    """The spatial attributes of a Conv / pool node and how to pad its input."""

    def __init__(self, n: _Node, kernel):
        self.kernel = list(kernel)
        self.strides = list(n.attr("strides", [1, 1]))
        self.dilations = list(n.attr("dilations", [1, 1]))
        self.pads = list(n.attr("pads", [0, 0, 0, 0]))
        self.auto_pad = n.attr("auto_pad", "NOTSET")
        if len(self.kernel) != 2:
            raise n.fail(f"only 2-D (N, C, H, W) inputs are supported, this one has {len(self.kernel)} spatial dims")
        if self.auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
            raise n.fail(f"auto_pad {self.auto_pad!r} is not supported")
        if self.auto_pad == "VALID":
            self.pads = [0, 0, 0, 0]

    @property
    def symmetric(self) -> tuple[int, int] | None:
        """(pad_h, pad_w) when the padding is static and the same on both sides, else None."""
        p = self.pads
        if self.auto_pad.startswith("SAME") or p[0] != p[2] or p[1] != p[3]:
            return None
        return p[0], p[1]

    def pads_for(self, x: torch.Tensor) -> list[int]:
        if self.auto_pad.startswith("SAME"):
            return _same_pads(x.shape[-2:], self.kernel, self.strides, self.dilations, self.auto_pad == "SAME_UPPER")
        return self.pads


def _meta_init(module: nn.Module, **tensors: torch.Tensor) -> nn.Module:
    """Put the graph's tensors in a module built on the meta device (no random init of big weights):
    floating tensors named weight / bias become parameters, the others buffers."""
    for key, value in tensors.items():
        if value is None:
            setattr(module, key, None)
        elif key in ("weight", "bias"):
            setattr(module, key, nn.Parameter(value.detach().clone().float()))
        else:
            setattr(module, key, value.detach().clone())
    return module


class OnnxConv2d(nn.Conv2d):
    """An ONNX Conv: nn.Conv2d with ONNX's padding (asymmetric pads and auto_pad applied by F.pad first)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, spatial: _Spatial, groups: int):
        cout, cin_g, kh, kw = weight.shape
        super().__init__(
            cin_g * groups,
            cout,
            (kh, kw),
            spatial.strides,
            spatial.symmetric or 0,
            spatial.dilations,
            groups,
            bias=bias is not None,
            device="meta",
        )
        self.spatial = spatial
        _meta_init(self, weight=weight, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spatial.symmetric is None:
            x = F.pad(x, _torch_pad(self.spatial.pads_for(x)))
        return super().forward(x)


class OnnxConvTranspose2d(nn.ConvTranspose2d):
    """An ONNX ConvTranspose: the full transposed convolution, then its pads cropped off."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, spatial: _Spatial, groups: int, output_padding):
        cin, cout_g, kh, kw = weight.shape
        super().__init__(
            cin,
            cout_g * groups,
            (kh, kw),
            spatial.strides,
            0,
            list(output_padding),
            groups,
            bias=bias is not None,
            dilation=spatial.dilations,
            device="meta",
        )
        self.crop = spatial.pads
        _meta_init(self, weight=weight, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return F.pad(y, [-v for v in _torch_pad(self.crop)])  # negative pads crop


class OnnxBatchNorm(nn.BatchNorm2d):
    """An ONNX BatchNormalization: inference mode (running statistics), on (N, C, ...) of any rank."""

    def __init__(self, scale, bias, mean, var, eps: float):
        super().__init__(scale.numel(), eps=eps, device="meta")
        _meta_init(
            self,
            weight=scale,
            bias=bias,
            running_mean=mean.float(),
            running_var=var.float(),
            num_batches_tracked=torch.zeros((), dtype=torch.long),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


class OnnxPReLU(nn.PReLU):
    """An ONNX PRelu: the slope keeps its ONNX shape, which broadcasts against the input."""

    def __init__(self, slope: torch.Tensor):
        super().__init__(slope.numel(), device="meta")
        self.slope_shape = tuple(slope.shape)
        _meta_init(self, weight=slope.reshape(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(x.dtype)
        if self.slope_shape[1:] == (1,) * (x.dim() - 2) and x.dim() >= 2 and self.slope_shape[0] == x.shape[1]:
            return F.prelu(x, weight)  # one slope per channel: the fused kernel
        return torch.where(x >= 0, x, x * weight.view(self.slope_shape))


class OnnxLinear(nn.Linear):
    """An ONNX Gemm (alpha folded into the weight, beta into the bias), or a MatMul by a constant matrix."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, trans_a: bool = False):
        super().__init__(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
        self.trans_a = trans_a
        _meta_init(self, weight=weight, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.t() if self.trans_a else x)


def _conv(n: _Node):
    w, b = n.const(1), n.const(2)
    if w is None or (n.has_input(2) and b is None):
        raise n.fail("weights computed at run time are not supported")
    return OnnxConv2d(w, b, _Spatial(n, w.shape[2:]), n.attr("group", 1))


def _conv_transpose(n: _Node):
    w, b = n.const(1), n.const(2)
    if w is None or (n.has_input(2) and b is None):
        raise n.fail("weights computed at run time are not supported")
    spatial = _Spatial(n, w.shape[2:])
    if spatial.auto_pad != "NOTSET" or n.attr("output_shape"):
        raise n.fail("auto_pad / output_shape are not supported")
    return OnnxConvTranspose2d(w, b, spatial, n.attr("group", 1), n.attr("output_padding", [0, 0]))


def _batchnorm(n: _Node):
    params = [n.const(i) for i in range(1, 5)]
    if any(p is None for p in params):
        raise n.fail("scale, bias, mean and variance must be constants")
    if len(n.proto.output) > 1 or n.attr("training_mode", 0):
        raise n.fail("training mode is not supported")
    return OnnxBatchNorm(*params, eps=n.attr("epsilon", 1e-5))


def _prelu(n: _Node):
    slope = n.const(1)
    if slope is None:
        return lambda x, s: torch.where(x >= 0, x, x * s)
    return OnnxPReLU(slope)


def _gemm(n: _Node):
    alpha, beta = n.attr("alpha", 1.0), n.attr("beta", 1.0)
    trans_a, trans_b = bool(n.attr("transA", 0)), bool(n.attr("transB", 0))
    b, c = n.const(1), n.const(2)
    if b is None:

        def run(a, b, c=None):
            y = alpha * ((a.t() if trans_a else a) @ (b.t() if trans_b else b))
            return y if c is None else y + beta * c

        return run
    weight = alpha * (b if trans_b else b.t())  # (N, K)
    if not n.has_input(2):
        return OnnxLinear(weight, None, trans_a)
    out = weight.shape[0]
    # only a C that broadcasts as one row ((), (N,), (1, N)) is a bias; other shapes are rare in exports
    if c is None or c.dim() > 2 or (c.numel() != 1 and (c.shape[-1] != out or c.numel() != out)):
        raise n.fail("C must be a constant scalar or row vector")
    return OnnxLinear(weight, beta * c.reshape(-1).expand(out).float(), trans_a)


def _matmul(n: _Node):
    b = n.const(1)
    if b is not None and b.dim() == 2 and b.is_floating_point():
        return OnnxLinear(b.t(), None)
    return torch.matmul


# ------------------------------------------------------------------------------ functional nodes
def _elementwise(fn):
    return lambda n: fn


def _div(a, b):
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")  # ONNX integer division truncates


def _pow(a, b):
    return torch.pow(a, b).to(a.dtype)


def _variadic(fn):
    return lambda n: lambda *xs: functools.reduce(fn, xs)


def _clip(n: _Node):
    lo_attr, hi_attr = n.attr("min"), n.attr("max")

    def run(x, lo=None, hi=None):
        lo = lo_attr if lo is None else lo.item()
        hi = hi_attr if hi is None else hi.item()
        if lo is None and hi is None:
            return x
        return x.clamp(lo, hi)

    return run


def _reduce(fn):
    def make(n: _Node):
        axes_attr = n.attr("axes")
        keep, noop = bool(n.attr("keepdims", 1)), bool(n.attr("noop_with_empty_axes", 0))

        def run(x, axes=None):
            dims = _ints(axes) if axes is not None else axes_attr
            if not dims:
                if noop:
                    return x
                dims = list(range(x.dim()))
            return fn(x, dims, keep)

        return run

    return make


def _softmax(fn):
    def make(n: _Node):
        if n.opset < 13:  # the input is coerced to 2-D at axis
            axis = n.attr("axis", 1)

            def coerced(x):
                a = axis % x.dim()
                return fn(x.reshape(math.prod(x.shape[:a]), -1), -1).reshape(x.shape)

            return coerced
        axis = n.attr("axis", -1)
        return lambda x: fn(x, axis)

    return make


def _flatten(n: _Node):
    axis = n.attr("axis", 1)

    def run(x):
        a = axis % x.dim() if x.dim() else 0
        return x.reshape(math.prod(x.shape[:a]), -1)

    return run


def _reshape(n: _Node):
    allow_zero, batch = bool(n.attr("allowzero", 0)), n.batch

    def run(x, shape):
        dims = _ints(shape)
        if not allow_zero:  # 0 copies the input's dimension
            dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
        if batch is not None and batch.size != 1 and dims and dims[0] == 1 and x.dim() and x.shape[0] == batch.size:
            dims[0] = batch.size  # a literal batch of 1 in a graph exported for one sample
        return x.reshape(dims)

    return run


def _transpose(n: _Node):
    perm = n.attr("perm")
    return lambda x: x.permute(perm if perm is not None else list(range(x.dim() - 1, -1, -1)))


def _pool(n: _Node):
    spatial = _Spatial(n, n.attr("kernel_shape"))
    ceil = bool(n.attr("ceil_mode", 0))
    if n.op == "MaxPool":
        if len(n.proto.output) > 1 or n.attr("storage_order", 0):
            raise n.fail("the Indices output is not supported")

        def maxpool(x):
            sym = spatial.symmetric
            if sym is not None and all(2 * p <= k for p, k in zip(sym, spatial.kernel)):
                return F.max_pool2d(x, spatial.kernel, spatial.strides, sym, spatial.dilations, ceil)
            x = F.pad(x, _torch_pad(spatial.pads_for(x)), value=-math.inf)
            return F.max_pool2d(x, spatial.kernel, spatial.strides, 0, spatial.dilations, ceil)

        return maxpool
    if spatial.dilations != [1, 1]:
        raise n.fail("dilated average pooling is not supported")
    include_pad = bool(n.attr("count_include_pad", 0))

    def avgpool(x):
        pads = spatial.pads_for(x)
        if not any(pads) and not ceil:
            return F.avg_pool2d(x, spatial.kernel, spatial.strides)
        # sum of the window / number of counted cells, both from one average pool over the padded input
        counted = torch.ones((1, 1) + tuple(x.shape[-2:]), dtype=x.dtype, device=x.device)
        counted = F.pad(counted, _torch_pad(pads), value=1.0 if include_pad else 0.0)
        x = F.pad(x, _torch_pad(pads))
        return F.avg_pool2d(x, spatial.kernel, spatial.strides, 0, ceil) / F.avg_pool2d(
            counted, spatial.kernel, spatial.strides, 0, ceil
        )

    return avgpool


def _global_pool(fn):
    return lambda n: lambda x: fn(x, list(range(2, x.dim())), True)


def _concat(n: _Node):
    axis = n.attr("axis")
    return lambda *xs: torch.cat(xs, dim=axis)


def _shape(n: _Node):
    start, end = n.attr("start", 0), n.attr("end")
    return lambda x: torch.tensor(x.shape[start:end], dtype=torch.int64)


def _wrap(idx: torch.Tensor, size: int) -> torch.Tensor:
    return torch.where(idx < 0, idx + size, idx)


def _gather(n: _Node):
    axis = n.attr("axis", 0)

    def run(x, idx):
        a = axis % x.dim()
        out = x.index_select(a, _wrap(idx, x.shape[a]).reshape(-1))
        return out.reshape(x.shape[:a] + idx.shape + x.shape[a + 1 :])

    return run


def _unsqueeze(n: _Node):
    axes_attr = n.attr("axes")

    def run(x, axes=None):
        dims = _ints(axes) if axes is not None else axes_attr
        rank = x.dim() + len(dims)
        for d in sorted(d % rank for d in dims):
            x = x.unsqueeze(d)
        return x

    return run


def _squeeze(n: _Node):
    axes_attr = n.attr("axes")

    def run(x, axes=None):
        dims = _ints(axes) if axes is not None else axes_attr
        return x.squeeze() if not dims else x.squeeze(tuple(d % x.dim() for d in dims))

    return run


def _slice(n: _Node):
    attrs = (n.attr("starts"), n.attr("ends"), n.attr("axes"))

    def run(x, starts=None, ends=None, axes=None, steps=None):
        if starts is None:  # opset < 10: attributes
            starts, ends, axes = attrs
        starts, ends = _ints(starts), _ints(ends)
        axes = _ints(axes) if axes is not None else list(range(len(starts)))
        steps = _ints(steps) if steps is not None else [1] * len(starts)
        for start, end, axis, step in zip(starts, ends, axes, steps):
            size, axis = x.shape[axis], axis % x.dim()
            if step > 0:
                x = x[(slice(None),) * axis + (slice(start, end, step),)]
            else:  # torch slices have no negative step: clamp as ONNX does and index
                start = min(max(start + size if start < 0 else start, 0), size - 1)
                end = min(max(end + size if end < 0 else end, -1), size - 1)
                x = x.index_select(axis, torch.arange(start, end, step, device=x.device))
        return x

    return run


def _constant(n: _Node):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in n.attrs:
            value = n.attrs[key]
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            return lambda: t
    raise n.fail(f"only value* attributes are supported, got {sorted(n.attrs)}")


def _dropout(n: _Node):
    if len(n.proto.output) > 1 and n.proto.output[1]:
        return lambda x, *_: (x, torch.ones_like(x, dtype=torch.bool))
    return lambda x, *_: x


def _pad(n: _Node):
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(
        n.attr("mode", "constant")
    )
    if mode is None:
        raise n.fail(f"mode {n.attr('mode')!r} is not supported")
    pads_attr, value_attr = n.attr("pads"), n.attr("value", 0.0)

    def run(x, pads=None, value=None, axes=None):
        p = _ints(pads) if pads is not None else pads_attr
        r = x.dim()
        dims = [a % r for a in _ints(axes)] if axes is not None else list(range(r))
        begin, end = [0] * r, [0] * r
        for i, a in enumerate(dims):
            begin[a], end[a] = p[i], p[i + len(dims)]
        torch_pads = [v for d in reversed(range(r)) for v in (begin[d], end[d])]
        while torch_pads and not any(torch_pads[-2:]):  # unpadded leading dims (reflect needs that)
            torch_pads = torch_pads[:-2]
        if mode != "constant":
            return F.pad(x, torch_pads, mode=mode)
        return F.pad(x, torch_pads, value=value_attr if value is None or value.numel() == 0 else value.item())

    return run


def _lp_norm(n: _Node):
    axis, p = n.attr("axis", -1), n.attr("p", 2)
    return lambda x: x / torch.linalg.vector_norm(x, p, dim=axis, keepdim=True)


def _cast(n: _Node):
    to = n.attr("to")
    if to not in _DTYPES:
        raise n.fail(f"cast to {TensorProto.DataType.Name(to)} is not supported")
    return lambda x: x.to(_DTYPES[to])


def _expand(n: _Node):
    return lambda x, shape: x.expand(torch.broadcast_shapes(x.shape, tuple(_ints(shape))))


def _split(n: _Node):
    axis, split_attr, count = n.attr("axis", 0), n.attr("split"), len(n.proto.output)

    def run(x, split=None):
        sizes = _ints(split) if split is not None else split_attr
        # no sizes: equal parts (opset 18: the last one smaller)
        return torch.split(x, sizes if sizes else math.ceil(x.shape[axis] / count), dim=axis)

    return run


def _resize(n: _Node):
    mode = n.attr("mode", "nearest")
    # opset 10's Resize (Upsample's semantics) is asymmetric and rounds nearest down
    coords = n.attr("coordinate_transformation_mode", "asymmetric" if n.opset < 11 else "half_pixel")
    rounding = n.attr("nearest_mode", "floor" if n.opset < 11 else "round_prefer_floor")
    if n.attr("antialias", 0) or n.attr("axes") or n.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise n.fail("antialias, axes and keep_aspect_ratio_policy are not supported")
    if mode == "linear" and coords in ("half_pixel", "pytorch_half_pixel"):
        kind, corners = "bilinear", False
    elif mode == "linear" and coords == "align_corners":
        kind, corners = "bilinear", True
    elif mode == "nearest" and coords == "asymmetric" and rounding == "floor":
        kind, corners = "nearest", None
    elif mode == "nearest" and coords in ("half_pixel", "pytorch_half_pixel") and rounding == "round_prefer_ceil":
        kind, corners = "nearest-exact", None
    else:
        raise n.fail(
            f"mode {mode!r} with coordinate_transformation_mode {coords!r} and nearest_mode "
            f"{rounding!r} is not supported"
        )

    def run(x, *args):
        scales, sizes = (args[0], None) if n.opset < 11 else (args[1:] + (None, None))[:2]
        if x.dim() != 4:
            raise n.fail(f"only 4-D inputs can be resized, got {x.dim()}-D")
        if sizes is not None and sizes.numel():
            if _ints(sizes[:2]) != list(x.shape[:2]):
                raise n.fail("resizing N or C is not supported")
            return F.interpolate(x, size=_ints(sizes[2:]), mode=kind, align_corners=corners)
        factors = [float(s) for s in scales.tolist()]
        if factors[:2] != [1.0, 1.0]:
            raise n.fail("resizing N or C is not supported")
        return F.interpolate(
            x, scale_factor=factors[2:], mode=kind, align_corners=corners, recompute_scale_factor=False
        )

    return run


def _qparam(p: torch.Tensor, x: torch.Tensor, axis: int, block: int) -> torch.Tensor:
    """A scale / zero point shaped to broadcast against x: per tensor, per axis, or per block along axis."""
    if p.dim() == 0 or (p.numel() == 1 and not block):
        return p.reshape(())
    axis %= x.dim()
    if block:
        return p.repeat_interleave(block, dim=axis).narrow(axis, 0, x.shape[axis])
    shape = [1] * x.dim()
    shape[axis] = -1
    return p.reshape(shape)


def _dequantize(n: _Node):
    axis, block = n.attr("axis", 1), n.attr("block_size", 0)

    def run(x, scale, zero=None):
        s = _qparam(scale, x, axis, block)
        if zero is not None:
            z = _qparam(zero, x, axis, block)
            # subtract in integers first, as runtimes do (int32 biases exceed float's 24-bit mantissa)
            x = x - z if x.is_floating_point() else x.to(torch.int64) - z.to(torch.int64)
        return x.to(s.dtype) * s

    return run


def _quantize(n: _Node):
    axis, block = n.attr("axis", 1), n.attr("block_size", 0)
    zero = n.const(2)
    if zero is not None:
        qtype = {torch.uint8: TensorProto.UINT8, torch.int8: TensorProto.INT8, torch.int16: TensorProto.INT16}.get(
            zero.dtype, -1
        )
    else:
        qtype = n.attr("output_dtype", 0) or TensorProto.UINT8
    if qtype not in _QRANGE or (n.has_input(2) and zero is None):
        raise n.fail("only 8- and 16-bit integer outputs with a constant zero point are supported")
    qmin, qmax = _QRANGE[qtype]

    def run(x, scale, zp=None):
        # The integer result is carried as float (DequantizeLinear reads it), so gradients can flow:
        # forward = round half to even (ONNX's rounding) then saturate; backward = straight through.
        v = x / _qparam(scale, x, axis, block)
        q = v + (torch.round(v) - v).detach()
        if zp is not None:
            q = q + _qparam(zp, x, axis, block).to(q.dtype)
        return q.clamp(qmin, qmax)

    return run


def _topk(n: _Node):
    axis, largest, ordered = n.attr("axis", -1), bool(n.attr("largest", 1)), bool(n.attr("sorted", 1))
    k_attr = n.attr("k")
    return lambda x, k=None: tuple(torch.topk(x, int(k) if k is not None else k_attr, axis, largest, ordered))


def _scatter_elements(n: _Node):
    axis = n.attr("axis", 0)
    if n.attr("reduction", "none") != "none":
        raise n.fail(f"reduction {n.attr('reduction')!r} is not supported")
    return lambda x, idx, upd: torch.scatter(x, axis, _wrap(idx, x.shape[axis]), upd)


def _scatter_nd(n: _Node):
    """data with updates written at the index tuples in indices (..., k): the last axis of indices
    addresses the first k axes of data (no reduction)."""
    if n.attr("reduction", "none") != "none":
        raise n.fail(f"reduction {n.attr('reduction')!r} is not supported")

    def run(x, idx, upd):
        k = idx.shape[-1]
        flat_idx = idx.reshape(-1, k).long()
        out = x.clone()
        out[tuple(_wrap(flat_idx[:, j], x.shape[j]) for j in range(k))] = upd.reshape(-1, *x.shape[k:]).to(x.dtype)
        return out

    return run


def _range(n: _Node):
    def run(start, limit, delta):
        return torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype)

    return run


def _constant_of_shape(n: _Node):
    value = n.attr("value")
    value = value if value is not None else torch.zeros(1)
    return lambda shape: torch.full(_ints(shape), value.item(), dtype=value.dtype)


def _elu(n: _Node):
    alpha = n.attr("alpha", 1.0)
    return lambda x: F.elu(x, alpha)


def _leaky_relu(n: _Node):
    alpha = n.attr("alpha", 0.01)
    return lambda x: F.leaky_relu(x, alpha)


def _hard_sigmoid(n: _Node):
    alpha, beta = n.attr("alpha", 0.2), n.attr("beta", 0.5)
    return lambda x: (alpha * x + beta).clamp(0.0, 1.0)


def _gelu(n: _Node):
    approximate = n.attr("approximate", "none")
    return lambda x: F.gelu(x, approximate=approximate)


_BUILDERS: dict[str, Callable[[_Node], Callable | nn.Module]] = {
    # submodules
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "BatchNormalization": _batchnorm,
    "PRelu": _prelu,
    "Gemm": _gemm,
    "MatMul": _matmul,
    # activations
    "Relu": _elementwise(torch.relu),
    "Sigmoid": _elementwise(torch.sigmoid),
    "Tanh": _elementwise(torch.tanh),
    "LeakyRelu": _leaky_relu,
    "Elu": _elu,
    "HardSigmoid": _hard_sigmoid,
    "HardSwish": _elementwise(F.hardswish),
    "Gelu": _gelu,
    "Erf": _elementwise(torch.erf),
    "Clip": _clip,
    # arithmetic
    "Add": _elementwise(torch.add),
    "Sub": _elementwise(torch.sub),
    "Mul": _elementwise(torch.mul),
    "Div": _elementwise(_div),
    "Pow": _elementwise(_pow),
    "Sqrt": _elementwise(torch.sqrt),
    "Reciprocal": _elementwise(torch.reciprocal),
    "Neg": _elementwise(torch.neg),
    "Exp": _elementwise(torch.exp),
    "Abs": _elementwise(torch.abs),
    "Max": _variadic(torch.maximum),
    "Min": _variadic(torch.minimum),
    "Equal": _elementwise(torch.eq),
    "Where": _elementwise(torch.where),
    # shapes
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Concat": _concat,
    "Shape": _shape,
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Slice": _slice,
    "Expand": _expand,
    "Split": _split,
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Identity": _elementwise(lambda x: x),
    "Dropout": _dropout,
    "Cast": _cast,
    "Pad": _pad,
    # pooling, reductions, normalisation
    "GlobalAveragePool": _global_pool(torch.mean),
    "GlobalMaxPool": _global_pool(torch.amax),
    "AveragePool": _pool,
    "MaxPool": _pool,
    "ReduceMean": _reduce(lambda x, d, k: x.mean(dim=d, keepdim=k)),
    "ReduceSum": _reduce(lambda x, d, k: x.sum(dim=d, keepdim=k)),
    "ReduceMax": _reduce(lambda x, d, k: x.amax(dim=d, keepdim=k)),
    "ReduceL2": _reduce(lambda x, d, k: torch.linalg.vector_norm(x, 2, dim=d, keepdim=k)),
    "LpNormalization": _lp_norm,
    "Softmax": _softmax(torch.softmax),
    "LogSoftmax": _softmax(torch.log_softmax),
    "TopK": _topk,
    "ScatterElements": _scatter_elements,
    "ScatterND": _scatter_nd,
    "Range": _range,
    "Resize": _resize,
    # quantisation
    "DequantizeLinear": _dequantize,
    "QuantizeLinear": _quantize,
}


def supported_ops() -> tuple[str, ...]:
    """The ONNX operators (default domain) the converter runs."""
    return tuple(sorted(_BUILDERS))


def check_supported(model: onnx.ModelProto) -> None:
    """CheckpointError naming every operator the converter does not run, or an opset above MAX_OPSET."""
    opset = graph_opset(model)
    if opset > MAX_OPSET:
        raise CheckpointError(f"ONNX opset {opset} is newer than the converter knows (up to {MAX_OPSET})")
    bad = []
    for node in model.graph.node:
        name = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        if name not in _BUILDERS and name not in bad:
            bad.append(name)
    if bad:
        raise CheckpointError(f"unsupported ONNX operator(s): {', '.join(bad)}")


def _toposort(graph: onnx.GraphProto, known: set[str]) -> list[onnx.NodeProto]:
    """The nodes in an order where each one's inputs are computed before it (exports are usually
    sorted already; not every producer guarantees it)."""
    pending, ordered, ready = list(graph.node), [], set(known) | {""}
    while pending:
        rest = [node for node in pending if not all(i in ready for i in node.input)]
        done = [node for node in pending if all(i in ready for i in node.input)]
        if not done:
            missing = sorted({i for node in rest for i in node.input if i not in ready})
            raise CheckpointError(f"ONNX graph: value(s) {', '.join(missing[:4])} used but never computed")
        for node in done:
            ordered.append(node)
            ready.update(node.output)
        pending = rest
    return ordered


class _Step:
    """One node at run time: its function (a submodule or a plain function) and the values it uses."""

    __slots__ = ("fn", "inputs", "outputs", "release", "label")

    def __init__(self, fn, inputs: list[str], outputs: list[str], label: str):
        self.fn, self.inputs, self.outputs, self.label = fn, inputs, outputs, label
        self.release: list[str] = []


class OnnxGraphModule(nn.Module):
    """An ONNX graph as an nn.Module: ``forward(x)`` returns the graph output named :attr:`output`
    (the first one unless set); :meth:`run` returns any intermediate values by name."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        check_supported(model)
        graph, opset = model.graph, graph_opset(model)
        consts = {t.name: tensor_from_proto(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in consts]
        self.output_names = [o.name for o in graph.output]
        self.output = self.output_names[0] if self.output_names else ""
        dims = [
            graph.input[[i.name for i in graph.input].index(n)].type.tensor_type.shape.dim for n in self.input_names
        ]
        #: the graph's input batch is fixed to 1 (see _reshape)
        self.fixed_batch = bool(dims) and len(dims[0]) > 0 and dims[0][0].dim_value == 1
        self._batch = _Batch() if self.fixed_batch else None
        #: run one sample at a time (set by the loader when batched runs do not match onnxruntime)
        self.per_sample = False
        #: graph value -> name of the submodule that computes it
        self.module_names: dict[str, str] = {}
        #: every value computed at run time -> the op type of its node, in the order they are computed
        self.value_ops: dict[str, str] = {}
        self._steps: list[_Step] = []
        self.constants = nn.Module()
        self._const_attrs: dict[str, str] = {}
        taken: set[str] = set(dir(self))
        for index, proto in enumerate(_toposort(graph, set(consts) | set(self.input_names))):
            node = _Node(proto, opset, consts, self._batch)
            fn = _BUILDERS[proto.op_type](node)
            label = f"{proto.op_type} node {proto.name or proto.output[0]!r}"
            inputs = [proto.input[i] if i < len(proto.input) else "" for i in range(len(proto.input))]
            if all(i in consts or i == "" for i in inputs):  # fold: computed once, here
                with torch.no_grad():
                    outs = self._call(fn, [consts.get(i) for i in inputs], label)
                consts.update(zip(proto.output, outs))
                continue
            if isinstance(fn, nn.Module):
                name = _sanitize(proto.name) or f"{proto.op_type}_{index}"
                while name in taken:
                    name += "_"
                taken.add(name)
                self.add_module(name, fn)
                self.module_names.update({o: name for o in proto.output})
                inputs = inputs[:1]  # the module holds the rest
            self._steps.append(_Step(fn, inputs, list(proto.output), label))
            self.value_ops.update({o: proto.op_type for o in proto.output if o})
        self._keep_constants(consts)
        self._plan_release()

    def _keep_constants(self, consts: dict[str, torch.Tensor]) -> None:
        """Register the constants that run-time nodes read as buffers (they follow .to(device))."""
        used = {i for step in self._steps for i in step.inputs} | set(self.output_names)
        for value in sorted(used & set(consts)):
            attr = _sanitize(value) or "value"
            while attr in self._const_attrs.values():
                attr += "_"
            self.constants.register_buffer(attr, consts[value])
            self._const_attrs[value] = attr

    def _plan_release(self) -> None:
        """Free each value after its last use (a deep network's activations would not fit otherwise)."""
        last: dict[str, int] = {}
        for k, step in enumerate(self._steps):
            for name in step.inputs:
                last[name] = k
        for name, k in last.items():
            if name and name not in self._const_attrs and name not in self.output_names:
                self._steps[k].release.append(name)

    @staticmethod
    def _call(fn, args, label: str) -> tuple:
        try:
            out = fn(args[0]) if isinstance(fn, nn.Module) else fn(*args)
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - a torch error inside a node: name the node
            text = str(exc).strip().splitlines()
            raise CheckpointError(f"{label}: {text[0][:200] if text else type(exc).__name__}") from exc
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    def run(self, *inputs: torch.Tensor, keep: Collection[str] = ()) -> dict[str, torch.Tensor]:
        """{name: value} of the graph outputs and of the intermediate values named in keep."""
        if self.per_sample and inputs and inputs[0].shape[0] > 1:
            parts = [self._run([x[i : i + 1] for x in inputs], keep) for i in range(inputs[0].shape[0])]
            return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return self._run(list(inputs), keep)

    def _run(self, inputs: list[torch.Tensor], keep: Collection[str]) -> dict[str, torch.Tensor]:
        if len(inputs) != len(self.input_names):
            raise CheckpointError(f"the ONNX graph takes {len(self.input_names)} input(s), got {len(inputs)}")
        if self._batch is not None:
            self._batch.size = inputs[0].shape[0]
        env = {v: getattr(self.constants, a) for v, a in self._const_attrs.items()}
        env.update(zip(self.input_names, inputs))
        env[""] = None
        keep = set(keep)
        for step in self._steps:
            outs = self._call(step.fn, [env[i] for i in step.inputs], step.label)
            env.update(zip(step.outputs, outs))
            for name in step.release:
                if name not in keep:
                    del env[name]
        return {name: env[name] for name in (*self.output_names, *keep) if name in env}

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.run(*inputs)[self.output]

    def extra_repr(self) -> str:
        return f"inputs={self.input_names}, output={self.output!r}, nodes={len(self._steps)}"
