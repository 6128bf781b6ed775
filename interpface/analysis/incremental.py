"""Incremental forward passes for occlusion sweeps (behind :mod:`.sensitivity`; public for profiling).

An occluder changes the network input only inside a small box. In the early, high-resolution layers
(3x3 convs followed by per-pixel BatchNorm and activation) the change spreads by one pixel per layer
(halved by stride-2 layers), so most of each feature map equals the clean face's. For those layers
each occluded copy is recomputed only on a patch around its changed box, from the clean feature maps
(computed once) with the changed values pasted in; the first layer whose patch would cover more than
``MAX_PATCH_FRACTION`` of its map ends the incremental part, and the rest of the network runs on full
maps in batches. BatchNorm is folded into the convs (eval mode). The result equals the plain forward
up to float rounding (the same products summed in a different order); ``OcclusionForward(...,
enabled=False)`` is the plain forward, and tests compare the two.

Psi (3x3 conv on Phi = [conv33 | conv44 | conv54], ~65% of the cpu model's FLOPs) is linear in Phi,
so it is split by part. Where each part can differ from the clean face's follows from the box
through every kernel, stride and upsampling (``_changed``). For a 16-px box conv33 changes on ~25%
of the grid, conv44 (from conv43, 75 px receptive field) on ~60%, conv54 (from conv53, 155 px)
everywhere. So
conv54's share runs on full maps, and conv33's and conv44's are the clean face's share plus the
response to their change, computed only inside their changed rectangles grown by the kernel radius
(copies are batched and grouped by rectangle size, see ``order``). Finally f comes from the kept
values only (``lmf_mean``: a partition, no LMF maps).

This is what the occlusion-sensitivity speed target rests on: with one embedding dimension as the
target almost nothing of Psi runs; with every dimension (the cosine target) about 2.1 of Psi's 3
parts must still run per occluded copy, which bounds that case's speed-up over plain forward passes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.models.lmf import lmf_mean
from interpface.models.networks import _l2_normalize_channels

MAX_PATCH_FRACTION = 0.5


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _sources(n: int, n_src: int, batch) -> np.ndarray:
    """Which source map each of n windows comes from: batch if given, else map i (map 0 when the
    source holds one map)."""
    if batch is not None:
        return np.asarray(batch)
    return np.arange(n) if n_src > 1 else np.zeros(n, dtype=np.int64)


# Windows are moved one sample at a time with plain slices: for these sizes a loop of slice copies is
# as fast as one advanced-indexing gather, and 4-6x faster than an indexed write.
def _windows(src: torch.Tensor, oy, ox, h: int, w: int, batch=None) -> torch.Tensor:
    """(B, C, h, w), channels_last: the h x w window at (oy[i], ox[i]) of src[i] (of src[0] for every
    i when src holds one map; of src[batch[i]] when given). src: (B or 1, C, H, W)."""
    out = torch.empty((len(oy), src.shape[1], h, w), dtype=src.dtype, memory_format=torch.channels_last)
    for i, (b, y, x) in enumerate(zip(_sources(len(oy), src.shape[0], batch), oy, ox)):
        out[i].copy_(src[b, :, y : y + h, x : x + w])
    return out


def _paste(dst: torch.Tensor, oy, ox, values: torch.Tensor) -> None:
    """dst[i, :, oy[i]:oy[i]+h, ox[i]:ox[i]+w] = values[i] for every i, in place. values: (B, C, h, w)."""
    h, w = values.shape[-2:]
    for i, (y, x) in enumerate(zip(oy, ox)):
        dst[i, :, y : y + h, x : x + w].copy_(values[i])


def _add_clipped(dst: torch.Tensor, batch, oy, ox, values: torch.Tensor) -> None:
    """dst[batch[i], :, oy[i]:oy[i]+h, ox[i]:ox[i]+w] += values[i], the part inside dst's grid (the
    window may stick out of it). dst: (B, C, G, G); values: (n, C, h, w)."""
    g, (h, w) = dst.shape[-1], values.shape[-2:]
    for i, (b, y, x) in enumerate(zip(batch, oy, ox)):
        y, x = int(y), int(x)
        ya, yb, xa, xb = max(0, -y), min(h, g - y), max(0, -x), min(w, g - x)
        dst[b, :, y + ya : y + yb, x + xa : x + xb].add_(values[i, :, ya:yb, xa:xb])


class OcclusionForward:
    """f(x) (or the selected dimensions of it) for occluded copies of one clean input x (1, 3, S, S).

    ``batch(x_occ, boxes)`` packages occluded inputs (B, 3, S, S) with the boxes (B, 4: x0, y0, x1, y1,
    half-open, input pixels) that contain every changed pixel; calling the object on that package
    returns f (B, K) or, with ``dims``, f[:, dims] (B, len(dims)), computing only those filters of Psi
    (a single-dimension target then skips almost all of Psi and LMF). ``clean(x)`` evaluates the clean
    input the same way.
    """

    def __init__(
        self, model: nn.Module, x_clean: torch.Tensor, *, enabled: bool = True, dims: np.ndarray | None = None
    ):
        self.model = model
        self.structured = self._supported(model)
        self.enabled = enabled and self.structured
        self.dims = None if dims is None else torch.as_tensor(np.asarray(dims, dtype=np.int64).reshape(-1))
        if not self.structured:
            return
        self.names = [name for name, _, _ in model._BACKBONE]
        if not self.enabled:
            return
        self.x_clean = x_clean
        with torch.inference_mode():
            a = (x_clean - 0.5) * 2.0
            self.clean_in = []  # input map of each backbone layer, zero-padded by the conv's padding
            self.clean_out = []
            for name in self.names:
                layer = getattr(model, name)
                p = layer.conv.padding[0]
                self.clean_in.append(F.pad(a, (p, p, p, p)))
                a = layer.act(F.conv2d(a, *self._folded(name), stride=layer.conv.stride, padding=p))
                self.clean_out.append(a)
            # the other caches too (a few ms), so no batch pays for them and none is filled twice
            self._folded("conv44"), self._folded("conv54"), self._psi_params()
            if model.phi_conv is None:
                self._clean_parts()

    @staticmethod
    def _supported(model: nn.Module) -> bool:
        if not hasattr(model, "_BACKBONE") or not hasattr(model, "_psi") or model.training:
            return False
        for name, _, _ in model._BACKBONE:
            conv = getattr(getattr(model, name, None), "conv", None)
            if (
                not isinstance(conv, nn.Conv2d)
                or conv.kernel_size[0] != conv.kernel_size[1]
                or conv.padding[0] != conv.padding[1]
                or conv.stride[0] != conv.stride[1]
                or conv.dilation != (1, 1)
                or conv.groups != 1
                or conv.kernel_size[0] < conv.stride[0]
            ):
                return False
        return True

    def _plain(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims is None:
            return self.model(x).float()
        if not self.structured:
            return self.model(x).float()[:, self.dims]
        return self._finish((x - 0.5) * 2.0, 0)

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        """f (1, K) (or f[:, dims]) of the clean input, from the feature maps kept at construction
        when x is that input."""
        if not self.enabled or not torch.equal(x, self.x_clean):
            return self._plain(x)
        last = len(self.names)
        return self._finish(
            self.clean_out[-1],
            last,
            None,
            self.clean_out[self.names.index("conv33")],
            self.clean_out[self.names.index("conv43")],
        )

    def order(self, boxes: np.ndarray) -> np.ndarray:
        """A processing order for occluded copies with these boxes (B, 4): copies whose changed
        regions have the same shape are next to each other, so batches in this order run their
        local parts of Psi as few, larger convs. (B,) permutation."""
        boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        if not self.enabled:
            return np.arange(len(boxes))
        # sort keys: the largest part first (conv44's window rows, then columns), then conv33's
        rects = list(self._changed(boxes).values())[::-1]
        shapes = [r[:, 1] - r[:, 0] for rect in rects for r in (rect[:, :2], rect[:, 2:])]
        return np.lexsort(shapes[::-1]) if shapes else np.arange(len(boxes))

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
        values = (_windows(x_occ, ys0, xs0, hh, ww) - 0.5) * 2.0  # the model's input scaling, on the boxes only
        done = 0
        i33 = self.names.index("conv33")
        full33 = None  # the whole conv33 map (the hypercolumn needs it), once the incremental part passed it
        # at most up to conv42: conv43 and conv53 enter the hypercolumn as whole maps too
        for li, name in enumerate(self.names[: self.names.index("conv43")]):
            layer = getattr(model, name)
            k, s, p = layer.conv.kernel_size[0], layer.conv.stride[0], layer.conv.padding[0]
            d_out = self.clean_out[li].shape[-1]
            ry = _conv_range(np.stack([ys0, ys0 + hh], axis=1), k, s, p, d_out)
            rx = _conv_range(np.stack([xs0, xs0 + ww], axis=1), k, s, p, d_out)
            ny, nx = int((ry[:, 1] - ry[:, 0]).max()), int((rx[:, 1] - rx[:, 0]).max())
            if ny * nx > MAX_PATCH_FRACTION * d_out * d_out:
                break
            oy, ox = np.minimum(ry[:, 0], d_out - ny), np.minimum(rx[:, 0], d_out - nx)
            ly, lx = s * (ny - 1) + k, s * (nx - 1) + k
            # the clean (padded) input under each output patch, with the modified region pasted in
            patches = _windows(self.clean_in[li], s * oy, s * ox, ly, lx)
            _paste(patches, ys0 + p - s * oy, xs0 + p - s * ox, values)
            values = layer.act(F.conv2d(patches, *self._folded(name), stride=s))
            ys0, xs0, hh, ww = oy, ox, ny, nx
            done = li + 1
            if li == i33:
                full33 = self._pasted(li, ys0, xs0, values, b)
        if done == 0:
            a = (x_occ - 0.5) * 2.0
        elif done - 1 == i33:
            a = full33
        else:
            a = self._pasted(done - 1, ys0, xs0, values, b)
        return self._finish(a, done, boxes, full33)

    def _pasted(self, li: int, oy, ox, values: torch.Tensor, b: int) -> torch.Tensor:
        """(B, C, H, W): b copies of the clean output of backbone layer li with each copy's modified
        region (values at oy, ox) pasted in."""
        a = self.clean_out[li].expand(b, -1, -1, -1).contiguous(memory_format=torch.channels_last)
        _paste(a, oy, ox, values)
        return a

    def _changed(self, boxes: np.ndarray) -> dict[str, np.ndarray]:
        """Where each hypercolumn part of an occluded copy can differ from the clean face's, on the
        response grid: {part: (B, 4) half-open rows y0, y1 and columns x0, x1}, from the boxes (B, 4:
        x0, y0, x1, y1 in input pixels) through every conv's kernel, stride and padding and the
        upsampling. Only conv33 and conv44 are tracked: conv53's receptive field covers the face."""
        model, g = self.model, self.model.grid_size
        ys, xs = boxes[:, [1, 3]].astype(np.int64), boxes[:, [0, 2]].astype(np.int64)
        d = int(self.clean_in[0].shape[-1]) - 2 * getattr(model, self.names[0]).conv.padding[0]
        out = {}
        for name in self.names:
            conv = getattr(model, name).conv
            k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
            d = (d + 2 * p - k) // s + 1
            ys, xs = (_conv_range(r, k, s, p, d) for r in (ys, xs))
            if name == "conv33" and d == g:
                out["conv33"] = np.concatenate([ys, xs], axis=1)
            if name == "conv43" and g % d == 0:
                f = g // d  # bilinear upsampling by f, align_corners=False
                ys, xs = (_upsample_range(r, f, g) for r in (ys, xs))
                out["conv44"] = np.concatenate([ys, xs], axis=1)
                break
        return out

    def _psi_params(self):
        """Psi's weight split by hypercolumn part ({part: (K, hc, k, k) channels_last copy}), bias and
        BN parameters, all restricted to ``dims`` (cached)."""
        if getattr(self, "_psi_cache", None) is None:
            conv, d, model = self.model.psi, self.dims, self.model
            sel = (lambda t: t) if d is None else (lambda t: t[d])
            weight = sel(conv.weight.detach())
            hc = model.conv33.conv.out_channels
            parts = {
                part: weight[:, i * hc : (i + 1) * hc].contiguous(memory_format=torch.channels_last)
                for i, part in enumerate(_PARTS)
            }
            bias = None if conv.bias is None else sel(conv.bias.detach())
            bn = None
            if model.psi_bn is not None:
                b = model.psi_bn
                bn = (sel(b.running_mean), sel(b.running_var), sel(b.weight.detach()), sel(b.bias.detach()))
            self._psi_cache = (parts, bias, bn)
        return self._psi_cache

    def _clean_parts(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{part: (share, entry)} for conv33 and conv44 of the clean face (computed once): share
        (1, K, G, G) is its share of Psi, entry (1, hc, G, G) what Psi reads from it."""
        if getattr(self, "_clean", None) is None:
            c33 = self.clean_out[self.names.index("conv33")]
            c43 = self.clean_out[self.names.index("conv43")]
            maps = {"conv33": c33, "conv44": self._up_part("conv44", c43, c33.shape[-1])}
            weights, pad = self._psi_params()[0], self.model.psi.padding
            clean = {}
            for part, m in maps.items():
                entry = self._entry(part)(m).contiguous(memory_format=torch.channels_last)
                clean[part] = (F.conv2d(entry, weights[part], None, stride=1, padding=pad), entry)
            self._clean = clean
        return self._clean

    def _entry(self, part: str):
        """The per-pixel map from a part's stored form to what Psi reads: the activation for the
        upsampled parts (stored before it, see _up_part), then the L2 normalisation if enabled. Both
        map 0 to 0, so zero padding stays zero."""
        model = self.model
        norm = _l2_normalize_channels if model.config.l2_normalize_parts else _identity
        if part == "conv33":
            return norm
        act = getattr(model, part).act
        return lambda t: norm(act(t))

    def _up_part(self, name: str, c: torch.Tensor, size: int) -> torch.Tensor:
        """conv44 / conv54 before their activation: BN(1x1 conv(up(c))) computed as up(BN(1x1 conv(c))),
        the same values (the 1x1 conv and BN act per pixel, and bilinear weights sum to 1), 4x / 16x
        cheaper. c: (B, C, D, D) -> (B, hc, size, size)."""
        z = F.conv2d(c, *self._folded(name))
        return F.interpolate(z, size=(size, size), mode="bilinear", align_corners=False)

    def _folded(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of layer `name`'s conv with its eval-mode BatchNorm folded in: conv then BN
        in one conv, the same values up to float rounding, without BN's pass over the output."""
        cache = self.__dict__.setdefault("_folded_cache", {})
        if name not in cache:
            layer = getattr(self.model, name)
            conv, bn = layer.conv, layer.bn
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            bias = (conv.bias.detach() if conv.bias is not None else 0.0) - bn.running_mean
            weight = (conv.weight.detach() * scale[:, None, None, None]).contiguous(memory_format=torch.channels_last)
            cache[name] = (weight, bias * scale + bn.bias.detach())
        return cache[name]

    def _finish(
        self,
        a: torch.Tensor,
        start: int,
        boxes: np.ndarray | None = None,
        c33: torch.Tensor | None = None,
        c43: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The rest of InterpretableFaceNet.forward from backbone layer `start`, whose input is `a`
        (the normalised image when start = 0). Mirrors models._hypercolumn / _psi / forward, with Psi
        restricted to ``dims`` when set; tests compare it with the model. ``boxes``: (B, 4) input
        boxes holding every changed pixel (None: no shortcut through Psi). c33, c43: those layers'
        whole maps when the caller has them (the incremental part's conv33, the clean pass's maps).

        Psi is linear in Phi = [conv33 | conv44 | conv54], so it is the sum of the three parts' shares.
        conv54 changes everywhere; conv33 and conv44 change only inside the rectangles ``_changed``
        gives, so their shares are the clean face's plus, inside those rectangles grown by the kernel
        radius, the difference recomputed from the occluded part there."""
        model = self.model
        acts = {}
        a = a.contiguous(memory_format=torch.channels_last)  # ~20% faster convs on oneDNN, same values
        if start > 0 and self.names[start - 1] in ("conv33", "conv43", "conv53"):
            acts[self.names[start - 1]] = a
        acts.update({name: m for name, m in (("conv33", c33), ("conv43", c43)) if m is not None})
        for li, name in enumerate(self.names):
            if li >= start:
                layer = getattr(model, name)
                a = layer.act(F.conv2d(a, *self._folded(name), stride=layer.conv.stride, padding=layer.conv.padding))
                acts[name] = a
        c33, c43, c53 = acts["conv33"], acts["conv43"], acts["conv53"]
        g = c33.shape[-1]
        parts = {"conv33": c33, "conv44": self._up_part("conv44", c43, g), "conv54": self._up_part("conv54", c53, g)}
        weights, bias, _ = self._psi_params()
        conv = model.psi
        k, pad = conv.kernel_size[0], conv.padding[0]
        if model.phi_conv is not None:  # a 3x3 conv mixing the parts: no shortcut through Psi
            phi = model.phi_conv(torch.cat([self._entry(p)(parts[p]) for p in _PARTS], dim=1))
            psi = F.conv2d(phi, _cat([weights[p] for p in _PARTS]), bias, padding=pad)
        elif boxes is None or conv.stride[0] != 1 or 2 * pad != k - 1 or not self.enabled:
            psi = F.conv2d(
                _cat([self._entry(p)(parts[p]) for p in _PARTS]), _cat([weights[p] for p in _PARTS]), bias, padding=pad
            )
        else:
            return self._psi_local_embedding(parts, boxes)
        return self._embedding(psi)

    def _embedding(self, psi: torch.Tensor) -> torch.Tensor:
        """Psi before BN (B, K, G, G) -> f (B, K)."""
        bn = self._psi_params()[2]
        if bn is not None:
            psi = F.batch_norm(psi, *bn, False, 0.0, self.model.psi_bn.eps)
        return lmf_mean(psi, self.model.config.lmf_keep).float()

    def _psi_local_embedding(self, parts: dict[str, torch.Tensor], boxes: np.ndarray) -> torch.Tensor:
        """f (B, K) through Psi split by part: the parts that change everywhere run a full conv; the
        others (conv33, conv44) add to the clean face's share their change, computed only inside
        their changed rectangles (see _local_deltas)."""
        weights, bias, _ = self._psi_params()
        pad = self.model.psi.padding[0]
        local = self._changed(boxes)
        rest = [p for p in _PARTS if p not in local]
        clean = self._clean_parts()
        deltas = [
            d
            for part, rect in local.items()
            for d in self._local_deltas(part, parts[part], rect, clean[part][1], weights[part])
        ]
        entry, w_rest = _cat([self._entry(p)(parts[p]) for p in rest]), _cat([weights[p] for p in rest])
        psi = F.conv2d(entry, w_rest, bias, padding=pad).add_(sum(clean[p][0] for p in local))
        for idx, qy, qx, delta in deltas:
            _add_clipped(psi, idx, qy, qx, delta)
        return self._embedding(psi)

    def _local_deltas(self, part, stored, rect, clean_entry, weight) -> list:
        """The change of `part`'s share of Psi, which is zero outside each sample's changed rectangle
        grown by the kernel radius: [(idx (n,), y (n,), x (n,), delta (n, K, h, w))], one entry per
        rectangle size; sample idx[j]'s delta belongs at grid rows y[j]:y[j]+h, columns x[j]:x[j]+w
        (partly outside the grid near its border). stored: (B, hc, G, G), the part before _entry;
        clean_entry: (1, hc, G, G), the clean face's entry.

        The conv reads the change on the rectangle alone, zero-padded by k - 1 ("full" convolution):
        oneDNN skips the padding, which saves the products with the zeros around the change (a
        fifth of them for a 20 x 20 window). Sizes a few rows apart share the larger one: fewer,
        larger convs."""
        g, k = stored.shape[-1], weight.shape[-1]
        reach = k - 1 - self.model.psi.padding[0]  # output rows before the rectangle's first
        ny, nx = (_merge_sizes(rect[:, i + 1] - rect[:, i]) for i in (0, 2))
        oy, ox = np.minimum(rect[:, 0], g - ny), np.minimum(rect[:, 2], g - nx)
        entry = self._entry(part)
        out = []
        for nh, nw in np.unique(np.stack([ny, nx], axis=1), axis=0):
            if nh <= 0 or nw <= 0:
                continue
            idx = np.flatnonzero((ny == nh) & (nx == nw))
            sy, sx = oy[idx], ox[idx]
            change = entry(_windows(stored, sy, sx, nh, nw, batch=idx)).sub_(_windows(clean_entry, sy, sx, nh, nw))
            delta = F.conv2d(change, weight, None, stride=1, padding=k - 1)  # (n, K, nh + k - 1, nw + k - 1)
            out.append((idx, sy - reach, sx - reach, delta))
        return out


def _merge_sizes(n: np.ndarray, slack: int = 1) -> np.ndarray:
    """Window sizes (B,) -> sizes where each is replaced by the largest size at most `slack` above it
    (clusters from the top down), so that a batch needs few distinct window shapes. A larger window
    recomputes a few outputs that did not change: the same values."""
    out = n.copy()
    rep = None
    for size in np.unique(n)[::-1]:
        if rep is None or rep - size > slack:
            rep = size
        out[n == size] = rep
    return out


_PARTS = ("conv33", "conv44", "conv54")


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.cat over channels, without a copy for a single tensor."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=1)


def _conv_range(r: np.ndarray, k: int, s: int, p: int, d_out: int) -> np.ndarray:
    """(B, 2) half-open input ranges -> the output ranges of a conv (kernel k, stride s, padding p)
    they reach; empty ranges stay empty."""
    lo = np.maximum(0, -((-(r[:, 0] + p - k + 1)) // s))  # ceil division
    hi = np.minimum(d_out, (r[:, 1] - 1 + p) // s + 1)
    return np.stack([lo, np.where(r[:, 1] > r[:, 0], np.maximum(lo, hi), lo)], axis=1)


def _upsample_range(r: np.ndarray, f: int, d_out: int) -> np.ndarray:
    """(B, 2) input ranges -> output ranges of bilinear upsampling by the integer factor f
    (align_corners=False: output o reads inputs floor((o + 0.5) / f - 0.5) and the one after);
    empty ranges stay empty."""
    lo = np.maximum(0, np.ceil(f * (r[:, 0] - 0.5) - 0.5).astype(np.int64))
    hi = np.minimum(d_out, np.ceil(f * (r[:, 1] + 0.5) - 0.5).astype(np.int64))
    return np.stack([lo, np.where(r[:, 1] > r[:, 0], np.maximum(lo, hi), lo)], axis=1)
