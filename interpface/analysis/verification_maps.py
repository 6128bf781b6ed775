"""Verification saliency maps from the explainable-face-verification literature: FGGB, xSSAB, CorrRISE.

Each gives a signed (S, S) map of face B's input pixels for its cosine similarity to face A, on any
model through its [0, 1]-input module (``FaceModel.input_net``): positive = supports the match (the
similarity map is the positive part), negative = counts against it (the dissimilarity map). Notation:
f = the model's raw embedding of B's input x, D its size, f_hat = f / |f|, a_hat = f_A / |f_A|,
v = a_hat * f_hat (elementwise: the per-dimension shares of the cosine, sum_k v_k = cos), theta the
decision threshold (default 0: the split of the cosine into its positive and negative terms; the
papers use the model's EER threshold on their protocol — pass ``threshold=``).

- **FGGB** (Lu, Xu, Ebrahimi, FG 2024, arXiv 2403.04549; as FAME's ``fggb`` and the authors'
  ``code_fggb.py``): every embedding dimension is backpropagated separately through the normalised
  embedding, G_k = mean over colour channels of |d f_hat_k / d x|, each map scaled to unit L2 norm
  (G~_k = G_k / (|G_k|_2 + 1e-8)), and weighted by its share of the similarity less an even share of
  the threshold: S = sum_k G~_k (v_k - theta / D). S+ is the similarity map, S- the dissimilarity map.
  Parameter-free (``skip_mass`` below only trades time for a bounded change of the map). The D
  backward passes are batched: on any module, a vmapped backward over chunks of one-hot cotangents
  (``torch.autograd.grad(..., is_grads_batched=True)``; a loop where an operator has no batching
  rule). On our part-filter network the last layer is not backpropagated
  per dimension at all: f_k depends on Psi's channel k only (f = mean of LMF(psi)), so the cotangent
  of f_hat_k at Psi's input is a single-channel transposed convolution (LMF keeps 24 of 576 positions
  per map: a sparse sum, taken straight through the parts' L2 normalisations), and the hypercolumn
  trunk below it is replayed backwards from a tape of its forward as channels-last transposed
  convolutions (_TrunkVJP), 2-3x faster than the vmapped autograd backward; both are checked against
  the network's own forward and autograd at run time, else the generic path runs. The cost stays one
  trunk backward pass per dimension (~250 M multiply-adds each for the 320-d network at 96 px, ~80 G
  for all 320), so ``fggb_map`` skips the dimensions of smallest weight |w_k| = |v_k - theta / D| whose
  weights sum to at most ``skip_mass`` (default 2 %) of sum_k |w_k|: the map moves by at most that
  mass in L2 norm (each G~_k has unit norm), and a quarter of the dimensions go.
  ``precision="auto"`` (the default) runs them in bfloat16 on CPUs with native bf16 (AVX512-BF16 /
  AMX): the tape in bf16 with float32 at the L2 projections, or bf16 autocast on the generic path;
  about twice as fast, with maps at a rank correlation above 0.999 (our networks) and 0.99 (the dlib
  port) to float32 (tests/test_verification_maps.py).
- **xSSAB** (Huber, Luu, Terhoerst, Damer, WACV 2024, arXiv 2304.13409; the authors' code,
  ``methodology/gradient_calculator.py``): the cosine is split into the dimensions that argue for the
  match, P = {k : v_k >= theta / D}, and those against it; cos+ = sum_{k in P} a_hat_k f_hat_k and
  cos- = sum_{k not in P} a_hat_k f_hat_k are each backpropagated to B's input once, and the combined
  map is mean_c |d cos+ / d x| - mean_c |d cos- / d x| (the authors' "combi" map: positive gradient
  map minus negative gradient map). Two backward passes.
- **CorrRISE** (Lu, Xu, Ebrahimi, WACV 2024, arXiv 2305.08546; as FAME's ``corrise`` and the authors'
  ``Corrise.py``): N = 500 masks, each the image with 3 black squares (30 px at the authors' 112 px
  input, scaled here to the model's input size S) at uniform positions inside the image; the score of
  a mask is the cosine of masked B to A; the map is, per pixel, the Pearson correlation over the masks
  between the pixel's keep indicator (1 = visible) and the *rank* of the score (so a Spearman
  correlation; average ranks for ties, as scipy's rankdata in the original); pixels never occluded get
  0. A pixel whose visibility goes with a high score supports the match.

  How it differs from our ``rise`` (pair_maps.rise_map): RISE's smooth masks (bilinearly upsampled
  low-resolution grids, keep probability 0.5, random shifts) against CorrRISE's hard black squares;
  and ``rise`` takes the *covariance* of mask and raw score, CorrRISE the *correlation* with the
  score's rank: each pixel is divided by its own mask standard deviation (border pixels, covered
  less often, are not discounted) and by the scores' spread (maps of different pairs share a scale,
  [-1, 1]), and the rank transform keeps a few extreme scores from dominating.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interpface.analysis._common import batch_slices, input_size, to_input
from interpface.errors import ConfigError, InterpfaceError
from interpface.models.face_model import resolve_precision

__all__ = [
    "VERIFICATION_METHODS",
    "fggb_map",
    "fggb_gradients",
    "fggb_gradients_naive",
    "fggb_dims",
    "FGGB_SKIP_MASS",
    "xssab_map",
    "corrrise_map",
    "corrrise_masks",
    "average_ranks",
    "default_patch_size",
]

VERIFICATION_METHODS = ("fggb", "xssab", "corrrise")

#: FAME / code_fggb.py: f / (|f| + eps) and G_k / (|G_k| + eps)
_EPS = 1e-8


def _unit(f: torch.Tensor) -> torch.Tensor:
    return f / (f.norm(dim=-1, keepdim=True) + _EPS)


def _leaf(face_b, size: int) -> torch.Tensor:
    return to_input(face_b, size).detach().clone().requires_grad_(True)


def _channel_abs_mean(g: torch.Tensor) -> torch.Tensor:
    """(..., 3, S, S) gradients -> (..., S, S) mean over colour channels of |g|."""
    return g.abs().mean(dim=-3)


def _batched_vjp(output: torch.Tensor, x: torch.Tensor, cotangents: torch.Tensor) -> torch.Tensor:
    """d <c_i, output> / d x for every row c_i of cotangents (C, *output.shape): (C, *x.shape).
    One vmapped backward; a loop of backward passes where an operator has no batching rule."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*performance drop.*")
            (g,) = torch.autograd.grad(output, x, grad_outputs=cotangents, is_grads_batched=True, retain_graph=True)
        return g
    except (RuntimeError, NotImplementedError):
        return torch.stack([torch.autograd.grad(output, x, grad_outputs=c, retain_graph=True)[0] for c in cotangents])


