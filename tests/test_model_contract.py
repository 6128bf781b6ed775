"""One contract for every model scheme (timm's one-test-all-models lesson): tiny models built here —
our network, a random IResNet-18, a spec module, ONNX files exported from a small IResNet (plain,
int8 QDQ from onnxruntime's quantisation tools, and with stale initializer inputs) — and the dlib port
go through the same checks: embed, layer outputs, the crop -> input maps, an analysis, a pair map,
an evaluation on the face set, and every dashboard page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from interpface.faces.align import apply_affine
from interpface.faces.pipeline import FacePipeline
from interpface.models.checkpoint import save_checkpoint
from interpface.models.registry import resolve_model
from tests.test_dashboard import PAGES
from tests.test_onnx_models import export, tiny_iresnet
from tests.tiny import tiny_model

SCHEMES = ["interpface", "dlib-resnet", "iresnet18", "spec", "onnx", "onnx-int8", "onnx-stale"]
FACES = [
    "Grace_Hopper/Grace_Hopper_0001.jpg",
    "Grace_Hopper/Grace_Hopper_0002.jpg",
    "Eileen_Collins/Eileen_Collins_0001.jpg",
    "Eileen_Collins/Eileen_Collins_0002.jpg",
]


def _int8(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Calibration(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter([{"x": rng.uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(src), str(dst), Calibration(), quant_format=QuantFormat.QDQ, per_channel=True)
    return dst


def _stale(src: Path, dst: Path) -> Path:
    """Older exporters list every initializer as a graph input too."""
    model = onnx.load(str(src))
    known = {i.name for i in model.graph.input}
    for init in model.graph.initializer:
        if init.name not in known:
            model.graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    onnx.save(model, str(dst))
    return dst


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """{scheme: model URI}; the ONNX files sit in their own folder (the dashboard's served folder)."""
    from safetensors.torch import save_file

    from interpface.models.adapters import IResNet

    root = tmp_path_factory.mktemp("contract")
    net = tiny_model(0, he_init=True)
    save_checkpoint(root / "ours", net, model_config=net.config, extra={})
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in IResNet(18).eval().state_dict().items()}, str(root / "r18.safetensors"))
    spec = root / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "module": "tests.spec_model:build",
                "input_size": 64,
                "alignment": "arcface",
                "mean": [0.5] * 3,
                "std": [0.5] * 3,
                "layers": ["features.1"],
                "name": "spec",
            }
        )
    )
    served = root / "served"
    served.mkdir()
    plain = export(tiny_iresnet(), served / "tiny.onnx")
    return {
        "interpface": str(root / "ours"),
        "dlib-resnet": "dlib-resnet",
        "iresnet18": f"iresnet18:{root / 'r18.safetensors'}",
        "spec": f"spec:{spec}",
        "onnx": f"onnx:{plain}",
        "onnx-int8": f"onnx:{_int8(plain, served / 'tiny_int8.onnx')}",
        "onnx-stale": f"onnx:{_stale(plain, served / 'tiny_stale.onnx')}",
        "_served": str(served),
    }


@pytest.fixture(scope="module")
def aligned(faces):
    pipe = FacePipeline()
    prepared = [pipe.prepare(faces.path(r)) for r in FACES]
    return np.stack([f.crop for f in prepared]), np.stack([f.landmarks for f in prepared])


@pytest.fixture(scope="module")
def models(zoo):
    return {}


