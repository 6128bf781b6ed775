"""Incremental forward passes for occlusion sweeps (private).

An occluder changes the network input only inside a small box. In the early, high-resolution layers
(3x3 convs followed by per-pixel BatchNorm and activation) the change spreads by one pixel per layer
(halved by stride-2 layers), so most of each feature map equals the clean face's. For those layers
each occluded copy is recomputed only on a patch around its changed box, from the clean feature maps
(computed once) with the changed values pasted in; the first layer whose patch would cover more than
``MAX_PATCH_FRACTION`` of its map ends the incremental part, and the rest of the network runs on full
maps in batches. The result equals the plain forward up to float rounding (the same products summed in
a different order); ``OcclusionForward(..., enabled=False)`` is the plain forward, and tests compare
the two.

Psi (3x3 conv on Phi = [conv33 | conv44 | conv54], ~65% of the cpu model's FLOPs) is linear in Phi,
so it is split by part: conv33's share changes only around the conv33 region the incremental part
tracked, and is recomputed there alone on top of the clean face's share (computed once); conv44 and
conv54 come from the coarse layers, whose receptive fields cover the whole face, so their share runs
on full maps. Finally f comes from the kept values only (``lmf_mean``), not from full LMF maps.

This is what the occlusion-sensitivity speed target rests on: with one embedding dimension as the
target almost nothing of Psi runs; with every dimension (the cosine target) two thirds of Psi must run
for every occluded copy, which bounds that case's speed-up over plain forward passes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..lmf import lmf_mean
from ..models import _l2_normalize_channels

MAX_PATCH_FRACTION = 0.5


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _window_index(oy, ox, h: int, w: int, n_src: int):
    """Advanced-indexing triple (batch, rows, cols) that picks an h x w window per sample from a
    (B or 1, H, W, C) view: (B, 1, 1), (B, h, 1), (B, 1, w)."""
    b = len(oy)
    rows = torch.as_tensor(np.asarray(oy), dtype=torch.long)[:, None, None] + torch.arange(h)[None, :, None]
    cols = torch.as_tensor(np.asarray(ox), dtype=torch.long)[:, None, None] + torch.arange(w)[None, None, :]
    batch = torch.arange(b)[:, None, None] if n_src > 1 else torch.zeros((b, 1, 1), dtype=torch.long)
    return batch, rows, cols


def _windows(src: torch.Tensor, oy, ox, h: int, w: int) -> torch.Tensor:
    """(B, C, h, w), channels_last: the h x w window at (oy[i], ox[i]) of src[i] (of src[0] for every
    i when src holds one map), gathered in one indexing op. src: (B or 1, C, H, W)."""
    return src.permute(0, 2, 3, 1)[_window_index(oy, ox, h, w, src.shape[0])].permute(0, 3, 1, 2)


def _paste(dst: torch.Tensor, oy, ox, values: torch.Tensor) -> None:
    """dst[i, :, oy[i]:oy[i]+h, ox[i]:ox[i]+w] = values[i] for every i, in place. values: (B, C, h, w)."""
    h, w = values.shape[-2:]
    dst.permute(0, 2, 3, 1)[_window_index(oy, ox, h, w, dst.shape[0])] = values.permute(0, 2, 3, 1)


def _affected(a: int, b: int, k: int, s: int, p: int, d_out: int) -> tuple[int, int]:
    """Output range [lo, hi) of a conv (kernel k, stride s, padding p) touched by inputs [a, b)."""
    lo = max(0, math.ceil((a + p - k + 1) / s))
    hi = min(d_out, (b - 1 + p) // s + 1)
    return lo, hi


class OcclusionForward:
    """f(x) (or the selected dimensions of it) for occluded copies of one clean input x (1, 3, S, S).

    ``batch(x_occ, boxes)`` packages occluded inputs (B, 3, S, S) with the boxes (B, 4: x0, y0, x1, y1,
    half-open, input pixels) that contain every changed pixel; calling the object on that package
    returns f (B, K) or, with ``dims``, f[:, dims] (B, len(dims)), computing only those filters of Psi
    (a single-dimension target then skips almost all of Psi and LMF). ``clean(x)`` evaluates the clean
    input the same way.
    """

    def __init__(self, model: nn.Module, x_clean: torch.Tensor, *, enabled: bool = True,
                 dims: np.ndarray | None = None):
        self.model = model
        self.structured = self._supported(model)
        self.enabled = enabled and self.structured
        self.dims = None if dims is None else torch.as_tensor(np.asarray(dims, dtype=np.int64).reshape(-1))
        if not self.structured:
            return
        self.names = [name for name, _, _ in model._BACKBONE]
        if not self.enabled:
            return
        with torch.inference_mode():
            a = (x_clean - 0.5) * 2.0
            self.clean_in = []  # input map of each backbone layer, zero-padded by the conv's padding
            self.clean_out = []
            for name in self.names:
                layer = getattr(model, name)
                p = layer.conv.padding[0]
                self.clean_in.append(F.pad(a, (p, p, p, p)))
                a = layer(a)
                self.clean_out.append(a)

    @staticmethod
    def _supported(model: nn.Module) -> bool:
        if not hasattr(model, "_BACKBONE") or not hasattr(model, "_psi") or model.training:
            return False
        for name, _, _ in model._BACKBONE:
            conv = getattr(getattr(model, name, None), "conv", None)
            if not isinstance(conv, nn.Conv2d) or conv.kernel_size[0] != conv.kernel_size[1] \
                    or conv.padding[0] != conv.padding[1] or conv.stride[0] != conv.stride[1] \
                    or conv.dilation != (1, 1) or conv.groups != 1 or conv.kernel_size[0] < conv.stride[0]:
                return False
        return True

    def _plain(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims is None:
            return self.model(x).float()
        if not self.structured:
            return self.model(x).float()[:, self.dims]
        return self._finish((x - 0.5) * 2.0, 0)

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        return self._plain(x)

    def batch(self, x_occ: torch.Tensor, boxes: np.ndarray):
        return x_occ, np.asarray(boxes, dtype=np.int64).reshape(-1, 4)

    def __call__(self, package) -> torch.Tensor:
        x_occ, boxes = package
        if not self.enabled or len(x_occ) == 0:
            return self._plain(x_occ)
        return self._incremental(x_occ, boxes)

    # -- the incremental part ---------------------------------------------------------------------
    def _incremental(self, x_occ: torch.Tensor, boxes: np.ndarray) -> torch.Tensor:
        model = self.model
        b = x_occ.shape[0]
        # region of the current modified map (per sample): values (B, C, h, w) at (y0, x0) per sample
        ys0, xs0 = boxes[:, 1].copy(), boxes[:, 0].copy()
        hh = int(max(1, (boxes[:, 3] - boxes[:, 1]).max()))
        ww = int(max(1, (boxes[:, 2] - boxes[:, 0]).max()))
        size = x_occ.shape[-1]
        ys0 = np.minimum(ys0, size - hh)
        xs0 = np.minimum(xs0, size - ww)
        a_full = (x_occ - 0.5) * 2.0
        values = _windows(a_full, ys0, xs0, hh, ww)
        done = 0
        last = self.names.index("conv33")  # the hypercolumn needs the whole conv33 map
        for li, name in enumerate(self.names[:last + 1]):
            layer = getattr(model, name)
            k, s, p = layer.conv.kernel_size[0], layer.conv.stride[0], layer.conv.padding[0]
            d_out = self.clean_out[li].shape[-1]
            ry = [_affected(int(y), int(y) + hh, k, s, p, d_out) for y in ys0]
            rx = [_affected(int(x), int(x) + ww, k, s, p, d_out) for x in xs0]
            ny = max(hi - lo for lo, hi in ry)
            nx = max(hi - lo for lo, hi in rx)
            if ny * nx > MAX_PATCH_FRACTION * d_out * d_out:
                break
            oy = np.array([min(lo, d_out - ny) for lo, _ in ry])
            ox = np.array([min(lo, d_out - nx) for lo, _ in rx])
            ly, lx = s * (ny - 1) + k, s * (nx - 1) + k
            # the clean (padded) input under each output patch, with the modified region pasted in
            patches = _windows(self.clean_in[li], s * oy, s * ox, ly, lx)
            _paste(patches, ys0 + p - s * oy, xs0 + p - s * ox, values)
            out = F.conv2d(patches, layer.conv.weight, layer.conv.bias, stride=s)
            values = layer.act(layer.bn(out))
            ys0, xs0, hh, ww = oy, ox, ny, nx
            done = li + 1
        if done == 0:
            return self._plain(x_occ)
        # paste the modified regions into full copies of the clean map, then run the rest
        a = self.clean_out[done - 1].expand(b, -1, -1, -1).clone()
        _paste(a, ys0, xs0, values)
        # when the incremental part reached conv33, its changed region lets Psi's conv33 share run locally
        region = (ys0, xs0, hh, ww) if done == last + 1 else None
        return self._finish(a, done, region)

    def _psi_params(self):
        """Psi's weight split by input part (conv33's share | conv44 and conv54's share, channels_last
        copies, cached), bias and BN parameters, all restricted to ``dims``."""
        if getattr(self, "_psi_cache", None) is None:
            conv, d, model = self.model.psi, self.dims, self.model
            sel = (lambda t: t) if d is None else (lambda t: t[d])
            weight = sel(conv.weight.detach())
            hc = model.conv33.conv.out_channels
            w33, w_rest = (w.contiguous(memory_format=torch.channels_last) for w in (weight[:, :hc], weight[:, hc:]))
            bias = None if conv.bias is None else sel(conv.bias.detach())
            bn = None
            if model.psi_bn is not None:
                b = model.psi_bn
                bn = (sel(b.running_mean), sel(b.running_var), sel(b.weight.detach()), sel(b.bias.detach()))
            self._psi_cache = (w33, w_rest, bias, bn)
        return self._psi_cache

    def _psi_conv33_clean(self, norm) -> torch.Tensor:
        """(1, K, G, G) conv33's share of Psi for the clean face (computed once, on first use)."""
        if getattr(self, "_psi33_clean", None) is None:
            c33 = norm(self.clean_out[self.names.index("conv33")]).contiguous(memory_format=torch.channels_last)
            self._psi33_clean = F.conv2d(c33, self._psi_params()[0], None, stride=1, padding=self.model.psi.padding)
        return self._psi33_clean

    def _psi(self, c33: torch.Tensor, rest: torch.Tensor, region, norm) -> torch.Tensor:
        """Psi before BN: (B, K, G, G). c33: conv33's output *before* ``norm`` (the per-pixel L2
        normalisation, or identity); rest: [conv44 | conv54] as they enter Phi.

        Psi is linear in Phi = [conv33 | conv44 | conv54], so it is the sum of conv33's share and the
        others'. conv44/conv54 change everywhere (their receptive fields cover the face), but conv33
        changes only inside ``region`` (per-sample top-left, common height and width, from the
        incremental part): its share is the clean face's outside that region grown by the kernel
        radius, and is recomputed (normalisation included) only inside. ``region=None``: all of it."""
        w33, w_rest, bias, _ = self._psi_params()
        conv = self.model.psi
        k, pad = conv.kernel_size[0], conv.padding[0]
        out = F.conv2d(rest, w_rest, bias, stride=1, padding=pad)
        if region is None or conv.stride[0] != 1 or 2 * pad != k - 1:
            return out + F.conv2d(norm(c33), w33, None, stride=1, padding=pad)
        ys0, xs0, hh, ww = region
        g = c33.shape[-1]
        nh, nw = min(hh + 2 * pad, g), min(ww + 2 * pad, g)  # output rows/cols the change reaches
        oy = np.clip(np.asarray(ys0) - pad, 0, g - nh)
        ox = np.clip(np.asarray(xs0) - pad, 0, g - nw)
        padded = F.pad(c33, (pad, pad, pad, pad))  # output (y, x) reads padded[y:y+k, x:x+k]
        patches = _windows(padded, oy, ox, nh + k - 1, nw + k - 1)
        # normalising zero padding gives zeros, as in the full map's conv
        local = F.conv2d(norm(patches), w33, None, stride=1)  # (B, K, nh, nw)
        changed = _windows(out, oy, ox, nh, nw) + local  # read before `out` becomes psi in place
        psi = out.add_(self._psi_conv33_clean(norm))
        _paste(psi, oy, ox, changed)
        return psi

    def _finish(self, a: torch.Tensor, start: int, region=None) -> torch.Tensor:
        """The rest of InterpretableFaceNet.forward from backbone layer `start`, whose input is `a`
        (the normalised image when start = 0). Mirrors models._hypercolumn / _psi / forward, with Psi
        restricted to ``dims`` when set; tests compare it with the model. ``region``: where conv33
        differs from the clean face's (see _psi)."""
        model = self.model
        acts = {}
        a = a.contiguous(memory_format=torch.channels_last)  # ~20% faster convs on oneDNN, same values
        if start > 0 and self.names[start - 1] in ("conv33", "conv43", "conv53"):
            acts[self.names[start - 1]] = a
        for li, name in enumerate(self.names):
            if li >= start:
                a = getattr(model, name)(a)
                acts[name] = a
        c33, c43, c53 = acts["conv33"], acts["conv43"], acts["conv53"]
        size = c33.shape[-2:]
        c44 = model.conv44(F.interpolate(c43, size=size, mode="bilinear", align_corners=False))
        c54 = model.conv54(F.interpolate(c53, size=size, mode="bilinear", align_corners=False))
        norm = _l2_normalize_channels if model.config.l2_normalize_parts else _identity
        if model.phi_conv is not None:  # a 3x3 conv mixing the parts: no shortcut through Psi
            phi = model.phi_conv(torch.cat([norm(c33), norm(c44), norm(c54)], dim=1))
            hc = c33.shape[1]
            c33, rest, region = phi[:, :hc], phi[:, hc:], None
            norm = _identity  # phi is already what Psi reads
        else:
            rest = torch.cat([norm(c44), norm(c54)], dim=1)
        psi = self._psi(c33, rest, region, norm)
        bn = self._psi_params()[3]
        if bn is not None:
            psi = F.batch_norm(psi, *bn, False, 0.0, model.psi_bn.eps)
        return lmf_mean(psi, model.config.lmf_keep).float()
