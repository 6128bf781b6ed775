"""The face-model interface: ours, an ArcFace IResNet from a user's state dict, the dlib port; safe
weight loading (no pickle runs), key mismatches, and the CLI taking `iresnet18:FILE` / `dlib-resnet`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from interpface.cli.main import main
from interpface.errors import CheckpointError
from interpface.faces.pipeline import FacePipeline
from interpface.models.adapters import (
    ARCFACE_112,
    DlibPortFaceModel,
    InterpretableFaceModel,
    IResNet,
    IResNetFaceModel,
    ModelFileError,
    arcface_points,
    build_iresnet,
    load_state_dict_file,
)
from interpface.models.networks import InterpretableFaceNet, get_model_config
from interpface.models.registry import resolve_model

PAYLOAD_FLAG = "interpface_payload_ran"


class _Payload:
    """Pickles into a call that would create a file: it must never run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def aligned(faces):
    pipe = FacePipeline()
    prepared = [
        pipe.prepare(faces.path(r))
        for r in ("Grace_Hopper/Grace_Hopper_0001.jpg", "Eileen_Collins/Eileen_Collins_0001.jpg")
    ]
    return np.stack([f.crop for f in prepared]), np.stack([f.landmarks for f in prepared])


@pytest.fixture(scope="module")
def iresnet18_file(tmp_path_factory):
    torch.manual_seed(0)
    net = IResNet(18).eval()
    with torch.no_grad():  # non-trivial BN statistics so a wrong load shows in the outputs
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("iresnet") / "r18.pth"
    torch.save(net.state_dict(), path)
    return path, net


def test_iresnet_state_dict_loads_from_pth_and_safetensors(iresnet18_file, aligned, tmp_path):
    from safetensors.torch import save_file

    path, net = iresnet18_file
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        want = net(x)
        assert want.shape == (2, 512)
        assert torch.allclose(build_iresnet(18, path)(x), want, atol=1e-5)
        st = tmp_path / "r18.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(st))
        assert torch.allclose(build_iresnet(18, st)(x), want, atol=1e-5)
        # DDP's "module." prefix and a {"state_dict": ...} wrapper are accepted
        wrapped = tmp_path / "wrapped.pth"
        torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, wrapped)
        assert torch.allclose(build_iresnet(18, wrapped)(x), want, atol=1e-5)


def test_a_pickle_payload_is_refused_and_never_runs(tmp_path):
    flag = tmp_path / PAYLOAD_FLAG
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "extra": _Payload(flag)}, evil)
    assert not flag.exists()
    with pytest.raises(ModelFileError, match="weights_only"):
        load_state_dict_file(evil)
    assert not flag.exists()
    with pytest.raises(ModelFileError):
        build_iresnet(18, evil)
    assert not flag.exists()
    # the CLI: one line, non-zero, nothing ran
    code = main(
        ["embed", "--checkpoint", f"iresnet18:{evil}", "--out", str(tmp_path / "e.npy"), str(tmp_path / "x.jpg")]
    )
    assert code != 0 and not flag.exists()


def test_wrong_keys_and_shapes_are_listed(iresnet18_file, tmp_path):
    _, net = iresnet18_file
    state = dict(net.state_dict())
    del state["fc.weight"]
    state["head.bias"] = torch.zeros(3)
    bad = tmp_path / "keys.pth"
    torch.save(state, bad)
    with pytest.raises(ModelFileError) as exc:
        build_iresnet(18, bad)
    assert "missing fc.weight" in str(exc.value) and "unexpected head.bias" in str(exc.value)
    # an IResNet-18 file read as an IResNet-34: missing blocks
    with pytest.raises(ModelFileError, match="missing layer1.2"):
        build_iresnet(34, iresnet18_file[0])
    state = dict(net.state_dict())
    state["fc.weight"] = torch.zeros(512, 10)
    shape = tmp_path / "shape.pth"
    torch.save(state, shape)
    with pytest.raises(ModelFileError, match="wrong shape"):
        build_iresnet(18, shape)
    for broken in (tmp_path / "none.pth", tmp_path / "junk.safetensors"):
        if broken.suffix == ".safetensors":
            broken.write_bytes(b"not safetensors")
        with pytest.raises(ModelFileError):
            load_state_dict_file(broken)
    with pytest.raises(CheckpointError, match="depth"):
        resolve_model(f"iresnet19:{iresnet18_file[0]}")