def _model(models, zoo, scheme):
    if scheme not in models:
        models[scheme] = resolve_model(zoo[scheme])
    return models[scheme]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_model_keeps_the_contract(scheme, zoo, models, aligned, template):
    from interpface.analysis import run_analysis
    from interpface.analysis.pair_maps import methods_for, pair_map

    crops, lms = aligned
    m = _model(models, zoo, scheme)
    # embed: unit rows in input order, the same whatever the batch
    emb = m.embed(crops, lms, precision="fp32")
    assert emb.shape == (4, m.dim) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert np.allclose(m.embed(crops, lms, batch_size=1, precision="fp32"), emb, atol=1e-4)
    # the input and its crop -> input maps: warping the crop by the map gives the model's chip
    x, mats = m.prepare(crops, lms)
    s = m.input_size
    assert x.shape == (4, 3, s, s) and mats.shape == (4, 2, 3)
    chips, _ = m.chips(crops, lms)
    assert chips.shape == (4, 3, s, s) and float(chips.min()) >= 0 and float(chips.max()) <= 1
    warped = cv2.warpAffine(crops[0], mats[0], (s, s), flags=cv2.INTER_LINEAR).astype(np.float64) / 255.0
    mine = chips[0].permute(1, 2, 0).numpy()
    inner = slice(s // 5, s - s // 5)
    assert np.abs(warped[inner, inner] - mine[inner, inner]).mean() < 0.02, scheme
    # the face's nose tip lands where the map sends it, inside the input
    nose = apply_affine(mats[0], lms[0, 30][None])[0]
    assert (0 < nose).all() and (nose < s).all()
    # response layers: 4-D maps, the default one among them
    outs = m.layer_outputs(x, [m.default_layer])
    assert outs[m.default_layer].dim() == 4 and outs[m.default_layer].shape[0] == 4
    # the paper's analyses: filters = part filters (ours) or the default layer's channels
    r = run_analysis(m, crops, lms, regions=("nose",), bootstrap=0, template=template)
    assert r.n_filters == outs[m.default_layer].shape[1] and np.isfinite(r.metrics["spread_pos"])
    assert r.differences.mean_abs.shape == (1, r.n_filters)
    # a pair map on the model's own input
    net = m.input_net()
    with torch.no_grad():
        back = torch.nn.functional.normalize(net(chips), dim=1).numpy()
    assert np.allclose(back, emb, atol=2e-3)  # [0, 1] input -> the same embedding (fp32; uint8 chips aside)
    assert {"occlusion", "integrated_gradients", "rise", "random"} <= set(methods_for(m))
    pm = pair_map(m, chips[0], chips[2], "rise", n_masks=16, batch_size=16)
    assert pm.signed.shape == (s, s) and np.isfinite(pm.signed).all()


@pytest.mark.parametrize("scheme", ["onnx", "onnx-int8", "spec", "iresnet18"])
def test_every_model_evaluates_on_the_face_set(scheme, zoo, faces, tmp_path, capsys):
    from interpface.cli.main import main

    root = tmp_path / "imgs"
    for rel in FACES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(faces.path(rel), root / rel)
    g, e = FACES[0], FACES[2]
    pf = tmp_path / "pairs.txt"
    pf.write_text(f"{FACES[0]}\t{FACES[1]}\t1\n{FACES[2]}\t{FACES[3]}\t1\n{g}\t{e}\t0\n{FACES[1]}\t{FACES[3]}\t0\n")
    js = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            "--checkpoint",
            zoo[scheme],
            "--protocol",
            f"pairs:{pf}",
            "--root",
            str(root),
            "--condition",
            "clean,part:nose",
            "--bootstrap",
            "2",
            "--quiet",
            "--json",
            str(js),
        ]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads(js.read_text())["results"]
    assert [r["condition"] for r in results] == ["clean", "part:nose"] and results[0]["n_pairs"] == 4
    out = tmp_path / "e.npy"
    assert main(["embed", "--checkpoint", zoo[scheme], "--out", str(out), "--quiet", str(root / FACES[0])]) == 0
    assert np.isclose(np.linalg.norm(np.load(out)[0]), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def onnx_dashboard_env(zoo, tmp_path_factory, faces, faces_root):
    from tests.dashboard_fixtures import dashboard_env, make_tiny_analyses, make_tiny_zoo

    ours = make_tiny_zoo(tmp_path_factory.mktemp("zoo"))
    analyses = make_tiny_analyses(ours, tmp_path_factory.mktemp("analyses"), faces)
    return {
        **dashboard_env(ours, analyses, faces_root, tmp_path_factory.mktemp("cache")),
        "INTERPFACE_MODELS_DIR": zoo["_served"],
        "INTERPFACE_USER_MODELS": f"specmodel={zoo['spec']}",
        "INTERPFACE_NO_BLACK_BOXES": "1",
    }


@pytest.mark.parametrize("model", ["tiny", "tiny_int8", "specmodel"])
def test_every_dashboard_page_with_onnx_and_spec_models(model, onnx_dashboard_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from interpface.cli.dashboard import APP

    for key, value in onnx_dashboard_env.items():
        monkeypatch.setenv(key, value)
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()
    for page in PAGES:
        app.switch_page(page)
        app.run()
        assert not app.exception, (page, [e.value for e in app.exception])
        if page == "views/compare.py":
            app.selectbox(key="cmp_b").select(f"{model} (black box)")
        elif app.selectbox and any(w.key == "model" for w in app.selectbox):
            app.selectbox(key="model").select(f"{model} (black box)")
        else:
            continue
        app.run()
        assert not app.exception, (page, [e.value for e in app.exception])
        assert not [e.value for e in app.error], (page, [e.value for e in app.error])


def test_an_onnx_model_through_every_command(zoo, faces, tmp_path, capsys):
    """analyze, faithfulness, report and compare take `--checkpoint onnx:FILE` like any model."""
    from interpface.cli.main import main
    from tests.tiny import prepared_mini_lfw

    people = {"Grace_Hopper": 4, "Wide_Hopper": 3, "Eileen_Collins": 3, "Long_Hopper": 2}
    pairs = [
        ("Grace_Hopper", 1, 2),
        ("Eileen_Collins", 1, 3),
        ("Grace_Hopper", 3, "Wide_Hopper", 3),
        ("Long_Hopper", 1, "Eileen_Collins", 2),
    ]
    root, cache = prepared_mini_lfw(faces, tmp_path / "mini", people, pairs, pairs, 1)
    data = ["--data-root", str(root), "--cache-dir", str(cache), "--quiet"]
    onnx_uri = zoo["onnx"]
    assert (
        main(
            [
                "analyze",
                "--checkpoint",
                onnx_uri,
                "--images",
                "6",
                "--regions",
                "nose",
                "--bootstrap",
                "0",
                "--out",
                str(tmp_path / "an"),
                *data,
            ]
        )
        == 0
    )
    assert "tiny: 6 LFW DevTest faces, 16 filters" in capsys.readouterr().out
    js = tmp_path / "f.json"
    assert (
        main(
            [
                "faithfulness",
                "--checkpoint",
                onnx_uri,
                "--pairs",
                "1",
                "--steps",
                "4",
                "--methods",
                "occlusion,random",
                "--json",
                str(js),
                *data,
            ]
        )
        == 0
    )
    rows = json.loads(js.read_text())["rows"]
    assert [r["method"] for r in rows] == ["occlusion", "random"] and np.isfinite(
        rows[0]["black_similarity_deletion_auc"]
    )
    assert (
        main(
            [
                "report",
                "--checkpoints",
                f"{onnx_uri},{zoo['interpface']}",
                "--images",
                "6",
                "--pairs",
                "4",
                "--bootstrap",
                "0",
                "--formats",
                "html",
                "--out",
                str(tmp_path / "rep"),
                *data,
            ]
        )
        == 0
    )
    assert (tmp_path / "rep" / "report.html").is_file()
    cj = tmp_path / "c.json"
    assert (
        main(
            [
                "compare",
                "--checkpoint",
                onnx_uri,
                "--against",
                zoo["onnx-int8"],
                "--bootstrap",
                "5",
                "--json",
                str(cj),
                *data,
            ]
        )
        == 0
    )
    result = json.loads(cj.read_text())["results"][0]
    assert result["n_resamples"] == 5 and np.isfinite(result["auc"]["diff"])
