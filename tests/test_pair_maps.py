"""Pair similarity / dissimilarity maps and their deletion / insertion faithfulness, on a hand-built
model whose embedding depends on one known image region, and on a real (tiny) network."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from interpface.analysis.faithfulness import baseline_image, deletion_insertion, pixel_order
from interpface.analysis.pair_maps import PAIR_METHODS, methods_for, pair_map, pair_maps
from interpface.errors import InterpfaceError
from interpface.models.adapters import InterpretableFaceModel
from interpface.models.face_model import FaceModel

SIZE = 96
REGION = (slice(48, 80), slice(24, 72))  # rows, cols of the input the embedding reads (a "mouth")


class _Mask(nn.Module):
    def __init__(self, mask):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, x):
        return x * self.mask


class RegionModel(nn.Module):
    """f(x) = (mean over the grid of psi_0, 0.5): psi_0 = each 4x4 block's mean intensity inside REGION,
    0 elsewhere; psi_1 = 0.5. No LMF (all cells kept), so f is the grid mean, as the representation
    map assumes. cos(f, (1, 0)) = a / sqrt(a^2 + 0.25) grows with the region's brightness a."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(input_size=SIZE, num_filters=2)
        conv = nn.Conv2d(3, 2, 4, stride=4)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0] = 1.0 / 48  # block mean over 3 channels x 16 pixels
            conv.bias.copy_(torch.tensor([0.0, 0.5]))
        mask = torch.zeros(1, 2, SIZE // 4, SIZE // 4)
        mask[0, 0, REGION[0].start // 4 : REGION[0].stop // 4, REGION[1].start // 4 : REGION[1].stop // 4] = 1
        mask[0, 1] = 1
        self.psi = nn.Sequential(conv, _Mask(mask))  # the response maps (Grad-CAM's layer)

    def forward_intermediates(self, x):
        psi = self.psi(x)
        return SimpleNamespace(psi_lmf=psi, f=psi.mean(dim=(2, 3)))

    def forward(self, x):
        return self.forward_intermediates(x).f


@pytest.fixture(scope="module")
def region_pair():
    torch.manual_seed(0)
    model = InterpretableFaceModel(RegionModel().eval())  # it has the part-filter structure: psi, LMF means
    face_b = torch.rand(3, SIZE, SIZE) * 0.8 + 0.1
    return model, torch.tensor([1.0, 0.0]), face_b


#: how far each method's map can reach past the region by construction: half the occlusion window,
#: one RISE mask cell; the others resolve the 4-px grid or single pixels
REACH = {"occlusion": 8, "rise": 14}


def _grown(pixels: int) -> np.ndarray:
    inside = np.zeros((SIZE, SIZE), bool)
    inside[
        max(0, REGION[0].start - pixels) : REGION[0].stop + pixels,
        max(0, REGION[1].start - pixels) : REGION[1].stop + pixels,
    ] = True
    return inside


def test_every_method_puts_the_similarity_mass_on_the_region(region_pair):
    model, f_a, face_b = region_pair
    for method in PAIR_METHODS:
        m = pair_map(model, f_a, face_b, method, n_masks=1024)  # RISE: Monte Carlo noise shrinks with the masks
        assert m.signed.shape == (SIZE, SIZE) and np.isfinite(m.signed).all()
        sim = m.similarity
        inside = _grown(REACH.get(method, 0))
        share = sim[inside].sum() / max(sim.sum(), 1e-12)
        if method == "random":
            assert share < 0.4, share  # the region is 17% of the input
        else:
            assert share > 0.9, (method, share)


def test_every_method_beats_the_random_floor_on_deletion(region_pair):
    model, f_a, face_b = region_pair
    maps = pair_maps(model, f_a, face_b, n_masks=256)
    aucs = {k: deletion_insertion(model.module, f_a, face_b, m.similarity).deletion_auc for k, m in maps.items()}
    for method, auc in aucs.items():
        if method != "random":
            assert auc < aucs["random"] - 0.05, (method, aucs)


def test_curves_are_monotone_for_a_model_linear_in_the_pixels(region_pair):
    """The region's mean is linear in the pixels (positive weights) and the cosine grows with it:
    removing pixels toward the black baseline can only lower it, restoring them only raise it —
    whatever the order."""
    model, f_a, face_b = region_pair
    for saliency in (
        pair_map(model, f_a, face_b, "representation").similarity,
        np.random.default_rng(3).random((SIZE, SIZE)),
    ):
        c = deletion_insertion(model.module, f_a, face_b, saliency, baseline="black", steps=16)
        assert np.all(np.diff(c.deletion) <= 1e-6) and np.all(np.diff(c.insertion) >= -1e-6)
        assert c.fractions[0] == 0 and c.fractions[-1] == 1
        assert c.deletion[0] == pytest.approx(c.insertion[-1], abs=1e-6)  # both = the intact pair
        assert c.deletion[-1] == pytest.approx(c.insertion[0], abs=1e-6)  # both = the baseline image


def test_blur_baseline_curves_end_at_the_blurred_face(region_pair):
    model, f_a, face_b = region_pair
    c = deletion_insertion(model.module, f_a, face_b, np.ones((SIZE, SIZE)), baseline="blur", steps=4)
    blurred = baseline_image(face_b[None], "blur")
    with torch.no_grad():
        expected = torch.nn.functional.cosine_similarity(model.module(blurred)[0], f_a, dim=0).item()
    assert c.deletion[-1] == pytest.approx(expected, abs=1e-6) and c.insertion[0] == pytest.approx(expected, abs=1e-6)


def test_representation_map_splits_the_cosine_exactly():
    from interpface.analysis.pair_maps import representation_map
    from tests.tiny import tiny_model

    model = tiny_model(0, he_init=True)
    torch.manual_seed(1)
    a, b = torch.rand(3, SIZE, SIZE), torch.rand(3, SIZE, SIZE)
    with torch.no_grad():
        fa, fb = model(a[None])[0], model(b[None])[0]
    cos = torch.nn.functional.cosine_similarity(fa, fb, dim=0).item()
    m = representation_map(model, b, fa)
    assert m.shape == (SIZE, SIZE) and m.sum() == pytest.approx(cos, abs=1e-5)
    timed = pair_map(InterpretableFaceModel(model), a, b, "representation")
    assert timed.signed.sum() == pytest.approx(cos, abs=1e-5)


def test_methods_that_do_not_apply_are_refused():
    class Mean(nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    class BlackBox(FaceModel):  # no capabilities: only the model-agnostic methods
        name, dim, input_size, module = "mean", 3, SIZE, Mean()

    model = BlackBox()
    assert "representation" not in methods_for(model) and "gradcam" not in methods_for(model)
    with pytest.raises(InterpfaceError, match="does not apply"):
        pair_map(model, torch.rand(3, SIZE, SIZE), torch.rand(3, SIZE, SIZE), "representation")
    with pytest.raises(InterpfaceError, match="unknown pair-map method"):
        pair_map(model, torch.rand(3, SIZE, SIZE), torch.rand(3, SIZE, SIZE), "shap")
    m = pair_map(model, torch.rand(3, SIZE, SIZE), torch.rand(3, SIZE, SIZE), "rise", n_masks=64)
    assert m.signed.shape == (SIZE, SIZE)


def test_pixel_order_and_baselines():
    s = np.zeros((4, 4))
    s[1, 2] = 5
    s[3, 3] = 2
    order = pixel_order(s)
    assert order[0] == 1 * 4 + 2 and order[1] == 15
    x = torch.rand(1, 3, SIZE, SIZE)
    assert torch.equal(baseline_image(x, "black"), torch.zeros_like(x))
    blur = baseline_image(x, "blur")
    assert blur.shape == x.shape and blur.std() < x.std()
    with pytest.raises(InterpfaceError, match="baseline"):
        baseline_image(x, "grey")


def test_faithfulness_command_on_the_face_set(faces, faces_root, tmp_path, capsys):
    import json

    from interpface.cli.main import main
    from interpface.faces.prepare import prepare_dataset
    from interpface.models.checkpoint import save_checkpoint
    from tests.tiny import tiny_model

    prepare_dataset(faces, cache_dir=tmp_path / "cache", workers=1, progress=False)
    net = tiny_model(0, he_init=True)
    save_checkpoint(tmp_path / "tiny", net, model_config=net.config, extra={})
    out = tmp_path / "f.json"
    code = main(
        [
            "faithfulness",
            "--checkpoint",
            str(tmp_path / "tiny"),
            "--pairs",
            "2",
            "--steps",
            "4",
            "--methods",
            "representation,occlusion,random",
            "--rise-masks",
            "16",
            "--data-root",
            str(faces_root),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--figures",
            str(tmp_path / "fig"),
            "--quiet",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "representation" in text and "baseline blur" in text
    r = json.loads(out.read_text())
    assert [row["method"] for row in r["rows"]] == ["representation", "occlusion", "random"]
    row = r["rows"][0]
    assert row["n_genuine"] == 2 and row["n_impostor"] == 2 and row["seconds_per_map"] > 0
    for key in ("black_similarity_deletion_auc", "blur_dissimilarity_insertion_auc"):
        assert np.isfinite(row[key]) and row[key + "_std"] is not None
    assert len(r["fractions"]) == 5 and len(r["curves"]["occlusion"]["black"]["sim_del"]) == 5
    assert (tmp_path / "fig" / "faithfulness_tiny_black.html").is_file()
    assert (
        main(
            [
                "faithfulness",
                "--checkpoint",
                str(tmp_path / "tiny"),
                "--methods",
                "shap",
                "--data-root",
                str(faces_root),
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        == 2
    )


def test_faithfulness_command_on_a_black_box(faces, faces_root, tmp_path, capsys):
    """`faithfulness --checkpoint iresnet18:FILE`: the model-agnostic methods on its own 112x112 input."""
    import json

    import torch
    from safetensors.torch import save_file

    from interpface.cli.main import main
    from interpface.faces.prepare import prepare_dataset
    from interpface.models.adapters import IResNet

    prepare_dataset(faces, cache_dir=tmp_path / "cache", workers=1, progress=False)
    torch.manual_seed(0)
    weights = tmp_path / "r18.safetensors"
    save_file({k: v.contiguous() for k, v in IResNet(18).eval().state_dict().items()}, str(weights))
    out = tmp_path / "f.json"
    common = [
        "--pairs",
        "2",
        "--steps",
        "4",
        "--data-root",
        str(faces_root),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--quiet",
    ]
    assert (
        main(
            [
                "faithfulness",
                "--checkpoint",
                f"iresnet18:{weights}",
                "--methods",
                "occlusion,random",
                "--json",
                str(out),
                *common,
            ]
        )
        == 0
    )
    r = json.loads(out.read_text())
    assert r["model"] == "iresnet18" and [row["method"] for row in r["rows"]] == ["occlusion", "random"]
    assert all(np.isfinite(row["black_similarity_deletion_auc"]) for row in r["rows"])
    capsys.readouterr()
    assert main(["faithfulness", "--checkpoint", f"iresnet18:{weights}", "--methods", "representation", *common]) == 2
    assert "representation does not apply" in capsys.readouterr().err