def test_arcface_alignment_puts_the_five_points_in_place(iresnet18_file, aligned):
    from interpface.faces.align import apply_affine

    crops, lms = aligned
    model = IResNetFaceModel(build_iresnet(18, iresnet18_file[0]))
    x, mats = model.prepare(crops, lms)
    assert x.shape == (2, 3, 112, 112) and mats.shape == (2, 2, 3)
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    for m, lm in zip(mats, lms):  # a similarity fit of 5 points: within a few pixels of the reference
        assert np.abs(apply_affine(m, arcface_points(lm)) - ARCFACE_112).max() < 6.0
    emb = model.embed(crops, lms)
    assert emb.shape == (2, 512) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    outs = model.layer_outputs(x, ["layer1", "layer4"])
    assert outs["layer1"].shape == (2, 64, 56, 56) and outs["layer4"].shape == (2, 512, 7, 7)
    with pytest.raises(CheckpointError, match="no layer"):
        model.layer_outputs(x, ["layer9"])


def test_our_network_through_the_interface_embeds_its_central_window(aligned):
    torch.manual_seed(0)
    net = InterpretableFaceNet(get_model_config("tiny")).eval()
    crops, lms = aligned
    model = InterpretableFaceModel(net)
    with torch.no_grad():
        x = torch.from_numpy(crops[:, 7:103, 7:103].copy()).permute(0, 3, 1, 2).float() / 255.0
        direct = torch.nn.functional.normalize(net(x), dim=1).numpy()
    assert np.allclose(model.embed(crops, lms, precision="fp32"), direct, atol=1e-5)
    # bf16 (the default where the CPU has it) stays close to fp32: the precision is only a parameter
    cos = (model.embed(crops, lms, precision="bf16") * direct).sum(axis=1)
    assert (cos > 0.98).all()
    x, shift = model.prepare(crops, lms)
    psi = model.layer_outputs(x)["psi_smooth"]
    assert psi.shape[:2] == (2, model.dim) and shift[0, 0, 2] == -(110 - model.input_size) // 2


def test_dlib_port_chip_and_its_crop_map(aligned):
    crops, lms = aligned
    model = DlibPortFaceModel()
    x, mats = model.prepare(crops, lms)
    assert x.shape == (2, 3, 150, 150) and model.dim == 128 and "level2" in model.layers
    chip = x[0].permute(1, 2, 0).numpy()
    warped = cv2.warpAffine(crops[0], mats[0], (150, 150)).astype(np.float64)
    # the returned map reproduces dlib's chip (bilinear rounding differs by about half a grey level)
    assert np.abs(warped - chip)[10:-10, 10:-10].mean() < 1.5
    emb = model.embed(crops, lms)
    assert emb.shape == (2, 128) and float(emb[0] @ emb[1]) < 0.9


def test_cli_embeds_an_iresnet_state_dict(iresnet18_file, faces, tmp_path, capsys):
    path, _ = iresnet18_file
    img = faces.path("Grace_Hopper/Grace_Hopper_0001.jpg")
    out = tmp_path / "e.npy"
    assert main(["embed", "--checkpoint", f"iresnet18:{path}", "--out", str(out), "--quiet", str(img)]) == 0
    emb = np.load(out)
    assert emb.shape == (1, 512) and np.isclose(np.linalg.norm(emb[0]), 1.0, atol=1e-5)
    assert "iresnet18" in capsys.readouterr().out
    # flip-averaging works for every model now (the mirror image of its own input)
    assert main(["embed", "--checkpoint", f"iresnet18:{path}", "--flip", "--quiet", "--out", str(out), str(img)]) == 0
    flipped = np.load(out)
    assert flipped.shape == (1, 512) and 0.5 < float(flipped[0] @ emb[0]) < 1.0 - 1e-6
    # (evaluate on the face set: tests/test_model_contract.py, for every scheme)


def test_black_box_models_get_pair_maps_and_faithfulness(aligned, iresnet18_file):
    """The model-agnostic pair maps (occlusion, RISE, random; IG) and the deletion / insertion curves run
    on a black-box model through its [0, 1]-input module; the representation map and Grad-CAM do not apply."""
    from interpface.analysis.faithfulness import deletion_insertion
    from interpface.analysis.pair_maps import methods_for, pair_maps

    crops, lms = aligned
    fm = DlibPortFaceModel()
    net = fm.input_net()
    assert methods_for(fm) == ("occlusion", "integrated_gradients", "rise", "random")
    x01, _ = fm.chips(crops, lms)
    assert float(x01.min()) >= 0.0 and float(x01.max()) <= 1.0
    with torch.no_grad():  # the wrapper is the same network: same descriptor as the FaceModel
        emb = torch.nn.functional.normalize(net(x01), dim=1).numpy()
    assert np.allclose(emb, fm.embed(crops, lms), atol=1e-5)
    maps = pair_maps(fm, x01[0], x01[1], ["occlusion", "rise", "random"], n_masks=32, window=32, stride=32)
    assert all(m.signed.shape == (150, 150) and np.isfinite(m.signed).all() for m in maps.values())
    curves = deletion_insertion(net, x01[0], x01[1], maps["occlusion"].signed, steps=4)
    assert np.isfinite(curves.deletion).all() and len(curves.deletion) == 5
    ours = InterpretableFaceModel(InterpretableFaceNet(get_model_config("tiny")))
    assert ours.input_net() is ours.module and "representation" in methods_for(ours)
    assert IResNetFaceModel(build_iresnet(18, iresnet18_file[0])).input_net().config.input_size == 112


