"""Large Magnitude Filtering (LMF, paper §3.2) and the channel-wise Gaussian g_sigma.

LMF keeps, per image and per channel of the response maps psi, the `keep` positions of largest
magnitude and zeroes the rest (the paper's "d% smallest set to 0"; the authors keep 24 of 24x24 = 576,
d ~ 95.8%). The representation f is the global average of LMF(psi); the SAD response loss and the
analyses use psi' = g_sigma * LMF(psi).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LargeMagnitudeFilter", "large_magnitude_filter", "lmf_mean", "gaussian_kernel2d", "gaussian_smooth"]


def _check(psi: torch.Tensor, keep: int) -> tuple[int, int, int, int]:
    if psi.dim() != 4:
        raise ValueError(f"psi must be (B, C, H, W), got shape {tuple(psi.shape)}")
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    return tuple(psi.shape)


def large_magnitude_filter(psi: torch.Tensor, keep: int) -> torch.Tensor:
    """Zero all but the `keep` largest-|value| positions of each channel of each image.

    psi: (B, C, H, W), any float dtype, any memory format. Returns a new tensor of the same shape and
    dtype (psi is not modified). Signs are preserved: strong negative responses are kept too, which the
    analyses need (they look at positive and negative peaks).

    Exactly `keep` positions survive per (image, channel), always, because the kept set comes from
    `torch.topk` indices rather than from a threshold. With ties at the boundary (equal magnitudes, likely
    in bf16 or for all-zero maps) which of the tied positions survive is unspecified (topk's choice),
    but the count is still exact. (The authors' TF code thresholds with ``|x| > k-th largest``, which
    keeps k-1 positions without ties and fewer with them.)

    Gradient: d out / d psi is 1 at kept positions and 0 elsewhere; the selection itself is not
    differentiated (it is piecewise constant).
    """
    b, c, h, w = _check(psi, keep)
    if keep >= h * w:
        return psi.clone()
    flat = psi.reshape(b, c, h * w)
    with torch.no_grad():
        idx = flat.abs().topk(keep, dim=-1, sorted=False).indices
        mask = torch.zeros(flat.shape, dtype=torch.bool, device=psi.device)
        mask.scatter_(-1, idx, True)
    # torch.where (not multiplication) so NaN/inf outside the kept set cannot leak into the output.
    out = torch.where(mask, flat, torch.zeros((), dtype=flat.dtype, device=flat.device))
    return out.reshape(b, c, h, w)


def lmf_mean(psi: torch.Tensor, keep: int) -> torch.Tensor:
    """The representation f = mean over positions of large_magnitude_filter(psi, keep), without
    building the filtered maps: (B, C, H, W) -> (B, C).

    Same kept set (topk of |psi|) and the same values up to float rounding (a sum of `keep` values
    divided by H*W instead of a mean over H*W mostly-zero values); about 2x cheaper, which matters
    where f is evaluated for many occluded copies of a face (occlusion sweeps). Differentiable like
    large_magnitude_filter (gradient 1/(H*W) at kept positions); without autograd on the CPU the kept
    set comes from a partition instead of topk (see _lmf_mean_by_partition), several times faster.
    """
    b, c, h, w = _check(psi, keep)
    if keep >= h * w:
        return psi.mean(dim=(2, 3))
    if (
        psi.device.type == "cpu"
        and psi.dtype in (torch.float32, torch.float64)
        and not (torch.is_grad_enabled() and psi.requires_grad)
    ):
        return _lmf_mean_by_partition(psi, keep)
    with torch.no_grad():
        # |psi| written straight into (B, C, H*W) rows (one pass, whatever psi's memory format): topk
        # along a strided axis is several times slower.
        mag = torch.empty((b, c, h * w), dtype=psi.dtype, device=psi.device)
        torch.abs(psi, out=mag.view(b, c, h, w))
        idx = mag.topk(keep, dim=-1, sorted=False).indices
    if psi.is_contiguous(memory_format=torch.channels_last) and not psi.is_contiguous():
        # (B, H*W, C) is a free view of a channels_last tensor: gather there, no copy of psi
        return psi.permute(0, 2, 3, 1).reshape(b, h * w, c).gather(1, idx.transpose(1, 2)).sum(dim=1) / (h * w)
    return psi.reshape(b, c, h * w).gather(-1, idx).sum(dim=-1) / (h * w)


def _lmf_mean_by_partition(psi: torch.Tensor, keep: int) -> torch.Tensor:
    """lmf_mean without autograd on the CPU: (B, C, H, W) -> (B, C), the same kept set as topk.

    Each value is mapped to an unsigned integer key whose order is the order of |value| (the
    magnitude bits shifted up one place, the sign in the lowest bit), and numpy's introselect
    (``np.partition``) moves each row's `keep` largest keys to its end; those keys decode back to the
    kept signed values. That is about 3x faster than ``torch.topk`` on the CPU and releases the GIL,
    so images are split over torch's thread count. A row whose keep-th and (keep+1)-th magnitudes tie
    falls back to topk, so the result is always topk's selection (NaN counts as largest, like topk).

    Each image goes through one small buffer, which stays in cache: fresh tensors of the whole
    batch's size (tens of MB) cost more in page faults than the arithmetic.
    """
    b, c, h, w = psi.shape
    n = h * w
    kth = n - keep
    utype, top_bit = (np.uint32, 31) if psi.dtype == torch.float32 else (np.uint64, 63)
    # (B, H*W, C) as unsigned integers: a view when psi is channels_last (the occlusion sweeps')
    rows = psi.detach().permute(0, 2, 3, 1).reshape(b, n, c).numpy().view(utype)
    out = np.empty((b, c), dtype=_FLOAT[utype])
    tied = np.zeros((b, c), dtype=bool)
    workers = max(1, min(torch.get_num_threads(), b))

    def select(images: range) -> None:
        """out / tied for these images; one (C, H*W) buffer, in cache, per worker."""
        bits, keys = np.empty((c, n), dtype=utype), np.empty((c, n), dtype=utype)
        for i in images:
            np.copyto(bits, rows[i].T)  # (C, H*W) rows
            np.left_shift(bits, 1, out=keys)
            np.right_shift(bits, top_bit, out=bits)
            keys |= bits
            keys.partition(kth, axis=1)  # in place
            kept = keys[:, kth:]
            tied[i] = (keys[:, :kth].max(axis=1) >> 1) == (kept.min(axis=1) >> 1)
            out[i] = ((kept >> 1) | ((kept & 1) << top_bit)).view(out.dtype).sum(axis=1)

    # the calling thread takes one share itself (one thread fewer competing with torch's own)
    others = [_pool(workers - 1).submit(select, range(k, b, workers)) for k in range(1, workers)]
    select(range(0, b, workers))
    for job in others:
        job.result()
    result = torch.from_numpy(out)
    bad = torch.from_numpy(tied)
    if bool(bad.any()):
        flat = psi.reshape(b, c, n)[bad]  # (R, H*W): rows tied at the threshold
        idx = flat.abs().topk(keep, dim=-1, sorted=False).indices
        result[bad] = flat.gather(-1, idx).sum(dim=-1)
    return result / n


_FLOAT = {np.uint32: np.float32, np.uint64: np.float64}
_POOLS: dict[int, Any] = {}


def _pool(workers: int):
    """A thread pool of `workers` threads, kept for the process (numpy releases the GIL in its work)."""
    from concurrent.futures import ThreadPoolExecutor

    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="lmf")
    return _POOLS[workers]


class LargeMagnitudeFilter(nn.Module):
    """Module form of :func:`large_magnitude_filter` (no parameters). (B, C, H, W) -> same shape."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = int(keep)

    def forward(self, psi: torch.Tensor) -> torch.Tensor:
        return large_magnitude_filter(psi, self.keep)

    def extra_repr(self) -> str:
        return f"keep={self.keep}"


def gaussian_kernel2d(kernel_size: int, sigma: float, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised (sums to 1) isotropic Gaussian, shape (kernel_size, kernel_size).

    kernel_size=3, sigma=1.5 reproduces the authors' fixed kernel to 6 digits
    (centre 0.14776, edge 0.11832, corner 0.09474).
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be a positive finite number, got {sigma}")
    r = kernel_size // 2
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    g1 = torch.exp(-(x**2) / (2.0 * sigma**2))
    g2 = torch.outer(g1, g1)
    return (g2 / g2.sum()).to(dtype=dtype, device=device)


def gaussian_smooth(x: torch.Tensor, kernel_size: int = 3, sigma: float = 1.5) -> torch.Tensor:
    """Channel-wise Gaussian blur g_sigma * x. x: (B, C, H, W) -> (B, C, H, W).

    A depthwise convolution (groups = C, so channels never mix) with zero "same" padding, like the
    authors' TF ``padding='SAME'`` conv: values near the border lose the mass that falls outside.
    """
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    if kernel_size == 1:
        return x.clone()
    c = x.shape[1]
    k = gaussian_kernel2d(kernel_size, sigma, dtype=x.dtype, device=x.device)
    weight = k.expand(c, 1, kernel_size, kernel_size)
    return F.conv2d(x, weight, padding=kernel_size // 2, groups=c)
