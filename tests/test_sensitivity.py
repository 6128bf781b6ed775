"""Occlusion sweeps (equal to captum.attr.Occlusion), the incremental forward, captum attributions."""

import numpy as np
import pytest
import torch
from captum.attr import Occlusion

from interpface.analysis import (
    EmbeddingTarget,
    attribute,
    captum_windows,
    occlusion_sweep,
    pixel_attribution,
    sweep_centers,
    warped_occlusion_sweep,
)
from interpface.analysis._common import to_input
from interpface.analysis.incremental import OcclusionForward
from interpface.errors import InterpfaceError
from interpface.faces.occlusion import OcclusionRect, occlude_rect
from interpface.models.adapters import InterpretableFaceModel
from tests.tiny import tiny_model


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return tiny_model(1)


@pytest.fixture(scope="module")
def faces(template):
    rng = np.random.default_rng(7)
    crops = rng.integers(0, 256, (2, 110, 110, 3), dtype=np.uint8)
    return crops, np.stack([template.landmarks + rng.uniform(-1, 1, (68, 2)) for _ in range(2)])


def test_captum_windows():
    w = captum_windows((96, 96), (20, 20), (16, 16))  # ceil(76 / 16) + 1 = 6 per axis, last one cut off
    assert len(w) == 36 and w[0].tolist() == [0, 0, 20, 20] and w[5].tolist() == [80, 0, 96, 20]
    assert w[-1].tolist() == [80, 80, 96, 96]
    with pytest.raises(InterpfaceError):
        captum_windows((96, 96), (8, 8), (9, 9))


@pytest.mark.parametrize("window,stride,baseline", [((24, 24), (12, 12), 0.0), ((20, 16), (16, 10), 0.5)])
def test_axis_sweep_equals_captum(model, faces, window, stride, baseline):
    crop, ref = faces[0][0], faces[0][1]
    x = to_input(crop)
    sweep = occlusion_sweep(model, crop, window=window, stride=stride, baseline=baseline, reference=ref, batch_size=7)
    occ = dict(sliding_window_shapes=(3,) + window, strides=(3,) + stride, baselines=baseline)
    for dim in (3, 17):
        expected = Occlusion(model).attribute(x, target=dim, **occ)[0]
        assert torch.allclose(expected[0], expected[2])  # windows span the channels
        got = sweep.attribution(dim)
        assert got.shape == (96, 96)
        assert np.allclose(got, expected[0].numpy(), atol=2e-6, rtol=1e-4), np.abs(got - expected[0].numpy()).max()
    target = EmbeddingTarget(model, reference=model(to_input(ref))[0].detach())
    expected = Occlusion(target).attribute(x, **occ)[0, 0].numpy()
    assert np.allclose(sweep.attribution("cosine"), expected, atol=2e-6, rtol=1e-4)
    # one sweep holds every dimension and the cosine: clean pass once, delta = clean - occluded
    assert sweep.f_occluded.shape == (len(sweep.boxes), 32) and sweep.cos_occluded.shape == (len(sweep.boxes),)
    with torch.no_grad():
        assert np.allclose(sweep.f_clean, model(x)[0].numpy(), atol=1e-6)
    assert sweep.changed_dims(0.0).max() <= 32 and sweep.coverage.min() >= 1


def test_dims_subset_and_incremental_equal_plain(model, faces):
    crop = faces[0][0]
    full = occlusion_sweep(model, crop, window=16, stride=8, incremental=False)
    inc = occlusion_sweep(model, crop, window=16, stride=8, incremental=True)
    assert np.allclose(inc.f_occluded, full.f_occluded, atol=1e-6)
    one = occlusion_sweep(model, crop, window=16, stride=8, dims=[5, 9])
    assert one.f_occluded.shape == (len(one.boxes), 2)
    assert np.allclose(one.attribution(9), full.attribution(9), atol=1e-6)
    with pytest.raises(InterpfaceError):
        one.attribution(3)
    with pytest.raises(InterpfaceError):
        one.scores("norm")
    with pytest.raises(InterpfaceError):
        occlusion_sweep(model, crop, dims=[40])
    with pytest.raises(InterpfaceError):
        full.scores("cosine")  # no reference face