def test_analyze_runs_on_a_black_box(iresnet18_file, aligned, tmp_path, template):
    """run_analysis on an IResNet-18: its layer3 channels are the filters, their peaks carried from the
    112x112 ArcFace frame back to the crop and into the template; feature differences through its own
    input; and `interpface analyze --checkpoint iresnet18:FILE` on the face set."""
    from interpface.analysis import run_analysis

    crops, lms = aligned
    model = IResNetFaceModel(build_iresnet(18, iresnet18_file[0]))
    r = run_analysis(model, crops, lms, regions=("eyes", "nose"), bootstrap=0)
    assert r.n_filters == 256 and r.f.shape == (2, 256) and r.template_xy.shape == (2, 256, 2, 2)
    # peaks land on the face: inside the crop, and the template points inside the frame's margin
    assert (r.crop_xy > -5).all() and (r.crop_xy < 115).all()
    # (a filter with no positive value on any face has no positive peak: NaN std, as for our models)
    assert np.isfinite(r.std).mean() > 0.5 and r.differences.mean_abs.shape == (2, 256)
    assert (r.differences.mean_abs > 0).any()
    # a peak's crop location goes back into the model input where the layer's cell is
    from interpface.faces.align import apply_affine

    x, mats = model.prepare(crops, lms)
    fmap = model.layer_outputs(x, ["layer3"])["layer3"][0, 7]
    iy, ix = np.unravel_index(int(fmap.argmax()), fmap.shape)
    back = apply_affine(mats[0], r.crop_xy[0, 7, 0][None])[0]
    assert np.allclose(back, [(ix + 0.5) * 112 / 14 - 0.5, (iy + 0.5) * 112 / 14 - 0.5], atol=1e-3)


