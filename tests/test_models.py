"""Shape / gradient / no-NaN / autocast / channels_last checks of the Table-1 network."""

from __future__ import annotations

import pytest
import torch

from interpface.errors import ConfigError
from interpface.models.networks import (
    MODEL_CONFIGS,
    InterpretableFaceNet,
    ModelConfig,
    count_flops,
    count_parameters,
    get_model_config,
)

torch.set_num_threads(2)


def _model(name="tiny", **kw) -> InterpretableFaceNet:
    torch.manual_seed(0)
    return InterpretableFaceNet(get_model_config(name, **kw))


@pytest.mark.parametrize("name", ["tiny", "cpu"])
def test_shapes(name):
    m = _model(name).eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        out = m.forward_intermediates(x)
        f = m(x)
    n, g = m.config.num_filters, m.grid_size
    hc = m.config.channels(m.config.hc_channels)
    assert g == 24
    assert out.conv33.shape == out.conv44.shape == out.conv54.shape == (2, hc, g, g)
    assert out.phi.shape == (2, 3 * hc, g, g)
    assert out.psi.shape == out.psi_lmf.shape == out.psi_smooth.shape == (2, n, g, g)
    assert out.f.shape == f.shape == (2, n)
    assert torch.allclose(out.f, f)
    assert ((out.psi_lmf.flatten(2) != 0).sum(-1) == m.config.lmf_keep).all()
    assert (out.psi < 0).any() and (out.psi > 0).any()  # signed responses
    assert torch.isfinite(out.psi_smooth).all()


def test_hypercolumn_parts_are_unit_norm():
    # Train mode: BN uses batch statistics (at init, eval-mode activations of the 0.02-std net are
    # far below the normalisation eps).
    m = _model().train()
    with torch.no_grad():
        out = m.forward_intermediates(torch.rand(2, 3, 96, 96))
    for part in (out.conv33, out.conv44, out.conv54):
        assert torch.allclose(part.norm(dim=1), torch.ones(2, 24, 24), atol=1e-4)


def test_every_parameter_gets_a_gradient():
    m = _model(num_classes=5, phi_conv=True, psi_batchnorm=True).train()
    x = torch.rand(4, 3, 96, 96)
    y = torch.tensor([0, 1, 2, 3])
    out = m.forward_intermediates(x)
    loss = torch.nn.functional.cross_entropy(m.logits(out.f), y) + out.psi_smooth.square().mean()
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_bf16_autocast_and_channels_last():
    m = _model(num_classes=3).to(memory_format=torch.channels_last).eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        ref = m(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = m.forward_intermediates(x.contiguous(memory_format=torch.channels_last))
            logits = m.logits(out.f)
    assert out.f.shape == (2, 32) and logits.shape == (2, 3)
    assert torch.isfinite(out.f.float()).all()
    # bf16 changes which near-tied positions LMF keeps, so compare loosely.
    assert torch.nn.functional.cosine_similarity(out.f.float(), ref).min() > 0.9


def test_paper_config_counts():
    m = InterpretableFaceNet(get_model_config("paper"))
    assert abs(count_parameters(m) - 7.9e6) / 7.9e6 < 0.05
    assert count_flops(m) == pytest.approx(7.35e9, rel=0.01)
    assert not MODEL_CONFIGS["authors"].phi_conv and MODEL_CONFIGS["paper"].phi_conv


def test_init_truncated_normal():
    m = _model("cpu")
    w = m.psi.weight
    assert w.abs().max() <= 0.04 + 1e-7 and 0.012 < w.std() < 0.02
    assert m.psi.bias.abs().max() == 0 and (m.conv11.bn.weight == 1).all()


def test_config_roundtrip_and_validation():
    c = get_model_config("cpu", num_classes=7)
    assert ModelConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError):
        ModelConfig.from_dict({**c.to_dict(), "widht": 2.0})
    with pytest.raises(ConfigError):
        get_model_config("nope")
    with pytest.raises(ConfigError):
        get_model_config("tiny", activation="gelu")
    with pytest.raises(ConfigError):
        get_model_config("tiny", lmf_keep=1000)
    # Registry entries are not shared mutable objects.
    get_model_config("paper").width = 3.0
    assert MODEL_CONFIGS["paper"].width == 1.0


def test_logits_without_classifier_raises():
    with pytest.raises(ConfigError):
        _model().logits(torch.zeros(1, 32))
