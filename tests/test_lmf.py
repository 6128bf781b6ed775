"""LMF keeps exactly the k largest magnitudes per channel; g_sigma is a normalised channel-wise blur."""

from __future__ import annotations

import pytest
import torch

from interpface.models.lmf import (
    LargeMagnitudeFilter,
    gaussian_kernel2d,
    gaussian_smooth,
    large_magnitude_filter,
    lmf_mean,
)


def _no_ties(b=3, c=5, h=24, w=24, seed=0):
    # A random permutation of distinct magnitudes with random signs: no ties anywhere.
    g = torch.Generator().manual_seed(seed)
    mags = torch.stack([torch.randperm(h * w, generator=g) for _ in range(b * c)]).float() + 1.0
    signs = torch.randint(0, 2, mags.shape, generator=g).float() * 2 - 1
    return (mags * signs).reshape(b, c, h, w)


@pytest.mark.parametrize("keep", [1, 24, 100])
def test_keeps_exactly_k_largest_magnitudes(keep):
    psi = _no_ties()
    out = large_magnitude_filter(psi, keep)
    assert out.shape == psi.shape
    flat_in, flat_out = psi.flatten(2), out.flatten(2)
    assert ((flat_out != 0).sum(-1) == keep).all()
    # The survivors are the top-k by |value|, with their original signed values.
    thresh = flat_in.abs().sort(-1, descending=True).values[..., keep - 1 : keep]
    expected = torch.where(flat_in.abs() >= thresh, flat_in, torch.zeros(()))
    assert torch.equal(flat_out, expected)


def test_exact_count_with_ties_and_input_untouched():
    psi = torch.ones(2, 3, 4, 4)
    before = psi.clone()
    out = large_magnitude_filter(psi, 5)
    assert ((out.flatten(2) != 0).sum(-1) == 5).all()
    assert torch.equal(psi, before)


def test_keep_all_is_identity_and_module_matches():
    psi = _no_ties(h=4, w=4)
    assert torch.equal(large_magnitude_filter(psi, 16), psi)
    assert torch.equal(LargeMagnitudeFilter(3)(psi), large_magnitude_filter(psi, 3))


def test_gradient_only_through_kept_positions():
    psi = _no_ties(b=1, c=2, h=6, w=6).requires_grad_(True)
    large_magnitude_filter(psi, 4).sum().backward()
    kept = large_magnitude_filter(psi.detach(), 4) != 0
    assert torch.equal(psi.grad, kept.float())


def test_channels_last_and_bf16():
    psi = _no_ties(h=8, w=8).contiguous(memory_format=torch.channels_last)
    assert torch.equal(large_magnitude_filter(psi, 7), large_magnitude_filter(psi.contiguous(), 7))
    out = large_magnitude_filter(psi.bfloat16(), 7)
    assert out.dtype == torch.bfloat16 and ((out.flatten(2) != 0).sum(-1) == 7).all()


def test_gaussian_kernel_matches_authors_and_is_normalised():
    k = gaussian_kernel2d(3, 1.5)
    assert k.sum().item() == pytest.approx(1.0, abs=1e-6)
    # The authors' fixed 3x3 kernel.
    assert k[1, 1].item() == pytest.approx(0.147761, abs=2e-6)
    assert k[0, 1].item() == pytest.approx(0.118318, abs=2e-6)
    assert k[0, 0].item() == pytest.approx(0.0947416, abs=2e-6)


def test_gaussian_smooth_is_channelwise_same_size():
    x = torch.zeros(1, 2, 7, 7)
    x[0, 0, 3, 3] = 1.0  # impulse in channel 0 only
    y = gaussian_smooth(x, 3, 1.5)
    assert y.shape == x.shape
    assert torch.allclose(y[0, 0, 2:5, 2:5], gaussian_kernel2d(3, 1.5))
    assert y[0, 1].abs().max() == 0  # channels never mix
    assert y.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_lmf_mean_equals_mean_of_filtered_maps():
    for psi in (torch.randn(3, 5, 24, 24), torch.randn(3, 5, 24, 24).contiguous(memory_format=torch.channels_last)):
        for keep in (1, 24, 576, 1000):
            assert torch.allclose(lmf_mean(psi, keep), large_magnitude_filter(psi, keep).mean(dim=(2, 3)), atol=1e-7)
        p = psi.clone().requires_grad_()
        lmf_mean(p, 24).sum().backward()
        assert torch.equal(p.grad != 0, large_magnitude_filter(psi, 24) != 0)  # gradient only where kept


def test_lmf_mean_without_grad_selects_like_topk():
    """Without autograd lmf_mean selects through integer keys and np.partition instead of topk: the
    same kept set for any thread split and batch size, and topk's choice where the keep-th magnitude
    is tied (also between +x and -x) or the map holds NaN or inf."""
    torch.manual_seed(1)
    psi = torch.randn(9, 64, 24, 24).contiguous(memory_format=torch.channels_last)
    psi[0, 0] = 0.5  # every position tied
    psi[1, 2, :2] = -psi[1, 2].abs().max()  # 48 tied largest magnitudes, one sign
    psi[3, 4, 0, :12], psi[3, 4, 1, :13] = 9.0, -9.0  # 25 tied magnitudes, both signs
    psi[2, 3, 5, 5] = float("nan")
    psi[4, 5, 6, 6] = float("-inf")
    psi[5, 6] = torch.where(torch.rand(24, 24) < 0.5, 0.0, -0.0)  # signed zeros only
    ref = large_magnitude_filter(psi, 24).mean(dim=(2, 3))
    threads = torch.get_num_threads()
    try:
        for n_threads in (1, 2, 3):
            torch.set_num_threads(n_threads)
            for p in (psi, psi[:7].contiguous(), psi.double()):
                with torch.no_grad():
                    out = lmf_mean(p, 24)
                assert out.dtype == p.dtype and out.shape == p.shape[:2]
                assert torch.isnan(out[2, 3]) and torch.isnan(ref[2, 3])
                assert out[4, 5] == float("-inf") and out[3, 4] != 0
                ok = ~torch.isnan(ref[: len(p)])
                assert torch.allclose(out[ok].float(), ref[: len(p)][ok], atol=1e-7)
    finally:
        torch.set_num_threads(threads)