def test_analyze_cli_on_a_black_box(iresnet18_file, faces_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INTERPFACE_CACHE", str(tmp_path / "cache"))
    assert main(["data", "prepare", "--dataset", "lfw", "--data-root", str(faces_root), "--quiet"]) == 0
    out = tmp_path / "an"
    code = main(
        [
            "analyze",
            "--checkpoint",
            f"iresnet18:{iresnet18_file[0]}",
            "--images",
            "8",
            "--regions",
            "nose",
            "--bootstrap",
            "0",
            "--data-root",
            str(faces_root),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "iresnet18: 8 LFW DevTest faces, 256 filters" in text


def _write_spec(tmp_path, **over):
    spec = {
        "module": "tests.spec_model:build",
        "input_size": 64,
        "alignment": "arcface",
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "layers": ["features.1", "features.2"],
        "default_layer": "features.2",
        "name": "tiny spec",
    }
    spec.update(over)
    path = tmp_path / f"spec_{len(list(tmp_path.glob('spec_*.json')))}.json"
    path.write_text(json.dumps({k: v for k, v in spec.items() if v is not None}))
    return path


def test_any_module_through_a_spec_file(aligned, tmp_path, faces, capsys):
    from safetensors.torch import save_file

    from interpface.analysis import run_analysis
    from interpface.models.adapters import SpecFaceModel
    from tests.spec_model import build

    crops, lms = aligned
    weights = tmp_path / "tiny.safetensors"
    torch.manual_seed(1)
    net = build()
    save_file(net.state_dict(), str(weights))
    model = resolve_model(f"spec:{_write_spec(tmp_path, weights=weights.name)}")
    assert isinstance(model, SpecFaceModel) and model.dim == 32 and model.name == "tiny spec"
    with torch.no_grad():  # the spec's weights were loaded (not the factory's seed-0 init)
        assert torch.allclose(model.module.head.weight, net.head.weight)
    x, mats = model.prepare(crops, lms)
    assert x.shape == (2, 3, 64, 64) and -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert model.layer_outputs(x, ["features.1"])["features.1"].shape == (2, 16, 16, 16)
    emb = model.embed(crops, lms)
    assert emb.shape == (2, 32) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    r = run_analysis(model, crops, lms, regions=("nose",), bootstrap=0)
    assert r.n_filters == 16 and r.differences.mean_abs.shape == (1, 16)
    out = tmp_path / "e.npy"
    spec = _write_spec(tmp_path)
    assert (
        main(
            [
                "embed",
                "--model-spec",
                str(spec),
                "--out",
                str(out),
                "--quiet",
                str(faces.path("Grace_Hopper/Grace_Hopper_0001.jpg")),
            ]
        )
        == 0
    )
    assert np.load(out).shape == (1, 32)
    assert main(["embed", "--model-spec", str(spec), "--checkpoint", "dlib-resnet", "--out", str(out), "x.jpg"]) == 2


@pytest.mark.parametrize(
    "change,message",
    [
        ({"layers": ["features.9"], "default_layer": None}, "no layer features.9"),
        ({"input_size": 80}, r"one forward of a \(1, 3, 80, 80\) input failed"),
        ({"module": "tests.spec_model:nothing"}, "cannot find"),
        ({"alignment": "mtcnn"}, "alignment must be"),
        ({"colour": "rgb"}, "unknown keys"),
    ],
)
def test_a_bad_spec_is_refused_before_any_work(tmp_path, change, message):
    with pytest.raises(CheckpointError, match=message):
        resolve_model(f"spec:{_write_spec(tmp_path, **change)}")


class _InputEcho(IResNetFaceModel):
    """A black box whose one layer is its own (ArcFace-aligned, 112x112) input: resampled back into
    the crop, that layer must give the crop's own pixels."""

    layers = ("input",)
    default_layer = "input"

    def layer_outputs(self, x, layers=None):
        return {"input": x * 127.5 + 127.5}

    def forward_with_layers(self, x, layers=None):
        return self.forward(x), self.layer_outputs(x, layers)


def test_black_box_maps_land_on_the_crop_pixels_they_came_from(aligned, iresnet18_file):
    from interpface.analysis.probe import CROP_GRID, respond

    crops, lms = aligned
    smooth = np.stack([cv2.GaussianBlur(c, (0, 0), 3) for c in crops])  # no aliasing at 5 px cells
    echo = _InputEcho(iresnet18_file[1])
    r = respond(echo, smooth, lms)
    assert len(r) == 2 and r[0].psi_smooth.shape == (3, CROP_GRID, CROP_GRID) and r[0].span == 110
    cell = 110 / CROP_GRID
    centre = ((np.arange(CROP_GRID) + 0.5) * cell - 0.5).round().astype(int)
    for i in range(2):
        want = smooth[i][np.ix_(centre, centre)].transpose(2, 0, 1).astype(np.float64)
        got = r[i].psi_smooth
        covered = np.isfinite(got)
        assert covered.mean() > 0.5 and not covered.all()  # ArcFace's 112 chip is tighter than our crop
        assert np.abs(got[covered] - want[covered]).mean() < 4.0
    with pytest.raises(ValueError, match="landmarks"):
        respond(echo, smooth)


def test_occlusion_probe_and_sweep_on_a_black_box(aligned, iresnet18_file):
    from interpface.analysis.probe import OcclusionProbe
    from interpface.analysis.sensitivity import sweep_centers, warped_occlusion_sweep
    from interpface.faces.occlusion import region_rect
    from interpface.faces.template import default_template

    crops, lms = aligned
    fm = IResNetFaceModel(iresnet18_file[1])
    template = default_template()
    probe = OcclusionProbe(fm, crops[0], lms[0], crops[1], template, other_landmarks=lms[1])
    r = probe.update(region_rect("eyes", template))
    assert r.diff.shape == (512,) and r.cos_self < 1.0 and r.cos_other is not None
    channels = probe.clean.psi_smooth.shape[0]
    assert sorted(r.map_order.tolist()) == list(range(channels)) and channels != len(r.diff)
    assert not np.allclose(probe.clean.psi_smooth, r.response.psi_smooth, equal_nan=True)
    # the sweep's clean embedding is the probe's, and a face covered by one occluder changes
    centers = sweep_centers(template, 24.0)
    sweep = warped_occlusion_sweep(
        fm, crops[0], lms[0], centers=centers, reference=(crops[1], lms[1]), template=template
    )
    np.testing.assert_allclose(sweep.f_clean, probe.clean.f, rtol=1e-4, atol=1e-5)
    assert sweep.f_occluded.shape == (len(centers), 512) and np.abs(sweep.delta).sum(axis=1).min() > 0
    assert sweep.cos_clean == pytest.approx(r.cos_clean_other, abs=1e-4)
    assert sweep.attribution("cosine").shape == (110, 110)