def test_incremental_forward_matches_model_on_random_boxes(model):
    rng = np.random.default_rng(3)
    x = torch.rand(1, 3, 96, 96)
    occ, boxes = [], []
    for _ in range(16):  # sizes 1-39 px: many window shapes, grouped and merged
        h, w = rng.integers(1, 40, 2)
        y, x0 = rng.integers(0, 96 - h), rng.integers(0, 96 - w)
        o = x.clone()
        o[0, :, y : y + h, x0 : x0 + w] = torch.rand(3, h, w)
        occ.append(o[0])
        boxes.append([x0, y, x0 + w, y + h])
    # borders, and an empty box (an occluder outside the input: nothing changes)
    for x0, y0, x1, y1 in ([0, 0, 10, 10], [86, 86, 96, 96], [0, 40, 96, 50], [90, 0, 96, 96], [0, 0, 0, 0]):
        o = x.clone()
        o[0, :, y0:y1, x0:x1] = 0.0
        occ.append(o[0])
        boxes.append([x0, y0, x1, y1])
    occ = torch.stack(occ)
    fwd = OcclusionForward(model, x)
    with torch.no_grad():
        assert torch.allclose(fwd(fwd.batch(occ, np.array(boxes))), model(occ), atol=1e-6)
        sub = OcclusionForward(model, x, dims=[0, 31])
        assert torch.allclose(sub(sub.batch(occ, np.array(boxes))), model(occ)[:, [0, 31]], atol=1e-6)
        assert torch.allclose(sub.clean(x), model(x)[:, [0, 31]], atol=1e-6)


@pytest.mark.parametrize("overrides", [dict(phi_conv=True), dict(psi_batchnorm=True, l2_normalize_parts=False)])
def test_incremental_forward_other_heads(overrides):
    """The shortcut through Psi (conv33's share recomputed locally) holds for every head option, and a
    3x3 conv on Phi (which mixes the parts) turns it off; boxes from 1 px to most of the input."""
    from interpface.models.networks import InterpretableFaceNet, get_model_config

    torch.manual_seed(5)
    net = InterpretableFaceNet(get_model_config("tiny", **overrides)).train()
    with torch.no_grad():
        net(torch.rand(8, 3, 96, 96))
    net.eval()
    x = torch.rand(1, 3, 96, 96)
    boxes = np.array([[0, 0, 1, 1], [90, 5, 96, 30], [40, 40, 56, 56], [10, 60, 30, 96], [0, 0, 80, 80]])
    occ = x.repeat(len(boxes), 1, 1, 1)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        occ[i, :, y0:y1, x0:x1] = 0.0
    fwd = OcclusionForward(net, x)
    with torch.no_grad():
        assert torch.allclose(fwd(fwd.batch(occ, boxes)), net(occ), atol=1e-6)
        assert torch.allclose(fwd(fwd.batch(occ[:4], boxes[:4])), net(occ[:4]), atol=1e-6)


def test_warped_sweep(model, faces, template):
    crops, lms = faces
    centers = sweep_centers(template, stride=20.0)
    assert centers.shape[1] == 2 and len(centers) >= 6
    sweep = warped_occlusion_sweep(
        InterpretableFaceModel(model),
        crops[0],
        lms[0],
        stride=20.0,
        reference=crops[1],
        batch_size=5,
        template=template,
    )
    p = len(centers)
    assert sweep.masks.shape == (p, 110, 110) and sweep.quads.shape == (p, 4, 2) and sweep.frame == "crop"
    # each occluded copy is exactly occlusion.occlude_rect's
    for i in (0, p // 2, p - 1):
        r = sweep.rects[i]
        occluded, mask, _ = occlude_rect(crops[0], lms[0], OcclusionRect(r.cx, r.cy, r.width, r.height), template)
        assert np.array_equal(mask, sweep.masks[i])
        with torch.no_grad():
            f = model(to_input(occluded))[0].numpy()
        assert np.allclose(sweep.f_occluded[i], f, atol=1e-6)
    att = sweep.attribution("norm")
    assert att.shape == (110, 110) and np.all(att[sweep.coverage == 0] == 0)
    assert np.isfinite(sweep.attribution("cosine")).all()


@pytest.mark.parametrize("method", ["gradcam", "integrated_gradients", "occlusion"])
def test_pixel_attribution(model, faces, method):
    crops, _ = faces
    a = pixel_attribution(model, crops[0], method=method, dim=4, steps=8, window=24, stride=12)
    b = pixel_attribution(model, crops[0], method=method, reference=crops[1], steps=8, window=24, stride=12)
    for m in (a, b):
        assert m.shape == (96, 96) and np.isfinite(m).all() and np.abs(m).max() > 0
    with pytest.raises(InterpfaceError):
        pixel_attribution(model, crops[0], method="nope", dim=1)
    with pytest.raises(InterpfaceError):
        EmbeddingTarget(model)
    assert all(p.grad is None for p in model.parameters())  # the shared model is left untouched


def test_attribute_convenience_names(model, faces):
    crops, _ = faces
    a = pixel_attribution(model, crops[0], method="gradcam", dim=2)
    assert np.allclose(attribute(model, crops[0], method="LayerGradCam", dimension=2), a)
    with pytest.raises(InterpfaceError):
        attribute(model, crops[0], method="saliency", dimension=2)