# ------------------------------------------------------------------------------------------- FGGB
def _part_filter_net(model: nn.Module):
    """Our InterpretableFaceNet in eval mode with the layout the FGGB shortcut assumes, else None."""
    from interpface.models.networks import InterpretableFaceNet

    if not isinstance(model, InterpretableFaceNet) or model.training:
        return None
    psi = model.psi
    if (
        psi.stride != (1, 1)
        or psi.dilation != (1, 1)
        or psi.groups != 1
        or psi.padding_mode != "zeros"
        or any(not isinstance(p, int) or 2 * p + 1 != k for p, k in zip(psi.padding, psi.kernel_size))
    ):
        return None  # the shortcut assumes a 'same' convolution: psi and phi share the G x G grid
    return model


class _TrunkVJP:
    """The transposed Jacobian of our network's hypercolumn trunk (input x -> Psi's input phi) at one
    face, for many cotangents at once: a tape of the forward (each conv + eval BatchNorm folded into one
    weight, each activation's derivative, the L2 normalisations, the upsamplings) replayed backwards as
    transposed convolutions in channels-last layout. 2-3x faster on the CPU than a vmapped autograd
    backward, whose convolution / BatchNorm / ELU backward have no batching rule and run one row at a
    time. Built only where the layout is the one it knows; its result is checked against autograd."""

    _LOW = ("conv11", "conv12", "conv21", "conv22", "conv23", "conv31", "conv32", "conv33")
    _MID = ("conv41", "conv42", "conv43")
    _HIGH = ("conv51", "conv52", "conv53")

    def __init__(self, net, x: torch.Tensor, dtype: torch.dtype = torch.float32):
        self.net = net
        self.dtype = dtype  # of the tape and the replayed convolutions (bfloat16: oneDNN's AVX512-BF16 kernels)
        cl = torch.channels_last
        with torch.no_grad():
            h = (x.detach().float() - 0.5) * 2.0
            self.low, h = self._chain(self._LOW, h)
            c33 = h
            self.mid, h = self._chain(self._MID, h)
            c43 = h
            self.high, c53 = self._chain(self._HIGH, h)
            size = c33.shape[-2:]
            self.c43_size, self.c53_size = c43.shape[-2:], c53.shape[-2:]
            self.t44, c44 = self._chain(
                ("conv44",), F.interpolate(c43, size=size, mode="bilinear", align_corners=False)
            )
            self.t54, c54 = self._chain(
                ("conv54",), F.interpolate(c53, size=size, mode="bilinear", align_corners=False)
            )
            parts = [c33, c44, c54]
            self.l2 = None
            if net.config.l2_normalize_parts:
                from interpface.models import networks

                eps = float(getattr(networks, "_L2_EPS", 1e-6))
                self.l2 = []
                for i, p in enumerate(parts):
                    sq = p.square().sum(dim=1, keepdim=True)
                    inv = sq.clamp_min(eps * eps).rsqrt()
                    y = p * inv
                    self.l2.append(
                        ((y * (sq >= eps * eps)).contiguous(memory_format=cl), inv.contiguous(memory_format=cl))
                    )
                    parts[i] = y
            self.splits = [p.shape[1] for p in parts]
            phi = torch.cat(parts, dim=1)
            self.tphi = []
            if net.phi_conv is not None:
                self.tphi, phi = self._chain((None,), phi, layers=(net.phi_conv,))
        self.phi = phi

    @classmethod
    def supports(cls, net) -> bool:
        from interpface.models.networks import _ConvBNAct

        names = cls._LOW + cls._MID + cls._HIGH + ("conv44", "conv54")
        layers = [getattr(net, n, None) for n in names] + ([net.phi_conv] if net.phi_conv is not None else [])
        return all(
            isinstance(m, _ConvBNAct)
            and isinstance(m.bn, nn.BatchNorm2d)
            and not m.bn.training
            and m.bn.track_running_stats
            and isinstance(m.act, (nn.ELU, nn.ReLU))
            and m.conv.groups == 1
            and m.conv.dilation == (1, 1)
            and m.conv.padding_mode == "zeros"
            for m in layers
        )

    def _chain(self, names, h, layers=None):
        tape = []
        for layer in layers or [getattr(self.net, n) for n in names]:
            conv, bn, act = layer.conv, layer.bn, layer.act
            pre = bn(conv(h))
            out = act(pre)
            if isinstance(act, nn.ELU):
                d = torch.where(pre > 0, torch.ones_like(pre), out + act.alpha)
            else:
                d = (pre > 0).float()
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w = (conv.weight * s[:, None, None, None]).to(self.dtype)
            pad = [
                h.shape[-2 + i] - ((out.shape[-2 + i] - 1) * conv.stride[i] - 2 * conv.padding[i] + conv.kernel_size[i])
                for i in range(2)
            ]
            tape.append(
                (
                    w.contiguous(memory_format=torch.channels_last),
                    conv.stride,
                    conv.padding,
                    tuple(pad),
                    d.to(self.dtype).contiguous(memory_format=torch.channels_last),
                )
            )
            h = out
        return tape, h

    @staticmethod
    def _back(tape, g):
        """g is overwritten (in-place products: a fresh product costs ~10x more in page faults); the
        result has the tape's dtype."""
        if tape and g.dtype != tape[0][0].dtype:
            g = g.to(tape[0][0].dtype)
        for w, stride, padding, out_pad, d in reversed(tape):
            g = F.conv_transpose2d(g.mul_(d), w, stride=stride, padding=padding, output_padding=out_pad)
        return g

    @staticmethod
    def _up_adjoint(g, size):
        """The adjoint of the bilinear upsampling to g's size (align_corners=False, as the forward's
        F.interpolate): (C, K, *g's size) -> (C, K, *size), in g's dtype."""
        out = torch.ops.aten.upsample_bilinear2d_backward(
            g.contiguous(memory_format=torch.channels_last),
            list(g.shape[-2:]),
            [*g.shape[:2], *size],
            False,
            None,
            None,
        )
        return out.contiguous(memory_format=torch.channels_last)

    def _back_and_down(self, tape, g, size):
        """A conv44 / conv54 layer (on the upsampled map) taken back, then the upsampling's adjoint. A
        1x1 convolution mixes channels and the upsampling mixes positions, so they commute: its
        transposed convolution runs after the adjoint, on the 4x / 16x smaller grid."""
        (w, stride, padding, _, d), *rest = tape
        if rest or w.shape[-2:] != (1, 1) or stride != (1, 1) or padding != (0, 0):
            return self._up_adjoint(self._back(tape, g), size)
        g = self._up_adjoint(g.to(w.dtype).mul_(d), size)
        return F.conv_transpose2d(g, w).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def __call__(self, v: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
        """(C, C_phi, G, G) cotangents at phi -> (C, 3, S, S) float32 at the input. overwrite: v
        (float32, channels-last) may be used as scratch space instead of being copied."""
        cl = torch.channels_last
        if overwrite and v.dtype == torch.float32 and v.is_contiguous(memory_format=cl):
            g = v
        else:
            g = torch.empty_like(v, dtype=torch.float32, memory_format=cl).copy_(v)
        if self.tphi:
            g = self._back(self.tphi, g).float()
        if self.l2 is not None:  # y / |y| per position: g - y <y, g>, over |x|; in float32 (it subtracts)
            for gp, (y, inv) in zip(torch.split(g, self.splits, dim=1), self.l2):
                gp.addcmul_(y, (y * gp).sum(dim=1, keepdim=True), value=-1.0).mul_(inv)
        return self.from_parts(g)

    @torch.no_grad()
    def from_parts(self, g: torch.Tensor) -> torch.Tensor:
        """(C, C_phi, G, G) cotangents at the three raw parts (conv33, conv44, conv54 stacked: below
        phi_conv and the L2 normalisations) -> (C, 3, S, S) float32 at the input; g is overwritten."""
        g33, g44, g54 = torch.split(g.to(self.dtype), self.splits, dim=1)  # one conversion for the three parts
        g43 = self._back_and_down(self.t44, g44, self.c43_size)
        g53 = self._back_and_down(self.t54, g54, self.c53_size)
        g43 = g43.add_(self._back(self.high, g53))
        g33 = self._back(self.mid, g43).add_(g33)
        return self._back(self.low, g33).float().mul_(2.0).contiguous()


def _trunk_vjp(net, x: torch.Tensor, phi: torch.Tensor, dtype: torch.dtype = torch.float32):
    """The taped trunk VJP where it applies and agrees with autograd (on phi itself and on one random
    cotangent: to float32 rounding, or within 2 % in L2 norm for a bfloat16 tape), else None
    (autograd's batched backward then)."""
    if not _TrunkVJP.supports(net):
        return None
    trunk = _TrunkVJP(net, x, dtype)
    if trunk.phi.shape != phi.shape or not torch.allclose(trunk.phi, phi.detach(), rtol=1e-4, atol=1e-5):
        return None
    probe = torch.randn(phi.shape, generator=torch.Generator().manual_seed(0))
    with torch.enable_grad():
        (want,) = torch.autograd.grad(phi, x, grad_outputs=probe, retain_graph=True)
    got = trunk(probe)
    if dtype == torch.float32:
        agrees = torch.allclose(got, want, rtol=1e-3, atol=1e-4 * float(want.abs().max()) + 1e-12)
    else:  # bfloat16 keeps 8 bits of mantissa per layer: a relative error, not elementwise closeness
        agrees = float((got - want).norm()) <= 0.02 * float(want.norm())
    return trunk if agrees else None


def _sparse_part_cotangents(
    d: torch.Tensor, weight: torch.Tensor, padding, l2, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Row k: the transposed convolution of the map d[k] (G, G) with Psi's filter k (C, kh, kw), taken
    back through the parts' L2 normalisations (l2: _TrunkVJP.l2, or None), (K, C, G, G) float32
    channels-last. d is LMF's kept set (24 of 576 positions per map): each nonzero d[k, q] adds
    d[k, q] W_k[:, a, b] at position p = q + (a, b) - padding, projected there as the normalisation's
    adjoint projects (linear, so per term): ~20x fewer multiply-adds than the dense product. out: a
    float32 buffer of at least K G^2 C elements to reuse (a fresh 20 MB tensor costs more in page
    faults than the products themselves)."""
    k_count, grid = d.shape[0], d.shape[-1]
    c, kh, kw = weight.shape[1:]
    k, qy, qx = d.nonzero(as_tuple=True)
    val = d[k, qy, qx]
    oy = torch.arange(kh).repeat_interleave(kw)
    ox = torch.arange(kw).repeat(kh)
    py, px = qy[:, None] + oy - padding[0], qx[:, None] + ox - padding[1]  # (E0, kh*kw)
    inside = (py >= 0) & (py < grid) & (px >= 0) & (px < grid)
    kk = k[:, None].expand_as(py)[inside]
    pos = (py * grid + px)[inside]
    terms = weight.reshape(k_count, c, kh * kw).permute(0, 2, 1)[kk, (oy * kw + ox).expand_as(py)[inside]]  # (E, C)
    terms = terms * val[:, None].expand_as(py)[inside][:, None]
    if l2 is not None:
        start = 0
        for y, inv in l2:
            width = y.shape[1]
            ys = y[0].permute(1, 2, 0).reshape(grid * grid, width)[pos]  # (E, C_j) the unit part vector at p
            t = terms[:, start : start + width]
            t.sub_(ys * (ys * t).sum(dim=1, keepdim=True)).mul_(inv.reshape(-1)[pos][:, None])
            start += width
    rows = k_count * grid * grid
    out = torch.zeros(rows, c) if out is None else out.view(-1)[: rows * c].view(rows, c).zero_()
    out.index_add_(0, kk * grid * grid + pos, terms)
    return out.view(k_count, grid, grid, c).permute(0, 3, 1, 2)  # channels-last memory, as the trunk's tape


def _channel_transpose(d: torch.Tensor, weight: torch.Tensor, padding) -> torch.Tensor:
    """Row k: the transposed convolution of the single map d[k] (G, G) with Psi's filter k (C, kh, kw),
    (K, C, G, G) — a grouped conv_transpose2d, as one batched matmul over unfolded maps (oneDNN's
    grouped transposed convolution is ~20x slower here)."""
    k, c, kh, kw = weight.shape
    cols = F.unfold(d[:, None], (kh, kw), padding=padding)  # (K, kh*kw, G*G); 'same' padding: (k - 1) / 2
    u = torch.bmm(cols.transpose(1, 2), weight.flip(2, 3).reshape(k, c, kh * kw).transpose(1, 2))  # (K, G*G, C)
    return u.view(k, *d.shape[-2:], c).permute(0, 3, 1, 2)  # channels-last memory, as the trunk's tape


def _fggb_rows_part_filters(net, x: torch.Tensor, chunk: int, dtype: torch.dtype = torch.float32, pick=None):
    """(R, S, S) maps |d f_hat_k / d x| averaged over colour (not yet unit-norm), f_hat (D,) and the
    R rows k taken (pick(f_hat) -> indices, default all D) for our network, or None where the shortcut's
    forward does not reproduce the network's own output (then the generic path runs)."""
    from interpface.models.lmf import large_magnitude_filter
    from interpface.models.networks import InterpretableFaceNet

    with torch.enable_grad():
        phi, psi = net._psi(*net._hypercolumn(x))  # phi keeps its graph back to x
        psi_d = psi.detach().float().requires_grad_(True)
        f = large_magnitude_filter(psi_d, net.config.lmf_keep).mean(dim=(2, 3))[0]
        if type(net).forward is not InterpretableFaceNet.forward:  # a subclass: its output must be ours
            with torch.no_grad():
                reference = net(x.detach()).float()[0]
            if not torch.allclose(f.detach(), reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max()) + 1e-7):
                return None
        (dpsi,) = torch.autograd.grad(f.sum(), psi_d)  # channel k: d f_k / d psi_k (LMF's kept set / G^2)
    f = f.detach()
    if net.psi_bn is not None:  # eval-mode BatchNorm: psi_k = s_k * conv_k + b_k
        bn = net.psi_bn
        dpsi = dpsi * (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().float()[None, :, None, None]
    weight = net.psi.weight.detach().float()  # (D, C_phi, 3, 3)
    d = f.shape[0]
    n = f.norm()
    # f_hat = f / (n + eps): d f_hat_k / d f = e_k / (n + eps) - f_k f / (n (n + eps)^2), so with
    # U_k = d f_k / d phi the cotangent of f_hat_k at phi is (U_k - f_k / (n (n + eps)) sum_j f_j U_j) / (n + eps)
    scale = 1.0 / (n + _EPS)
    mix = f * scale / n.clamp_min(1e-30)  # f_k / (n (n + eps))
    u_star = F.conv_transpose2d(dpsi * f[None, :, None, None], weight, padding=net.psi.padding)  # sum_j f_j U_j
    trunk = _trunk_vjp(net, x, phi, dtype)
    if trunk is None and dtype != torch.float32:
        trunk = _trunk_vjp(net, x, phi)  # the bfloat16 tape disagreed with autograd: the float32 one
    if trunk is not None:  # the trunk is linear in the cotangent: combine at the (smaller) input instead
        g_star = trunk(u_star)[0] * scale
    rows = torch.arange(d) if pick is None else pick(f * scale)
    maps = torch.empty(len(rows), x.shape[-2], x.shape[-1])
    sparse = trunk is not None and not trunk.tphi  # U_k taken straight to the raw parts
    buffer = torch.empty(min(chunk, d) * weight.shape[1] * phi.shape[-2] * phi.shape[-1]) if sparse else None
    for sl in batch_slices(len(rows), chunk):
        ks = rows[sl]
        if sparse:
            u = _sparse_part_cotangents(dpsi[0, ks], weight[ks], net.psi.padding, trunk.l2, buffer)
            g = trunk.from_parts(u).mul_(scale).sub_(mix[ks, None, None, None] * g_star[None])
        elif trunk is not None:
            u = _channel_transpose(dpsi[0, ks], weight[ks], net.psi.padding)  # U_k = d f_k / d phi (k, C_phi, G, G)
            g = trunk(u, overwrite=True).mul_(scale).sub_(mix[ks, None, None, None] * g_star[None])
        else:
            u = _channel_transpose(dpsi[0, ks], weight[ks], net.psi.padding)
            v = (u - mix[ks, None, None, None] * u_star) * scale
            g = _batched_vjp(phi, x, v[:, None].to(phi.dtype))[:, 0]
        maps[sl] = _channel_abs_mean(g.float())
    return maps, f * scale, rows


def _fggb_rows_generic(model: nn.Module, x: torch.Tensor, chunk: int, dtype: torch.dtype = torch.float32, pick=None):
    """Any module: f_hat's rows pick(f_hat) (default all) backpropagated in vmapped chunks; maps (R, S, S)
    not yet unit-norm, f_hat (D,), rows (R,). bfloat16 = the forward and the backward under bf16
    autocast (float32 accumulation in each convolution and matmul)."""
    low = dtype != torch.float32
    with torch.enable_grad(), torch.autocast(x.device.type, dtype=dtype, enabled=low):
        f_hat = _unit(model(x).float())[0]
        d = f_hat.shape[0]
        rows = torch.arange(d) if pick is None else pick(f_hat.detach())
        eye = torch.eye(d)
        maps = torch.empty(len(rows), x.shape[-2], x.shape[-1])
        for sl in batch_slices(len(rows), chunk):
            g = _batched_vjp(f_hat, x, eye[rows[sl]])  # (k, 1, 3, S, S)
            maps[sl] = _channel_abs_mean(g[:, 0].float())
    return maps, f_hat.detach(), rows


def _fggb_rows(model: nn.Module, face_b, chunk: int, precision: str, pick=None):
    """G~_k for the rows pick(f_hat) (default all): (R, S, S) unit-norm maps, f_hat (D,), the R rows."""
    x = _leaf(face_b, input_size(model))
    dtype = resolve_precision(precision, x.device.type)
    out = None
    net = _part_filter_net(model)
    if net is not None:
        out = _fggb_rows_part_filters(net, x, chunk, dtype, pick)
    if out is None:
        out = _fggb_rows_generic(model, x, chunk, dtype, pick)
    maps, f_hat, rows = out
    norms = maps.flatten(1).norm(dim=1)
    return maps.div_(norms[:, None, None] + _EPS), f_hat, rows


def fggb_gradients(
    model: nn.Module, face_b, *, chunk: int = 16, precision: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """FGGB's per-dimension gradient maps of B: G~ (D, S, S), G~_k = mean_c |d f_hat_k / d x| scaled to
    unit L2 norm, and f_hat (D,). Batched over chunks of `chunk` dimensions. precision: "fp32", "bf16"
    or "auto" (bf16 on CPUs with native bf16: about twice as fast, maps with a rank correlation above
    0.99 to float32; see the module docstring)."""
    maps, f_hat, _ = _fggb_rows(model, face_b, chunk, precision)
    return maps, f_hat


def fggb_gradients_naive(model: nn.Module, face_b, dims=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same maps one backward pass per dimension (the authors' loop; a reference for tests), for
    every dimension or those in `dims`."""
    size = input_size(model)
    x = _leaf(face_b, size)
    with torch.enable_grad():
        f_hat = _unit(model(x).float())[0]
        maps = []
        for k in range(f_hat.shape[0]) if dims is None else dims:
            (g,) = torch.autograd.grad(f_hat[k], x, retain_graph=True)
            m = _channel_abs_mean(g[0])
            maps.append(m / (m.norm() + _EPS))
    return torch.stack(maps), f_hat.detach()


#: FGGB's default skip_mass (fggb_map): the share of sum_k |w_k| left to the dimensions not backpropagated
FGGB_SKIP_MASS = 0.02


def _checked_skip_mass(skip_mass) -> float:
    """skip_mass as a float in [0, 1), else ConfigError."""
    try:
        value = float(skip_mass)
    except (TypeError, ValueError):
        raise ConfigError(f"skip_mass must be a number in [0, 1), got {skip_mass!r}") from None
    if not 0.0 <= value < 1.0:  # NaN fails this too
        raise ConfigError(f"skip_mass must be in [0, 1), got {skip_mass!r}")
    return value


def fggb_dims(weights: torch.Tensor, skip_mass: float) -> torch.Tensor:
    """The dimensions FGGB backpropagates: weights (D,) -> indices (R,) int64, ascending; all but those
    of smallest |w_k| whose |w_k| sum to at most skip_mass * sum_k |w_k| (skip_mass 0: all D)."""
    skip_mass = _checked_skip_mass(skip_mass)
    size = weights.abs()
    order = torch.argsort(size)
    skipped = int((torch.cumsum(size[order], 0) <= skip_mass * float(size.sum())).sum()) if skip_mass > 0 else 0
    return order[skipped:].sort().values


def fggb_map(
    model: nn.Module,
    face_b,
    f_a: torch.Tensor,
    *,
    threshold: float = 0.0,
    chunk: int = 16,
    precision: str = "auto",
    skip_mass: float = FGGB_SKIP_MASS,
) -> np.ndarray:
    """FGGB: S = sum_k G~_k (a_hat_k f_hat_k - theta / D), (S, S) float64 (see the module docstring).

    skip_mass: the dimensions of smallest weight |w_k| = |a_hat_k f_hat_k - theta / D|, up to this share
    of sum_k |w_k|, are not backpropagated. Each G~_k has unit L2 norm, so the map moves by at most
    skip_mass * sum_k |w_k| in L2 norm. At the default 2 % a 320-d model keeps 221-248 dimensions on LFW
    pairs (a fifth of the time saved), at a rank correlation of 0.9994 or more to the full sum and an
    L2 difference of 3 % or less (benchmarks/fggb_skip.py). 0: every dimension, as the authors' loop."""
    skip_mass = _checked_skip_mass(skip_mass)  # before any backward pass
    a_hat = _unit(f_a.detach().clone().float().reshape(-1))

    def weights(f_hat):
        if a_hat.shape != f_hat.shape:
            raise InterpfaceError(f"face A's embedding has {a_hat.numel()} dimensions, the model gives {f_hat.numel()}")
        return a_hat * f_hat - float(threshold) / f_hat.numel()

    maps, f_hat, rows = _fggb_rows(
        model, face_b, chunk, precision, pick=lambda f_hat: fggb_dims(weights(f_hat), skip_mass)
    )
    w = weights(f_hat)[rows]
    return (w @ maps.flatten(1)).view(maps.shape[1:]).double().numpy()  # float32: a sum of R terms


# ------------------------------------------------------------------------------------------ xSSAB
def xssab_maps(model: nn.Module, face_b, f_a: torch.Tensor, *, threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """xSSAB's positive and negative gradient maps of B, each (S, S) >= 0: mean_c |d cos+ / d x| and
    mean_c |d cos- / d x| (see the module docstring)."""
    size = input_size(model)
    x = _leaf(face_b, size)
    a_hat = F.normalize(f_a.detach().clone().float().reshape(1, -1), dim=1)[0]
    with torch.enable_grad():
        f_hat = F.normalize(model(x).float(), dim=1)[0]
        if a_hat.shape != f_hat.shape:
            raise InterpfaceError(f"face A's embedding has {a_hat.numel()} dimensions, the model gives {f_hat.numel()}")
        supports = (a_hat * f_hat.detach()) >= float(threshold) / f_hat.numel()
        weights = torch.stack([torch.where(supports, a_hat, 0.0), torch.where(supports, 0.0, a_hat)])
        cos = weights @ f_hat  # (2,): cos+ and cos-
        g = _batched_vjp(cos, x, torch.eye(2))  # (2, 1, 3, S, S)
    pos, neg = _channel_abs_mean(g[:, 0].double())
    return pos.numpy(), neg.numpy()


def xssab_map(model: nn.Module, face_b, f_a: torch.Tensor, *, threshold: float = 0.0) -> np.ndarray:
    """xSSAB's combined map: positive gradient map minus negative gradient map, (S, S) float64."""
    pos, neg = xssab_maps(model, face_b, f_a, threshold=threshold)
    return pos - neg


# --------------------------------------------------------------------------------------- CorrRISE
def default_patch_size(size: int) -> int:
    """The authors' 30-px squares on a 112-px input, scaled to a size-px input."""
    return max(1, int(round(30 * size / 112)))


def corrrise_masks(
    n_masks: int, size: int, *, patches: int = 3, patch_size: int | None = None, seed: int = 0
) -> torch.Tensor:
    """(n_masks, size, size) float keep masks: 1 = visible, 0 inside `patches` squares of patch_size
    whose top-left corners are uniform over the positions where the square fits inside the image."""
    p = default_patch_size(size) if patch_size is None else int(patch_size)
    if not 1 <= p <= size:
        raise InterpfaceError(f"patch_size must be in [1, {size}], got {p}")
    gen = torch.Generator().manual_seed(int(seed))
    rows = torch.randint(0, size - p + 1, (n_masks, patches), generator=gen)
    cols = torch.randint(0, size - p + 1, (n_masks, patches), generator=gen)
    r = torch.arange(size)
    in_rows = (r >= rows[..., None]) & (r < rows[..., None] + p)  # (N, P, S)
    in_cols = (r >= cols[..., None]) & (r < cols[..., None] + p)
    covered = (in_rows[..., :, None] & in_cols[..., None, :]).any(dim=1)
    return (~covered).float()


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """Ranks 1..N of scores, ties sharing their average rank (scipy.stats.rankdata's default)."""
    s = np.asarray(scores, np.float64).reshape(-1)
    order = np.argsort(s, kind="mergesort")
    ordinal = np.empty(len(s))
    ordinal[order] = np.arange(1, len(s) + 1)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    sums = np.zeros(len(counts))
    np.add.at(sums, inverse, ordinal)
    return (sums / counts)[inverse]


def corrrise_map(
    model: nn.Module,
    face_b,
    f_a: torch.Tensor,
    *,
    n_masks: int = 500,
    patches: int = 3,
    patch_size: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    rank: bool = True,
    masks: torch.Tensor | None = None,
) -> np.ndarray:
    """CorrRISE: per pixel, the correlation over the masks between its keep indicator and the rank of
    the masked face's cosine to A (rank=False: the raw cosine, Pearson). (S, S) float64 in [-1, 1].
    masks: an (N, S, S) keep-mask set to use instead of drawing one (the authors share one set)."""
    size = input_size(model)
    x = to_input(face_b, size)
    if masks is None:
        masks = corrrise_masks(n_masks, size, patches=patches, patch_size=patch_size, seed=seed)
    masks = torch.as_tensor(masks, dtype=torch.float32).reshape(-1, size, size)
    ref = F.normalize(f_a.detach().clone().float().reshape(1, -1), dim=1)
    scores = torch.empty(len(masks))
    with torch.inference_mode():
        for sl in batch_slices(len(masks), batch_size):
            f = F.normalize(model(x * masks[sl, None]).float(), dim=1)
            scores[sl] = (f * ref).sum(dim=1)
    s = average_ranks(scores.numpy()) if rank else scores.double().numpy()
    keep = masks.double().numpy().reshape(len(masks), -1)
    kc = keep - keep.mean(axis=0)
    sc = s - s.mean()
    cov = sc @ kc / len(s)
    denom = np.sqrt((kc * kc).mean(axis=0)) * np.sqrt((sc * sc).mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 0, cov / np.where(denom > 0, denom, 1.0), 0.0)
    return corr.reshape(size, size)
